from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("annotator", "0014_team_projects")]

    operations = [
        migrations.AddField(
            model_name="line",
            name="baseline",
            field=models.JSONField(
                blank=True, default=list, help_text="[[x, y], ...] on the page, left to right, if known (PAGE/ALTO)."
            ),
        ),
    ]
