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
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import PurePosixPath
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotator.crops import crop_png, crop_polygon
from annotator.errors import InvalidInputError
from annotator.formats import ArchiveMember, FormatError, LinePair, XmlPage, classify_archive, parse_layout, read_zip
from annotator.jobs.heartbeat import Heartbeat
from annotator.jobs.scoring import predictions_refresh
from annotator.models import Document, ImportJob, Line, Page, Project, Transcription
from annotator.selectors import project_active_model
from annotator.services import line_create, training_run_request_if_due, transcription_text_clean
from annotator.services.imports import (
    archive_limits,
    document_get_or_create,
    document_versioned_name,
    page_limits,
    upload_kind,
)
from recognition.images import ImageError, ImageLimits, load_line_image
from recognition.pages import load_page_image, read_page_header, segment_page

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 10
IMPORTED, SKIPPED, FAILED = "imported", "skipped", "failed"
REPORT_ITEMS = 1000


class _SkippedError(Exception):
    """A unit not imported for a reason that is no fault of the file."""

    def __init__(self, reason: str, *, new_version: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.new_version = new_version


@dataclass
class _Report:
    pages_created: int = 0
    lines_created: int = 0
    lines_with_text: int = 0
    pixels_decoded: int = 0
    new_version_offered: bool = False
    units: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, name: str, status: str, *, reason: str = "", document: str = "") -> None:
        self.units.append({"name": name, "status": status, "reason": reason, "document": document})

    def _with(self, status: str) -> list[dict[str, str]]:
        return [{"name": unit["name"], "reason": unit["reason"]} for unit in self.units if unit["status"] == status]

    def as_dict(self) -> dict[str, Any]:
        skipped = self._with(SKIPPED)
        return {
            "pages_created": self.pages_created,
            "lines_created": self.lines_created,
            "lines_with_text": self.lines_with_text,
            "imported": sum(unit["status"] == IMPORTED for unit in self.units),
            "skipped_existing": len(skipped),
            "skipped": skipped[:REPORT_ITEMS],
            "rejected": self._with(FAILED)[:REPORT_ITEMS],
            "units": self.units[:REPORT_ITEMS],
            "new_version_offered": self.new_version_offered,
            "pixels_decoded": self.pixels_decoded,
            "warnings": self.warnings[:REPORT_ITEMS],
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
            status=ImportJob.Status.RUNNING, started_at=timezone.now(), unsent_since=None
        )
    )


# A unit: its name in the report, and what imports it (returns the document's name).
Unit = tuple[str, Callable[[], str]]


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
                try:
                    members = read_zip(data, limits=archive_limits(), name=name)
                except FormatError as error:  # the limits changed since the web checked it
                    report.add(name, FAILED, reason=_reason(error))
                    continue
                units += _units(group=_Group(job, name), members=members, report=report)
            else:
                loose.append(ArchiveMember(name=name, data=data))
        if loose:
            # Loose files are one group, as if zipped together: a folder of
            # line pairs, PAGE/ALTO files with their images, or page images.
            group = f"upload-{job.pk}" if len(loose) > 1 else loose[0].name
            units += _units(group=_Group(job, group), members=loose, report=report)
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


def _unit_run(name: str, run: Callable[[], str], report: _Report) -> None:
    try:
        document = run()
    except _SkippedError as skip:
        report.add(name, SKIPPED, reason=skip.reason)
        report.new_version_offered |= skip.new_version
    except IntegrityError:
        # A twin delivery of this job stored the unit between its checks and here.
        report.add(name, SKIPPED, reason="already imported")
    except (FormatError, ImageError, InvalidInputError) as error:
        report.add(name, FAILED, reason=_reason(error))
    else:
        report.add(name, IMPORTED, document=document)


def _reason(error: Exception) -> str:
    if isinstance(error, InvalidInputError):
        return error.message
    return str(error).removeprefix("<bytes>: ")


