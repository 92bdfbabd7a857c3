"""The page view in the browser: a reviewer opens a page from the documents list,
splits a line where they click, merges the two parts again and asks for the page
to be cut again with other settings."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from pytest_django.live_server_helper import LiveServer

from annotator.jobs.segmentation import resegment_job_run
from annotator.models import Line, Membership, ResegmentJob
from tests.annotator.factories import make_member, make_project
from tests.annotator.test_pages import make_page
from tests.annotator.test_segmentation import segmented_page
from tests.frontend.conftest import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root")]


def test_a_reviewer_splits_a_line_merges_it_again_and_asks_for_a_new_cut(
    page: Page, context: BrowserContext, live_server: LiveServer
) -> None:
    project = make_project()
    stored = make_page(project)
    first_id = Line.objects.get(page=stored, reading_order=0).pk
    log_in(context, live_server, make_member(project, role=Membership.Role.REVIEWER))
    page.goto(f"/projects/{project.pk}/documents")
    page.get_by_role("link", name=f"Open page 1 of {stored.document.name}").click()
    expect(page).to_have_url(f"{live_server.url}/projects/{project.pk}/pages/{stored.pk}")
    shapes = page.locator("svg.page-overlay polygon.line-shape")
    expect(shapes).to_have_count(2)
    expect(page.locator("ol.reading-order li")).to_have_count(2)

    page.get_by_role("button", name="Split").click()
    first = page.locator(f'polygon[data-line-id="{first_id}"]')
    box = first.bounding_box()
    assert box is not None
    first.click(position={"x": box["width"] / 2, "y": box["height"] / 2})
    expect(shapes).to_have_count(3)
    expect(page.locator("ol.reading-order li")).to_have_count(3)
    left, right, _last = Line.objects.filter(page=stored).order_by("reading_order")
    assert left.pk == first_id
    # Cut near the middle of the 20..580 line.
    assert (left.bbox or [0, 0, 0, 0])[2] < 400
    assert (right.bbox or [0, 0, 0, 0])[0] > 200
    screenshot(page, "page-view-split")

    expect(page.locator(f'polygon[data-line-id="{right.pk}"]')).to_have_count(1)
    page.locator(f'polygon[data-line-id="{left.pk}"]').click()
    page.locator(f'polygon[data-line-id="{right.pk}"]').click(modifiers=["Shift"])
    page.get_by_role("button", name="Merge selected").click()
    expect(shapes).to_have_count(2)
    merged = Line.objects.filter(page=stored).order_by("reading_order").first()
    assert merged is not None
    assert merged.pk == first_id
    assert merged.bbox == [20, 20, 581, 61]
    expect(page.locator(f'polygon[data-line-id="{first_id}"]')).to_have_class("line-shape state-unlabeled selected")

    page.get_by_text("Re-segment the page").click()
    page.get_by_label("Padding around a line (px)").fill("6")
    page.get_by_role("button", name="Re-segment this page").click()
    expect(page.locator("#status")).to_contain_text("Re-segmentation queued")
    job = ResegmentJob.objects.get()
    assert job.config == {"padding": 6}
    # The worker's part, run here; the page polls the job and redraws the lines.
    assert resegment_job_run(job=job).status == "succeeded"
    expect(page.locator("#status")).to_contain_text("Re-segmented:", timeout=10000)
    expect(shapes).to_have_count(Line.objects.filter(page=stored).count())


def test_a_reviewer_re_segments_a_whole_document_from_the_documents_list_and_a_labeler_has_no_button(
    page: Page, context: BrowserContext, live_server: LiveServer
) -> None:
    project = make_project()
    (stored,) = segmented_page(project)
    before = set(Line.objects.filter(page=stored).values_list("pk", flat=True))
    labeler = make_member(project, role=Membership.Role.LABELER)
    log_in(context, live_server, make_member(project, role=Membership.Role.REVIEWER))
    page.goto(f"/projects/{project.pk}/documents")
    button = page.get_by_role("button", name=f"Re-segment {stored.document.name}")

    page.once("dialog", lambda dialog: dialog.accept())
    button.click()

    expect(page.locator(".resegment-document")).to_contain_text("Re-segmentation queued (classical)")
    job = ResegmentJob.objects.get()
    assert (job.document_id, job.page_id, job.method) == (stored.document_id, None, "classical")
    # The worker's part, run here; the list polls the job and is drawn again.
    assert resegment_job_run(job=job).status == "succeeded"
    expect(page.locator("#status")).to_contain_text("Re-segmented 1 of 1 page", timeout=10000)
    after = set(Line.objects.filter(page=stored).values_list("pk", flat=True))
    assert after
    assert not after & before  # nobody had typed on the old lines: all were replaced
    expect(page.get_by_role("button", name=f"Re-segment {stored.document.name}")).to_be_enabled()
    screenshot(page, "documents-resegment")

    context.clear_cookies()
    log_in(context, live_server, labeler)
    page.goto(f"/projects/{project.pk}/documents")
    expect(page.locator("section.document")).to_have_count(1)
    expect(page.get_by_role("button", name=f"Re-segment {stored.document.name}")).to_have_count(0)
