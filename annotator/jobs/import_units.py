"""The units of an import, and how each becomes pages and lines.

The files of one upload (a zip, or the loose files of a request) are one group,
one document (``UploadGroup``); ``upload_units`` splits a group into units: a
page with its lines (PAGE/ALTO with its image, or a page image that OpenCV cuts
into lines; each page of a multi-page TIFF its own unit) or one line pair. Each
unit is created in its own transaction, its document with it, and the files it
stored are deleted again if the transaction fails (``_atomic_unit``).

Content imported before, under any name, is skipped (``_skip_seen``); decoded
pixels count against the job's budget from the headers, before anything is
decoded (``_budget``).
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Callable, Sequence
from pathlib import PurePosixPath
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from annotator.crops import crop_png, crop_polygon
from annotator.errors import InvalidInputError
from annotator.formats import ArchiveMember, FormatError, LinePair, XmlPage, classify_archive, parse_layout
from annotator.jobs.import_report import FAILED, ImportReport, SkippedError, error_reason
from annotator.models import Document, ImportJob, Line, Page, Project, Transcription
from annotator.services import line_create, transcription_text_clean
from annotator.services.imports import document_get_or_create, document_versioned_name, page_limits, upload_kind
from recognition.images import ImageError, ImageLimits, load_line_image
from recognition.pages import load_page_image, read_page_header, segment_page

# A unit: its name in the report, and what imports it (returns the document's name).
Unit = tuple[str, Callable[[], str]]


class UploadGroup:
    """The files of one upload (a zip, or the loose files of a request): one document.

    Its name is the upload's, unless another import made a document of that name
    (then it is skipped, or with ``new_versions`` named "name (2).ext")."""

    def __init__(self, job: ImportJob, name: str) -> None:
        self.job, self.name = job, name
        self._document_name: str | None = None

    def document_name(self) -> str:
        """Raises ``SkippedError`` when the name is another import's and no new version was asked for."""
        if self._document_name is None:
            for version in itertools.count(1):
                candidate = self.name if version == 1 else document_versioned_name(self.name, version)
                owner = Document.objects.filter(project_id=self.job.project_id, name=candidate).first()
                if owner is None or owner.import_job_id == self.job.pk:
                    self._document_name = candidate
                    break
                if not self.job.new_versions:
                    raise SkippedError(_name_taken(candidate), new_version=True)
        assert self._document_name is not None
        return self._document_name

    def document(self) -> Document:
        """This group's document, made in the calling unit's transaction (so a failed
        unit leaves no empty document behind)."""
        name = self.document_name()
        document, _ = document_get_or_create(project=self.job.project, name=name, import_job=self.job)
        if document.import_job_id != self.job.pk:
            # A concurrent import of the same name made it first.
            raise SkippedError(_name_taken(name), new_version=True)
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
    """Raises ``SkippedError`` when this content was imported before, under any name."""
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
        raise SkippedError(f"same content as {where}")


def _budget(report: ImportReport, pixels: int) -> None:
    """Count ``pixels`` against the job's decoding budget before they are decoded."""
    limit = settings.LINEPROOF_IMPORT_MAX_JOB_PIXELS
    if report.pixels_decoded + pixels > limit:
        raise ImageError(
            f"not decoded: this import already decoded {report.pixels_decoded:,} pixels and may decode at most "
            f"{limit:,} (LINEPROOF_IMPORT_MAX_JOB_PIXELS); import the rest separately"
        )
    report.pixels_decoded += pixels


def upload_units(*, group: UploadGroup, members: Sequence[ArchiveMember], report: ImportReport) -> list[Unit]:
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
            report.add(member.name, FAILED, reason=error_reason(error))
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


def _text_transcription(line: Line, text: str | None, report: ImportReport) -> None:
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


def _decode_page(data: bytes, frame: int, size: tuple[int, int], report: ImportReport) -> np.ndarray:
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
    group: UploadGroup, member: ArchiveMember, frame: int, pages: int, size: tuple[int, int], report: ImportReport
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


def _page_from_xml(group: UploadGroup, xml_page: XmlPage, report: ImportReport) -> str:
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


def _line_pair(group: UploadGroup, pair: LinePair, report: ImportReport) -> str:
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
