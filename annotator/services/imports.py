"""Writes: imports. Uploads are checked and stored by ``import_job_create`` (the
web process: fast checks only, so a bad file is refused with a clear message
before anything is saved); ``annotator.jobs.imports`` (a worker) turns them into
pages and lines.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from functools import partial
from pathlib import PurePosixPath

from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from annotator import enqueue
from annotator.errors import InvalidInputError
from annotator.formats import IMPORT_KINDS, ArchiveLimits, FormatError, decode_text, parse_xml, read_zip
from annotator.formats.pairing import file_kind
from annotator.models import Document, ImportJob, Project
from annotator.permissions import ADMIN_ROLES, AnyUser, membership_require, user_pk
from recognition.images import ImageError
from recognition.pages import PageLimits, read_page_header

logger = logging.getLogger(__name__)

ZIP_MAGIC = b"PK\x03\x04"
IMAGE_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpeg",
    b"II*\x00": "tiff",
    b"MM\x00*": "tiff",
}


def archive_limits() -> ArchiveLimits:
    return ArchiveLimits(
        max_members=settings.LINEPROOF_IMPORT_MAX_MEMBERS,
        max_total_bytes=settings.LINEPROOF_IMPORT_MAX_UNPACKED_BYTES,
    )


def page_limits() -> PageLimits:
    return PageLimits(max_pixels=settings.LINEPROOF_IMPORT_MAX_PAGE_PIXELS)


def upload_kind(head: bytes) -> str | None:
    if head.startswith(ZIP_MAGIC):
        return "zip"
    return next((kind for magic, kind in IMAGE_MAGIC.items() if head.startswith(magic)), None)


def _refuse(name: str, reason: str) -> InvalidInputError:
    message = f"{name}: {reason}"
    return InvalidInputError(message, fields={"file": [message]})


def _check_upload(upload: File) -> int:
    """Fast checks in the web process; returns the pixels its images decode to.

    Images are judged by their headers alone: no page is decoded here, so a
    small file that declares a huge image costs the web process nothing."""
    name = upload.name or "upload"
    size = upload.size or 0
    if size == 0:
        raise _refuse(name, "the file is empty.")
    if size > settings.LINEPROOF_IMPORT_MAX_UPLOAD_BYTES:
        limit_mb = settings.LINEPROOF_IMPORT_MAX_UPLOAD_BYTES // 2**20
        raise _refuse(name, f"the file is {size // 2**20} MB; an upload may be at most {limit_mb} MB.")
    upload.seek(0)
    kind = upload_kind(upload.read(8))
    upload.seek(0)
    lowered = name.lower()
    if kind is None and lowered.endswith(".gt.txt"):
        kind = "text"  # one half of a line pair uploaded as loose files (a folder)
    elif kind is None and lowered.endswith(".xml"):
        kind = "xml"
    if kind is None:
        raise _refuse(name, "not a zip archive, a PNG, JPEG or TIFF image, a .gt.txt or a PAGE/ALTO .xml file.")
    data = upload.read()
    upload.seek(0)
    pixels = 0
    try:
        if kind == "zip":
            # Names, sizes and ratios are checked from the directory; the
            # worker reads the members through the same bounded reader.
            for member in read_zip(data, limits=archive_limits(), name=name):
                if file_kind(member.name) == "image":
                    pixels += _member_pixels(member.data)
        elif kind == "text":
            decode_text(data, name=name)
        elif kind == "xml":
            parse_xml(data, name=name)
        else:
            pixels = read_page_header(
                data, limits=page_limits(), max_pages=settings.LINEPROOF_IMPORT_MAX_FILE_PAGES
            ).pixels
    except (FormatError, ImageError) as error:
        message = str(error).replace("<bytes>", name)
        if not message.startswith(name):
            message = f"{name}: {message}"
        raise InvalidInputError(message, fields={"file": [message]}) from error
    return pixels


def _member_pixels(data: bytes) -> int:
    """What an image in a zip decodes to; one the header does not describe is the
    worker's to reject, with its reason, as one unit of the import."""
    try:
        return read_page_header(data, limits=page_limits(), max_pages=settings.LINEPROOF_IMPORT_MAX_FILE_PAGES).pixels
    except ImageError:
        return 0


