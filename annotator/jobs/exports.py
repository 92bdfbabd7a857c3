"""The export job: writes a project's zip to storage, which the API then serves.

What each format holds, for every line the text a user would trust most: the
current human (or imported, or model-accepted) text, else the active model's
reading, with its confidences; a flagged line has no text, and its flag is
written (PAGE: ``custom="flag {kind:...;comment:...;}"`` on the TextLine; ALTO:
a ``Tags/OtherTag`` the TextLine's TAGREFS names; plain text: an empty line,
listed in ``flags.tsv``). PAGE and ALTO need pages, so crops imported
without a page appear only in the text and line-folder exports; the line
folder holds human-verified, unflagged lines only, since it is training data for other tools.

Scope: ``ExportJob.scope`` "verified" keeps only lines whose current text is verified
(by a person or an import; not the model's own acceptance), ``ExportJob.document``
one document. Names: a page imported from PAGE/ALTO keeps its image's and XML
file's names and its lines' and regions' ids (``Page.source_name``,
``Page.source_xml_name``, ``Line.external_id``, ``Line.region_id``), so the export
goes back into eScriptorium, Transkribus or kraken as the same pages and lines;
pages imported before those were kept are numbered, their lines "l<id>".
"""

from __future__ import annotations

import json
import re
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from django.core.files import File
from django.db.models import QuerySet
from django.utils import timezone

from annotator.errors import InvalidInputError
from annotator.formats import LineExport, LineFlagExport, PageExport, write_alto, write_page_xml
from annotator.models import ExportJob, Line, ModelVersion, Page, Prediction, Project, Transcription
from annotator.selectors import project_active_model
from annotator.storage import storage_local_path
from recognition.checkpoint import load_checkpoint
from recognition.export import export_all


def _claim(job: ExportJob) -> bool:
    """Race: a duplicate delivery writing the same export twice at once; the
    conditional UPDATE lets one of them run it."""
    return bool(
        ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.QUEUED).update(
            status=ExportJob.Status.RUNNING, started_at=timezone.now()
        )
    )


def export_job_run(*, job: ExportJob) -> ExportJob:
    """Write ``job``'s zip; a no-op when another delivery already took the job."""
    if not _claim(job):
        job.refresh_from_db()
        return job
    writer = {
        ExportJob.Format.PAGE: _write_xml,
        ExportJob.Format.ALTO: _write_xml,
        ExportJob.Format.TEXT: _write_text,
        ExportJob.Format.LINES: _write_lines,
        ExportJob.Format.MODEL: _write_model,
    }[ExportJob.Format(job.format)]
    with tempfile.TemporaryDirectory(prefix="lineproof-export-") as folder:
        path = Path(folder) / f"{_slug(job.project.name)}-{job.format}-{job.pk}.zip"
        try:
            with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                writer(job, archive)
            with path.open("rb") as handle:
                job.file.save(path.name, File(handle), save=False)
            ExportJob.objects.filter(pk=job.pk).update(
                status=ExportJob.Status.SUCCEEDED, file=job.file.name, finished_at=timezone.now()
            )
        except Exception as error:
            ExportJob.objects.filter(pk=job.pk).update(
                status=ExportJob.Status.FAILED,
                error=f"{error.__class__.__name__}: {error}",
                finished_at=timezone.now(),
            )
            raise
    job.refresh_from_db()
    return job


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "export"


def _progress(job: ExportJob, done: int, total: int) -> None:
    if done == total or done % 50 == 0:
        ExportJob.objects.filter(pk=job.pk).update(progress={"done": done, "total": total})


def _best_texts(project: Project, lines: list[Line]) -> dict[int, tuple[str, float | None, list[float] | None]]:
    """line id -> (text, confidence, char confidences); human texts carry no confidence."""
    active = project_active_model(project=project)
    readings: dict[int, Prediction] = {}
    if active is not None:
        readings = {p.line_id: p for p in Prediction.objects.filter(model_version=active, line__in=lines)}
    out: dict[int, tuple[str, float | None, list[float] | None]] = {}
    for line in lines:
        if line.flag_id is not None:
            continue  # flagged instead of typed: no text anyone trusts
        current = line.current_transcription
        reading = readings.get(line.pk)
        if current is not None and current.status != Transcription.Status.REJECTED:
            if current.source == Transcription.Source.MODEL_ACCEPTED and reading is not None:
                out[line.pk] = (current.text, reading.confidence, list(reading.char_confidences))
            else:
                out[line.pk] = (current.text, None, None)
        elif reading is not None:
            out[line.pk] = (reading.text, reading.confidence, list(reading.char_confidences))
    return out