class _Group:
    """The files of one upload (a zip, or the loose files of a request): one document.

    Its name is the upload's, unless another import made a document of that name
    (then it is skipped, or with ``new_versions`` named "name (2).ext")."""

    def __init__(self, job: ImportJob, name: str) -> None:
        self.job, self.name = job, name
        self._document_name: str | None = None

    def document_name(self) -> str:
        """Raises ``_SkippedError`` when the name is another import's and no new version was asked for."""
        if self._document_name is None:
            for version in itertools.count(1):
                candidate = self.name if version == 1 else document_versioned_name(self.name, version)
                owner = Document.objects.filter(project_id=self.job.project_id, name=candidate).first()
                if owner is None or owner.import_job_id == self.job.pk:
                    self._document_name = candidate
                    break
                if not self.job.new_versions:
                    raise _SkippedError(_name_taken(candidate), new_version=True)
        assert self._document_name is not None
        return self._document_name

    def document(self) -> Document:
        """This group's document, made in the calling unit's transaction (so a failed
        unit leaves no empty document behind)."""
        name = self.document_name()
        document, _ = document_get_or_create(project=self.job.project, name=name, import_job=self.job)
        if document.import_job_id != self.job.pk:
            # A concurrent import of the same name made it first.
            raise _SkippedError(_name_taken(name), new_version=True)
        return document


def _name_taken(name: str) -> str:
    return f"another import made a document named {name} with other content; import it as a new version to add it"


