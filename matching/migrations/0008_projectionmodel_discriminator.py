from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("matching", "0007_conflict_questions_superseded_verdicts"),
    ]

    operations = [
        migrations.AddField(
            model_name="projectionmodel",
            name="discriminator_path",
            field=models.CharField(
                blank=True,
                help_text=(
                    "pair discriminator (matching/ml/discriminator.py), relative to MEDIA_ROOT; "
                    "empty: none"
                ),
                max_length=500,
            ),
        ),
        migrations.AddField(
            model_name="projectionmodel",
            name="discriminator",
            field=models.JSONField(
                blank=True, default=dict, help_text="what the pair discriminator was fitted on"
            ),
        ),
    ]
