"""Passwords over HTTP: changing your own, and the reset path through the mail
outbox (the locmem backend pytest-django sets up)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.urls import reverse
from pytest_django import Settings
from rest_framework.test import APIClient

from tests.annotator.factories import make_user

pytestmark = pytest.mark.django_db

OLD = "correct horse battery staple"
NEW = "purple elephant quietly dances"


@pytest.fixture(autouse=True)
def fast_hashing(settings: Settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def ada() -> User:
    return User.objects.create_user("ada", email="ada@example.org", password=OLD)


def test_users_change_their_password_and_stay_logged_in(ada: User) -> None:
    browser = Client()
    browser.force_login(ada)

    response = browser.post(
        reverse("me-password"), {"old_password": OLD, "new_password": NEW}, content_type="application/json"
    )

    assert response.status_code == 204
    ada.refresh_from_db()
    assert ada.check_password(NEW)
    assert browser.get(reverse("me")).status_code == 200  # the session survived the change


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [("wrong", NEW, "old_password"), (OLD, "1234", "new_password"), (OLD, "ada", "new_password")],
)
def test_a_wrong_current_password_or_a_weak_new_one_changes_nothing(ada: User, old: str, new: str, field: str) -> None:
    client = APIClient()
    client.force_authenticate(ada)
    response = client.post(reverse("me-password"), {"old_password": old, "new_password": new}, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    ada.refresh_from_db()
    assert ada.check_password(OLD)


def reset_link() -> tuple[str, str]:
    (message,) = mail.outbox
    match = re.search(r"/password-reset/([A-Za-z0-9_-]+)/([A-Za-z0-9-]+)", str(message.body))
    assert match, message.body
    return match.group(1), match.group(2)


@pytest.mark.parametrize("identifier", ["ada", "ADA@example.org"])
def test_the_reset_path_mails_a_link_that_sets_a_new_password_once(ada: User, identifier: str) -> None:
    client = APIClient()

    asked = client.post(reverse("password-reset"), {"user": identifier}, format="json")

    assert asked.status_code == 202
    assert mail.outbox[0].to == ["ada@example.org"]
    uid, token = reset_link()
    confirm = reverse("password-reset-confirm")
    done = client.post(confirm, {"uid": uid, "token": token, "new_password": NEW}, format="json")
    assert done.status_code == 204
    ada.refresh_from_db()
    assert ada.check_password(NEW)
    again = client.post(confirm, {"uid": uid, "token": token, "new_password": OLD}, format="json")
    assert again.status_code == 400  # the token is spent once the password changed
    ada.refresh_from_db()
    assert ada.check_password(NEW)


def test_asking_for_an_unknown_account_answers_the_same_and_sends_nothing(ada: User) -> None:
    client = APIClient()
    known = client.post(reverse("password-reset"), {"user": "ada"}, format="json")
    unknown = client.post(reverse("password-reset"), {"user": "nobody@example.org"}, format="json")
    assert (unknown.status_code, unknown.content) == (known.status_code, known.content)
    assert len(mail.outbox) == 1


def test_a_forged_reset_link_is_refused(ada: User) -> None:
    response = APIClient().post(
        reverse("password-reset-confirm"), {"uid": "MQ", "token": "abc-def", "new_password": NEW}, format="json"
    )
    huge = APIClient().post(
        reverse("password-reset-confirm"),
        {"uid": "OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5", "token": "x", "new_password": NEW},
        format="json",
    )
    assert response.status_code == 400
    assert huge.status_code == 400
    ada.refresh_from_db()
    assert ada.check_password(OLD)


def test_reset_requests_are_throttled_per_account(ada: User, settings: Settings) -> None:
    settings.LINEPROOF_LOGIN_MAX_FAILURES_PER_ACCOUNT = 2
    client = APIClient()
    statuses = [client.post(reverse("password-reset"), {"user": "ada"}, format="json").status_code for _ in range(3)]
    assert statuses == [202, 202, 429]
    assert len(mail.outbox) == 2


def test_a_user_without_an_email_gets_no_mail() -> None:
    make_user("noaddress")
    APIClient().post(reverse("password-reset"), {"user": "noaddress"}, format="json")
    assert mail.outbox == []