def _content_hash(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _skip_seen(project_id: int, content_hash: str, *, line: bool = False) -> None:
    """Raises ``_SkippedError`` when this content was imported before, under any name."""
    where: str | None = None
    if line:
        seen = Line.objects.filter(project_id=project_id, content_hash=content_hash).select_related("document")
        found = seen.first()
        if found is not None:
            where = f"{found.document.name if found.document else 'line'} ({found.key})"
    else:
        pages = Page.objects.filter(document__project_id=project_id, content_hash=content_hash)
        page = pages.select_related("document").first()
        if page is not None:
            where = page.document.name if page.number == 1 else f"{page.document.name}, page {page.number}"
    if where is not None:
        raise _SkippedError(f"same content as {where}")


def _budget(report: _Report, pixels: int) -> None:
    """Count ``pixels`` against the job's decoding budget before they are decoded."""
    limit = settings.LINEPROOF_IMPORT_MAX_JOB_PIXELS
    if report.pixels_decoded + pixels > limit:
        raise ImageError(
            f"not decoded: this import already decoded {report.pixels_decoded:,} pixels and may decode at most "
            f"{limit:,} (LINEPROOF_IMPORT_MAX_JOB_PIXELS); import the rest separately"
        )
    report.pixels_decoded += pixels


def _units(*, group: _Group, members: Sequence[ArchiveMember], report: _Report) -> list[Unit]:
    """Split a group of files (a zip's members, or the loose files of an
    upload) into units of work: a page with its lines, or one line pair."""
    contents = classify_archive(members, kind=group.job.kind)  # type: ignore[arg-type]
    for item in contents.rejected:
        report.add(item.name, FAILED, reason=item.reason)
    report.warnings += [f"{group.name}: {warning}" for warning in contents.warnings]
    units: list[Unit] = []
    for xml_page in contents.xml_pages:
        units.append((xml_page.xml.name, _bind(_page_from_xml, group, xml_page, report)))
    for member in contents.page_images:
        try:
            header = read_page_header(
                member.data, limits=page_limits(), max_pages=settings.LINEPROOF_IMPORT_MAX_FILE_PAGES
            )
        except ImageError as error:
            report.add(member.name, FAILED, reason=_reason(error))
            continue
        pages = len(header.sizes)
        for frame, size in enumerate(header.sizes):
            name = member.name if pages == 1 else f"{member.name} page {frame + 1}"
            units.append((name, _bind(_page_segmented, group, member, frame, pages, size, report)))
    for pair in contents.line_pairs:
        units.append((pair.image.name, _bind(_line_pair, group, pair, report)))
    return units


def _bind(function: Callable[..., str], *args: Any) -> Callable[[], str]:
    return lambda: function(*args)


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


def _save_page(
    document: Document,
    name: str,
    image_bytes: bytes,
    stored: _Stored,
    gray: np.ndarray,
    content_hash: str,
    *,
    xml_name: str = "",
) -> Page:
    """``name``: the image's file name as imported (kept for exports, with ``xml_name``,
    the PAGE/ALTO file's); storage may store the file under another."""
    number = (document.pages.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    page = Page(
        document=document,
        number=number,
        content_hash=content_hash,
        source_name=PurePosixPath(name).name[:255],
        source_xml_name=PurePosixPath(xml_name).name[:255],
    )
    page.image.save(PurePosixPath(name).name or "page.png", ContentFile(image_bytes), save=False)
    # Saving the file resets the dimension fields from the stored file; the
    # decoded array is the truth (EXIF-rotated, one TIFF page, a reduced JPEG).
    page.height, page.width = gray.shape
    stored.add(page.image.name)
    page.save()
    return page


def _page_image_bytes(data: bytes, gray: np.ndarray, size: tuple[int, int], frame: int) -> tuple[bytes, str]:
    """What the browser can show, and its suffix: PNG and JPEG as uploaded when
    decoded whole, anything else (a TIFF page, a JPEG decoded reduced) as PNG."""
    decoded_whole = frame == 0 and size == (gray.shape[1], gray.shape[0])
    kind = upload_kind(data[:8])
    if decoded_whole and kind in {"png", "jpeg"}:
        return data, ".png" if kind == "png" else ".jpg"
    return crop_png(gray), ".png"


def _source_name(uploaded: str, converted: str, *, kept: bool) -> str:
    """The page image's name for exports: the uploaded file's when its bytes are
    kept as they were, else the converted file's (a TIFF page stored as PNG)."""
    return PurePosixPath(uploaded).name if kept else converted


def _decode_page(data: bytes, frame: int, size: tuple[int, int], report: _Report) -> np.ndarray:
    _budget(report, size[0] * size[1])
    return load_page_image(data, limits=page_limits(), frame=frame)


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
    external_id: str = "",
    region_id: str = "",
    baseline: list[list[int]] | None = None,
) -> Line:
    height, width = crop.shape[:2]
    line = line_create(
        project=project,
        key=key,
        crop=ContentFile(crop_png(crop), name=f"{uuid.uuid4().hex}.png"),
        width=width,
        height=height,
        page=page,
        polygon=polygon,
        bbox=bbox,
        reading_order=reading_order,
        document=document,
        external_id=external_id,
        region_id=region_id,
        baseline=baseline,
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


def _page_segmented(
    group: _Group, member: ArchiveMember, frame: int, pages: int, size: tuple[int, int], report: _Report
) -> str:
    """A page image without XML (one page of a multi-page TIFF): OpenCV cuts it
    into lines (recognition.pages)."""
    project_id = group.job.project_id
    content_hash = _content_hash(member.data, str(frame).encode()) if pages > 1 else _content_hash(member.data)
    _skip_seen(project_id, content_hash)
    document_name = group.document_name()
    base = document_name if member.name == group.name else f"{document_name}/{member.name}"
    if pages > 1:
        base = f"{base}#page{frame + 1}"
    gray = _decode_page(member.data, frame, size, report)
    found = segment_page(gray, method=group.job.project.segmentation_method, kraken=settings.LINEPROOF_KRAKEN_CLI)
    if not found:
        raise ImageError("no text lines found on this page")
    image_bytes, suffix = _page_image_bytes(member.data, gray, size, frame)
    stem = PurePosixPath(member.name).stem + (f"-page{frame + 1}" if pages > 1 else "")
    image_name = _source_name(member.name, stem + suffix, kept=image_bytes is member.data)

    def body(stored: _Stored) -> None:
        page = _save_page(group.document(), image_name, image_bytes, stored, gray, content_hash)
        for order, page_line in enumerate(found, start=1):
            _line_from_crop(
                project=group.job.project,
                page=page,
                key=f"{base}#{order}",
                crop=page_line.image,
                stored=stored,
                polygon=[list(point) for point in page_line.polygon],
                bbox=list(page_line.bbox),
                baseline=[list(point) for point in page_line.baseline],
                reading_order=order,
            )
        report.pages_created += 1
        report.lines_created += len(found)

    _atomic_unit(body)
    return document_name


def _page_from_xml(group: _Group, xml_page: XmlPage, report: _Report) -> str:
    project_id = group.job.project_id
    image = xml_page.image.data
    content_hash = _content_hash(image, xml_page.xml.data)
    _skip_seen(project_id, content_hash)
    document_name = group.document_name()
    header = read_page_header(image, limits=page_limits(), max_pages=settings.LINEPROOF_IMPORT_MAX_FILE_PAGES)
    gray = _decode_page(image, 0, header.sizes[0], report)
    height, width = gray.shape
    parsed = parse_layout(xml_page.xml.data, name=xml_page.xml.name, image_size=(width, height))
    name = xml_page.xml.name
    report.warnings += [f"{name}: {warning}" for warning in (*xml_page.warnings, *parsed.warnings)]
    prefix = f"{document_name}/{name}"
    if not parsed.lines:
        raise FormatError(f"{name}: no text lines with coordinates")
    image_bytes, suffix = _page_image_bytes(image, gray, header.sizes[0], 0)

    image_name = _source_name(
        xml_page.image.name, PurePosixPath(xml_page.image.name).stem + suffix, kept=image_bytes is image
    )

    def body(stored: _Stored) -> None:
        page = _save_page(group.document(), image_name, image_bytes, stored, gray, content_hash, xml_name=name)
        for parsed_line in parsed.lines:
            try:
                crop = crop_polygon(gray, parsed_line.polygon, parsed_line.bbox)
            except ImageError as error:
                report.warnings.append(f"{name}: line {parsed_line.id} skipped: {error}")
                continue
            line = _line_from_crop(
                project=group.job.project,
                page=page,
                key=f"{prefix}#{parsed_line.id}",
                crop=crop,
                stored=stored,
                polygon=[list(point) for point in parsed_line.polygon],
                bbox=list(parsed_line.bbox),
                reading_order=parsed_line.reading_order,
                external_id=parsed_line.id,
                region_id=parsed_line.region_id or "",
                baseline=[list(point) for point in parsed_line.baseline],
            )
            report.lines_created += 1
            _text_transcription(line, parsed_line.text, report)
        report.pages_created += 1

    _atomic_unit(body)
    return document_name


def _line_pair(group: _Group, pair: LinePair, report: _Report) -> str:
    text = pair.text
    content_hash = _content_hash(pair.image.data, (text or "").encode())
    _skip_seen(group.job.project_id, content_hash, line=True)
    document_name = group.document_name()
    try:
        crop = load_line_image(pair.image.data, limits=ImageLimits())
    except ImageError as error:
        raise ImageError(str(error).replace("<bytes>", pair.image.name)) from error
    _budget(report, crop.size)

    def body(stored: _Stored) -> None:
        line = _line_from_crop(
            project=group.job.project,
            page=None,
            key=f"{document_name}/{pair.image.name}",
            crop=crop,
            stored=stored,
            document=group.document(),
        )
        Line.objects.filter(pk=line.pk).update(content_hash=content_hash)
        report.lines_created += 1
        _text_transcription(line, text, report)

    _atomic_unit(body)
    return document_name
