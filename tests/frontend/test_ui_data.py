"""Documents, search, team statistics, export and the review filters in the browser."""

from __future__ import annotations

import io
import uuid
import zipfile
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import BrowserContext, Page, expect
from pytest_django.live_server_helper import LiveServer

from annotator.jobs.exports import export_job_run
from annotator.models import ExportJob, Line, Membership, Project, Transcription
from annotator.services import label_submit, line_claim
from tests.annotator.factories import verify
from tests.annotator.test_exports import letters_project
from tests.frontend.conftest import log_in, screenshot
from tests.frontend.ui_world import TEXTS, World, labeling_world, member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root")]


def admin_of(project: Project) -> Membership:
    return project.memberships.get(role=Membership.Role.ADMIN)


def test_export_chooses_format_and_scope_shows_progress_and_downloads_the_file(
    page: Page, context: BrowserContext, live_server: LiveServer
) -> None:
    project, _client = letters_project()
    log_in(context, live_server, admin_of(project).user)
    page.goto(f"/projects/{project.pk}/exports")
    expect(page.get_by_role("link", name="Export")).to_have_attribute("aria-current", "page")
    expect(page.locator("#export-document option")).to_have_count(2)  # all, and letters.zip
    page.locator("#export-format").select_option("page")
    page.get_by_label("verified lines only").check()
    page.locator("#export-document").select_option(label="letters.zip")
    screenshot(page, "exports-form")
    page.get_by_role("button", name="Export", exact=True).click()
    expect(page.locator("main")).to_contain_text("Export queued")

    # The job waits for a worker; run it here, as the worker would.
    job = ExportJob.objects.get(project=project)
    assert (job.format, job.scope, job.document is not None) == ("page", "verified", True)
    export_job_run(job=job)
    expect(page.get_by_role("progressbar", name="Export")).to_have_attribute("aria-valuenow", "100", timeout=8000)
    link = page.get_by_role("link", name=f"Download export #{job.pk}")
    expect(link).to_be_visible()
    expect(page.locator(f'table.exports tr[data-export-id="{job.pk}"]')).to_contain_text("succeeded")
    page.wait_for_timeout(500)  # the bar's transition
    screenshot(page, "exports")
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    with open(download.path(), "rb") as handle:
        names = zipfile.ZipFile(io.BytesIO(handle.read())).namelist()
    assert sorted(name.rsplit("/", 1)[-1] for name in names) == ["folio_12r.png", "folio_12r.xml"]


def test_labelers_see_no_export_page(page: Page, context: BrowserContext, live_server: LiveServer) -> None:
    world = labeling_world(texts=TEXTS[:1])
    log_in(context, live_server, member(world, name="lee"))
    page.goto(f"/projects/{world.project.pk}/exports")
    expect(page.locator("main")).to_contain_text("Exporting needs the admin role")
    expect(page.locator("#nav").get_by_role("link", name="Export")).to_have_count(0)


