"""Writes: exports. ``export_job_create`` queues one (a member whose role may
export: ``permissions.export_require``); the worker's
``annotator.jobs.exports`` writes a zip to storage, which the API then serves."""

from __future__ import annotations

from django.db import transaction

from annotator.enqueue import EXPORT_JOB_RUN, task_send_on_commit
from annotator.errors import InvalidInputError
from annotator.models import ExportJob, Project
from annotator.permissions import AnyUser, export_require, user_pk
from annotator.selectors import project_active_model


def export_job_create(*, project: Project, user: AnyUser, format: str) -> ExportJob:
    export_require(project=project, user=user)
    if format not in ExportJob.Format.values:
        message = f"Unknown export format {format!r}; use one of {', '.join(ExportJob.Format.values)}."
        raise InvalidInputError(message, fields={"format": [message]})
    if format == ExportJob.Format.MODEL and project_active_model(project=project) is None:
        message = "This project has no model yet; label lines until the first one is trained."
        raise InvalidInputError(message, fields={"format": [message]})
    with transaction.atomic():
        job = ExportJob.objects.create(project=project, format=format, requested_by_id=user_pk(user))
        task_send_on_commit(EXPORT_JOB_RUN, job.pk)
    return job
