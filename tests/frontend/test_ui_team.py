"""Running a team without the Django admin, in the browser: a new team lead
creates a project and invites a labeler, who accepts in a browser of their own;
the team page's role changes, the last admin, archiving and deleting; the
account and password-reset pages. Screenshots of every new page go to
tests/frontend/artifacts/."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.core import mail
from playwright.sync_api import BrowserContext, Page, expect
from pytest_django import Settings
from pytest_django.live_server_helper import LiveServer

from annotator.models import Membership, Project
from tests.frontend.conftest import log_in, screenshot
from tests.frontend.ui_world import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root")]

GUIDELINES = "# House rules\n\n- Keep the **long s** as ſ\n- Expand nothing: *as written*\n\n<b>not markup</b>"


@pytest.fixture(autouse=True)
def fast_hashing(settings: Settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class Steps:
    """Counts what a person does in the UI: each click, each field filled, each link opened."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, _what: str) -> None:
        self.count += 1


def test_a_new_lead_creates_a_project_and_invites_a_labeler_who_lands_in_it(
    page: Page, context: BrowserContext, live_server: LiveServer, second_page: Page
) -> None:
    lead = User.objects.create_user("tess", email="tess@example.org", password=PASSWORD)
    log_in(context, live_server, lead)
    step = Steps()

    page.goto("/")
    step("open the app")
    expect(page.locator("main")).to_contain_text("create one")
    screenshot(page, "team-projects-empty")
    page.get_by_role("link", name="New project").click()
    step("click New project")
    expect(page.locator("h1")).to_have_text("New project")
    page.get_by_label("Name", exact=True).fill("Peraire letters")
    step("type the name")
    page.get_by_label("Languages").fill("French, Latin")
    step("type the languages")
    page.get_by_label("Transcription guidelines").fill(GUIDELINES)
    step("type the guidelines")
    page.locator(".preview summary").click()
    expect(page.locator(".preview strong")).to_have_text("long s")  # the preview renders Markdown ...
    expect(page.locator(".preview")).to_contain_text("<b>not markup</b>")  # ... and never HTML
    screenshot(page, "team-new-project")
    page.get_by_role("button", name="Create project").click()
    step("click Create project")

    page.wait_for_url("**/projects/*/team")
    project = Project.objects.get(name="Peraire letters")
    assert project.languages == ["French", "Latin"]
    assert Membership.objects.get(project=project, user=lead).role == "admin"
    expect(page.locator("h1")).to_have_text("Team")
    expect(page.locator("#members-title + div")).to_contain_text("tess")
    page.get_by_label("E-mail", exact=True).fill("lin@example.org")
    step("type the invitee's e-mail")
    page.get_by_role("button", name="Send invitation").click()
    step("click Send invitation (role: labeler, the default)")
    link_box = page.get_by_label("Invitation link")
    expect(link_box).to_have_value(re.compile(r"/invite/"))
    (message,) = mail.outbox
    link = link_box.input_value()
    assert message.to == ["lin@example.org"]
    assert link in message.body
    expect(page.locator("#invitations-title + div")).to_contain_text("lin@example.org")
    screenshot(page, "team-page")

    # The labeler, in a browser of their own, opens the link from the e-mail.
    labeler = second_page
    labeler.goto(link)
    step("open the link")
    expect(labeler.locator("h1")).to_have_text("Join Peraire letters")
    expect(labeler.locator("main")).to_contain_text("as labeler")
    screenshot(labeler, "team-invite")
    labeler.get_by_label("Choose a username").fill("lin")
    step("type a username")
    labeler.get_by_label("Choose a password").fill(PASSWORD)
    step("type a password")
    labeler.get_by_label("The password again").fill(PASSWORD)
    step("type it again")
    labeler.get_by_role("button", name="Create my account and join").click()
    step("click Create my account and join")

    labeler.wait_for_url(f"**/projects/{project.pk}/label")
    expect(labeler.locator(".nav-project")).to_have_attribute("title", "Your role: labeler")
    guidelines = labeler.locator(".guidelines")
    expect(guidelines).to_contain_text("House rules")
    expect(guidelines.locator("strong")).to_have_text("long s")
    screenshot(labeler, "team-labeler-lands-on-label")
    lin = User.objects.get(username="lin")
    assert lin.email == "lin@example.org"
    assert Membership.objects.get(project=project, user=lin).role == "labeler"
    print(f"UI steps, project creation to a labeler in the project: {step.count}")
    assert step.count == 13

    # The link works once.
    labeler.goto(link)
    expect(labeler.locator("main")).to_contain_text("used already")


