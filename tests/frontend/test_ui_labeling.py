"""Labeling in the browser: log in and label five lines by keyboard alone; a
submit made while the network is down arrives once it is back; a quick second
Enter, an Enter before the next line is there, a reload and leaving the page
never lose, duplicate or misplace a line; your recent lines can be amended."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable
from urllib.parse import urlparse

import pytest
from django.contrib.auth.models import User
from django.db.models import F
from playwright.sync_api import BrowserContext, Page, Request, Route, expect
from pytest_django import Settings
from pytest_django.live_server_helper import LiveServer

from annotator.models import Line, LineSkip, Transcription
from tests.frontend.conftest import ARTIFACTS, TABLET, log_in, screenshot
from tests.frontend.ui_world import PASSWORD, TEXTS, World, labeling_world, member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root")]


@pytest.fixture(autouse=True)
def fast_passwords(settings: Settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def shown_line(page: Page) -> int:
    """The line on screen, once the labeler has seen it (Enter counts from then on)."""
    expect(page.locator(".label-page")).to_have_attribute("data-state", "ready")
    return int(page.locator(".label-page").get_attribute("data-line-id") or 0)


def until(page: Page, condition: Callable[[], bool], *, timeout: float = 10) -> None:
    """Wait for ``condition`` (a database state the page brings about), failing after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        page.wait_for_timeout(50)


def held(user: User) -> set[int]:
    return set(Line.objects.filter(lease_user=user).values_list("pk", flat=True))


def labeled_text(line_id: int) -> tuple[str, str] | None:
    current = Line.objects.select_related("current_transcription").get(pk=line_id).current_transcription
    return (current.text, current.status) if current else None


def label_page(page: Page, context: BrowserContext, live_server: LiveServer, world: World, name: str) -> User:
    """``name``, a labeler, on the labeling page with a line shown and one leased ahead."""
    labeler = member(world, name=name)
    log_in(context, live_server, labeler)
    page.goto(f"/projects/{world.project.pk}/label")
    shown_line(page)
    until(page, lambda: len(held(labeler)) == 2)
    return labeler


def page_reading(world: World, line_id: int) -> str:
    return world.model.predictions.get(line_id=line_id).text


def correct(page: Page, world: World, line_id: int) -> str:
    """Fix the model's one mistake in the line on screen, as a labeler would."""
    text, position = world.truth[line_id], world.mistake_at[line_id]
    page.keyboard.press("Delete")
    page.keyboard.type(text[position])
    expect(page.locator("#line-text")).to_have_value(text)
    return text


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
    expect(page.locator(".vkey")).to_have_count(3)  # æ ſ — from the project's alphabet
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


def test_a_quick_second_enter_never_submits_the_line_shown_after_it(
    page: Page, context: BrowserContext, live_server: LiveServer
) -> None:
    world = labeling_world(texts=TEXTS[:4])
    page.add_init_script("window.lineproofConfig = {}")
    labeler = label_page(page, context, live_server, world, "cy")
    first = shown_line(page)
    (ahead,) = held(labeler) - {first}
    # From the next line on, a line counts as seen only after a minute: the
    # second Enter below certainly comes before that.
    page.evaluate("window.lineproofConfig.labelMinShowMs = 60000")

    text = correct(page, world, first)
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")

    expect(page.locator(".sync")).to_have_text("All saved")
    assert labeled_text(first) == (text, Transcription.Status.VERIFIED)
    assert labeled_text(ahead) is None
    assert not Transcription.objects.filter(line_id=ahead).exclude(status=Transcription.Status.DRAFT).exists()
    assert Line.objects.get(pk=ahead).queue_state == Line.QueueState.UNLABELED
    expect(page.locator(".label-page")).to_have_attribute("data-line-id", str(ahead))
    expect(page.locator(".label-page")).to_have_attribute("data-state", "showing")
    expect(page.locator("#line-text")).to_have_value(re.compile(".+"))  # the reading, still there to correct


def test_enter_before_the_next_line_has_loaded_shows_no_script_error(
    page: Page, context: BrowserContext, live_server: LiveServer
) -> None:
    world = labeling_world(texts=TEXTS[:4])
    held_back: list[Route] = []

    def hold_fetch_ahead(route: Route) -> None:
        if (route.request.post_data_json or {}).get("exclude") and not held_back:
            held_back.append(route)  # answered below, after the Enters
        else:
            route.continue_()

    page.route("**/queue/next", hold_fetch_ahead)
    labeler = member(world, name="dee")
    log_in(context, live_server, labeler)
    page.goto(f"/projects/{world.project.pk}/label")
    first = shown_line(page)
    until(page, lambda: bool(held_back))

    text = correct(page, world, first)
    for _ in range(3):
        page.keyboard.press("Enter")
    expect(page.locator(".label-page")).to_have_attribute("data-state", "loading")
    expect(page.locator(".sync")).to_have_text("All saved")
    held_back[0].continue_()

    second = shown_line(page)
    assert second != first
    assert labeled_text(first) == (text, Transcription.Status.VERIFIED)
    assert labeled_text(second) is None
    expect(page.locator("#alert")).not_to_have_class(re.compile("visible"))
    until(page, lambda: len(held(labeler)) == 2)

    # Enter while a reloaded page is still fetching its line does nothing either.
    page.reload(wait_until="commit")
    for _ in range(3):
        page.keyboard.press("Enter")
    assert shown_line(page) == second
    assert labeled_text(second) is None
    expect(page.locator("#alert")).not_to_have_class(re.compile("visible"))
    # (the page fixture fails the test on any uncaught error or console error)


