"""Writes: imports. Uploads are checked and stored by ``import_job_create`` (the
web process: fast checks only, so a bad file is refused with a clear message
before anything is saved); ``annotator.jobs.imports`` (a worker) turns them into
pages and lines.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import PurePosixPath

from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import transaction

from annotator.enqueue import IMPORT_JOB_RUN, task_send_on_commit
from annotator.errors import InvalidInputError
from annotator.formats import IMPORT_KINDS, ArchiveLimits, FormatError, decode_text, parse_xml, read_zip
from annotator.models import ImportJob, Project
from annotator.permissions import ADMIN_ROLES, AnyUser, membership_require, user_pk
from recognition.images import ImageError
from recognition.pages import PageLimits, load_page_image

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


def upload_kind(head: bytes) -> str | None:
    if head.startswith(ZIP_MAGIC):
        return "zip"
    return next((kind for magic, kind in IMAGE_MAGIC.items() if head.startswith(magic)), None)


def _refuse(name: str, reason: str) -> InvalidInputError:
    message = f"{name}: {reason}"
    return InvalidInputError(message, fields={"file": [message]})


def _check_upload(upload: File) -> str:
    """Fast checks in the web process; returns "zip" or an image kind."""
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
    try:
        if kind == "zip":
            # Names, sizes and ratios are checked from the directory; the
            # worker reads the members through the same bounded reader.
            read_zip(data, limits=archive_limits(), name=name)
        elif kind == "text":
            decode_text(data, name=name)
        elif kind == "xml":
            parse_xml(data, name=name)
        else:
            load_page_image(data, limits=PageLimits())
    except (FormatError, ImageError) as error:
        message = str(error).replace("<bytes>", name)
        if not message.startswith(name):
            message = f"{name}: {message}"
        raise InvalidInputError(message, fields={"file": [message]}) from error
    return kind


def import_job_create(*, project: Project, user: AnyUser, files: Sequence[File], kind: str = "auto") -> ImportJob:
    """Check and store the uploads, then queue their import (project admins)."""
    membership_require(project=project, user=user, roles=ADMIN_ROLES)
    if kind not in IMPORT_KINDS:
        message = f"Unknown import kind {kind!r}; use one of {', '.join(IMPORT_KINDS)}."
        raise InvalidInputError(message, fields={"kind": [message]})
    if not files:
        raise InvalidInputError("Choose at least one file to import.", fields={"file": ["No file was sent."]})
    for upload in files:
        _check_upload(upload)
    folder = f"imports/{project.pk}/{uuid.uuid4().hex}"
    stored: list[str] = []
    try:
        for upload in files:
            safe = PurePosixPath((upload.name or "upload").replace("\\", "/")).name or "upload"
            stored.append(default_storage.save(f"{folder}/{safe}", upload))
        with transaction.atomic():
            job = ImportJob.objects.create(
                project=project, kind=kind, created_by_id=user_pk(user), files=stored, progress={"done": 0, "total": 0}
            )
            task_send_on_commit(IMPORT_JOB_RUN, job.pk)
    except BaseException:
        for name in stored:
            default_storage.delete(name)
        raise
    return job
