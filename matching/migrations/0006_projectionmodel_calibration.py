from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("matching", "0005_verdicts_products"),
    ]

    operations = [
        migrations.AddField(
            model_name="projectionmodel",
            name="calibration",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text=(
                    "held-out calibration of the scores (matching/ml/calibration.py); empty: none"
                ),
            ),
        ),
    ]
