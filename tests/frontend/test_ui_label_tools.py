"""The labeling page's tools beyond typing: the project's special characters as
keys (before any model knows them), flags instead of a text, buttons for
touch, a placeholder while a crop loads, the zoom label, an empty project."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Page, Route, expect
from pytest_django.live_server_helper import LiveServer

from annotator.models import Line, LineFlag, LineSkip, Membership, Project
from tests.annotator.factories import make_member, make_project
from tests.frontend.conftest import TABLET, log_in, screenshot
from tests.frontend.test_ui_labeling import correct, held, label_page, labeled_text, page_reading, shown_line, until
from tests.frontend.ui_world import TEXTS, labeling_world, member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root")]

# Nine keys for Alt+1...9, then two for Alt+Shift+1 and 2: abbreviation marks no model here has seen.
MEDIEVAL = ["ꝑ", "ꝯ", "ꝛ", "ſ", "æ", "œ", "ð", "þ", "ȝ"]
MARKS = ["q\u0303", "\u0303"]


def test_the_keys_type_the_projects_characters_at_the_caret_before_any_model_knows_them(
    page: Page, context: BrowserContext, live_server: LiveServer
) -> None:
    world = labeling_world(texts=TEXTS[:2])
    groups = [{"name": "Abbreviations", "characters": MEDIEVAL}, {"name": "Marks", "characters": MARKS}]
    Project.objects.filter(pk=world.project.pk).update(alphabet_groups=groups)
    assert "ꝑ" not in world.model.alphabet
    label_page(page, context, live_server, world, "ida")
    line_id = shown_line(page)
    reading = page_reading(world, line_id)
    field = page.locator("#line-text")
    expect(page.locator(".vkey")).to_have_count(len(MEDIEVAL) + len(MARKS))
    expect(page.locator(".vkeys-rules")).to_contain_text("NFC")

    field.evaluate("el => el.setSelectionRange(3, 3)")
    page.get_by_role("button", name="Insert ꝑ (Alt+1)").click()
    page.keyboard.press("Alt+Digit2")  # ꝯ, right after it
    page.keyboard.press("Alt+Shift+Digit1")  # the tenth key: q with a tilde
    expected = reading[:3] + "ꝑꝯq\u0303" + reading[3:]
    expect(field).to_have_value(expected)
    expect(field).to_be_focused()
    assert field.evaluate("el => el.selectionStart") == 3 + len("ꝑꝯq\u0303")
    screenshot(page, "label-keyboard")

    page.keyboard.press("Enter")
    until(page, lambda: labeled_text(line_id) is not None)
    assert labeled_text(line_id) == (expected, "verified")


def test_a_labeler_flags_a_line_instead_of_typing_it(
    page: Page, context: BrowserContext, live_server: LiveServer
) -> None:
    world = labeling_world(texts=TEXTS[:3])
    labeler = label_page(page, context, live_server, world, "fay")
    line_id = shown_line(page)

    page.keyboard.press("Alt+KeyF")
    panel = page.locator(".flag-panel")
    expect(panel).to_be_visible()
    panel.get_by_label("Not a text line").check()
    panel.get_by_label("Comment").fill("a ruler on the scan")
    screenshot(page, "label-flag")
    panel.get_by_role("button", name="Flag line").click()

    expect(page.locator(".label-page")).not_to_have_attribute("data-line-id", str(line_id))
    expect(page.locator(".sync")).to_have_text("All saved")
    flag = LineFlag.objects.get(line_id=line_id)
    assert (flag.kind, flag.comment, flag.author_id) == ("not_a_line", "a ruler on the scan", labeler.pk)
    line = Line.objects.get(pk=line_id)
    assert (line.queue_state, line.flag_id, line.current_transcription_id) == ("labeled", flag.pk, None)
    assert line_id not in held(labeler)
    expect(page.locator(f'.recent-line[data-line-id="{line_id}"]')).to_contain_text("flagged: not_a_line")


def test_touch_buttons_submit_skip_and_go_back(page: Page, context: BrowserContext, live_server: LiveServer) -> None:
    world = labeling_world(texts=TEXTS[:4])
    page.set_viewport_size(TABLET)
    labeler = label_page(page, context, live_server, world, "tom")
    actions = page.get_by_role("group", name="Actions")

    first = shown_line(page)
    text = correct(page, world, first)
    actions.get_by_role("button", name="Submit").click()
    second = shown_line(page)
    assert second != first
    until(page, lambda: labeled_text(first) == (text, "verified"))

    actions.get_by_role("button", name="Skip").click()
    third = shown_line(page)
    assert third not in {first, second}
    until(page, lambda: LineSkip.objects.filter(line_id=second, user=labeler).exists())

    actions.get_by_role("button", name="Back").click()
    expect(page.locator(".label-page")).to_have_attribute("data-line-id", str(first))
    expect(page.locator("#line-text")).to_have_value(text)
    screenshot(page, "label-touch", full_page=False)


def test_a_crop_still_loading_shows_a_placeholder_not_a_broken_image(
    page: Page, context: BrowserContext, live_server: LiveServer
) -> None:
    world = labeling_world(texts=TEXTS[:2])
    log_in(context, live_server, member(world, name="pia"))
    held_images: list[Route] = []

    def hold_first_image(route: Route) -> None:
        if held_images:
            route.continue_()
        else:
            held_images.append(route)  # answered below, once the placeholder was seen

    page.route("**/api/lines/*/image", hold_first_image)
    page.goto(f"/projects/{world.project.pk}/label")

    expect(page.locator(".crop-placeholder")).to_be_visible()
    expect(page.locator(".crop-placeholder")).to_have_text("Loading the line image…")
    expect(page.locator(".crop")).to_be_hidden()
    expect(page.locator(".label-page")).to_have_attribute("data-state", "showing")
    screenshot(page, "label-crop-loading", full_page=False)
    held_images[0].continue_()

    shown_line(page)
    expect(page.locator(".crop")).to_be_visible()
    expect(page.locator(".crop-placeholder")).to_be_hidden()


def test_the_zoom_toast_says_what_the_zoom_label_says(
    page: Page, context: BrowserContext, live_server: LiveServer
) -> None:
    world = labeling_world(texts=TEXTS[:2])
    label_page(page, context, live_server, world, "zoe")

    for key in ("Alt+ArrowUp", "Alt+ArrowUp", "Alt+ArrowDown", "Alt+Digit0"):
        page.keyboard.press(key)
        label = page.locator(".zoom-label").inner_text()
        expect(page.locator("#status")).to_have_text(f"Zoom {label}")
    assert page.locator(".zoom-label").inner_text().startswith("fit (")


def test_an_empty_project_says_nothing_imported_yet_and_links_to_import(
    page: Page, context: BrowserContext, live_server: LiveServer
) -> None:
    project = make_project(name="Empty so far")
    log_in(context, live_server, make_member(project, role=Membership.Role.ADMIN))

    page.goto("/")
    card = page.locator(".card.project")
    expect(card).to_contain_text("Nothing imported yet.")
    expect(card.get_by_role("link", name="Import pages or lines")).to_have_attribute(
        "href", f"/projects/{project.pk}/import"
    )
    page.goto(f"/projects/{project.pk}/label")
    expect(page.locator(".label-page")).to_have_attribute("data-state", "empty")
    expect(page.locator(".label-page")).to_contain_text("Nothing imported yet.")
    screenshot(page, "label-empty-project")
    page.get_by_role("link", name="Import pages or lines").click()
    page.wait_for_url(f"**/projects/{project.pk}/import")
