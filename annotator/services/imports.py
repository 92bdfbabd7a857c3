"""Writes: imports. Uploads are checked and stored by ``import_job_create`` (the
web process: fast checks only, so a bad file is refused with a clear message
before anything is saved); ``import_job_run`` (a worker) turns them into pages
and lines.

Every unit of an import (a page with its lines, or one line pair) is created in
its own transaction, with its files deleted again if the transaction fails: a
bad member is rejected with its reason and the rest goes in, and nothing is
ever half-saved. Line keys derive from the uploaded file's name and the member's
path, so running a job twice (a worker lost mid-import) skips what is already in.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import PurePosixPath
from typing import Any

import cv2
import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotator.errors import InvalidInputError
from annotator.formats import (
    ArchiveLimits,
    ArchiveMember,
    FormatError,
    LinePair,
    XmlPage,
    classify_archive,
    decode_text,
    parse_layout,
    parse_xml,
    read_zip,
)
from annotator.models import Document, ImportJob, Line, Page, Project, Transcription
from annotator.permissions import ADMIN_ROLES, AnyUser, membership_require, user_pk
from annotator.services.labeling import line_create, transcription_text_clean
from annotator.services.training import training_run_request_if_due
from recognition.images import ImageError, ImageLimits, load_line_image
from recognition.pages import PageLimits, load_page_image, segment_lines

logger = logging.getLogger(__name__)

ZIP_MAGIC = b"PK\x03\x04"
IMAGE_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpeg",
    b"II*\x00": "tiff",
    b"MM\x00*": "tiff",
}
PROGRESS_EVERY = 10


def _archive_limits() -> ArchiveLimits:
    return ArchiveLimits(
        max_members=settings.LINEPROOF_IMPORT_MAX_MEMBERS,
        max_total_bytes=settings.LINEPROOF_IMPORT_MAX_UNPACKED_BYTES,
    )


def _sniff(head: bytes) -> str | None:
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
    kind = _sniff(upload.read(8))
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
            read_zip(data, limits=_archive_limits(), name=name)
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
    if kind not in ImportJob.Kind.values:
        message = f"Unknown import kind {kind!r}; use one of {', '.join(ImportJob.Kind.values)}."
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
            from annotator import tasks

            tasks.import_job_run.delay_on_commit(job.pk)
    except BaseException:
        for name in stored:
            default_storage.delete(name)
        raise
    return job


# --- running an import -------------------------------------------------------


@dataclass
class _Report:
    pages_created: int = 0
    lines_created: int = 0
    lines_with_text: int = 0
    skipped_existing: int = 0
    rejected: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "pages_created": self.pages_created,
            "lines_created": self.lines_created,
            "lines_with_text": self.lines_with_text,
            "skipped_existing": self.skipped_existing,
            "rejected": self.rejected[:1000],
            "warnings": self.warnings[:1000],
        }


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
            status=ImportJob.Status.RUNNING, started_at=timezone.now()
        )
    )


def import_jobs_recover_stale() -> list[int]:
    """Queue again the imports whose worker went silent (killed mid-import: the
    broker may have dropped the message). ``_claim`` lets the new delivery take
    the job over; units already imported are skipped. Returns the job ids."""
    stale = timezone.now() - timedelta(seconds=settings.LINEPROOF_IMPORT_STALE_SECONDS)
    ids = list(
        ImportJob.objects.filter(status=ImportJob.Status.RUNNING, started_at__lt=stale).values_list("pk", flat=True)
    )
    from annotator import tasks

    for job_id in ids:
        tasks.import_job_run.delay_on_commit(job_id)
    return ids


Unit = tuple[str, Callable[[], None]]


def import_job_run(*, job: ImportJob) -> ImportJob:
    """Import every file of ``job``; a no-op for a job already claimed or done."""
    if not _claim(job):
        job.refresh_from_db()
        return job
    job.refresh_from_db()
    project = job.project
    report = _Report()
    try:
        units: list[Unit] = []
        loose: list[ArchiveMember] = []
        for stored in job.files:
            with default_storage.open(stored, "rb") as handle:
                data = handle.read()
            name = PurePosixPath(stored).name
            if _sniff(data[:8]) == "zip":
                members = read_zip(data, limits=_archive_limits(), name=name)
                units += _units(job=job, project=project, group=name, members=members, report=report)
            else:
                loose.append(ArchiveMember(name=name, data=data))
        if loose:
            # Loose files are one group, as if zipped together: a folder of
            # line pairs, PAGE/ALTO files with their images, or page images.
            group = f"upload-{job.pk}" if len(loose) > 1 else loose[0].name
            units += _units(job=job, project=project, group=group, members=loose, report=report)
        for done, (name, run) in enumerate(units, start=1):
            try:
                run()
            except (FormatError, ImageError, InvalidInputError) as error:
                report.rejected.append({"name": name, "reason": _reason(error)})
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
    if status == ImportJob.Status.SUCCEEDED:
        for stored in job.files:
            default_storage.delete(stored)
    if report.lines_with_text:
        # Imported ground truth counts like labels: it may complete a retraining batch.
        training_run_request_if_due(project=project)
    job.refresh_from_db()
    return job


def _reason(error: Exception) -> str:
    if isinstance(error, InvalidInputError):
        return error.message
    return str(error).removeprefix("<bytes>: ")


def _units(
    *, job: ImportJob, project: Project, group: str, members: Sequence[ArchiveMember], report: _Report
) -> list[Unit]:
    """Split a group of files (a zip's members, or the loose files of an
    upload) into units of work: a page with its lines, or one line pair."""
    contents = classify_archive(members, kind=job.kind)  # type: ignore[arg-type]
    report.rejected += [{"name": item.name, "reason": item.reason} for item in contents.rejected]
    report.warnings += [f"{group}: {warning}" for warning in contents.warnings]
    document = _document(project=project, name=group)
    units: list[Unit] = []
    for xml_page in contents.xml_pages:
        units.append((xml_page.xml.name, _bind(_page_from_xml, project, document, group, xml_page, report)))
    for member in contents.page_images:
        key = member.name if member.name == group else f"{group}/{member.name}"
        units.append((member.name, _bind(_page_segmented, project, document, key, member.data, report)))
    for pair in contents.line_pairs:
        units.append((pair.image.name, _bind(_line_pair, project, document, group, pair, report)))
    return units


def _bind(function: Callable[..., None], *args: Any) -> Callable[[], None]:
    return lambda: function(*args)


def _document(*, project: Project, name: str) -> Document:
    document, _ = Document.objects.get_or_create(project=project, name=name)
    return document


def _png(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise ImageError("could not encode the line image as PNG")
    return encoded.tobytes()


class _Stored:
    """Files saved while a unit is created, deleted again if the unit fails."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def add(self, name: str | None) -> None:
        if name:
            self.names.append(name)

    def discard(self) -> None:
        for name in self.names:
            default_storage.delete(name)


