import django.db.models
from django.db import migrations

import annotator.models


class Migration(migrations.Migration):
    dependencies = [("annotator", "0007_import_kind_plain")]

    operations = [
        # Existing projects started from scratch: their rows get "" (no base), new
        # ones settings.LINEPROOF_BASE_MODEL (the AlterField's default).
        migrations.AddField(
            model_name="project",
            name="base_model",
            field=django.db.models.CharField(blank=True, default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="project",
            name="base_model",
            field=django.db.models.CharField(
                blank=True,
                default=annotator.models.project_base_model_default,
                help_text="The shipped base model the project started from (recognition/base/models/<name>.pt): "
                "its version 1, so lines get readings before any training. Empty: from scratch (model_preset).",
                max_length=64,
            ),
        ),
        migrations.AlterField(
            model_name="project",
            name="model_preset",
            field=django.db.models.CharField(
                choices=[
                    ("cpu", "cpu (small, trains on a CPU)"),
                    ("gpu", "gpu (larger)"),
                    ("tiny", "tiny (tests, demos)"),
                ],
                default="cpu",
                help_text="Size of the first model when there is no base model (recognition.model.PRESETS); later "
                "ones fine-tune the active model.",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="modelversion",
            name="base_name",
            field=django.db.models.CharField(
                blank=True,
                default="",
                help_text="The shipped base model this version is; empty for a trained version.",
                max_length=64,
            ),
            preserve_default=False,
        ),
    ]
