"""Line.uncertainty and Prediction.uncertainty become ``priority`` (they hold the
selection strategy's priority); an unscored line's priority is Line.UNSCORED
(-1e18) instead of NULL, so it sorts after every scored line on every database;
the selection strategy loses its choices (validated by the service against
recognition.selection.STRATEGIES)."""

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def unscored_from_null(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    line = apps.get_model("annotator", "Line")
    line.objects.using(schema_editor.connection.alias).filter(priority__isnull=True).update(priority=-1e18)


def null_from_unscored(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    line = apps.get_model("annotator", "Line")
    line.objects.using(schema_editor.connection.alias).filter(priority=-1e18).update(priority=None)


class Migration(migrations.Migration):
    dependencies = [
        ("annotator", "0005_selection_expected_errors_pseudo_weight"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="line", name="line_queue_idx"),
        migrations.RenameField(model_name="line", old_name="uncertainty", new_name="priority"),
        migrations.RenameField(model_name="prediction", old_name="uncertainty", new_name="priority"),
        migrations.RunPython(unscored_from_null, null_from_unscored),
        migrations.AlterField(
            model_name="line",
            name="priority",
            field=models.FloatField(default=-1e18),
        ),
        migrations.AlterField(
            model_name="prediction",
            name="priority",
            field=models.FloatField(help_text="The project's selection strategy's priority for this line."),
        ),
        migrations.AlterField(
            model_name="project",
            name="selection_strategy",
            field=models.CharField(
                default="beam_margin",
                help_text="How the queue picks the next line (recognition.selection; see benchmarks/ACTIVE_LEARNING.md).",
                max_length=32,
            ),
        ),
        migrations.AddIndex(
            model_name="line",
            index=models.Index(
                fields=["project", "split", "queue_state", "-priority", "cold_rank", "id"], name="line_queue_idx"
            ),
        ),
    ]
