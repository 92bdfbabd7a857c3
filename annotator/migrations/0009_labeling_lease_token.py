from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("annotator", "0008_base_models")]

    operations = [
        migrations.AddField(model_name="line", name="lease_token", field=models.UUIDField(blank=True, null=True)),
    ]
