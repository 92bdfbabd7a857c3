"""Issue 14's story, in the browser, as a new team lead with no Django admin:
create a project, invite a labeler who accepts in a browser of their own,
import a PAGE zip, the labeler labels, the lead searches for a word the
labeler typed, exports PAGE, and imports that export into a second project,
which then holds the same texts, line and region ids and image names.

Every click, field filled, file chosen, key pressed to submit and URL typed
counts as one step; the count is printed and bounded. Import and export jobs
run as a worker would run them (``run_enqueued``: the tasks the app sent).
Screenshots of each page go to tests/frontend/artifacts/story-*.png."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core import mail
from playwright.sync_api import BrowserContext, FilePayload, Page, expect
from pytest_django import Settings
from pytest_django.live_server_helper import LiveServer

from annotator.enqueue import EXPORT_JOB_RUN, IMPORT_JOB_RUN
from annotator.models import Line, Membership, Project
from tests.annotator.test_imports import page_with_lines, png
from tests.frontend.conftest import log_in, screenshot
from tests.frontend.ui_world import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root")]

IMAGE_NAME = "folio_7v.png"
XML_NAME = "folio_7v.xml"
# (line id, region id, text, whether the PAGE file has it: if not, the labeler types it)
LINES = [
    ("tl_head_1", "r_head", "Received your letter of May 3", True),
    ("tl_body_1", "r_body", "the specimens arrived safely", False),
    ("tl_body_2", "r_body", "I send the ferns by Tuesday", True),
    ("tl_body_3", "r_body", "with the seeds from Madeira", False),
]
# Most steps the story may take in the app (issue 14 counted about 22 steps through the Django admin).
MAX_STEPS = 33


def story_zip() -> bytes:
    """A PAGE zip: one page image and its XML, two regions, four lines, two of them without text."""
    image, boxes = page_with_lines([text for _id, _region, text, _in_file in LINES])
    height, width = image.shape
    regions: dict[str, list[str]] = {}
    for (line_id, region_id, text, in_file), (x0, y0, x1, y1) in zip(LINES, boxes, strict=True):
        equiv = f"<TextEquiv><Unicode>{text}</Unicode></TextEquiv>" if in_file else ""
        regions.setdefault(region_id, []).append(
            f'<TextLine id="{line_id}"><Coords points="{x0},{y0} {x1},{y0} {x1},{y1} {x0},{y1}"/>{equiv}</TextLine>'
        )
    body = "".join(
        f'<TextRegion id="{region_id}"><Coords points="0,0 {width},0 {width},{height} 0,{height}"/>'
        f"{''.join(lines)}</TextRegion>"
        for region_id, lines in regions.items()
    )
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15">'
        f'<Page imageFilename="{IMAGE_NAME}" imageWidth="{width}" imageHeight="{height}">{body}</Page></PcGts>'
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"peraire/{IMAGE_NAME}", png(image))
        archive.writestr(f"peraire/{XML_NAME}", xml)
    return buffer.getvalue()


class Steps:
    """Counts what people do in the UI, per person: each click, field filled,
    file chosen, key pressed to submit, URL typed."""

    def __init__(self) -> None:
        self.done: list[tuple[str, str]] = []

    def __call__(self, who: str, what: str) -> None:
        self.done.append((who, what))

    def count(self, who: str | None = None) -> int:
        return sum(1 for person, _ in self.done if who is None or person == who)


@pytest.fixture(autouse=True)
def fast_hashing(settings: Settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def lines_of(project: Project) -> list[tuple[str, str, str, str]]:
    """(line id, region id, image name, text) of each of ``project``'s lines, in reading order."""
    lines = Line.objects.filter(project=project).select_related("page", "current_transcription")
    return [
        (
            line.external_id,
            line.region_id,
            line.page.source_name if line.page else "",
            line.current_transcription.text if line.current_transcription else "",
        )
        for line in lines.order_by("reading_order", "external_id")
    ]


def create_project(page: Page, step: Steps, name: str, *, shot: str) -> Project:
    """From the projects page: New project, a name, Create project; lands on its team page."""
    page.get_by_role("link", name="New project").click()
    step("lead", "click New project")
    page.get_by_label("Name", exact=True).fill(name)
    step("lead", "type the name")
    screenshot(page, shot)
    page.get_by_role("button", name="Create project").click()
    step("lead", "click Create project")
    page.wait_for_url("**/projects/*/team")
    return Project.objects.get(name=name)


