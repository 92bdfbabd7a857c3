"""Imports: line folders, PAGE and ALTO zips and page images become lines; bad
uploads are refused with a clear message and leave nothing half-saved."""

from __future__ import annotations

import io
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import redis
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from PIL import Image
from pytest_django import DjangoCaptureOnCommitCallbacks, Settings
from rest_framework.test import APIClient

from annotator import enqueue
from annotator.errors import ForbiddenError, InvalidInputError
from annotator.jobs.imports import import_job_run
from annotator.jobs.recovery import import_jobs_recover_stale, schedule_check
from annotator.models import (
    Document,
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
from annotator.services.imports import document_get_or_create
from recognition.synthetic import render_line
from tests.annotator.factories import make_active_model, make_member, make_project, run_in_threads
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


def run(
    project: Project, files: list[SimpleUploadedFile], kind: str = "auto", *, new_versions: bool = False
) -> ImportJob:
    admin = make_member(project, Membership.Role.ADMIN)
    job = import_job_create(project=project, user=admin, files=files, kind=kind, new_versions=new_versions)
    return import_job_run(job=job)


def admin_client(project: Project) -> APIClient:
    client = APIClient()
    client.force_authenticate(make_member(project, Membership.Role.ADMIN))
    return client


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


def test_a_segmented_page_stores_each_lines_baseline_inside_its_box(media_root: Path) -> None:
    project = make_project()
    page, _boxes = page_with_lines(TEXTS)

    job = run(project, [upload("scan.png", png(page))])

    assert job.status == ImportJob.Status.SUCCEEDED, job.error
    lines = list(Line.objects.filter(project=project))
    assert lines
    for line in lines:
        assert line.bbox is not None
        x0, y0, x1, y1 = line.bbox
        assert len(line.baseline) >= 2, line.baseline
        assert all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in line.baseline), (line.bbox, line.baseline)


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


# --- a broker that is down -------------------------------------------------------------


