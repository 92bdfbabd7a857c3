"""The import job: turns stored uploads into pages and lines.

Every unit of an import (a page with its lines, one page of a multi-page TIFF,
or one line pair) is created in its own transaction, its document with it, and
its files are deleted again if the transaction fails: a bad unit is reported
with its reason and the rest goes in, and a failed unit leaves nothing behind.
The uploaded files are removed when the job ends, whatever the outcome.

Material is recognised by content (``Page.content_hash``, ``Line.content_hash``),
not by name: content imported before, under any name, is skipped ("same content
as <document>"), so running a job twice (a worker lost mid-import) imports once.
A document's name belongs to the import that made it; another upload of that
name with other content is skipped with the offer to import it as a new version
(``ImportJob.new_versions``: "page (2).png"). The report lists every unit:
imported, skipped with its reason, or failed with its reason.

Decoded pixels are bounded per page and per job (``LINEPROOF_IMPORT_MAX_*_PIXELS``),
from the headers, before anything is decoded.

When the import ends and the project has an active model, the lines it has not
read yet are scored in batches (``jobs.scoring``), as after a promotion, so new
material gets a reading and a queue priority within seconds.

This module is the job: its claim, its run over the units with the heartbeat and
progress, and what follows it. The units and how each becomes pages and lines:
``jobs.import_units``; the report: ``jobs.import_report``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import PurePosixPath

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError
from django.utils import timezone

from annotator.errors import InvalidInputError
from annotator.formats import ArchiveMember, FormatError, read_zip
from annotator.jobs.heartbeat import Heartbeat
from annotator.jobs.import_report import FAILED, IMPORTED, SKIPPED, ImportReport, SkippedError, error_reason
from annotator.jobs.import_units import Unit, UploadGroup, upload_units
from annotator.jobs.scoring import predictions_refresh
from annotator.models import ImportJob
from annotator.selectors import project_active_model
from annotator.services import training_run_request_if_due
from annotator.services.imports import archive_limits, upload_kind
from recognition.images import ImageError

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 10


def _claim(job: ImportJob) -> bool:
    """Race: the same job delivered twice (acks_late after a lost worker, or a
    duplicate message) would import it twice at once. The conditional UPDATE
    lets exactly one delivery move it from queued (or from a running state
    whose worker went silent) to running."""
    stale = timezone.now() - timedelta(seconds=settings.LINEPROOF_IMPORT_STALE_SECONDS)
    claimable = ImportJob.objects.filter(pk=job.pk).filter(status=ImportJob.Status.QUEUED) | ImportJob.objects.filter(
        pk=job.pk, status=ImportJob.Status.RUNNING, started_at__lt=stale
    )
    return bool(
        ImportJob.objects.filter(pk__in=claimable.values("pk")).update(
            status=ImportJob.Status.RUNNING, started_at=timezone.now(), unsent_since=None
        )
    )


def import_job_run(*, job: ImportJob) -> ImportJob:
    """Import every file of ``job``; a no-op for a job already claimed or done."""
    if not _claim(job):
        job.refresh_from_db()
        return job
    with Heartbeat(partial(_job_touch, job.pk)):
        return _import_claimed(job)


def _job_touch(job_id: int) -> bool:
    """The import's heartbeat (``started_at``); False once the job is not running."""
    running = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING)
    return running.update(started_at=timezone.now()) == 1


def _import_claimed(job: ImportJob) -> ImportJob:
    job.refresh_from_db()
    project = job.project
    report = ImportReport()
    try:
        units: list[Unit] = []
        loose: list[ArchiveMember] = []
        for stored in job.files:
            with default_storage.open(stored, "rb") as handle:
                data = handle.read()
            name = PurePosixPath(stored).name
            if upload_kind(data[:8]) == "zip":
                try:
                    members = read_zip(data, limits=archive_limits(), name=name)
                except FormatError as error:  # the limits changed since the web checked it
                    report.add(name, FAILED, reason=error_reason(error))
                    continue
                units += upload_units(group=UploadGroup(job, name), members=members, report=report)
            else:
                loose.append(ArchiveMember(name=name, data=data))
        if loose:
            # Loose files are one group, as if zipped together: a folder of
            # line pairs, PAGE/ALTO files with their images, or page images.
            group = f"upload-{job.pk}" if len(loose) > 1 else loose[0].name
            units += upload_units(group=UploadGroup(job, group), members=loose, report=report)
        if not units and not report.units:
            report.warnings.append("nothing to import: no page, PAGE/ALTO file or line image was found")
        for done, (name, run) in enumerate(units, start=1):
            _unit_run(name, run, report)
            if done % PROGRESS_EVERY == 0 or done == len(units):
                ImportJob.objects.filter(pk=job.pk).update(
                    progress={"done": done, "total": len(units)}, report=report.as_dict(), started_at=timezone.now()
                )
        status, error_text = ImportJob.Status.SUCCEEDED, ""
    except Exception as error:  # the job fails with its reason; what went in stays in, whole
        logger.exception("import %s failed", job.pk)
        status, error_text = ImportJob.Status.FAILED, f"{error.__class__.__name__}: {error}"
    ImportJob.objects.filter(pk=job.pk).update(
        status=status, error=error_text, report=report.as_dict(), finished_at=timezone.now()
    )
    # The job is over either way (a failed one is not run again): its uploads go.
    for stored in job.files:
        default_storage.delete(stored)
    if report.lines_with_text:
        # Imported ground truth counts like labels: it may complete a retraining batch.
        training_run_request_if_due(project=project)
    active = project_active_model(project=project)
    if active is not None:
        # New lines get a reading now, not at the next promotion: until then
        # they would have no text to start from and no queue priority.
        predictions_refresh(model_version=active, unread_only=True)
    job.refresh_from_db()
    return job


def _unit_run(name: str, run: Callable[[], str], report: ImportReport) -> None:
    try:
        document = run()
    except SkippedError as skip:
        report.add(name, SKIPPED, reason=skip.reason)
        report.new_version_offered |= skip.new_version
    except IntegrityError:
        # A twin delivery of this job stored the unit between its checks and here.
        report.add(name, SKIPPED, reason="already imported")
    except (FormatError, ImageError, InvalidInputError) as error:
        report.add(name, FAILED, reason=error_reason(error))
    else:
        report.add(name, IMPORTED, document=document)