def test_the_team_page_changes_roles_keeps_the_last_admin_archives_and_deletes(
    page: Page, context: BrowserContext, live_server: LiveServer
) -> None:
    project = Project.objects.create(name="Hooker letters", base_model="", guidelines="Be *careful*.")
    lead = User.objects.create_user("tess")
    Membership.objects.create(project=project, user=lead, role="admin")
    User.objects.create_user("ada", email="ada@example.org")
    log_in(context, live_server, lead)

    page.goto(f"/projects/{project.pk}/team")
    page.get_by_label("Username or e-mail").fill("ada@example.org")
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_label("Role of ada")).to_have_value("labeler")
    page.get_by_label("Role of ada").select_option("reviewer")
    expect(page.locator("#status")).to_contain_text("ada is now reviewer")
    assert Membership.objects.get(project=project, user__username="ada").role == "reviewer"

    page.get_by_label("Role of tess").select_option("labeler")  # the only admin
    expect(page.get_by_role("alert")).to_contain_text("needs an admin")
    expect(page.get_by_label("Role of tess")).to_have_value("admin")
    page.get_by_role("button", name="Remove ada").click()
    expect(page.get_by_label("Role of ada")).to_have_count(0)
    assert not Membership.objects.filter(project=project, user__username="ada").exists()
    screenshot(page, "team-page-roles")

    page.get_by_role("button", name="Archive the project").click()
    page.wait_for_url(f"{live_server.url}/")
    expect(page.locator(".project")).to_have_count(0)
    page.locator(".archived summary").click()
    screenshot(page, "team-projects-archived")
    page.get_by_role("button", name="Bring back").click()
    expect(page.locator(".project")).to_contain_text("Hooker letters")

    page.goto(f"/projects/{project.pk}/team")
    delete = page.get_by_role("button", name="Delete the project")
    expect(delete).to_be_disabled()
    page.get_by_label("Type the project’s name to delete it").fill("Hooker letters")
    screenshot(page, "team-delete")
    delete.click()
    page.wait_for_url(f"{live_server.url}/")
    assert not Project.objects.filter(pk=project.pk).exists()


def test_users_change_their_password_and_reset_a_forgotten_one(
    page: Page, context: BrowserContext, live_server: LiveServer
) -> None:
    ada = User.objects.create_user("ada", email="ada@example.org", password=PASSWORD)
    log_in(context, live_server, ada)
    page.goto("/")
    page.get_by_role("link", name="ada").click()
    expect(page.locator("h1")).to_have_text("Your account")
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("purple elephant quietly dances")
    page.get_by_label("New password again").fill("purple elephant quietly dances")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("main")).to_contain_text("Your password was changed.")
    screenshot(page, "team-account")
    ada.refresh_from_db()
    assert ada.check_password("purple elephant quietly dances")

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Username or e-mail").fill("ada@example.org")
    screenshot(page, "team-password-reset")
    page.get_by_role("button", name="Send me a link").click()
    expect(page.locator("main")).to_contain_text("Check your e-mail")
    (message,) = mail.outbox
    match = re.search(r"https?://\S+/password-reset/\S+", str(message.body))
    assert match, message.body
    page.goto(match.group(0))
    page.get_by_label("New password", exact=True).fill(PASSWORD)
    page.get_by_label("New password again").fill(PASSWORD)
    screenshot(page, "team-password-reset-confirm")
    page.get_by_role("button", name="Set the new password").click()
    expect(page.locator("main")).to_contain_text("Password changed")
    ada.refresh_from_db()
    assert ada.check_password(PASSWORD)


def test_the_models_page_holds_the_machine_learning_settings_with_their_defaults(
    page: Page, context: BrowserContext, live_server: LiveServer
) -> None:
    guidelines = "Be *careful* with dates. [Not a link](javascript:alert(1)), [a link](https://example.org/rules)."
    project = Project.objects.create(name="Hooker letters", base_model="", guidelines=guidelines)
    lead = User.objects.create_user("tess")
    Membership.objects.create(project=project, user=lead, role="admin")
    log_in(context, live_server, lead)

    page.goto(f"/projects/{project.pk}/models")
    threshold = page.get_by_label("Retrain after this many newly verified lines", exact=False)
    expect(threshold).to_have_value("200")  # the default a new project starts with
    threshold.fill("50")
    page.get_by_label("Labels wait for a reviewer").check()
    page.locator("#training-settings-title + form").get_by_role("button", name="Save").click()
    expect(page.locator("#training-settings-title ~ p")).to_contain_text("Saved: retrain threshold, require review")
    screenshot(page, "team-models-settings")
    project.refresh_from_db()
    assert (project.retrain_threshold, project.require_review) == (50, True)

    page.goto(f"/projects/{project.pk}/review")  # the guidelines are in review too
    page.locator(".guidelines summary").click()
    expect(page.locator(".guidelines em")).to_have_text("careful")
    links = page.locator(".guidelines a")
    expect(links).to_have_count(1)  # only http(s), mailto and same-site links become links
    expect(links).to_have_attribute("href", "https://example.org/rules")
    expect(page.locator(".guidelines")).to_contain_text("Not a link")
