from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("validation", "0003_export_path_help_text"),
    ]

    operations = [
        migrations.AddField(
            model_name="judgement",
            name="revealed_at",
            field=models.DateTimeField(
                blank=True,
                help_text="when its answer was first shown to the validator; no undo after that",
                null=True,
            ),
        ),
    ]
