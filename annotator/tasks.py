"""Celery tasks: each takes ids, loads its row and makes one job or service call.

Routing (settings.CELERY_TASK_ROUTES): ``training_run_execute`` goes to the
``gpu`` queue, consumed by a worker started with ``-Q gpu --concurrency 1
--prefetch-multiplier 1``; imports and exports, which someone waits for, to
``interactive``, consumed by the CPU workers together with ``default``
(``-Q interactive,default``: they take from both in turn, so an export never
waits behind a project's re-scoring batches); everything else to ``default``. Every task is safe
to run twice: the jobs claim their work with compare-and-set updates or write
idempotently. Nothing imports this module but Celery: services and jobs send
by task name (``annotator.enqueue``).
"""

from __future__ import annotations

from collections.abc import Sequence

from celery import shared_task
from django.db import InterfaceError, OperationalError

from annotator import services
from annotator.jobs import exports, imports, recovery, scoring, segmentation, training
from annotator.models import ExportJob, ImportJob, ModelVersion, Project, ResegmentJob, TrainingRun
from annotator.selectors import verified_lines_since_last_model

# A database restart or a dropped connection: worth retrying with backoff.
TRANSIENT_ERRORS = (OperationalError, InterfaceError)
RETRY = {"autoretry_for": TRANSIENT_ERRORS, "retry_backoff": 5, "retry_backoff_max": 300, "max_retries": 6}


@shared_task(acks_late=True, reject_on_worker_lost=True, **RETRY)
def training_run_execute(run_id: int) -> str:
    """Train, judge and maybe promote one run. acks_late + reject_on_worker_lost:
    a worker killed mid-run leaves the message unacknowledged, so the broker
    delivers it again; the job then finds the run stale and retries it as a
    new run. A run already finished (or claimed by another worker) is a no-op."""
    run = TrainingRun.objects.select_related("project").filter(pk=run_id).first()
    if run is None:
        return "missing"
    return training.training_run_execute(run=run).status


@shared_task(**RETRY)
def predictions_refresh(model_version_id: int) -> int:
    """Fan out one prediction_batch_store task per batch of unverified lines.

    Fan-out rather than one long loop: each batch is its own message, so
    several default workers score in parallel, a crash costs one batch (which
    is simply delivered again), and no task runs for the length of a whole
    project's re-scoring. The model is loaded once per worker process (cached).
    """
    version = ModelVersion.objects.filter(pk=model_version_id).first()
    if version is None:
        return 0
    return len(scoring.predictions_refresh(model_version=version))


@shared_task(acks_late=True, **RETRY)
def prediction_batch_store(model_version_id: int, line_ids: Sequence[int]) -> int:
    version = ModelVersion.objects.select_related("project").filter(pk=model_version_id).first()
    if version is None:
        return 0
    return scoring.prediction_batch_store(model_version=version, line_ids=line_ids)


@shared_task(**RETRY)
def training_schedule_check() -> int:
    """Periodic (Celery beat): see ``jobs.recovery.schedule_check``. Returns the runs requested."""
    return recovery.schedule_check()


@shared_task(**RETRY)
def jobs_recover() -> int:
    """Periodic (Celery beat, every LINEPROOF_RECOVER_CHECK_SECONDS): see
    ``jobs.recovery.jobs_recover``. Returns the training runs retried."""
    return recovery.jobs_recover()


@shared_task(**RETRY)
def training_run_scheduled(project_id: int) -> int | None:
    """A per-project retraining schedule: admins add a periodic task with this
    name and kwargs {"project_id": N} in the Django admin (django-celery-beat),
    on an interval or a crontab. Retrains only if lines were verified since the
    last model. Returns the run's id, if one was requested."""
    project = Project.objects.filter(pk=project_id).first()
    if project is None or verified_lines_since_last_model(project=project, at_most=1) == 0:
        return None
    return services.training_run_request(project=project, trigger=TrainingRun.Trigger.SCHEDULE).pk


@shared_task(acks_late=True, reject_on_worker_lost=True, **RETRY)
def import_job_run(job_id: int) -> str:
    """Import one upload. acks_late: a worker lost mid-import gets the job
    delivered again; the job re-claims it once it has gone silent and skips
    the units already in."""
    job = ImportJob.objects.select_related("project").filter(pk=job_id).first()
    if job is None:
        return "missing"
    return imports.import_job_run(job=job).status


@shared_task(acks_late=True, reject_on_worker_lost=True, **RETRY)
def resegment_job_run(job_id: int) -> str:
    job = ResegmentJob.objects.select_related("project", "page", "document").filter(pk=job_id).first()
    if job is None:
        return "missing"
    return segmentation.resegment_job_run(job=job).status


@shared_task(acks_late=True, reject_on_worker_lost=True, **RETRY)
def export_job_run(job_id: int) -> str:
    job = ExportJob.objects.select_related("project").filter(pk=job_id).first()
    if job is None:
        return "missing"
    return exports.export_job_run(job=job).status
