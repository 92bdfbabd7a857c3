"""Labeling in the browser: log in and label five lines by keyboard alone; a
submit made while the network is down arrives once it is back."""

from __future__ import annotations

import json
import time
from collections import Counter
from urllib.parse import urlparse

import pytest
from playwright.sync_api import BrowserContext, Page, Request, expect
from pytest_django import Settings
from pytest_django.live_server_helper import LiveServer

from annotator.models import Line, Transcription
from tests.frontend.conftest import ARTIFACTS, TABLET, log_in, screenshot
from tests.frontend.ui_world import PASSWORD, TEXTS, labeling_world, member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root")]


@pytest.fixture(autouse=True)
def fast_passwords(settings: Settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def shown_line(page: Page) -> int:
    expect(page.locator(".label-page")).not_to_have_attribute("data-line-id", "")
    return int(page.locator(".label-page").get_attribute("data-line-id") or 0)


def settle(page: Page, in_flight: dict[str, int], *, timeout: float = 10) -> None:
    """Wait until every request the page started has finished."""
    expect(page.locator(".sync")).to_have_text("All saved")
    deadline = time.monotonic() + timeout
    while in_flight["started"] > in_flight["finished"] and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    page.wait_for_timeout(150)  # a follow-up request (the prefetch) starts right after the submit's answer
    while in_flight["started"] > in_flight["finished"] and time.monotonic() < deadline:
        page.wait_for_timeout(50)


def kind_of(request: Request) -> str:
    path = urlparse(request.url).path
    return f"{request.method} {path.rsplit('/', 1)[-1] if path.startswith('/api/lines/') else path}"


def test_label_five_lines_by_keyboard_alone(page: Page, live_server: LiveServer) -> None:
    world = labeling_world()
    member(world, name="ada", password=True)
    label_url = f"/projects/{world.project.pk}/label"

    page.goto(f"/login?next={label_url}")
    expect(page.locator("#username")).to_be_focused()
    page.keyboard.type("ada")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**{label_url}")

    in_flight = {"started": 0, "finished": 0}
    requests: list[Request] = []

    def started(request: Request) -> None:
        in_flight["started"] += 1
        if request.url.startswith(live_server.url):
            requests.append(request)

    def finished(_request: Request) -> None:
        in_flight["finished"] += 1

    page.on("request", started)
    page.on("requestfinished", finished)
    page.on("requestfailed", finished)
    shown_line(page)
    settle(page, in_flight)
    expect(page.locator(".vkey")).to_have_count(3)  # æ ſ — from the model's alphabet
    screenshot(page, "label")

    keystrokes = 0
    per_line: list[Counter[str]] = []
    labeled: list[int] = []
    for _ in range(5):
        line_id = shown_line(page)
        text, position = world.truth[line_id], world.mistake_at[line_id]
        field = page.locator("#line-text")
        expect(field).to_be_focused()
        # Pre-filled with the model's reading; the caret waits on the character it was unsure of.
        assert field.input_value() != text
        assert field.evaluate("el => el.selectionStart") == position
        before = len(requests)
        page.keyboard.press("Delete")
        page.keyboard.type(text[position])
        page.keyboard.press("Enter")
        keystrokes += 3
        labeled.append(line_id)
        expect(page.locator(".label-page")).not_to_have_attribute("data-line-id", str(line_id))
        settle(page, in_flight)
        per_line.append(Counter(kind_of(r) for r in requests[before:]))

    for line_id in labeled:
        line = Line.objects.select_related("current_transcription").get(pk=line_id)
        assert line.queue_state == Line.QueueState.LABELED
        assert line.current_transcription is not None
        assert (line.current_transcription.text, line.current_transcription.status) == (
            world.truth[line_id],
            Transcription.Status.VERIFIED,
        )
    expect(page.locator(".counters")).to_contain_text("5 by you")

    total = sum(per_line, Counter())
    requests_per_line = sum(total.values()) / len(per_line)
    metrics = {
        "lines": len(per_line),
        "keystrokes_per_line": keystrokes / len(per_line),
        "requests_per_line": requests_per_line,
        "requests_by_kind": dict(total),
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "keyboard-metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"\nkeyboard labeling: {json.dumps(metrics)}")
    # The submit, the queue/next that leases the line after the one on screen,
    # and that line's image: nothing else per line.
    assert requests_per_line <= 3, metrics
    assert all(c["POST submit"] == 1 for c in per_line), per_line

    # Alt+B: back to the line just labeled, with its saved text; Alt+S returns.
    current = shown_line(page)
    page.keyboard.press("Alt+KeyB")
    expect(page.locator(".label-page")).to_have_attribute("data-line-id", str(labeled[-1]))
    expect(page.locator("#line-text")).to_have_value(world.truth[labeled[-1]])
    page.keyboard.press("Alt+KeyS")
    expect(page.locator(".label-page")).to_have_attribute("data-line-id", str(current))
    # Esc brings back the model's reading after an edit.
    page.keyboard.type("zzz")
    page.keyboard.press("Escape")
    expect(page.locator("#line-text")).not_to_have_value("zzz")
    assert "zzz" not in page.locator("#line-text").input_value()

    page.set_viewport_size(TABLET)
    screenshot(page, "label-tablet")


def test_a_submit_during_a_network_failure_arrives_after_recovery(
    page: Page, context: BrowserContext, live_server: LiveServer
) -> None:
    world = labeling_world(texts=TEXTS[:4])
    labeler = member(world, name="bea")
    log_in(context, live_server, labeler)
    page.goto(f"/projects/{world.project.pk}/label")
    line_id = shown_line(page)
    expect(page.locator(".sync")).to_have_text("All saved")
    page.wait_for_load_state("networkidle")
    text, position = world.truth[line_id], world.mistake_at[line_id]

    context.set_offline(True)
    page.keyboard.press("Delete")
    page.keyboard.type(text[position])
    page.keyboard.press("End")
    page.keyboard.press("Space")
    page.keyboard.press("Alt+Digit1")  # the first special character: æ
    expected = f"{text} æ"
    expect(page.locator("#line-text")).to_have_value(expected)
    page.keyboard.press("Enter")

    expect(page.locator(".sync")).to_contain_text("1 line pending")
    expect(page.locator(".sync")).to_contain_text("retrying")
    # The next line (fetched ahead) is already on screen; the submit waits in localStorage.
    assert shown_line(page) != line_id
    stored = page.evaluate(f"localStorage.getItem('lineproof.outbox.{labeler.pk}')")
    assert expected in stored
    assert not Transcription.objects.filter(line_id=line_id).exclude(status=Transcription.Status.DRAFT).exists()

    context.set_offline(False)
    expect(page.locator(".sync")).to_have_text("All saved", timeout=20_000)
    line = Line.objects.select_related("current_transcription").get(pk=line_id)
    assert line.current_transcription is not None
    assert line.current_transcription.text == expected
    assert Transcription.objects.filter(line_id=line_id).exclude(status=Transcription.Status.DRAFT).count() == 1
    # The queue goes on: once the submit is in, a further line is leased ahead again.
    deadline = time.monotonic() + 10
    while Line.objects.filter(project=world.project, lease_user=labeler).count() < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert Line.objects.filter(project=world.project, lease_user=labeler).count() == 2


def test_a_line_cut_from_a_page_shows_its_page_context(context: BrowserContext, live_server: LiveServer) -> None:
    from annotator.jobs.imports import import_job_run
    from annotator.models import Membership
    from annotator.services import import_job_create
    from tests.annotator.factories import make_member, make_project
    from tests.annotator.test_imports import make_zip, page_with_lines, page_xml, png, upload

    project = make_project(min_eval_lines=0)
    page_image, boxes = page_with_lines(["dear sir", "kew gardens", "yours truly"])
    xml = page_xml("scan.png", (page_image.shape[1], page_image.shape[0]), boxes, ["", "", ""])
    admin = make_member(project, Membership.Role.ADMIN)
    job = import_job_create(
        project=project, user=admin, files=[upload("p.zip", make_zip({"s.xml": xml, "scan.png": png(page_image)}))]
    )
    assert import_job_run(job=job).status == "succeeded"
    log_in(context, live_server, admin)
    page = context.new_page()

    page.goto(f"/projects/{project.pk}/label")
    shown_line(page)

    shown = page.locator("img.context")
    expect(shown).to_be_visible()
    page.wait_for_function("document.querySelector('img.context').naturalWidth > 0")
    screenshot(page, "label-page-context")
