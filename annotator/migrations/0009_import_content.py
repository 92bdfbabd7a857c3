"""Imports recognise material by content, and a document's name is unique in its project.

Concurrent uploads of one name could create two Document rows, after which every
import of that name failed (MultipleObjectsReturned). Before the unique constraint
is added, such twins are merged into the oldest: their pages move to its end
(renumbered after its last page), their lines follow, and the emptied rows go.
Nothing imported is lost.
"""

from typing import Any

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Count, Max, Min


def documents_merge_twins(apps: Any, schema_editor: Any) -> None:
    Document = apps.get_model("annotator", "Document")
    Page = apps.get_model("annotator", "Page")
    Line = apps.get_model("annotator", "Line")
    twins = (
        Document.objects.values("project_id", "name")
        .annotate(count=Count("id"), keep=Min("id"))
        .filter(count__gt=1)
        .order_by("project_id", "name")
    )
    for twin in twins:
        keep = twin["keep"]
        number = Page.objects.filter(document_id=keep).aggregate(last=Max("number"))["last"] or 0
        others = Document.objects.filter(project_id=twin["project_id"], name=twin["name"]).exclude(pk=keep)
        for other in others.order_by("id"):
            for page_id in Page.objects.filter(document_id=other.pk).order_by("number").values_list("pk", flat=True):
                number += 1
                Page.objects.filter(pk=page_id).update(document_id=keep, number=number)
            Line.objects.filter(document_id=other.pk).update(document_id=keep)
            other.delete()
    if schema_editor.connection.vendor == "postgresql":
        # The moves queued deferred foreign-key checks; PostgreSQL refuses to alter
        # a table with pending trigger events, so they run now, before the constraint.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        schema_editor.execute("SET CONSTRAINTS ALL DEFERRED")


class Migration(migrations.Migration):
    dependencies = [("annotator", "0008_base_models")]

    operations = [
        migrations.RunPython(documents_merge_twins, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="document",
            constraint=models.UniqueConstraint(fields=("project", "name"), name="document_unique_name"),
        ),
        migrations.AddField(
            model_name="document",
            name="import_job",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="documents",
                to="annotator.importjob",
            ),
        ),
        migrations.AddField(model_name="importjob", name="new_versions", field=models.BooleanField(default=False)),
        migrations.AddField(
            model_name="importjob", name="unsent_since", field=models.DateTimeField(blank=True, null=True)
        ),
        migrations.AddField(
            model_name="line",
            name="content_hash",
            field=models.CharField(blank=True, default="", max_length=80),
        ),
        migrations.AddField(
            model_name="page",
            name="content_hash",
            field=models.CharField(blank=True, db_index=True, default="", max_length=80),
        ),
        migrations.AlterField(
            model_name="importjob",
            name="report",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text="pages_created, lines_created, lines_with_text, units [{name, status, reason}], rejected, "
                "skipped, warnings",
            ),
        ),
        migrations.AddIndex(
            model_name="line",
            index=models.Index(fields=["project", "content_hash"], name="line_content_idx"),
        ),
    ]
