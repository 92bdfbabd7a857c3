"""The import job: turns stored uploads into pages and lines.

Every unit of an import (a page with its lines, or one line pair) is created in
its own transaction, with its files deleted again if the transaction fails: a
bad member is rejected with its reason and the rest goes in, and nothing is
ever half-saved. Line keys derive from the uploaded file's name and the member's
path, so running a job twice (a worker lost mid-import) skips what is already in.

When the import ends and the project has an active model, the lines it has not
read yet are scored in batches (``jobs.scoring``), as after a promotion, so new
material gets a reading and a queue priority within seconds.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import PurePosixPath
from typing import Any

import cv2
import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotator.errors import InvalidInputError
from annotator.formats import ArchiveMember, FormatError, LinePair, XmlPage, classify_archive, parse_layout, read_zip
from annotator.jobs.heartbeat import Heartbeat
from annotator.jobs.scoring import predictions_refresh
from annotator.models import Document, ImportJob, Line, Page, Project, Transcription
from annotator.selectors import project_active_model
from annotator.services import line_create, training_run_request_if_due, transcription_text_clean
from annotator.services.imports import archive_limits, upload_kind
from recognition.images import ImageError, ImageLimits, load_line_image
from recognition.pages import PageLimits, load_page_image, segment_lines

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 10


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


Unit = tuple[str, Callable[[], None]]


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
    report = _Report()
    try:
        units: list[Unit] = []
        loose: list[ArchiveMember] = []
        for stored in job.files:
            with default_storage.open(stored, "rb") as handle:
                data = handle.read()
            name = PurePosixPath(stored).name
            if upload_kind(data[:8]) == "zip":
                members = read_zip(data, limits=archive_limits(), name=name)
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
    active = project_active_model(project=project)
    if active is not None:
        # New lines get a reading now, not at the next promotion: until then
        # they would have no text to start from and no queue priority.
        predictions_refresh(model_version=active, unread_only=True)
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
    return data if upload_kind(data[:8]) in {"png", "jpeg"} else _png(gray)


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
