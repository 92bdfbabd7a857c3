"""Review in the browser, by keyboard: a reviewer corrects a line, approves the
model's reading of the next and rejects a third; works through flagged lines."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from pytest_django.live_server_helper import LiveServer

from annotator.models import Line, LineFlag, Membership, ReviewAction, Transcription
from annotator.services import line_claim, line_flag
from tests.annotator.factories import verify
from tests.frontend.conftest import TABLET, log_in, screenshot
from tests.frontend.ui_world import TEXTS, labeling_world, member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root")]


def selected_line(page: Page) -> int:
    row = page.locator(".review-item.selected")
    expect(row).to_be_focused()
    return int(row.get_attribute("data-line-id") or 0)


def test_a_reviewer_corrects_approves_and_rejects_by_keyboard(
    page: Page, context: BrowserContext, live_server: LiveServer
) -> None:
    world = labeling_world(texts=TEXTS[:3])
    reviewer = member(world, Membership.Role.REVIEWER, name="rex")
    # A colleague's text the model disagrees with: the third line is disputed.
    disputed = world.lines[2]
    verify([disputed], ["nothing like the line at all"], user=member(world, Membership.Role.ADMIN, name="ann"))
    log_in(context, live_server, reviewer)
    page.goto(f"/projects/{world.project.pk}/review")
    # The model read the two unlabeled lines at 42 %, below the project's review threshold.
    expect(page.locator(".review-item")).to_have_count(2)
    expect(page.get_by_role("tab", name="Low confidence")).to_have_attribute("aria-selected", "true")
    page.locator(".review-item img").first.evaluate("img => img.decode()")
    screenshot(page, "review")

    first = selected_line(page)
    page.keyboard.press("j")
    second = selected_line(page)
    assert second != first
    page.keyboard.press("k")
    assert selected_line(page) == first

    # e edits; the field holds the model's reading; type the truth, Enter saves the correction.
    page.keyboard.press("e")
    field = page.locator(f"#review-text-{first}")
    expect(field).to_be_focused()
    page.keyboard.press("Control+A")
    page.keyboard.type(world.truth[first])
    page.keyboard.press("Enter")
    expect(page.locator(f'.review-item[data-line-id="{first}"]')).to_contain_text("Corrected")
    corrected = Line.objects.select_related("current_transcription").get(pk=first)
    assert corrected.current_transcription is not None
    assert (corrected.current_transcription.text, corrected.current_transcription.status) == (
        world.truth[first],
        Transcription.Status.VERIFIED,
    )

    # The selection moved on by itself: a approves the model's reading, r rejects.
    assert selected_line(page) == second
    page.keyboard.press("a")
    expect(page.locator(f'.review-item[data-line-id="{second}"]')).to_contain_text("Approved")
    page.get_by_role("tab", name="Disputed").click()
    expect(page.locator(".review-item")).to_have_count(1)
    third = selected_line(page)
    assert third == disputed.pk
    page.keyboard.press("r")
    expect(page.locator(f'.review-item[data-line-id="{third}"]')).to_contain_text("Rejected")

    approved = Line.objects.select_related("current_transcription").get(pk=second)
    assert approved.current_transcription is not None
    assert approved.current_transcription.status == Transcription.Status.VERIFIED
    assert [a.action for a in ReviewAction.objects.order_by("id")] == ["correct", "approve", "reject"]
    assert Line.objects.get(pk=third).queue_state == Line.QueueState.UNLABELED
    screenshot(page, "review-done")
    page.set_viewport_size(TABLET)
    screenshot(page, "review-tablet")


def test_a_reviewer_works_through_flagged_lines_with_the_projects_keys(
    page: Page, context: BrowserContext, live_server: LiveServer
) -> None:
    world = labeling_world(texts=TEXTS[:3])
    labeler = member(world, name="lia")
    flagged = []
    for kind, comment in (("illegible", "ink blot"), ("second_look", "")):
        line = line_claim(project=world.project, user=labeler)
        assert line is not None
        line_flag(line=line, user=labeler, kind=kind, comment=comment, client_id=uuid.uuid4(), lease=line.lease_token)
        flagged.append(line.pk)
    log_in(context, live_server, member(world, Membership.Role.REVIEWER, name="ray"))
    page.goto(f"/projects/{world.project.pk}/review?kind=flagged")

    expect(page.locator(".review-item")).to_have_count(2)
    expect(page.get_by_role("tab", name="Flagged")).to_have_attribute("aria-selected", "true")
    first = page.locator(f'.review-item[data-line-id="{flagged[0]}"]')
    expect(first.locator(".review-flag")).to_have_text("Flagged: Illegible — ink blot (lia)")
    expect(page.locator(".vkey")).to_have_count(3)
    screenshot(page, "review-flagged")

    # Type its text after all, with a special character (Alt+1: æ): the flag is cleared.
    assert selected_line(page) == flagged[0]
    page.keyboard.press("e")
    page.keyboard.press("Control+A")
    page.keyboard.type("Cæsar")
    page.keyboard.press("Alt+Digit1")
    expect(page.locator(f"#review-text-{flagged[0]}")).to_have_value("Cæsaræ")
    page.keyboard.press("Enter")
    expect(first).to_contain_text("Corrected")
    # a keeps the second line's flag.
    assert selected_line(page) == flagged[1]
    page.keyboard.press("a")
    expect(page.locator(f'.review-item[data-line-id="{flagged[1]}"]')).to_contain_text("Flag kept")

    corrected = Line.objects.select_related("current_transcription").get(pk=flagged[0])
    assert corrected.flag_id is None
    assert corrected.current_transcription is not None
    assert corrected.current_transcription.text == "Cæsaræ"
    kept = LineFlag.objects.get(line_id=flagged[1])
    assert (kept.resolution, Line.objects.get(pk=flagged[1]).flag_id) == ("kept", kept.pk)
