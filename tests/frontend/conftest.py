"""Browser tests: the UI in real headless Chromium (the Debian package, which
bin/services installs), driven by Playwright for Python, against pytest-django's
live server on the PostgreSQL test database.

One browser for the whole session, a fresh context (cookies, localStorage) per
test. Screenshots go to tests/frontend/artifacts/ (git-ignored)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, ViewportSize, sync_playwright
from pytest_django.live_server_helper import LiveServer

# The annotator tests' fixtures: the database check, MEDIA_ROOT in a temporary
# folder, and tasks recorded instead of sent to a broker (autouse).
from tests.annotator.conftest import django_db_modify_db_settings, enqueued, media_root, run_enqueued
from tests.live_gate import drain, gate_open

__all__ = ["django_db_modify_db_settings", "enqueued", "media_root", "run_enqueued"]

# Playwright's sync API runs an event loop in this thread, and Django refuses
# ORM calls from a thread with a running loop unless told it is safe; it is:
# the test's own ORM calls never run inside that loop.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("LINEPROOF_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
TABLET: ViewportSize = {"width": 768, "height": 1024}


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"No Chromium at {CHROMIUM}: run bin/services (installs Debian's chromium), "
            "or point LINEPROOF_CHROMIUM at one.",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def quiet_server(live_server: LiveServer) -> Iterator[LiveServer]:
    """The live server, drained of the browser's requests before the test's
    database is flushed (``tests.live_gate``); browser contexts close first."""
    gate_open()
    yield live_server
    drain()


@pytest.fixture
def context(browser: Browser, quiet_server: LiveServer) -> Iterator[BrowserContext]:
    live_server = quiet_server
    context = browser.new_context(base_url=live_server.url, viewport=DESKTOP)
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A page that fails the test on any uncaught script error."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    def console(message: ConsoleMessage) -> None:
        # Resource errors (a request refused while "offline", a 4xx the UI
        # shows) are expected; script errors are not.
        if message.type == "error" and "Failed to load resource" not in message.text:
            errors.append(message.text)

    page.on("console", console)
    yield page
    assert not errors, f"script errors in the page: {errors}"


@pytest.fixture
def second_page(browser: Browser, quiet_server: LiveServer) -> Iterator[Page]:
    """Another person's browser: its own context, so its own cookies."""
    live_server = quiet_server
    context = browser.new_context(base_url=live_server.url, viewport=DESKTOP)
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"script errors in the second browser: {errors}"


def log_in(context: BrowserContext, live_server: LiveServer, user: User) -> None:
    """Give the browser a session for ``user`` without the login form."""
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}])


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