def test_an_import_while_the_broker_is_down_keeps_its_files_waits_for_a_worker_and_goes_when_it_is_back(
    media_root: Path,
    broker_down: Callable[[], None],
    enqueued: list[tuple[str, tuple]],
    run_enqueued: Callable[[], list[str]],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    project = make_project()
    client = admin_client(project)
    page, _ = page_with_lines(TEXTS)

    with django_capture_on_commit_callbacks(execute=True):
        accepted = client.post(
            f"/api/projects/{project.pk}/imports", {"file": [upload("scan.png", png(page))]}, format="multipart"
        )
    with django_capture_on_commit_callbacks(execute=True):
        schedule_check()  # the periodic check, while the broker is still down

    assert accepted.status_code == 202, accepted.content
    waiting = client.get(f"/api/imports/{accepted.json()['id']}").json()
    assert (waiting["status"], waiting["waiting_for_worker"]) == ("queued", True)
    job = ImportJob.objects.get(pk=waiting["id"])
    assert all(default_storage.exists(name) for name in job.files), "the upload is kept for the worker"
    assert not enqueued

    broker_down()  # the broker is back
    with django_capture_on_commit_callbacks(execute=True):
        schedule_check()

    assert enqueued == [("annotator.tasks.import_job_run", (job.pk,))]
    assert client.get(f"/api/imports/{job.pk}").json()["waiting_for_worker"] is False
    assert run_enqueued() == ["annotator.tasks.import_job_run"]
    job.refresh_from_db()
    assert job.status == ImportJob.Status.SUCCEEDED, job.error
    assert Line.objects.filter(project=project).count() == len(TEXTS)
    assert not any(default_storage.exists(name) for name in job.files)


@pytest.mark.django_db(transaction=True)
def test_a_send_failing_with_an_error_enqueue_does_not_know_keeps_the_files_and_the_job_waiting(
    media_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside any transaction, as in a request: the send runs as the job's row commits."""
    project = make_project()
    admin = make_member(project, Membership.Role.ADMIN)

    def refuse(*_args: object) -> bool:
        raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(enqueue, "task_send", refuse)
    job = import_job_create(project=project, user=admin, files=[upload("a.png", line_png("a"))])

    job.refresh_from_db()
    assert (job.status, job.unsent_since is not None) == (ImportJob.Status.QUEUED, True)
    assert all(default_storage.exists(name) for name in job.files)


# --- content, not names -----------------------------------------------------------------


def unit_statuses(job: ImportJob) -> dict[str, tuple[str, str]]:
    return {unit["name"]: (unit["status"], unit["reason"]) for unit in job.report["units"]}


def test_a_new_page_under_a_used_name_is_skipped_with_its_reason_and_imported_as_a_new_version_when_asked(
    media_root: Path,
) -> None:
    project = make_project()
    first, _ = page_with_lines(TEXTS[:2])
    second, _ = page_with_lines(TEXTS[2:])
    run(project, [upload("page.png", png(first))])

    skipped = run(project, [upload("page.png", png(second))])
    again = run(project, [upload("page.png", png(second))], new_versions=True)

    assert unit_statuses(skipped)["page.png"][0] == "skipped"
    assert "new version" in unit_statuses(skipped)["page.png"][1]
    assert skipped.report["skipped"] == [{"name": "page.png", "reason": unit_statuses(skipped)["page.png"][1]}]
    assert skipped.report["new_version_offered"] is True
    assert skipped.report["lines_created"] == 0
    assert unit_statuses(again)["page.png"][0] == "imported", again.report
    assert set(Document.objects.filter(project=project).values_list("name", flat=True)) == {"page.png", "page (2).png"}
    assert Line.objects.filter(project=project, document__name="page (2).png").count() == 2


def test_a_changed_lines_zip_is_offered_as_a_new_version_and_identical_content_is_skipped_under_any_name(
    media_root: Path,
) -> None:
    project = make_project()
    old = {f"{n}.png": line_png(text, n) for n, text in enumerate(TEXTS[:2])}
    old |= {f"{n}.gt.txt": text.encode() for n, text in enumerate(TEXTS[:2])}
    new = old | {"0.png": line_png("other words", 7), "0.gt.txt": b"other words"}
    run(project, [upload("lines.zip", make_zip(old))])

    same = run(project, [upload("renamed.zip", make_zip(old))], new_versions=True)
    changed = run(project, [upload("lines.zip", make_zip(new))])
    version = run(project, [upload("lines.zip", make_zip(new))], new_versions=True)

    assert unit_statuses(same) == {
        "0.png": ("skipped", "same content as lines.zip (lines.zip/0.png)"),
        "1.png": ("skipped", "same content as lines.zip (lines.zip/1.png)"),
    }
    assert unit_statuses(changed)["0.png"][0] == "skipped"
    assert "new version" in unit_statuses(changed)["0.png"][1]
    assert unit_statuses(version) == {
        "0.png": ("imported", ""),
        "1.png": ("skipped", "same content as lines.zip (lines.zip/1.png)"),
    }
    assert set(Line.objects.filter(project=project).values_list("key", flat=True)) == {
        "lines.zip/0.png",
        "lines.zip/1.png",
        "lines (2).zip/0.png",
    }


# --- one document per name --------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_imports_racing_for_one_document_name_share_one_row() -> None:
    """Deterministic: the first import's transaction holds its new document until
    the second one is seen waiting on it in PostgreSQL (or has finished, which
    is what happens without the unique constraint), then commits."""
    if connection.vendor != "postgresql":
        pytest.skip("the waiting insert is seen in PostgreSQL's pg_stat_activity")
    project = make_project()
    jobs = [ImportJob.objects.create(project=project) for _ in range(2)]
    first_inserted, second_waits = threading.Event(), threading.Event()
    second_done = threading.Event()
    documents: dict[int, int] = {}

    def first() -> None:
        with transaction.atomic():
            documents[0] = document_get_or_create(project=project, name="page.png", import_job=jobs[0])[0].pk
            first_inserted.set()
            assert second_waits.wait(60)

    def second() -> None:
        assert first_inserted.wait(60)
        with transaction.atomic():
            documents[1] = document_get_or_create(project=project, name="page.png", import_job=jobs[1])[0].pk
        second_done.set()

    def watch() -> None:
        assert first_inserted.wait(60)
        deadline = time.monotonic() + 60
        with connection.cursor() as cursor:
            while not second_done.wait(0.01) and time.monotonic() < deadline:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
                if cursor.fetchone()[0]:
                    break
        second_waits.set()

    run_in_threads(lambda n: [first, second, watch][n](), 3, timeout=120)

    assert Document.objects.filter(project=project, name="page.png").count() == 1
    assert documents[0] == documents[1]


# --- what a failed unit leaves ------------------------------------------------------------


def truncated(data: bytes) -> bytes:
    """The file's header intact, half its pixel data gone: passes the web's header check."""
    return data[: len(data) // 2]


def stored_files(media_root: Path) -> list[Path]:
    return [path for path in media_root.rglob("*") if path.is_file()]


@pytest.mark.parametrize(
    "files",
    [
        pytest.param(lambda: [upload("scan.png", truncated(png(page_with_lines(TEXTS)[0])))], id="corrupt page"),
        pytest.param(lambda: [upload("blank.png", png(np.full((300, 400), 255, np.uint8)))], id="blank page"),
        pytest.param(
            lambda: [upload("x.zip", make_zip({"p.xml": page_xml("p.png", (9, 3), [], []), "p.png": line_png("p")}))],
            id="xml without lines",
        ),
        pytest.param(lambda: [upload("notes.zip", make_zip({"readme.md": b"hello"}))], id="nothing importable"),
        pytest.param(lambda: [upload("mac.zip", make_zip({"__MACOSX/._a.png": b"junk"}))], id="empty zip"),
        pytest.param(
            lambda: [upload("lines.zip", make_zip({"a.png": truncated(line_png("a")), "a.gt.txt": b"a"}))],
            id="corrupt line",
        ),
    ],
)
def test_a_failed_or_empty_import_leaves_no_upload_document_page_line_or_crop_behind(
    media_root: Path, files: Callable[[], list[SimpleUploadedFile]]
) -> None:
    project = make_project()

    job = run(project, files())

    assert job.status == ImportJob.Status.SUCCEEDED, job.error
    assert not Document.objects.exists()
    assert not Page.objects.exists()
    assert not Line.objects.exists()
    assert stored_files(media_root) == [], "neither the upload nor any crop or page image is left"
    assert job.report["imported"] == 0
    assert job.report["rejected"] or job.report["warnings"], job.report


def test_a_job_that_fails_as_a_whole_removes_its_uploads(media_root: Path, settings: Settings) -> None:
    project = make_project()
    admin = make_member(project, Membership.Role.ADMIN)
    members = {f"{n}.png": line_png(text, n) for n, text in enumerate(TEXTS)}
    files = [upload("a.zip", make_zip(members)), upload("b.zip", make_zip(members))]
    job = import_job_create(project=project, user=admin, files=files)
    settings.LINEPROOF_IMPORT_MAX_MEMBERS = 2  # the worker's limit is lower than the web's was
    default_storage.delete(job.files[1])  # and the second upload is gone from the storage

    finished = import_job_run(job=job)

    assert finished.status == ImportJob.Status.FAILED
    assert "b.zip" in finished.error
    assert unit_statuses(finished) == {"a.zip": ("failed", "a.zip: 4 entries, more than the limit of 2")}
    assert not Document.objects.exists()
    assert stored_files(media_root) == []


# --- multi-page TIFF ---------------------------------------------------------------------


def tiff(pages: list[np.ndarray]) -> bytes:
    images = [Image.fromarray(page) for page in pages]
    buffer = io.BytesIO()
    images[0].save(buffer, format="TIFF", save_all=True, append_images=images[1:], compression="tiff_deflate")
    return buffer.getvalue()


def test_a_multi_page_tiff_imports_every_page_as_a_page_of_one_document(media_root: Path) -> None:
    project = make_project()
    pages = [page_with_lines(TEXTS[:n])[0] for n in (1, 2, 3)]

    job = run(project, [upload("book.tif", tiff(pages))])

    assert job.status == ImportJob.Status.SUCCEEDED, job.error
    assert unit_statuses(job) == {f"book.tif page {n}": ("imported", "") for n in (1, 2, 3)}
    stored = list(Page.objects.filter(document__project=project).order_by("number"))
    assert [(page.document.name, page.number) for page in stored] == [("book.tif", n) for n in (1, 2, 3)]
    assert [(page.height, page.width) for page in stored] == [page.shape for page in pages]
    assert [page.lines.count() for page in stored] == [1, 2, 3]
    assert Line.objects.get(page=stored[2], reading_order=3).key == "book.tif#page3#3"
    assert all((page.image.name or "").endswith(".png") for page in stored), "a browser cannot show TIFF"

    again = run(project, [upload("copy.tif", tiff(pages))])

    assert unit_statuses(again)["copy.tif page 2"] == ("skipped", "same content as book.tif, page 2")


# --- pixels --------------------------------------------------------------------------------


def test_a_small_png_declaring_a_huge_page_is_refused_over_http_from_its_header(
    media_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project()
    client = admin_client(project)
    bomb = png_claiming_size(12_000, 12_000)
    assert len(bomb) < 20_000

    def no_decoding(*_args: object) -> None:
        raise AssertionError("the web process decoded pixels")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    refused = client.post(
        f"/api/projects/{project.pk}/imports", {"file": [upload("bomb.png", bomb)]}, format="multipart"
    )

    assert refused.status_code == 400, refused.content
    assert refused["Content-Type"] == "application/json"
    message = refused.json()["error"]["message"]
    assert "bomb.png" in message
    assert "12000x12000" in message
    assert not ImportJob.objects.exists()
    assert stored_files(media_root) == []


def test_the_web_process_reads_page_headers_and_never_decodes_a_page(
    media_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project()
    admin = make_member(project, Membership.Role.ADMIN)
    page, _ = page_with_lines(TEXTS)

    def no_decoding(*_args: object) -> None:
        raise AssertionError("the web process decoded pixels")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    job = import_job_create(project=project, user=admin, files=[upload("scan.png", png(page))])

    assert job.status == ImportJob.Status.QUEUED


def test_one_request_may_not_declare_more_pixels_than_its_budget(media_root: Path, settings: Settings) -> None:
    project = make_project()
    client = admin_client(project)
    settings.LINEPROOF_IMPORT_MAX_REQUEST_PIXELS = 1_000_000
    files = [upload(f"p{n}.png", png_claiming_size(1000, 600)) for n in range(2)]
    zipped = make_zip({f"p{n}.png": png_claiming_size(1000, 600) for n in range(2)})

    loose = client.post(f"/api/projects/{project.pk}/imports", {"file": files}, format="multipart")
    archive = client.post(
        f"/api/projects/{project.pk}/imports", {"file": [upload("p.zip", zipped)]}, format="multipart"
    )

    for refused in (loose, archive):
        assert refused.status_code == 400, refused.content
        assert "1 million" in refused.json()["error"]["message"], refused.json()
    assert not ImportJob.objects.exists()


def test_a_job_stops_decoding_at_its_pixel_budget(media_root: Path, settings: Settings) -> None:
    project = make_project()
    pages = [page_with_lines(TEXTS[:n])[0] for n in (2, 3)]
    settings.LINEPROOF_IMPORT_MAX_JOB_PIXELS = pages[0].size + 10

    job = run(project, [upload("a.png", png(pages[0])), upload("b.png", png(pages[1]))])

    assert unit_statuses(job)["a.png"] == ("imported", "")
    status, reason = unit_statuses(job)["b.png"]
    assert status == "failed"
    assert "LINEPROOF_IMPORT_MAX_JOB_PIXELS" in reason
    assert job.report["pixels_decoded"] == pages[0].size


def test_a_jpeg_beyond_the_page_limit_is_decoded_at_a_reduced_size(media_root: Path, settings: Settings) -> None:
    project = make_project()
    page, _ = page_with_lines(TEXTS)
    page = cv2.resize(page, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    ok, jpeg = cv2.imencode(".jpg", page, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    settings.LINEPROOF_IMPORT_MAX_PAGE_PIXELS = page.size // 3

    job = run(project, [upload("scan.jpg", jpeg.tobytes())])

    assert job.status == ImportJob.Status.SUCCEEDED, job.error
    assert unit_statuses(job)["scan.jpg"] == ("imported", ""), job.report
    stored = Page.objects.get(document__project=project)
    assert (stored.height, stored.width) == (page.shape[0] // 2, page.shape[1] // 2)
    assert job.report["pixels_decoded"] == stored.height * stored.width
    assert Line.objects.filter(page=stored).count() == len(TEXTS)


@pytest.fixture
def migrator() -> Iterator[MigrationExecutor]:
    """Migrations run by the test; afterwards the database is migrated to the
    latest state again (every leaf, should other branches have added theirs)."""
    executor = MigrationExecutor(connection)
    yield executor
    latest = MigrationExecutor(connection)
    latest.migrate(latest.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_the_migration_merges_twin_documents_before_their_name_becomes_unique(migrator: MigrationExecutor) -> None:
    before, after = [("annotator", "0008_base_models")], [("annotator", "0009_import_content")]
    migrator.migrate(before)
    old = migrator.loader.project_state(before).apps
    project = old.get_model("annotator", "Project").objects.create(name="twins")
    twins = [old.get_model("annotator", "Document").objects.create(project=project, name="page.png") for _ in "ab"]
    for n, twin in enumerate(twins):
        page = old.get_model("annotator", "Page").objects.create(
            document=twin, number=1, image=f"p{n}.png", width=10, height=10
        )
        old.get_model("annotator", "Line").objects.create(
            project=project, document=twin, page=page, key=f"k{n}", crop="c.png", width=1, height=1, sample_key=0.5
        )

    MigrationExecutor(connection).migrate(after)

    document = Document.objects.get(project_id=project.pk)
    assert document.pk == twins[0].pk
    assert list(document.pages.order_by("number").values_list("image", "number")) == [("p0.png", 1), ("p1.png", 2)]
    assert set(Line.objects.filter(document=document).values_list("key", "page__number")) == {("k0", 1), ("k1", 2)}
