"""Recovery: work whose worker died, and job rows whose message never arrived.

Called by the periodic ``jobs_recover`` and ``training_schedule_check`` (Celery
beat), by the launcher before it starts its workers and by a redelivered training job. Every
claim is compare-and-set, so sending a job again is always safe: a delivery
that finds its job taken does nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotator.enqueue import (
    EXPORT_JOB_RUN,
    IMPORT_JOB_RUN,
    PREDICTIONS_REFRESH,
    RESEGMENT_JOB_RUN,
    TRAINING_RUN_EXECUTE,
    task_send_on_commit,
)
from annotator.models import ExportJob, ImportJob, ModelVersion, Project, ResegmentJob, TrainingRun
from annotator.selectors import training_runs_stale
from annotator.services import training_run_request_if_due, training_run_retry
from annotator.services.imports import import_job_send


def training_run_recover_stale(
    *, project: Project | None = None, now: datetime | None = None, stale_after: float | None = None
) -> list[TrainingRun]:
    """Fail every run whose heartbeat stopped (``selectors.training_runs_stale``)
    and queue its retry (``services.training_run_retry``). Returns the new runs."""
    now = now or timezone.now()
    retries = []
    for dead in training_runs_stale(project=project, now=now, stale_after=stale_after):
        retry = training_run_retry(run=dead, now=now)
        if retry is not None:
            retries.append(retry)
    return retries


def import_jobs_recover_stale() -> list[int]:
    """Queue again the imports whose heartbeat stopped (their worker was killed
    mid-import: the broker may have dropped the message). The import's claim lets the new
    delivery take the job over; units already imported are skipped. Returns the
    job ids."""
    stale = timezone.now() - timedelta(seconds=settings.LINEPROOF_IMPORT_STALE_SECONDS)
    ids = list(
        ImportJob.objects.filter(status=ImportJob.Status.RUNNING, started_at__lt=stale).values_list("pk", flat=True)
    )
    for job_id in ids:
        task_send_on_commit(IMPORT_JOB_RUN, job_id)
    return ids


def import_jobs_unsent_resend() -> list[int]:
    """Send again, at once, the imports whose message the broker refused
    (``ImportJob.unsent_since``: "waiting for a worker"); each one sent stops
    waiting (``services.import_job_send``). Returns the job ids."""
    ids = list(
        ImportJob.objects.filter(status=ImportJob.Status.QUEUED, unsent_since__isnull=False)
        .order_by("id")
        .values_list("pk", flat=True)
    )
    for job_id in ids:
        transaction.on_commit(partial(import_job_send, job_id=job_id))
    return ids


def jobs_unsent_resend(*, now: datetime | None = None) -> dict[str, list[int]]:
    """Send again the jobs still queued LINEPROOF_JOB_UNSENT_SECONDS after they
    were created (re-scorings: requested), whose message was lost (the broker
    was down when it was sent, or dropped it). A job merely waiting its turn
    gets a duplicate message, which its claim turns into a no-op. Returns the
    ids sent, by task."""
    before = (now or timezone.now()) - timedelta(seconds=settings.LINEPROOF_JOB_UNSENT_SECONDS)
    queued = {
        IMPORT_JOB_RUN: ImportJob.objects.filter(status=ImportJob.Status.QUEUED, created_at__lt=before),
        EXPORT_JOB_RUN: ExportJob.objects.filter(status=ExportJob.Status.QUEUED, created_at__lt=before),
        RESEGMENT_JOB_RUN: ResegmentJob.objects.filter(status=ResegmentJob.Status.QUEUED, created_at__lt=before),
        TRAINING_RUN_EXECUTE: TrainingRun.objects.filter(status=TrainingRun.Status.QUEUED, created_at__lt=before),
        PREDICTIONS_REFRESH: ModelVersion.objects.filter(
            status=ModelVersion.Status.ACTIVE, rescore_requested_at__lt=before
        ),
    }
    sent: dict[str, list[int]] = {}
    for task, rows in queued.items():
        sent[task] = list(rows.order_by("id").values_list("pk", flat=True))
        for pk in sent[task]:
            task_send_on_commit(task, pk)
    return sent


def jobs_recover() -> int:
    """The frequent, cheap check (beat, every LINEPROOF_RECOVER_CHECK_SECONDS):
    fail and retry the training runs whose heartbeat stopped, hand over the
    imports whose worker went silent, and send again what was never
    delivered. Returns the training runs retried."""
    import_jobs_recover_stale()
    import_jobs_unsent_resend()
    jobs_unsent_resend()
    return len(training_run_recover_stale())


def schedule_check() -> int:
    """The periodic retraining check: the recovery of ``jobs_recover``, then a
    run for every project whose threshold is met (a safety net for a trigger
    missed while the broker was down). Returns the runs requested."""
    requested = jobs_recover()
    for project in Project.objects.order_by("id"):
        if training_run_request_if_due(project=project) is not None:
            requested += 1
    return requested