def _scoped(job: ExportJob, lines: QuerySet[Line]) -> QuerySet[Line]:
    """``lines`` within the job's scope: its document, and only verified ones when asked."""
    if job.document_id is not None:
        lines = lines.filter(document_id=job.document_id)
    if job.scope == ExportJob.Scope.VERIFIED:
        lines = lines.filter(current_transcription__status=Transcription.Status.VERIFIED).exclude(
            current_transcription__source=Transcription.Source.MODEL_ACCEPTED
        )
    return lines


def _pages(job: ExportJob) -> Iterator[Page]:
    pages = Page.objects.filter(document__project=job.project)
    if job.document_id is not None:
        pages = pages.filter(document_id=job.document_id)
    yield from pages.select_related("document").order_by("document", "number")


def _page_names(page: Page, taken: set[str]) -> tuple[str, str]:
    """(image, XML) file names for ``page`` in its document's folder: the imported
    ones where known, else its number; made unique within the folder."""
    suffix = PurePosixPath(page.image.name or "page.png").suffix or ".png"
    image = page.source_name or f"{page.number:04d}{suffix}"
    xml_stem = PurePosixPath(page.source_xml_name or image).stem
    stem, n = xml_stem, 1
    while f"{stem}.xml" in taken or (image in taken):
        n += 1
        stem = f"{xml_stem}_{n}"
        image = f"{PurePosixPath(image).stem}_{n}{PurePosixPath(image).suffix}"
    taken.update({f"{stem}.xml", image})
    return image, f"{stem}.xml"


def _write_xml(job: ExportJob, archive: zipfile.ZipFile) -> None:
    project = job.project
    write = write_alto if job.format == ExportJob.Format.ALTO else write_page_xml
    pages = list(_pages(job))
    taken: dict[int, set[str]] = {}
    written = 0
    for done, page in enumerate(pages, start=1):
        chosen = _scoped(job, page.lines.all())
        lines = list(chosen.select_related("current_transcription", "flag").order_by("reading_order", "id"))
        if not lines and job.scope == ExportJob.Scope.VERIFIED:
            _progress(job, done, len(pages))
            continue
        texts = _best_texts(project, lines)
        folder = _slug(page.document.name)
        image_name, xml_name = _page_names(page, taken.setdefault(page.document_id, set()))
        exported = PageExport(
            image_filename=image_name,
            width=page.width,
            height=page.height,
            lines=[
                LineExport(
                    id=line.external_id or f"l{line.pk}",
                    region_id=line.region_id or None,
                    polygon=[(int(x), int(y)) for x, y in line.polygon]
                    or _box_polygon(line.bbox or [0, 0, page.width, page.height]),
                    bbox=_bbox(line),
                    baseline=[(int(x), int(y)) for x, y in line.baseline],
                    # A flagged line has no text: PAGE writes no TextEquiv, ALTO an empty String.
                    text=None if line.flag_id is not None else texts.get(line.pk, ("", None, None))[0],
                    confidence=texts.get(line.pk, ("", None, None))[1],
                    char_confidences=texts.get(line.pk, ("", None, None))[2],
                    flag=_flag(line),
                )
                for line in lines
            ],
        )
        with page.image.open("rb") as handle:
            archive.writestr(f"{folder}/{image_name}", handle.read())
        archive.writestr(f"{folder}/{xml_name}", write(exported))
        written += 1
        _progress(job, done, len(pages))
    loose = _scoped(job, Line.objects.filter(project=project, page__isnull=True)).count()
    if loose or not written:
        archive.writestr(
            "README.txt",
            f"{written} page(s) exported. {loose} line(s) were imported without a page and appear only "
            "in the text and line-folder exports.\n",
        )