def test_a_reload_mid_line_brings_back_the_same_line_with_its_draft(
    page: Page, context: BrowserContext, live_server: LiveServer
) -> None:
    world = labeling_world(texts=TEXTS[:5])
    # The line served first has the highest id, so the line fetched ahead comes
    # first by id, and then it gets the highest priority: a reload that took
    # "a line held" or "the next line in the queue" would show that one.
    world.project.top_window = 1
    world.project.save(update_fields=["top_window"])
    Line.objects.filter(project=world.project).update(priority=F("id"))
    labeler = label_page(page, context, live_server, world, "eve")
    line_id = shown_line(page)
    (ahead,) = held(labeler) - {line_id}
    assert ahead < line_id
    Line.objects.filter(pk=ahead).update(priority=10**6)
    page.keyboard.press("End")
    page.keyboard.type(" (half typed")

    page.reload()

    assert shown_line(page) == line_id
    expect(page.locator("#line-text")).to_have_value(f"{page_reading(world, line_id)} (half typed")
    until(page, lambda: len(held(labeler)) == 2 and line_id in held(labeler))


def test_leaving_the_page_or_logging_out_releases_the_leases(
    page: Page, context: BrowserContext, live_server: LiveServer
) -> None:
    world = labeling_world(texts=TEXTS[:4])
    labeler = label_page(page, context, live_server, world, "fay")

    page.goto("/")  # pagehide: the beacon gives both lines back
    until(page, lambda: not held(labeler))
    assert not LineSkip.objects.exists(), "leaving is no skip"

    page.goto(f"/projects/{world.project.pk}/label")
    shown_line(page)
    until(page, lambda: len(held(labeler)) == 2)
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login**")
    until(page, lambda: not held(labeler))
    assert not Transcription.objects.exclude(status=Transcription.Status.DRAFT).exists()


def test_recent_lines_reach_back_further_than_the_last_line_and_can_be_amended(
    page: Page, context: BrowserContext, live_server: LiveServer
) -> None:
    world = labeling_world(texts=TEXTS[:6])
    label_page(page, context, live_server, world, "gus")
    labeled = []
    for _ in range(3):
        line_id = shown_line(page)
        correct(page, world, line_id)
        page.keyboard.press("Enter")
        labeled.append(line_id)
        expect(page.locator(".label-page")).not_to_have_attribute("data-line-id", str(line_id))
    expect(page.locator(".sync")).to_have_text("All saved")
    current = shown_line(page)
    entries = page.locator(".recent-line")
    expect(entries).to_have_count(3)
    assert [int(e.get_attribute("data-line-id") or 0) for e in entries.all()] == labeled[::-1]

    # Alt+B twice: two lines back.
    page.keyboard.press("Alt+KeyB")
    expect(page.locator(".label-page")).to_have_attribute("data-line-id", str(labeled[-1]))
    page.keyboard.press("Alt+KeyB")
    expect(page.locator(".label-page")).to_have_attribute("data-line-id", str(labeled[-2]))
    expect(page.locator("#line-text")).to_have_value(world.truth[labeled[-2]])
    page.keyboard.press("Alt+KeyS")
    assert shown_line(page) == current

    # The oldest, from the list: opened with its text, corrected, saved.
    page.locator(f".recent-line[data-line-id='{labeled[0]}']").click()
    expect(page.locator(".label-page")).to_have_attribute("data-line-id", str(labeled[0]))
    shown_line(page)
    expect(page.locator("#line-text")).to_have_value(world.truth[labeled[0]])
    page.keyboard.press("End")
    page.keyboard.type(" [sic]")
    page.keyboard.press("Enter")
    assert shown_line(page) == current
    expect(page.locator(".sync")).to_have_text("All saved")
    amended = f"{world.truth[labeled[0]]} [sic]"
    assert labeled_text(labeled[0]) == (amended, Transcription.Status.VERIFIED)
    expect(entries.first).to_have_attribute("data-line-id", str(labeled[0]))
    expect(entries.first).to_contain_text(amended)
    assert Line.objects.get(pk=current).queue_state == Line.QueueState.UNLABELED