def import_job_create(
    *, project: Project, user: AnyUser, files: Sequence[File], kind: str = "auto", new_versions: bool = False
) -> ImportJob:
    """Check and store the uploads, then queue their import (project admins).

    ``new_versions``: material whose name was used before, with other content,
    is imported as a new document ("page (2).png") instead of skipped."""
    membership_require(project=project, user=user, roles=ADMIN_ROLES)
    if kind not in IMPORT_KINDS:
        message = f"Unknown import kind {kind!r}; use one of {', '.join(IMPORT_KINDS)}."
        raise InvalidInputError(message, fields={"kind": [message]})
    if not files:
        raise InvalidInputError("Choose at least one file to import.", fields={"file": ["No file was sent."]})
    pixels = sum(_check_upload(upload) for upload in files)
    if pixels > settings.LINEPROOF_IMPORT_MAX_REQUEST_PIXELS:
        message = (
            f"These files decode to {pixels / 1e6:,.0f} million pixels; one import may hold at most "
            f"{settings.LINEPROOF_IMPORT_MAX_REQUEST_PIXELS / 1e6:,.0f} million. Import them in smaller batches."
        )
        raise InvalidInputError(message, fields={"file": [message]})
    folder = f"imports/{project.pk}/{uuid.uuid4().hex}"
    stored: list[str] = []
    try:
        for upload in files:
            safe = PurePosixPath((upload.name or "upload").replace("\\", "/")).name or "upload"
            stored.append(default_storage.save(f"{folder}/{safe}", upload))
        with transaction.atomic():
            job = ImportJob.objects.create(
                project=project,
                kind=kind,
                created_by_id=user_pk(user),
                files=stored,
                new_versions=new_versions,
                progress={"done": 0, "total": 0},
            )
    except BaseException:
        for name in stored:
            default_storage.delete(name)
        raise
    # Sent on commit, outside the clean-up above: once the job row exists its
    # files stay until a worker has imported them, whether or not the broker
    # takes the message now.
    transaction.on_commit(partial(import_job_send, job_id=job.pk))
    return job


def import_job_send(*, job_id: int) -> bool:
    """Send the job to the workers. A broker that is down leaves the job queued and
    "waiting for a worker" (``unsent_since``), with its files, until the periodic
    check sends it again (``jobs.recovery.import_jobs_unsent_resend``). Returns
    whether it was sent."""
    try:
        sent = enqueue.task_send(enqueue.IMPORT_JOB_RUN, job_id)
    except Exception:  # a broker client error enqueue does not know: the job waits all the same
        logger.exception("could not send import %s; the periodic check sends it again", job_id)
        sent = False
    waiting = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.QUEUED)
    if sent:
        waiting.filter(unsent_since__isnull=False).update(unsent_since=None)
    else:
        waiting.filter(unsent_since__isnull=True).update(unsent_since=timezone.now())
    return sent


def document_versioned_name(name: str, version: int) -> str:
    """``page.png`` -> ``page (2).png``; ``lines.zip`` -> ``lines (3).zip``."""
    path = PurePosixPath(name)
    return f"{path.stem} ({version}){path.suffix}" if path.suffix else f"{name} ({version})"


def document_get_or_create(*, project: Project, name: str, import_job: ImportJob) -> tuple[Document, bool]:
    """The project's document called ``name``, made for ``import_job`` if there is none.

    Race: two imports of one name at once would both find no document and both
    insert one. The unique constraint (project, name) lets only one insert
    through; Django's get_or_create inserts under a savepoint, so the loser (its
    insert waits for the winner's transaction, then fails) rolls back just that
    and reads the winner's row, inside the caller's transaction."""
    return Document.objects.get_or_create(project=project, name=name, defaults={"import_job": import_job})