def test_documents_list_their_pages_with_progress(page: Page, context: BrowserContext, live_server: LiveServer) -> None:
    project, _client = letters_project()  # 3 lines, 2 of them with text (verified)
    log_in(context, live_server, admin_of(project).user)
    page.goto(f"/projects/{project.pk}/documents")
    document = page.locator(".document")
    expect(document).to_have_count(1)
    expect(document.locator("h2")).to_have_text("letters.zip")
    expect(document).to_contain_text("2 of 3 verified")
    row = document.locator("table.pages tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("folio_12r.png")
    expect(row.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "67")
    page.wait_for_timeout(500)
    screenshot(page, "documents")


def test_search_for_a_word_shows_the_crop_and_links_to_the_line(
    page: Page, context: BrowserContext, live_server: LiveServer
) -> None:
    world = labeling_world(texts=TEXTS[:6])
    herbarium = world.lines[5]
    verify([herbarium], [world.truth[herbarium.pk]], user=member(world, Membership.Role.ADMIN, name="ann"))
    log_in(context, live_server, member(world, name="lee"))
    page.goto(f"/projects/{world.project.pk}/search")
    page.locator("#search-q").fill("herbarium")
    page.keyboard.press("Enter")
    hit = page.locator(".search-hit")
    expect(hit).to_have_count(1)
    expect(hit).to_contain_text("the Kew herbarium is closed")
    expect(hit).to_contain_text("verified text")
    crop = hit.locator("img")
    expect(crop).to_have_attribute("src", f"{live_server.url}/api/lines/{herbarium.pk}/image")
    crop.evaluate("img => img.decode()")
    screenshot(page, "search")

    hit.get_by_role("link", name=f"Open line {herbarium.pk}").click()
    page.wait_for_url(f"**/projects/{world.project.pk}/lines/{herbarium.pk}")
    expect(page.locator(".line-text")).to_have_text("the Kew herbarium is closed")
    page.locator("img.crop").evaluate("img => img.decode()")
    screenshot(page, "line")


def submit_as(world: World, name: str, texts: list[str]) -> None:
    """``name`` (a labeler) takes lines from the queue and submits ``texts``."""
    user = world.users.get(name) or member(world, name=name)
    for text in texts:
        line = line_claim(project=world.project, user=user)
        assert line is not None
        label_submit(line=line, user=user, text=text, client_id=uuid.uuid4(), lease=line.lease_token)


def test_team_statistics_show_a_row_per_labeler(page: Page, context: BrowserContext, live_server: LiveServer) -> None:
    world = labeling_world(texts=TEXTS[:5])
    submit_as(world, "lee", ["one line", "two lines"])
    submit_as(world, "liz", ["three"])
    log_in(context, live_server, member(world, Membership.Role.REVIEWER, name="rex"))
    page.goto(f"/projects/{world.project.pk}/stats")
    rows = page.locator("table.team-stats tbody tr")
    expect(rows).to_have_count(2)
    lee = rows.filter(has=page.get_by_role("rowheader", name="lee"))
    expect(lee.locator("td").nth(1)).to_have_text("2")  # lines
    expect(lee.locator("td").nth(2)).to_have_text(str(len("one line") + len("two lines")))
    expect(rows.filter(has=page.get_by_role("rowheader", name="liz")).locator("td").nth(1)).to_have_text("1")
    screenshot(page, "stats")


def test_review_filters_by_labeler_and_date_and_approve_is_disabled_with_nothing_to_approve(
    page: Page, context: BrowserContext, live_server: LiveServer
) -> None:
    world = labeling_world(texts=TEXTS[:5])
    world.project.require_review = True
    world.project.save(update_fields=["require_review"])
    submit_as(world, "lee", ["one line", "two lines"])
    submit_as(world, "liz", ["three"])
    old = Transcription.objects.get(text="two lines")
    Transcription.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    # A verified text the model disagrees with: disputed, and nothing to approve.
    disputed = Line.objects.filter(project=world.project, queue_state=Line.QueueState.UNLABELED).first()
    assert disputed is not None
    verify([disputed], ["nothing like the line at all"], user=member(world, Membership.Role.ADMIN, name="ann"))
    log_in(context, live_server, member(world, Membership.Role.REVIEWER, name="rex"))
    page.goto(f"/projects/{world.project.pk}/review?kind=pending")
    items = page.locator(".review-item")
    expect(items).to_have_count(3)
    expect(page.locator("#review-labeler option")).to_have_count(5)  # everyone, and the 4 members

    page.locator("#review-labeler").select_option(label="lee")
    expect(items).to_have_count(2)
    page.locator("#review-from").fill(timezone.localdate().isoformat())
    page.locator("#review-from").dispatch_event("change")
    expect(items).to_have_count(1)
    expect(items.locator("input")).to_have_value("one line")
    expect(items.get_by_role("button", name="Approve")).to_be_enabled()
    screenshot(page, "review-filtered")

    # Disputed: every human text the model reads far apart; ann's alone is verified already.
    page.get_by_role("tab", name="Disputed").click()
    expect(items).to_have_count(1)
    page.locator("#review-from").fill("")
    page.locator("#review-from").dispatch_event("change")
    expect(items).to_have_count(2)
    for approvable in items.get_by_role("button", name="Approve").all():
        expect(approvable).to_be_enabled()
    page.locator("#review-labeler").select_option(label="ann")
    expect(items).to_have_count(1)
    expect(items.get_by_role("button", name="Approve")).to_be_disabled()
    items.first.focus()
    page.keyboard.press("a")  # nothing happens
    expect(items.locator(".result")).to_have_text("")
    screenshot(page, "review-nothing-to-approve")
