"""The login, projects and import pages in the browser."""

from __future__ import annotations

import io
import zipfile

import cv2
import numpy as np
import pytest
from django.utils import timezone
from playwright.sync_api import BrowserContext, FilePayload, Page, Route, expect
from pytest_django import Settings
from pytest_django.live_server_helper import LiveServer

from annotator.jobs.imports import import_job_run
from annotator.models import Document, ImportJob, Line, Membership, TrainingRun
from annotator.services import import_job_create
from recognition.synthetic import render_line
from tests.annotator.test_imports import page_with_lines, png, upload
from tests.frontend.conftest import TABLET, log_in, screenshot
from tests.frontend.ui_world import PASSWORD, TEXTS, labeling_world, member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root")]


def test_login_failure_then_projects_page(page: Page, live_server: LiveServer, settings: Settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    world = labeling_world(texts=TEXTS[:4])
    member(world, Membership.Role.ADMIN, name="ada", password=True)
    TrainingRun.objects.create(
        project=world.project, status="running", trigger="threshold", progress={"phase": "training", "step": 80}
    )
    page.goto("/")
    page.wait_for_url("**/login")  # not logged in: sent to the login page ...
    page.locator("#username").fill("ada")
    page.locator("#password").fill("wrong")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert").filter(has_text="Wrong username or password.")).to_be_visible()
    screenshot(page, "login")
    page.locator("#password").fill(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/")  # ... and back after logging in
    card = page.locator(".project")
    expect(card).to_contain_text("Hooker correspondence")
    expect(card).to_contain_text("0 of 4 lines")
    expect(card).to_contain_text("CER 8.3 %")
    expect(card).to_contain_text("running")
    expect(card.get_by_role("link", name="Import")).to_be_visible()
    screenshot(page, "projects")
    page.set_viewport_size(TABLET)
    screenshot(page, "projects-tablet")

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login")
    assert page.request.get("/api/me").status == 401  # logged out: the session is gone
    page.goto(f"/projects/{world.project.pk}/label")
    page.wait_for_url(f"**/login?next=%2Fprojects%2F{world.project.pk}%2Flabel")


def test_login_shows_progress_while_the_password_is_checked(
    page: Page, live_server: LiveServer, settings: Settings
) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    world = labeling_world(texts=TEXTS[:1])
    member(world, name="lou", password=True)
    held: list[Route] = []
    page.route("**/api/auth/login", lambda route: held.append(route))  # answered below, after the checks
    page.goto("/login")
    progress = page.locator("#login-progress")
    expect(progress).to_be_hidden()

    page.locator("#username").fill("lou")
    page.locator("#password").fill(PASSWORD)
    page.keyboard.press("Enter")

    expect(progress).to_be_visible()
    expect(progress).to_have_text("Checking your password…")
    expect(page.get_by_role("button", name="Logging in…")).to_be_disabled()
    screenshot(page, "login-progress", full_page=False)
    held[0].continue_()
    page.wait_for_url(f"{live_server.url}/")


def line_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for n, text in enumerate(["a new line to label", "and one more"]):
            ok, png = cv2.imencode(".png", render_line(text, rng=np.random.default_rng(n), height=32, font=0))
            assert ok
            archive.writestr(f"letters/l{n}.png", png.tobytes())
            archive.writestr(f"letters/l{n}.gt.txt", text + "\n")
        archive.writestr("letters/broken.png", b"\x89PNG\r\n\x1a\n not really an image")
        archive.writestr("letters/broken.gt.txt", "a line whose image is broken\n")
    return buffer.getvalue()


def test_import_uploads_with_progress_and_reports_rejections(
    page: Page, context: BrowserContext, live_server: LiveServer
) -> None:
    world = labeling_world(texts=TEXTS[:1])
    log_in(context, live_server, member(world, Membership.Role.ADMIN, name="ada"))
    page.goto(f"/projects/{world.project.pk}/import")
    expect(page.locator("h1")).to_have_text("Import")
    letters: FilePayload = {"name": "letters.zip", "mimeType": "application/zip", "buffer": line_zip()}
    page.locator("#import-files").set_input_files([letters])
    page.locator("#import-kind").select_option("lines")
    page.get_by_role("button", name="Upload and import").click()
    upload = page.get_by_role("progressbar", name="Upload")
    expect(upload).to_have_attribute("aria-valuenow", "100")
    # The bar fills when the bytes are sent; the job exists once the server has answered.
    expect(page.locator("main")).to_contain_text("Import queued")

    # The job waits for a worker; run it here, as the worker would.
    job = ImportJob.objects.get(project=world.project)
    import_job_run(job=job)
    report = page.locator(".report")
    expect(report).to_contain_text("succeeded", timeout=8000)
    expect(report).to_contain_text("broken.png")
    expect(report.locator("tbody tr")).to_have_count(1)
    assert Line.objects.filter(project=world.project).count() == 3
    expect(page.get_by_role("progressbar", name="Import")).to_have_attribute("aria-valuenow", "100")
    expect(page.locator("main table").last).to_contain_text(f"#{job.pk}")  # the recent imports
    page.wait_for_timeout(500)  # the bars' transition
    screenshot(page, "import")

    # A file refused up front: the message, nothing saved.
    not_a_zip: FilePayload = {"name": "notes.zip", "mimeType": "application/zip", "buffer": b"PK\x03\x04 no zip"}
    page.locator("#import-files").set_input_files([not_a_zip])
    page.get_by_role("button", name="Upload and import").click()
    expect(page.locator(".report")).to_contain_text("Refused")
    assert ImportJob.objects.filter(project=world.project).count() == 1
    screenshot(page, "import-refused")


def test_import_reports_a_skipped_name_offers_a_new_version_and_shows_an_import_waiting_for_a_worker(
    page: Page, context: BrowserContext, live_server: LiveServer
) -> None:
    world = labeling_world(texts=TEXTS[:1])
    admin = member(world, Membership.Role.ADMIN, name="ada")
    first, _ = page_with_lines(TEXTS[:2])
    second, _ = page_with_lines(TEXTS[2:])
    import_job_run(job=import_job_create(project=world.project, user=admin, files=[upload("page.png", png(first))]))
    waiting = ImportJob.objects.create(project=world.project, unsent_since=timezone.now())
    log_in(context, live_server, admin)
    page.goto(f"/projects/{world.project.pk}/import")
    expect(page.locator("main table").last).to_contain_text(f"#{waiting.pk}")
    expect(page.locator("main table").last.locator("tr", has_text=f"#{waiting.pk}")).to_contain_text(
        "waiting for a worker"
    )

    same_name: FilePayload = {"name": "page.png", "mimeType": "image/png", "buffer": png(second)}
    page.locator("#import-files").set_input_files([same_name])
    page.get_by_role("button", name="Upload and import").click()
    expect(page.locator("main")).to_contain_text("Import queued")
    import_job_run(job=ImportJob.objects.filter(project=world.project).latest("id"))
    report = page.locator(".report")
    expect(report).to_contain_text("succeeded", timeout=8000)
    expect(report.locator("tbody tr")).to_have_count(1)
    expect(report.locator("tbody tr")).to_contain_text("skipped")
    expect(report.locator("tbody tr")).to_contain_text("new version")
    screenshot(page, "import-skipped")

    report.get_by_role("button", name="Import them as new versions").click()
    expect(page.locator("#import-new-versions")).to_be_checked()
    expect(page.locator("main")).to_contain_text("Import queued")
    newest = ImportJob.objects.filter(project=world.project).latest("id")
    assert newest.new_versions
    import_job_run(job=newest)
    expect(page.locator(".report")).to_contain_text("Nothing was skipped or rejected", timeout=8000)
    assert Document.objects.filter(project=world.project, name="page (2).png").exists()


def test_labelers_cannot_open_the_import_page(page: Page, context: BrowserContext, live_server: LiveServer) -> None:
    world = labeling_world(texts=TEXTS[:1])
    log_in(context, live_server, member(world, name="lee"))
    page.goto(f"/projects/{world.project.pk}/import")
    expect(page.locator("main")).to_contain_text("Importing needs the admin role")
    page.goto("/projects/999999/label")
    expect(page.locator("main")).to_contain_text("No such project")
