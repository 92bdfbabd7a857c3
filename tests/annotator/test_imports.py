"""Imports: line folders, PAGE and ALTO zips and page images become lines; bad
uploads are refused with a clear message and leave nothing half-saved."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from pytest_django import DjangoCaptureOnCommitCallbacks, Settings
from rest_framework.test import APIClient

from annotator.errors import ForbiddenError, InvalidInputError
from annotator.jobs.imports import import_job_run
from annotator.jobs.recovery import import_jobs_recover_stale
from annotator.models import (
    ImportJob,
    Line,
    Membership,
    ModelVersion,
    Page,
    Prediction,
    Project,
    TrainingRun,
    Transcription,
)
from annotator.services import import_job_create
from recognition.synthetic import render_line
from tests.annotator.factories import make_active_model, make_member, make_project
from tests.recognition.test_images import png_claiming_size

pytestmark = pytest.mark.django_db

TEXTS = ["dear sir", "kew gardens", "seeds of 1851", "yours truly"]


def png(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    return encoded.tobytes()


def line_png(text: str, seed: int = 0) -> bytes:
    return png(render_line(text, rng=np.random.default_rng(seed), height=32, font=0))


def make_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data)


def run(project: Project, files: list[SimpleUploadedFile], kind: str = "auto") -> ImportJob:
    admin = make_member(project, Membership.Role.ADMIN)
    job = import_job_create(project=project, user=admin, files=files, kind=kind)
    return import_job_run(job=job)


def page_with_lines(texts: list[str]) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    page = np.full((80 + 60 * len(texts), 900), 255, dtype=np.uint8)
    boxes = []
    for n, text in enumerate(texts):
        image = render_line(text, rng=np.random.default_rng(n), height=32, font=0)[:, :800]
        y, x = 40 + 60 * n, 40
        page[y : y + image.shape[0], x : x + image.shape[1]] = image
        boxes.append((x, y, x + image.shape[1], y + image.shape[0]))
    return page, boxes


def page_xml(image_name: str, size: tuple[int, int], boxes: list[tuple[int, int, int, int]], texts: list[str]) -> bytes:
    lines = "".join(
        f'<TextLine id="tl{n}"><Coords points="{x0},{y0} {x1},{y0} {x1},{y1} {x0},{y1}"/>'
        f"<TextEquiv><Unicode>{text}</Unicode></TextEquiv></TextLine>"
        for n, ((x0, y0, x1, y1), text) in enumerate(zip(boxes, texts, strict=True))
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15">'
        f'<Page imageFilename="{image_name}" imageWidth="{size[0]}" imageHeight="{size[1]}">'
        f'<TextRegion id="r1"><Coords points="0,0 {size[0]},0 {size[0]},{size[1]} 0,{size[1]}"/>{lines}</TextRegion>'
        "</Page></PcGts>"
    ).encode()


# --- what goes in --------------------------------------------------------------


def test_line_folder_zip_imports_lines_with_their_text_as_verified(media_root: Path) -> None:
    project = make_project()
    members = {f"set/{n}.png": line_png(text, n) for n, text in enumerate(TEXTS)}
    members |= {f"set/{n}.gt.txt": (text + "\n").encode() for n, text in enumerate(TEXTS[:3])}

    job = run(project, [upload("batch.zip", make_zip(members))])

    assert job.status == ImportJob.Status.SUCCEEDED, job.error
    assert (job.report["lines_created"], job.report["lines_with_text"]) == (4, 3)
    assert job.progress == {"done": 4, "total": 4}
    texts = set(Transcription.objects.filter(line__project=project).values_list("text", "source", "status").distinct())
    assert texts == {(text, "import", "verified") for text in TEXTS[:3]}
    assert Line.objects.filter(project=project, queue_state=Line.QueueState.UNLABELED).count() == 1
    line = Line.objects.filter(project=project).first()
    assert line is not None
    assert default_storage.exists(line.crop.name or "")
    assert job.files
    assert not any(default_storage.exists(name) for name in job.files), "uploads are cleaned up"


def test_page_xml_zip_cuts_lines_from_the_polygons_and_keeps_the_text(media_root: Path) -> None:
    project = make_project()
    page, boxes = page_with_lines(TEXTS)
    xml = page_xml("scan.png", (page.shape[1], page.shape[0]), boxes, TEXTS)

    job = run(project, [upload("export.zip", make_zip({"page/scan.xml": xml, "images/scan.png": png(page)}))])

    assert job.status == ImportJob.Status.SUCCEEDED, job.error
    assert job.report["pages_created"] == 1
    lines = list(Line.objects.filter(project=project).order_by("reading_order"))
    assert [line.current_transcription.text for line in lines if line.current_transcription] == TEXTS
    assert lines[0].bbox == list(boxes[0])
    assert lines[0].page is not None
    assert (lines[0].width, lines[0].height) == (boxes[0][2] - boxes[0][0], boxes[0][3] - boxes[0][1])


def test_page_image_is_segmented_into_lines(media_root: Path) -> None:
    project = make_project()
    page, _boxes = page_with_lines(TEXTS)

    job = run(project, [upload("scan.png", png(page))])

    assert job.status == ImportJob.Status.SUCCEEDED, job.error
    assert job.report["lines_created"] == len(TEXTS)
    assert Page.objects.filter(document__project=project).count() == 1
    assert list(Line.objects.filter(project=project).order_by("reading_order").values_list("reading_order", flat=True))[
        :2
    ] == [1, 2]


def test_a_folder_uploaded_as_loose_files_pairs_images_with_their_text(media_root: Path) -> None:
    project = make_project()
    files = [upload(f"{n}.png", line_png(text, n)) for n, text in enumerate(TEXTS)]
    files += [upload(f"{n}.gt.txt", f"{text}\n".encode()) for n, text in enumerate(TEXTS[:2])]

    job = run(project, files)

    assert job.status == ImportJob.Status.SUCCEEDED, job.error
    assert (job.report["lines_created"], job.report["lines_with_text"]) == (4, 2)
    assert not Page.objects.exists(), "loose images beside .gt.txt files are lines, not pages"
    texts = dict(Line.objects.filter(project=project).values_list("key", "current_transcription__text"))
    assert texts[f"upload-{job.pk}/0.png"] == TEXTS[0]
    assert texts[f"upload-{job.pk}/3.png"] is None


def test_a_loose_text_file_that_is_not_utf8_is_refused_up_front(media_root: Path) -> None:
    project = make_project()
    admin = make_member(project, Membership.Role.ADMIN)

    files = [upload("0.png", line_png("x")), upload("0.gt.txt", "café".encode("latin-1"))]

    with pytest.raises(InvalidInputError, match=r"0\.gt\.txt.*UTF-8"):
        import_job_create(project=project, user=admin, files=files)
    assert not ImportJob.objects.exists()


def test_running_a_job_twice_imports_once(media_root: Path) -> None:
    project = make_project()
    members = {f"{n}.png": line_png(text, n) for n, text in enumerate(TEXTS)}
    admin = make_member(project, Membership.Role.ADMIN)
    job = import_job_create(project=project, user=admin, files=[upload("a.zip", make_zip(members))])

    first = import_job_run(job=job)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.QUEUED)  # a duplicate delivery
    job.refresh_from_db()
    job.files = first.files
    second = import_job_run(job=job)

    assert Line.objects.filter(project=project).count() == len(TEXTS)
    assert second.status in {ImportJob.Status.SUCCEEDED, ImportJob.Status.FAILED}


def test_an_import_whose_worker_died_is_taken_over_and_finished(media_root: Path, settings: Settings) -> None:
    project = make_project()
    admin = make_member(project, Membership.Role.ADMIN)
    members = {f"{n}.png": line_png(text, n) for n, text in enumerate(TEXTS)}
    job = import_job_create(project=project, user=admin, files=[upload("a.zip", make_zip(members))])
    # A worker claimed it and died before importing anything.
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING, started_at=timezone.now())
    assert import_jobs_recover_stale() == [], "a live import is left alone"
    assert import_job_run(job=job).status == ImportJob.Status.RUNNING, "a second delivery waits while it is live"
    settings.LINEPROOF_IMPORT_STALE_SECONDS = 0

    assert import_jobs_recover_stale() == [job.pk]
    finished = import_job_run(job=job)

    assert finished.status == ImportJob.Status.SUCCEEDED, finished.error
    assert Line.objects.filter(project=project).count() == len(TEXTS)


# --- bad input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("scan.png", b"\x89PNG\r\n\x1a\n" + b"garbage" * 10, "not a readable image"),
        ("bomb.png", png_claiming_size(100_000, 100_000), "too large"),
        ("notes.pdf", b"%PDF-1.4 hello", "not a zip archive"),
        ("empty.png", b"", "empty"),
    ],
)
def test_bad_uploads_are_refused_up_front_and_nothing_is_saved(
    media_root: Path, name: str, data: bytes, message: str
) -> None:
    project = make_project()
    admin = make_member(project, Membership.Role.ADMIN)

    with pytest.raises(InvalidInputError, match=message) as raised:
        import_job_create(project=project, user=admin, files=[upload("fine.png", line_png("ok")), upload(name, data)])

    assert name in raised.value.message
    assert not ImportJob.objects.exists()
    assert not list(media_root.rglob("*.png")), "no upload was stored"


def test_zip_escaping_its_folder_is_refused(media_root: Path) -> None:
    project = make_project()
    admin = make_member(project, Membership.Role.ADMIN)
    evil = make_zip({"../../evil.png": line_png("x"), "ok.png": line_png("y")})

    with pytest.raises(InvalidInputError, match=r"evil\.png"):
        import_job_create(project=project, user=admin, files=[upload("evil.zip", evil)])
    assert not ImportJob.objects.exists()


def test_bad_members_are_rejected_with_reasons_and_the_rest_imported(media_root: Path) -> None:
    project = make_project()
    page, _boxes = page_with_lines(TEXTS[:2])
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15">'
        b'<Page imageFilename="p2.png" imageWidth="10" imageHeight="10">&xxe;</Page></PcGts>'
    )
    members = {
        "good.png": line_png("good"),
        "good.gt.txt": "caf\u00e9\n".encode(),
        "latin.png": line_png("latin"),
        "latin.gt.txt": "caf\u00e9\n".encode("latin-1"),
        "broken.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
        "orphan.gt.txt": b"no image\n",
        "p2.xml": xxe,
        "p2.png": png(page),
    }

    job = run(project, [upload("mixed.zip", make_zip(members))], kind="auto")

    assert job.status == ImportJob.Status.SUCCEEDED, job.error
    rejected = {item["name"]: item["reason"] for item in job.report["rejected"]}
    assert set(rejected) >= {"latin.gt.txt", "latin.png", "broken.png", "orphan.gt.txt", "p2.xml"}, rejected
    assert "UTF-8" in rejected["latin.gt.txt"], rejected
    assert "entit" in rejected["p2.xml"].lower()
    good = Line.objects.get(project=project, key="mixed.zip/good.png")
    assert good.current_transcription is not None
    assert good.current_transcription.text == "café"
    assert not Page.objects.exists(), "the refused PAGE file left no page behind"
    # p2.png, orphaned by its refused XML, is left over: in a zip with line pairs it is a line to label.
    assert set(Line.objects.filter(project=project).values_list("key", flat=True)) == {
        "mixed.zip/good.png",
        "mixed.zip/p2.png",
    }
    crops = {p.name for p in media_root.rglob("*.png") if "imports" not in p.parts}
    assert len(crops) == 2, f"only the imported lines' crops are stored, found {crops}"


def test_only_project_admins_import(media_root: Path) -> None:
    project = make_project()
    labeler = make_member(project)

    with pytest.raises(ForbiddenError):
        import_job_create(project=project, user=labeler, files=[upload("a.png", line_png("a"))])


def test_import_over_http_answers_202_and_400_with_a_message(media_root: Path) -> None:
    project = make_project()
    admin = make_member(project, Membership.Role.ADMIN)
    client = APIClient()
    client.force_authenticate(admin)
    members = {"a.png": line_png("a"), "a.gt.txt": b"a\n"}

    accepted = client.post(
        f"/api/projects/{project.pk}/imports",
        {"file": [upload("a.zip", make_zip(members))], "kind": "lines"},
        format="multipart",
    )
    refused = client.post(
        f"/api/projects/{project.pk}/imports", {"file": [upload("x.png", b"\x89PNG\r\n\x1a\nxx")]}, format="multipart"
    )
    missing = client.post(f"/api/projects/{project.pk}/imports", {}, format="multipart")

    assert accepted.status_code == 202, accepted.json()
    assert accepted.json()["status"] == "queued"
    job = client.get(f"/api/imports/{accepted.json()['id']}")
    assert job.status_code == 200
    assert refused.status_code == 400
    assert "x.png" in refused.json()["error"]["message"]
    assert missing.status_code == 400
    assert ImportJob.objects.count() == 1


def test_lines_cut_from_a_page_show_their_page_context(media_root: Path) -> None:
    project = make_project()
    page, boxes = page_with_lines(TEXTS)
    xml = page_xml("scan.png", (page.shape[1], page.shape[0]), boxes, TEXTS)
    run(project, [upload("export.zip", make_zip({"scan.xml": xml, "scan.png": png(page)}))])
    loose = run(project, [upload("loose.zip", make_zip({"l.png": line_png("loose"), "l.gt.txt": b"loose\n"}))])
    assert loose.status == ImportJob.Status.SUCCEEDED
    member = make_member(project, Membership.Role.REVIEWER)
    client = APIClient()
    client.force_authenticate(member)
    second = Line.objects.get(project=project, reading_order=1)
    loose_line = Line.objects.get(project=project, page__isnull=True)

    context = client.get(f"/api/lines/{second.pk}/context")
    none = client.get(f"/api/lines/{loose_line.pk}/context")

    assert context.status_code == 200
    assert context["Content-Type"] == "image/png"
    image = cv2.imdecode(np.frombuffer(context.content, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    line_height = boxes[1][3] - boxes[1][1]
    assert image.shape[0] == line_height * 4, "the line and 1.5 line heights above and below"
    assert (image[:, :, 0].astype(int) - image[:, :, 2].astype(int)).max() > 100, "the line is outlined in colour"
    assert none.status_code == 404
    assert "without its page" in none.json()["error"]["message"]


def test_lines_imported_while_a_model_is_active_are_read_without_a_promotion(
    media_root: Path,
    enqueued: list[tuple[str, tuple]],
    run_enqueued: Callable[[], list[str]],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    project = make_project()
    model = make_active_model(project)
    admin = make_member(project, Membership.Role.ADMIN)
    page, _ = page_with_lines(TEXTS)
    with django_capture_on_commit_callbacks(execute=True):
        import_job_create(project=project, user=admin, files=[upload("letter.png", png(page))])

    ran = run_enqueued()  # the worker: the import, then the scoring batches it sends

    assert ran[0] == "annotator.tasks.import_job_run"
    assert "annotator.tasks.prediction_batch_store" in ran
    lines = Line.objects.filter(project=project)
    assert lines.count() == len(TEXTS)
    assert Prediction.objects.filter(line__in=lines, model_version=model).count() == len(TEXTS), "every line read"
    assert not lines.filter(priority=Line.UNSCORED).exists(), "every line ranked"
    model.refresh_from_db()
    assert model.status == ModelVersion.Status.ACTIVE
    assert ModelVersion.objects.filter(project=project).count() == 1, "no new model, no promotion"
    assert not TrainingRun.objects.filter(project=project).exists()
