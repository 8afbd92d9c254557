from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("matching", "0003_importbatch_interrupted"),
    ]

    operations = [
        migrations.AddField(
            model_name="shop",
            name="synthetic",
            field=models.BooleanField(
                default=False,
                help_text="generated data (set by whoever imports it: the demo); the UI says so",
            ),
        ),
    ]
