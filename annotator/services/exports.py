"""Writes: exports. ``export_job_create`` queues one (a member whose role may
export: ``permissions.export_require``); the worker's
``annotator.jobs.exports`` writes a zip to storage, which the API then serves."""

from __future__ import annotations

from django.db import transaction

from annotator.enqueue import EXPORT_JOB_RUN, task_send_on_commit
from annotator.errors import InvalidInputError
from annotator.models import Document, ExportJob, Project
from annotator.permissions import AnyUser, export_require, user_pk
from annotator.selectors import project_active_model


def export_job_create(
    *,
    project: Project,
    user: AnyUser,
    format: str,
    scope: str = ExportJob.Scope.ALL,
    document_id: int | None = None,
) -> ExportJob:
    """Queue an export of ``project`` in ``format``: every line with its best text,
    or (``scope`` "verified") verified lines only; all documents or ``document_id``'s."""
    export_require(project=project, user=user)
    if scope not in ExportJob.Scope.values:
        message = f"Unknown export scope {scope!r}; use one of {', '.join(ExportJob.Scope.values)}."
        raise InvalidInputError(message, fields={"scope": [message]})
    if document_id is not None and not Document.objects.filter(project=project, pk=document_id).exists():
        message = "No such document in this project."
        raise InvalidInputError(message, fields={"document": [message]})
    if format not in ExportJob.Format.values:
        message = f"Unknown export format {format!r}; use one of {', '.join(ExportJob.Format.values)}."
        raise InvalidInputError(message, fields={"format": [message]})
    if format == ExportJob.Format.MODEL and project_active_model(project=project) is None:
        message = "This project has no model yet; label lines until the first one is trained."
        raise InvalidInputError(message, fields={"format": [message]})
    with transaction.atomic():
        job = ExportJob.objects.create(
            project=project, format=format, scope=scope, document_id=document_id, requested_by_id=user_pk(user)
        )
        task_send_on_commit(EXPORT_JOB_RUN, job.pk)
    return job
