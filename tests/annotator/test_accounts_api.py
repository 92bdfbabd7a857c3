"""The browser's session API (login, logout, me), the project reads the UI
needs (counters, active model, training, alphabet), the retraining schedule and
the HTML shell."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from pytest_django import DjangoCaptureOnCommitCallbacks
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from annotator.apis.accounts import client_address
from annotator.errors import InvalidInputError
from annotator.jobs.scoring import predictions_refresh
from annotator.models import Membership, ModelVersion, Project, TrainingRun
from annotator.selectors import TRAINING_SCHEDULE_TASK, project_alphabet
from annotator.services import label_submit, project_settings_update
from tests.annotator.factories import make_lines, make_member, make_project, score_lines

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def fast_hashing(settings: object) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # type: ignore[attr-defined]


def with_password(user: User) -> User:
    user.set_password(PASSWORD)
    user.save()
    return user


def as_user(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def csrf_client() -> tuple[Client, str]:
    """A browser-like client: CSRF enforced, with the cookie the UI shell sets."""
    client = Client(enforce_csrf_checks=True)
    shell = client.get("/login")
    assert shell.status_code == 200
    return client, shell.cookies["csrftoken"].value


def test_login_sets_a_session_and_returns_the_user_with_roles() -> None:
    project = make_project(name="Letters")
    user = with_password(make_member(project, role=Membership.Role.REVIEWER))
    client, token = csrf_client()
    response = client.post(
        reverse("auth-login"),
        {"username": user.username, "password": PASSWORD},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["username"] == user.username
    assert body["projects"] == [{"id": project.pk, "name": "Letters", "role": "reviewer", "can_export": False}]
    # The session works for the API, with the rotated CSRF token for writes.
    me = client.get(reverse("me"))
    assert me.status_code == 200
    assert me.json()["id"] == user.pk
    new_token = client.cookies["csrftoken"].value
    logout = reverse("auth-logout")
    assert client.post(logout, content_type="application/json").status_code == 403  # no CSRF token: refused
    assert client.post(logout, content_type="application/json", HTTP_X_CSRFTOKEN=new_token).status_code == 204
    assert client.get(reverse("me")).status_code in {401, 403}


def test_login_refuses_a_wrong_password_and_a_missing_csrf_token() -> None:
    user = with_password(make_member(make_project()))
    client, token = csrf_client()
    wrong = client.post(
        reverse("auth-login"),
        {"username": user.username, "password": "nope"},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert wrong.status_code == 400
    assert wrong.json()["error"]["message"] == "Wrong username or password."
    no_csrf = client.post(
        reverse("auth-login"), {"username": user.username, "password": PASSWORD}, content_type="application/json"
    )
    assert no_csrf.status_code == 403
    assert "CSRF" in no_csrf.json()["error"]["message"]
    missing = client.post(reverse("auth-login"), {}, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert missing.status_code == 400
    assert set(missing.json()["error"]["fields"]) == {"username", "password"}


def login_as(client: Client, username: str, password: str, *, address: str = "10.0.0.1") -> Any:
    return client.post(
        reverse("auth-login"),
        {"username": username, "password": password},
        content_type="application/json",
        REMOTE_ADDR=address,
    )


def test_wrong_passwords_are_throttled_per_account_with_a_429_retry_after_and_a_message(settings: Any) -> None:
    user = with_password(make_member(make_project()))
    client = Client()
    limit = settings.LINEPROOF_LOGIN_MAX_FAILURES_PER_ACCOUNT
    assert 0 < limit <= 10

    wrong = [login_as(client, user.username, "nope").status_code for _ in range(limit)]
    throttled = login_as(client, user.username, "nope")
    right_password = login_as(client, user.username, PASSWORD)
    elsewhere = login_as(client, user.username.upper(), PASSWORD, address="10.9.9.9")
    token = client.post(
        reverse("auth-token"), {"username": user.username, "password": PASSWORD}, REMOTE_ADDR="10.0.0.3"
    )

    assert wrong == [400] * limit
    for refused in (throttled, right_password, elsewhere, token):
        assert refused.status_code == 429
        assert 0 < int(refused["Retry-After"]) <= settings.LINEPROOF_LOGIN_THROTTLE_SECONDS
        error = refused.json()["error"]
        assert error["code"] == "throttled"
        assert error["message"].startswith("Too many failed logins for this account. Try again in ")
    cache.clear()  # the window is over
    assert login_as(client, user.username, PASSWORD).status_code == 200


def test_failures_from_one_address_are_throttled_across_accounts(settings: Any) -> None:
    settings.LINEPROOF_LOGIN_MAX_FAILURES_PER_ADDRESS = 3
    user = with_password(make_member(make_project()))
    client = Client()
    for name in ("alice", "bob", "carol"):
        assert login_as(client, name, "guess", address="10.0.0.7").status_code == 400

    refused = login_as(client, user.username, PASSWORD, address="10.0.0.7")

    assert refused.status_code == 429
    assert "your address" in refused.json()["error"]["message"]
    assert login_as(client, user.username, PASSWORD, address="10.0.0.8").status_code == 200


def test_a_successful_login_clears_its_accounts_failures(settings: Any) -> None:
    user = with_password(make_member(make_project()))
    client = Client()
    limit = settings.LINEPROOF_LOGIN_MAX_FAILURES_PER_ACCOUNT
    for _ in range(limit - 1):
        login_as(client, user.username, "nope", address="10.0.1.1")
    assert login_as(client, user.username, PASSWORD, address="10.0.1.2").status_code == 200
    assert [login_as(client, user.username, "nope", address="10.0.1.3").status_code for _ in range(limit)] == [
        400
    ] * limit


def test_behind_a_proxy_the_address_is_the_one_the_proxy_saw(settings: Any) -> None:
    settings.LINEPROOF_PROXY_COUNT = 1
    factory = APIRequestFactory()
    spoofed = factory.post("/", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.5", REMOTE_ADDR="172.17.0.1")
    assert client_address(Request(spoofed)) == "203.0.113.5"
    settings.LINEPROOF_PROXY_COUNT = 0
    assert client_address(Request(spoofed)) == "172.17.0.1"


def test_the_ui_shell_is_served_on_its_routes_with_a_csrf_cookie_and_a_strict_csp() -> None:
    client = Client()
    for path in ("/", "/login", "/projects/7/label", "/projects/7/review", "/projects/7/models", "/projects/7/import"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "csrftoken" in response.cookies
        assert "script-src 'self'" in response["Content-Security-Policy"]
        assert b'type="module"' in response.content
        assert b"ui/js/app.js" in response.content
    assert client.get("/projects/7/elsewhere").status_code == 404


def test_project_detail_has_counters_model_training_and_alphabet() -> None:
    project = make_project()
    lines = make_lines(project, 3)
    labeler = make_member(project)
    reviewer = make_member(project, role=Membership.Role.REVIEWER)
    model = score_lines(lines, [0.5, 0.4, 0.3])
    ModelVersion.objects.filter(pk=model.pk).update(cer=0.12, wer=0.3, ser=0.5, train_lines=40, alphabet="abcſ")
    label_submit(line=lines[0], user=reviewer, text="Straße ſ", client_id=uuid.uuid4())
    run = TrainingRun.objects.create(project=project, status="running", progress={"phase": "training", "step": 5})

    body = as_user(reviewer).get(reverse("project-detail", args=[project.pk])).json()
    assert body["verified_today"] == 1
    assert body["stats"]["labeled"] == 1
    assert body["active_model"]["id"] == model.pk
    assert (body["active_model"]["cer"], body["active_model"]["train_lines"]) == (0.12, 40)
    assert body["training"]["id"] == run.pk
    assert body["training"]["progress"] == {"phase": "training", "step": 5}
    assert body["alphabet"] == "".join(sorted(set("abcſStraße")))
    assert body["special_characters"] == "ßſ"

    other = as_user(labeler).get(reverse("project-detail", args=[project.pk])).json()
    assert other["verified_today"] == 0


def test_project_alphabet_without_model_or_texts_is_empty() -> None:
    assert project_alphabet(project=make_project()) == ""


def test_a_project_with_nothing_yet_has_null_model_and_training() -> None:
    project = make_project()
    body = as_user(make_member(project)).get(reverse("project-detail", args=[project.pk])).json()
    assert body["active_model"] is None
    assert body["training"] is None
    assert body["verified_today"] == 0


def schedule_url(project: Project) -> str:
    return reverse("project-schedule", args=[project.pk])


def test_admins_set_pause_and_remove_the_retraining_schedule() -> None:
    project = make_project()
    admin = as_user(make_member(project, role=Membership.Role.ADMIN))
    assert admin.get(schedule_url(project)).json() == {"every_minutes": None, "enabled": False}

    saved = admin.put(schedule_url(project), {"every_minutes": 90, "enabled": True}, format="json")
    assert saved.status_code == 200
    assert saved.json() == {"every_minutes": 90, "enabled": True}
    task = PeriodicTask.objects.get(task=TRAINING_SCHEDULE_TASK)
    assert json.loads(task.kwargs) == {"project_id": project.pk}
    assert (task.interval.every, task.interval.period, task.enabled) == (90, IntervalSchedule.MINUTES, True)

    paused = admin.put(schedule_url(project), {"every_minutes": 30, "enabled": False}, format="json").json()
    assert paused == {"every_minutes": 30, "enabled": False}
    assert PeriodicTask.objects.filter(task=TRAINING_SCHEDULE_TASK).count() == 1

    removed = admin.put(schedule_url(project), {"every_minutes": None}, format="json").json()
    assert removed == {"every_minutes": None, "enabled": False}
    assert not PeriodicTask.objects.filter(task=TRAINING_SCHEDULE_TASK).exists()


def test_a_schedule_added_in_the_django_admin_is_found_and_edited() -> None:
    project = make_project()
    hourly = IntervalSchedule.objects.create(every=2, period=IntervalSchedule.HOURS)
    PeriodicTask.objects.create(
        name="hand-made", task=TRAINING_SCHEDULE_TASK, kwargs=json.dumps({"project_id": project.pk}), interval=hourly
    )
    admin = as_user(make_member(project, role=Membership.Role.ADMIN))
    assert admin.get(schedule_url(project)).json() == {"every_minutes": 120, "enabled": True}
    admin.put(schedule_url(project), {"every_minutes": 15, "enabled": True}, format="json")
    task = PeriodicTask.objects.get(task=TRAINING_SCHEDULE_TASK)
    assert (task.name, task.interval.every, task.interval.period) == ("hand-made", 15, IntervalSchedule.MINUTES)


@pytest.mark.parametrize(
    ("body", "field"),
    [({"every_minutes": 1, "enabled": True}, "every_minutes"), ({"enabled": True}, "every_minutes")],
)
def test_bad_schedules_get_clear_400s(body: dict[str, object], field: str) -> None:
    project = make_project()
    admin = as_user(make_member(project, role=Membership.Role.ADMIN))
    response = admin.put(schedule_url(project), body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not PeriodicTask.objects.filter(task=TRAINING_SCHEDULE_TASK).exists()


def test_only_admins_edit_the_schedule_and_members_may_read_it() -> None:
    project = make_project()
    for role in (Membership.Role.LABELER, Membership.Role.REVIEWER):
        client = as_user(make_member(project, role=role))
        assert client.get(schedule_url(project)).status_code == 200
        refused = client.put(schedule_url(project), {"every_minutes": 60, "enabled": True}, format="json")
        assert refused.status_code == 403
        assert role in refused.json()["error"]["message"]
    assert not PeriodicTask.objects.filter(task=TRAINING_SCHEDULE_TASK).exists()


def settings_url(project: Project) -> str:
    return reverse("project-settings", args=[project.pk])


def test_admins_switch_the_selection_strategy_and_the_queue_is_rescored(
    enqueued: list[tuple[str, tuple]], django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    project = make_project(selection_strategy="beam_margin")
    lines = make_lines(project, 3)
    model = score_lines(lines, [0.2, 0.9, 0.5])
    admin = as_user(make_member(project, role=Membership.Role.ADMIN))
    before = admin.get(settings_url(project)).json()
    assert before["selection_strategy"] == "beam_margin"
    assert {s["name"] for s in before["strategies"]} >= {"random", "beam_margin", "expected_errors", "diversity"}

    with django_capture_on_commit_callbacks(execute=True):
        response = admin.patch(settings_url(project), {"selection_strategy": "expected_errors"}, format="json")
    assert response.status_code == 200
    assert response.json()["selection_strategy"] == "expected_errors"
    project.refresh_from_db()
    assert project.selection_strategy == "expected_errors"
    assert enqueued == [("annotator.tasks.predictions_refresh", (model.pk,))]
    with django_capture_on_commit_callbacks(execute=True):
        predictions_refresh(model_version=model)  # what that task runs
    rescored = [args for name, args in enqueued if name.endswith("prediction_batch_store")]
    assert rescored == [(model.pk, [lines[1].pk, lines[2].pk, lines[0].pk])], "queue top first"

    enqueued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        admin.patch(settings_url(project), {"retrain_threshold": 50}, format="json")
    assert enqueued == [], "no re-score needed"


def test_the_service_refuses_a_strategy_recognition_does_not_know() -> None:
    project = make_project()
    admin = make_member(project, role=Membership.Role.ADMIN)
    with pytest.raises(InvalidInputError) as refused:
        project_settings_update(project=project, user=admin, changes={"selection_strategy": "loudest"})
    assert "selection_strategy" in refused.value.fields
    project.refresh_from_db()
    assert project.selection_strategy == "beam_margin"


def test_only_admins_change_settings_and_bad_values_are_refused_by_name() -> None:
    project = make_project()
    for role in (Membership.Role.LABELER, Membership.Role.REVIEWER):
        member = as_user(make_member(project, role=role))
        assert member.get(settings_url(project)).status_code == 200
        refused = member.patch(settings_url(project), {"auto_accept": True}, format="json")
        assert refused.status_code == 403
    admin = as_user(make_member(project, role=Membership.Role.ADMIN))
    for body, field in [
        ({"selection_strategy": "loudest"}, "selection_strategy"),
        ({"model_accepted_weight": 0.0}, "model_accepted_weight"),
        ({"auto_accept_max_error": 0.9}, "auto_accept_max_error"),
        ({"top_window": 0}, "top_window"),
        ({"name": "renamed"}, "name"),
    ]:
        response = admin.patch(settings_url(project), body, format="json")
        assert response.status_code == 400, body
        error = response.json()["error"]
        assert field in error["fields"], error
        assert error["message"]
    unchanged = Project.objects.get(pk=project.pk)
    assert (unchanged.auto_accept, unchanged.model_accepted_weight, unchanged.name) == (
        False,
        0.5,
        project.name,
    )


def test_two_admins_editing_different_settings_both_keep_their_change() -> None:
    project = make_project()
    first, second = (make_member(project, role=Membership.Role.ADMIN) for _ in range(2))
    stale = Project.objects.get(pk=project.pk)  # loaded by the first admin before the second saved
    project_settings_update(project=project, user=second, changes={"auto_accept": True})
    project_settings_update(project=stale, user=first, changes={"selection_strategy": "random"})

    saved = Project.objects.get(pk=project.pk)
    assert (saved.auto_accept, saved.selection_strategy) == (True, "random")
