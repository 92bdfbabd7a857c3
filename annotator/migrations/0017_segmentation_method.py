from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotator", "0016_freshness"),
    ]

    operations = [
        migrations.AddField(
            model_name="project",
            name="segmentation_method",
            field=models.CharField(
                default="classical",
                help_text="How page scans are cut into lines on import and re-segmentation "
                "(recognition.pages.SEGMENT_METHODS: classical, or kraken when installed on the server).",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="resegmentjob",
            name="method",
            field=models.CharField(
                default="classical",
                help_text="The segmentation method (recognition.pages.SEGMENT_METHODS).",
                max_length=16,
            ),
        ),
    ]