def _flag(line: Line) -> LineFlagExport | None:
    flag = line.flag
    return None if flag is None else LineFlagExport(kind=flag.kind, comment=flag.comment)


def _box_polygon(bbox: list[int]) -> list[tuple[int, int]]:
    x0, y0, x1, y1 = bbox
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def _bbox(line: Line) -> tuple[int, int, int, int]:
    if line.bbox:
        x0, y0, x1, y1 = line.bbox
        return (int(x0), int(y0), int(x1), int(y1))
    if line.polygon:
        xs = [int(x) for x, _ in line.polygon]
        ys = [int(y) for _, y in line.polygon]
        return (min(xs), min(ys), max(xs), max(ys))
    return (0, 0, line.width, line.height)


def _write_text(job: ExportJob, archive: zipfile.ZipFile) -> None:
    project = job.project
    lines = list(
        _scoped(job, Line.objects.filter(project=project))
        .select_related("current_transcription", "document", "page", "flag")
        .order_by("document_id", "page__number", "reading_order", "id")
    )
    texts = _best_texts(project, lines)
    by_document: dict[str, list[str]] = {}
    flags = ["document\tline\tline_number\tflag\tcomment"]
    for line in lines:
        name = line.document.name if line.document else "lines"
        rows = by_document.setdefault(name, [])
        # A flagged line is an empty line of its document's text, listed in flags.tsv.
        rows.append(texts.get(line.pk, ("", None, None))[0])
        flag = line.flag
        if flag is not None:
            comment = " ".join(flag.comment.split())
            flags.append(f"{_slug(name)}.txt\t{line.pk}\t{len(rows)}\t{flag.kind}\t{comment}")
    for name, rows in by_document.items():
        archive.writestr(f"{_slug(name)}.txt", "\n".join(rows) + "\n")
    if len(flags) > 1:
        archive.writestr("flags.tsv", "\n".join(flags) + "\n")
    _progress(job, len(lines), len(lines))


def _write_lines(job: ExportJob, archive: zipfile.ZipFile) -> None:
    """Verified lines as ``<name>.png`` + ``<name>.gt.txt`` (kraken, tesstrain), with
    the fixed split so another tool can evaluate on the same lines."""
    lines = list(
        _scoped(job, Line.objects.filter(project=job.project))
        .filter(current_transcription__status=Transcription.Status.VERIFIED)
        .exclude(current_transcription__source=Transcription.Source.MODEL_ACCEPTED)
        .filter(flag__isnull=True)  # flagged lines are never training data
        .select_related("current_transcription")
    )
    split: dict[str, list[str]] = {"train": [], "eval": []}
    for done, line in enumerate(lines, start=1):
        assert line.current_transcription is not None
        stem = f"{line.pk:07d}"
        with line.crop.open("rb") as handle:
            archive.writestr(
                f"lines/{stem}{PurePosixPath(line.crop.name or 'line.png').suffix or '.png'}", handle.read()
            )
        archive.writestr(f"lines/{stem}.gt.txt", line.current_transcription.text + "\n")
        split[line.split].append(stem)
        _progress(job, done, len(lines))
    archive.writestr("split.json", json.dumps(split, indent=1))


def _write_model(job: ExportJob, archive: zipfile.ZipFile) -> None:
    """The active model: its checkpoint, TorchScript, ONNX and model.json."""
    version: ModelVersion | None = project_active_model(project=job.project)
    if version is None:
        raise InvalidInputError("The project has no active model any more.")
    checkpoint = storage_local_path(version.checkpoint)
    archive.write(checkpoint, "checkpoint.pt")
    with tempfile.TemporaryDirectory(prefix="lineproof-model-") as folder:
        for path in export_all(load_checkpoint(checkpoint), folder):
            archive.write(path, path.name)
    info: dict[str, Any] = {
        "model_version": version.pk,
        "base_name": version.base_name,
        "cer": version.cer,
        "wer": version.wer,
        "ser": version.ser,
    }
    archive.writestr("version.json", json.dumps(info, indent=1))
    _progress(job, 1, 1)