def test_a_new_lead_runs_the_whole_story_in_the_app_and_the_page_export_round_trips(
    page: Page,
    context: BrowserContext,
    live_server: LiveServer,
    second_page: Page,
    run_enqueued: Callable[[], list[str]],
    tmp_path: Path,
) -> None:
    lead = User.objects.create_user("tess", email="tess@example.org", password=PASSWORD)
    log_in(context, live_server, lead)  # the lead has an account and is logged in: not counted
    step = Steps()

    # The lead creates a project.
    page.goto("/")
    step("lead", "open the app")
    expect(page.locator("main")).to_contain_text("create one")
    screenshot(page, "story-projects-empty")
    project = create_project(page, step, "Peraire letters", shot="story-new-project")

    # ... invites a labeler ...
    page.get_by_label("E-mail", exact=True).fill("lin@example.org")
    step("lead", "type the labeler's e-mail")
    page.get_by_role("button", name="Send invitation").click()
    step("lead", "click Send invitation (labeler, the default role)")
    expect(page.get_by_label("Invitation link")).to_have_value(re.compile(r"/invite/"))
    (message,) = mail.outbox
    link = re.search(r"https?://\S+/invite/\S+", str(message.body))
    assert link, message.body
    screenshot(page, "story-team")

    # ... and imports a PAGE zip.
    page.locator("#nav").get_by_role("link", name="Import").click()
    step("lead", "click Import")
    expect(page.locator("h1")).to_have_text("Import")
    letters: FilePayload = {"name": "peraire.zip", "mimeType": "application/zip", "buffer": story_zip()}
    page.locator("#import-files").set_input_files([letters])
    step("lead", "choose the zip")
    page.get_by_role("button", name="Upload and import").click()
    step("lead", "click Upload and import")
    expect(page.locator("main")).to_contain_text("Import queued")
    ran = run_enqueued()  # the worker's part
    assert IMPORT_JOB_RUN in ran
    report = page.locator(".report")
    expect(report).to_contain_text("succeeded")
    expect(report).to_contain_text("Nothing was skipped or rejected")
    page.wait_for_timeout(500)  # the bars' transition, for the screenshot
    screenshot(page, "story-import")
    imported = lines_of(project)
    assert [(i, r, s) for i, r, s, _ in imported] == [(i, r, IMAGE_NAME) for i, r, _, _ in LINES]

    # The labeler opens the link from the e-mail in a browser of their own, joins, and labels.
    # (The display gate before Enter counts lowered, to keep the test quick.)
    labeler = second_page
    labeler.context.add_init_script("window.lineproofConfig = {labelMinShowMs: 50};")
    labeler.goto(link.group(0))
    step("labeler", "open the link")
    expect(labeler.locator("h1")).to_have_text("Join Peraire letters")
    screenshot(labeler, "story-invite")
    labeler.get_by_label("Choose a username").fill("lin")
    step("labeler", "type a username")
    labeler.get_by_label("Choose a password").fill(PASSWORD)
    step("labeler", "type a password")
    labeler.get_by_label("The password again").fill(PASSWORD)
    step("labeler", "type it again")
    labeler.get_by_role("button", name="Create my account and join").click()
    step("labeler", "click Create my account and join")
    labeler.wait_for_url(f"**/projects/{project.pk}/label")
    assert Membership.objects.get(project=project, user__username="lin").role == "labeler"

    typed = {line_id: text for line_id, _region, text, in_file in LINES if not in_file}
    label_page = labeler.locator(".label-page")
    for n in range(len(typed)):
        expect(label_page).to_have_attribute("data-state", "ready")
        line_id = int(label_page.get_attribute("data-line-id") or 0)
        text = typed[Line.objects.get(pk=line_id).external_id]
        expect(labeler.locator("#line-text")).to_be_focused()
        if n == 0:
            screenshot(labeler, "story-label")
        # The field holds the base model's reading: the labeler types over it.
        labeler.keyboard.press("ControlOrMeta+A")
        step("labeler", "select the model's reading")
        labeler.keyboard.type(text)
        step("labeler", "type the line")
        expect(labeler.locator("#line-text")).to_have_value(text)
        labeler.keyboard.press("Enter")
        step("labeler", "press Enter")
        expect(label_page).not_to_have_attribute("data-line-id", str(line_id))
    expect(labeler.locator(".sync")).to_have_text("All saved")
    expect(labeler.locator(".counters")).to_contain_text(f"{len(typed)} by you")
    screenshot(labeler, "story-label-done")

    # The lead searches for a word the labeler typed.
    page.locator("#nav").get_by_role("link", name="Search").click()
    step("lead", "click Search")
    page.locator("#search-q").fill("Madeira")
    step("lead", "type the word")
    page.keyboard.press("Enter")
    step("lead", "press Enter")
    hit = page.locator(".search-hit")
    expect(hit).to_have_count(1)
    expect(hit).to_contain_text("with the seeds from Madeira")
    expect(hit).to_contain_text("verified text")
    madeira = Line.objects.get(project=project, external_id="tl_body_3")
    crop = hit.locator("img")
    expect(crop).to_have_attribute("src", f"{live_server.url}/api/lines/{madeira.pk}/image")
    crop.evaluate("img => img.decode()")  # the crop loads
    assert crop.evaluate("img => img.naturalWidth") > 0
    screenshot(page, "story-search")

    # ... exports PAGE (the default format, every line) and downloads it.
    page.locator("#nav").get_by_role("link", name="Export").click()
    step("lead", "click Export")
    expect(page.locator("#export-format")).to_have_value("page")
    page.get_by_role("button", name="Export", exact=True).click()
    step("lead", "click Export (PAGE XML, all lines: the defaults)")
    expect(page.locator("main")).to_contain_text("Export queued")
    ran = run_enqueued()  # the worker's part
    assert EXPORT_JOB_RUN in ran
    expect(page.get_by_role("progressbar", name="Export")).to_have_attribute("aria-valuenow", "100")
    download_link = page.locator("main a.download")
    expect(download_link).to_be_visible()
    page.wait_for_timeout(500)  # the bar's transition, for the screenshot
    screenshot(page, "story-exports")
    with page.expect_download() as download_info:
        download_link.click()
    step("lead", "click Download")
    download = download_info.value
    exported = tmp_path / download.suggested_filename
    download.save_as(exported)
    with zipfile.ZipFile(exported) as archive:
        names = sorted(name.rsplit("/", 1)[-1] for name in archive.namelist())
    assert names == [IMAGE_NAME, XML_NAME]

    # ... creates a second project and imports the export into it.
    page.locator("#nav").get_by_role("link", name="Projects").click()
    step("lead", "click Projects")
    expect(page.locator(".project")).to_contain_text("Peraire letters")
    screenshot(page, "story-projects")
    again = create_project(page, step, "Peraire letters, again", shot="story-new-project-again")
    page.locator("#nav").get_by_role("link", name="Import").click()
    step("lead", "click Import")
    page.locator("#import-files").set_input_files(exported)
    step("lead", "choose the downloaded export")
    page.get_by_role("button", name="Upload and import").click()
    step("lead", "click Upload and import")
    expect(page.locator("main")).to_contain_text("Import queued")
    ran = run_enqueued()
    assert IMPORT_JOB_RUN in ran
    report = page.locator(".report")
    expect(report).to_contain_text("succeeded")
    expect(report).to_contain_text("Nothing was skipped or rejected")
    page.wait_for_timeout(500)
    screenshot(page, "story-import-again")

    # The fresh project holds the same lines: texts, line ids, region ids, image names.
    first = lines_of(project)
    assert [text for *_ids, text in first] == [text for _id, _region, text, _in_file in LINES]
    assert lines_of(again) == first
    assert Line.objects.filter(project=again, current_transcription__isnull=True).count() == 0

    lead_steps, labeler_steps = step.count("lead"), step.count("labeler")
    print(f"\nUI steps for the story: {step.count()} ({lead_steps} by the lead, {labeler_steps} by the labeler)")
    for who, what in step.done:
        print(f"  {who}: {what}")
    assert step.count() <= MAX_STEPS