def _text_transcription(line: Line, text: str | None, report: _Report) -> None:
    if text is None:
        return
    try:
        cleaned = transcription_text_clean(text, allow_empty=False)
    except InvalidInputError as error:
        report.warnings.append(f"{line.key}: text not imported: {error.message}")
        return
    transcription = Transcription.objects.create(
        line=line, source=Transcription.Source.IMPORT, status=Transcription.Status.VERIFIED, text=cleaned
    )
    Line.objects.filter(pk=line.pk).update(current_transcription=transcription, queue_state=Line.QueueState.LABELED)
    report.lines_with_text += 1


def _exists(project: Project, key: str) -> bool:
    return Line.objects.filter(project=project, key=key).exists()


def _save_page(document: Document, name: str, image_bytes: bytes, stored: _Stored, gray: np.ndarray) -> Page:
    number = (document.pages.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    page = Page(document=document, number=number)
    page.image.save(PurePosixPath(name).name or "page.png", ContentFile(image_bytes), save=False)
    # Saving the file resets the dimension fields from the stored file; the
    # decoded array is the truth (EXIF-rotated, first TIFF page).
    page.height, page.width = gray.shape
    stored.add(page.image.name)
    page.save()
    return page


def _page_image_bytes(data: bytes, gray: np.ndarray) -> bytes:
    """What the browser can show: PNG and JPEG as uploaded, anything else as PNG."""
    return data if _sniff(data[:8]) in {"png", "jpeg"} else _png(gray)


def _line_from_crop(
    *,
    project: Project,
    page: Page | None,
    key: str,
    crop: np.ndarray,
    stored: _Stored,
    polygon: list[list[int]] | None = None,
    bbox: list[int] | None = None,
    reading_order: int = 0,
    document: Document | None = None,
) -> Line:
    height, width = crop.shape[:2]
    line = line_create(
        project=project,
        key=key,
        crop=ContentFile(_png(crop), name=f"{uuid.uuid4().hex}.png"),
        width=width,
        height=height,
        page=page,
        polygon=polygon,
        bbox=bbox,
        reading_order=reading_order,
        document=document,
    )
    stored.add(line.crop.name)
    return line


def _atomic_unit(body: Callable[[_Stored], None]) -> None:
    stored = _Stored()
    try:
        with transaction.atomic():
            body(stored)
    except BaseException:
        stored.discard()
        raise


def _page_segmented(project: Project, document: Document, name: str, data: bytes, report: _Report) -> None:
    """A page image without XML: OpenCV cuts it into lines (recognition.pages)."""
    if _exists(project, f"{name}#1"):
        report.skipped_existing += 1
        return
    gray = load_page_image(data, limits=PageLimits())
    found = segment_lines(gray)
    if not found:
        raise ImageError("no text lines found on this page")

    def body(stored: _Stored) -> None:
        page = _save_page(document, name, _page_image_bytes(data, gray), stored, gray)
        for order, page_line in enumerate(found, start=1):
            _line_from_crop(
                project=project,
                page=page,
                key=f"{name}#{order}",
                crop=page_line.image,
                stored=stored,
                polygon=[list(point) for point in page_line.polygon],
                bbox=list(page_line.bbox),
                reading_order=order,
            )
        report.pages_created += 1
        report.lines_created += len(found)

    _atomic_unit(body)


def _crop_polygon(gray: np.ndarray, polygon: Sequence[tuple[int, int]], bbox: tuple[int, int, int, int]) -> np.ndarray:
    """The bounding box of ``polygon`` with everything outside it painted paper-white,
    so neighbouring lines' ascenders and descenders do not leak into the crop."""
    x0, y0, x1, y1 = bbox
    crop = gray[y0:y1, x0:x1].copy()
    if crop.size == 0:
        raise ImageError(f"the line's box {bbox} is empty")
    if len(polygon) >= 3:
        mask = np.zeros_like(crop)
        points = np.array([[x - x0, y - y0] for x, y in polygon], dtype=np.int32)
        cv2.fillPoly(mask, [points], 255)
        crop[mask == 0] = 255
    return crop


def _page_from_xml(project: Project, document: Document, upload_name: str, xml_page: XmlPage, report: _Report) -> None:
    gray = load_page_image(xml_page.image.data, limits=PageLimits())
    height, width = gray.shape
    parsed = parse_layout(xml_page.xml.data, name=xml_page.xml.name, image_size=(width, height))
    name = xml_page.xml.name
    report.warnings += [f"{name}: {warning}" for warning in (*xml_page.warnings, *parsed.warnings)]
    prefix = f"{upload_name}/{name}"
    if not parsed.lines:
        raise FormatError(f"{name}: no text lines with coordinates")
    if _exists(project, f"{prefix}#{parsed.lines[0].id}"):
        report.skipped_existing += 1
        return

    def body(stored: _Stored) -> None:
        page = _save_page(document, xml_page.image.name, _page_image_bytes(xml_page.image.data, gray), stored, gray)
        for parsed_line in parsed.lines:
            try:
                crop = _crop_polygon(gray, parsed_line.polygon, parsed_line.bbox)
            except ImageError as error:
                report.warnings.append(f"{name}: line {parsed_line.id} skipped: {error}")
                continue
            line = _line_from_crop(
                project=project,
                page=page,
                key=f"{prefix}#{parsed_line.id}",
                crop=crop,
                stored=stored,
                polygon=[list(point) for point in parsed_line.polygon],
                bbox=list(parsed_line.bbox),
                reading_order=parsed_line.reading_order,
            )
            report.lines_created += 1
            _text_transcription(line, parsed_line.text, report)
        report.pages_created += 1

    _atomic_unit(body)


def _line_pair(project: Project, document: Document, upload_name: str, pair: LinePair, report: _Report) -> None:
    key = f"{upload_name}/{pair.image.name}"
    if _exists(project, key):
        report.skipped_existing += 1
        return
    text = pair.text
    try:
        crop = load_line_image(pair.image.data, limits=ImageLimits())
    except ImageError as error:
        raise ImageError(str(error).replace("<bytes>", pair.image.name)) from error

    def body(stored: _Stored) -> None:
        line = _line_from_crop(project=project, page=None, key=key, crop=crop, stored=stored, document=document)
        report.lines_created += 1
        _text_transcription(line, text, report)

    try:
        _atomic_unit(body)
    except IntegrityError:
        # A twin delivery created the line between the check above and here.
        report.skipped_existing += 1
