from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("annotator", "0010_rescore_export")]

    operations = [
        migrations.AddField(model_name="line", name="lease_token", field=models.UUIDField(blank=True, null=True)),
    ]
