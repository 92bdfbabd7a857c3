"""The HTTP surface: every endpoint's access rules, error shape, and one labeling session."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, get_resolver, reverse
from django.utils import timezone
from pytest_django import DjangoCaptureOnCommitCallbacks
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotator.apis import vocabulary
from annotator.apis.parsers import MAX_JSON_BYTES
from annotator.models import (
    ExportJob,
    ImportJob,
    Invitation,
    Line,
    LineFlag,
    Membership,
    ModelVersion,
    Page,
    Project,
    ResegmentJob,
    TrainingRun,
    Transcription,
)
from annotator.permissions import ADMIN_ROLES
from annotator.selectors import REVIEW_KINDS
from annotator.services import label_submit, leases_return, line_claim
from tests.annotator.factories import (
    claim_with_ahead,
    make_document,
    make_lines,
    make_member,
    make_project,
    score_lines,
)

pytestmark = pytest.mark.django_db

# Public on purpose: the OpenAPI schema (no data in it), the login for tokens,
# an invitation link (what it offers, accepting it) and the password-reset path
# (tests/annotator/test_members_api.py and test_passwords_api.py).
PUBLIC = {
    "schema",
    "auth-token",
    "auth-login",
    "invitation-public",
    "invitation-accept",
    "password-reset",
    "password-reset-confirm",
}
# About the logged-in user, not a project: every user gets their own answer
# (the vocabulary: the same names for everyone).
USER_LEVEL = {"me", "me-password", "auth-logout", "vocabulary"}
# A project's team and what it is: for its admins (reading what it is: any member).
TEAM_ROUTES = {"project-detail", "member-list", "member-detail", "invitation-list", "invitation-detail"}
# The page view and the fixes to a page's cut: reviewers' and admins'.
PAGE_ROUTES = {
    "page-detail",
    "page-image",
    "page-line-list",
    "page-reading-order",
    "line-split",
    "line-merge",
    "page-resegment",
    "document-resegment",
    "resegment-job-detail",
}
API_NAMES = {
    "me",
    "me-password",
    "member-list",
    "member-detail",
    "invitation-list",
    "invitation-detail",
    "auth-logout",
    "vocabulary",
    "project-schedule",
    "project-settings",
    "project-alphabet",
    "project-list",
    "project-detail",
    "queue-next",
    "queue-previous",
    "queue-recent",
    "queue-release",
    "line-heartbeat",
    "line-skip",
    "line-submit",
    "line-draft",
    "line-flag",
    "line-flag-decision",
    "line-image",
    "line-context",
    "training-run-list",
    "training-run-detail",
    "training-run-cancel",
    "model-version-list",
    "review-list",
    "line-review",
    "import-list",
    "import-detail",
    "export-list",
    "export-detail",
    "export-download",
    "document-list",
    "line-search",
    "line-detail",
    "team-stats",
    *PAGE_ROUTES,
}


def api_patterns() -> list[URLPattern]:
    return [
        pattern
        for pattern in get_resolver().url_patterns
        if isinstance(pattern, URLPattern) and str(pattern.pattern).startswith("api/") and pattern.name not in PUBLIC
    ]


def calls(project: Project, line: Line) -> list[tuple[str, str, str]]:
    """(name, method, url) for every method of every API route."""
    run = TrainingRun.objects.filter(project=project).first() or TrainingRun.objects.create(
        project=project, status=TrainingRun.Status.FAILED
    )
    membership = Membership.objects.filter(project=project).first() or Membership.objects.create(
        project=project, user=User.objects.create_user(f"member-of-{project.pk}")
    )
    invitation = Invitation.objects.create(
        project=project, email="x@example.org", token_hash=uuid.uuid4().hex, expires_at=timezone.now()
    )
    ids = {
        "project_id": project.pk,
        "line_id": line.pk,
        "run_id": run.pk,
        "membership_id": membership.pk,
        "invitation_id": invitation.pk,
        "page_id": (Page.objects.filter(document__project=project).first() or make_document(project)[0]).pk,
    }
    ids["document_id"] = Page.objects.get(pk=ids["page_id"]).document_id
    import_job = ImportJob.objects.create(project=project)
    export_job = ExportJob.objects.create(project=project, format="text", status="succeeded", file="exports/x.zip")
    resegment_job = ResegmentJob.objects.create(project=project)
    out = []
    for pattern in api_patterns():
        view = pattern.callback.cls  # type: ignore[attr-defined]
        jobs = {"import": import_job.pk, "resegment": resegment_job.pk}
        ids["job_id"] = jobs.get(str(pattern.name).split("-")[0], export_job.pk)
        kwargs = {name: ids[name] for name in pattern.pattern.converters}
        url = reverse(pattern.name, kwargs=kwargs)
        out += [
            (str(pattern.name), method, url)
            for method in ("get", "post", "put", "patch", "delete")
            if hasattr(view, method)
        ]
    return out


def send(client: APIClient, method: str, url: str) -> Any:
    body = {"text": "kew", "client_id": str(uuid.uuid4()), "format": "text"}
    if method == "get":
        return client.get(url, {"q": "kew"})
    return getattr(client, method)(url, body, format="json")


def as_user(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def world() -> tuple[Project, Line, User]:
    project = make_project()
    (line,) = make_lines(project, 1)
    return project, line, make_member(project)


def test_the_walk_covers_every_api_route(world: tuple[Project, Line, User]) -> None:
    project, line, _member = world
    assert {name for name, _method, _url in calls(project, line)} == API_NAMES


def test_outsiders_see_nothing(world: tuple[Project, Line, User]) -> None:
    project, line, _member = world
    outsider = make_member(make_project())
    client = as_user(outsider)
    for name, method, url in calls(project, line):
        response = send(client, method, url)
        if name == "project-list" and method == "get":
            assert response.status_code == 200
            assert [listed["id"] for listed in response.json()] == [outsider.memberships.get().project_id]
            continue
        if name == "project-list":  # creating one: this body has no name
            assert response.status_code == 400
            continue
        if name in USER_LEVEL:
            assert response.status_code in {200, 204, 400}, f"{method.upper()} {url} -> {response.status_code}"
            continue
        assert response.status_code in {403, 404}, f"{method.upper()} {url} -> {response.status_code}"
        assert response.json()["error"]["message"], f"{method.upper()} {url} gave no message"
    line.refresh_from_db()
    assert line.lease_user_id is None
    assert not Transcription.objects.exists()
    assert Membership.objects.filter(project=project).count() == 1
    assert Project.objects.count() == 2


@pytest.mark.parametrize("role", list(Membership.Role))
def test_every_role_gets_exactly_what_its_rights_allow_on_the_team_routes(
    world: tuple[Project, Line, User], role: str
) -> None:
    project, line, _member = world
    client = as_user(make_member(project, role=role))
    walked = [(name, method, url) for name, method, url in calls(project, line) if name in TEAM_ROUTES]
    assert {name for name, _method, _url in walked} == TEAM_ROUTES
    for name, method, url in walked:
        response = send(client, method, url)
        what = f"{role} {method.upper()} {url} -> {response.status_code}"
        if name == "project-detail" and method == "get":
            assert response.status_code == 200, what
        elif role in ADMIN_ROLES:
            # Allowed: done, or refused for what the walk's body lacks (a role, a confirmation).
            assert response.status_code in {200, 204, 400}, what
        else:
            assert response.status_code == 403, what
            assert role in response.json()["error"]["message"], what
    assert Project.objects.filter(pk=project.pk).exists()  # deleting needs the name typed again


def test_anonymous_requests_are_refused(world: tuple[Project, Line, User]) -> None:
    project, line, _member = world
    client = APIClient()
    for _name, method, url in calls(project, line):
        response = send(client, method, url)
        assert response.status_code in {401, 403}, f"{method.upper()} {url} -> {response.status_code}"
        assert response.json()["error"]["code"] == "not_authenticated"


EXPORT_ROUTES = {"export-list", "export-detail", "export-download"}


@pytest.mark.parametrize(
    ("role", "granted", "may_export"),
    [
        (Membership.Role.LABELER, True, False),
        (Membership.Role.REVIEWER, False, False),
        (Membership.Role.REVIEWER, True, True),
        (Membership.Role.ADMIN, False, True),
    ],
)
def test_exporting_is_for_admins_and_for_reviewers_where_the_project_grants_it(
    world: tuple[Project, Line, User], media_root: Path, role: str, granted: bool, may_export: bool
) -> None:
    project, line, _member = world
    Project.objects.filter(pk=project.pk).update(reviewers_can_export=granted)
    (media_root / "exports").mkdir()
    (media_root / "exports" / "x.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    client = as_user(make_member(project, role=role))
    walked = [(name, method, url) for name, method, url in calls(project, line) if name in EXPORT_ROUTES]
    assert {name for name, _method, _url in walked} == EXPORT_ROUTES

    for _name, method, url in walked:
        response = send(client, method, url)
        what = f"{role} {method.upper()} {url} -> {response.status_code}"
        if may_export:
            assert response.status_code in {200, 202}, what
        else:
            assert response.status_code == 403, what
            assert role in response.json()["error"]["message"]
    assert ExportJob.objects.filter(requested_by__isnull=False).exists() == may_export
    detail = client.get(reverse("project-detail", args=[project.pk])).json()
    assert detail["can_export"] == may_export


def test_admins_grant_export_to_reviewers_in_the_settings(world: tuple[Project, Line, User]) -> None:
    project, _line, _member = world
    admin = as_user(make_member(project, role=Membership.Role.ADMIN))
    url = reverse("project-settings", args=[project.pk])
    assert admin.get(url).json()["reviewers_can_export"] is False
    response = admin.patch(url, {"reviewers_can_export": True}, format="json")
    assert response.status_code == 200
    assert Project.objects.get(pk=project.pk).reviewers_can_export


def test_a_labeling_session(world: tuple[Project, Line, User]) -> None:
    project, line, member = world
    score_lines([line], [0.7])
    client = as_user(member)

    claimed = client.post(reverse("queue-next", args=[project.pk])).json()["line"]
    assert claimed["id"] == line.pk
    assert claimed["image_url"].endswith(f"/api/lines/{line.pk}/image")
    assert claimed["prediction"]["text"] == f"guess {line.pk}"
    assert claimed["prediction"]["spans"] == [[0, 10], [10, 20]]
    assert claimed["lease_expires_at"] is not None
    assert claimed["draft"] is None

    assert client.put(reverse("line-draft", args=[line.pk]), {"text": "kew gar"}, format="json").status_code == 200
    reloaded = client.post(reverse("queue-next", args=[project.pk])).json()["line"]
    assert reloaded["id"] == line.pk
    assert reloaded["draft"]["text"] == "kew gar"
    assert client.post(reverse("line-heartbeat", args=[line.pk])).status_code == 200

    body = {"text": "kew gardens", "client_id": str(uuid.uuid4())}
    first = client.post(reverse("line-submit", args=[line.pk]), body, format="json")
    retry = client.post(reverse("line-submit", args=[line.pk]), body, format="json")
    assert first.status_code == retry.status_code == 200
    assert first.json() == retry.json()
    assert client.post(reverse("queue-next", args=[project.pk])).json() == {"line": None}

    previous = client.get(reverse("queue-previous", args=[project.pk])).json()["line"]
    assert previous["id"] == line.pk
    assert previous["transcription"]["text"] == "kew gardens"
    amend = {"text": "Kew Gardens", "client_id": str(uuid.uuid4())}
    assert client.post(reverse("line-submit", args=[line.pk]), amend, format="json").status_code == 200
    assert Transcription.objects.filter(line=line).count() == 2

    detail = client.get(reverse("project-detail", args=[project.pk])).json()
    assert detail["role"] == "labeler"
    assert detail["stats"] == {"lines": 1, "labeled": 1, "eval_lines": 0, "eval_labeled": 0}


def test_conflicts_are_409_with_a_message(world: tuple[Project, Line, User]) -> None:
    project, line, member = world
    rival = make_member(project)
    as_user(member).post(reverse("queue-next", args=[project.pk]))
    response = as_user(rival).post(
        reverse("line-submit", args=[line.pk]), {"text": "mine", "client_id": str(uuid.uuid4())}, format="json"
    )
    assert response.status_code == 409
    assert "Another labeler holds this line" in response.json()["error"]["message"]
    assert as_user(rival).post(reverse("line-heartbeat", args=[line.pk])).status_code == 409


def lease_of_someone_else(project: Project, line: Line, member: User) -> str | None:
    line_claim(project=project, user=make_member(project))
    return None


def lease_never_held(project: Project, line: Line, member: User) -> str | None:
    return str(uuid.uuid4())


def lease_expired_and_taken(project: Project, line: Line, member: User) -> str | None:
    claimed = line_claim(project=project, user=member)
    assert claimed is not None
    Line.objects.filter(pk=line.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert line_claim(project=project, user=make_member(project)) == line
    return str(claimed.lease_token)


def lease_released_and_granted_again(project: Project, line: Line, member: User) -> str | None:
    claimed = line_claim(project=project, user=member)
    assert claimed is not None
    leases_return(user=member, project=project)
    assert line_claim(project=project, user=member, resume=line.pk) == line
    return str(claimed.lease_token)


@pytest.mark.parametrize(
    "arrange",
    [lease_of_someone_else, lease_never_held, lease_expired_and_taken, lease_released_and_granted_again],
)
def test_a_submit_not_under_the_labelers_current_lease_is_a_409_and_stores_nothing(
    world: tuple[Project, Line, User], arrange: Callable[[Project, Line, User], str | None]
) -> None:
    project, line, member = world
    lease = arrange(project, line, member)
    state = Line.objects.values("queue_state", "lease_user_id", "lease_token").get(pk=line.pk)

    body = {"text": "kew gardens", "client_id": str(uuid.uuid4()), "lease": lease}
    response = as_user(member).post(reverse("line-submit", args=[line.pk]), body, format="json")

    assert response.status_code == 409, response.json()
    assert response.json()["error"]["code"] == "conflict"
    assert response.json()["error"]["message"]
    assert not Transcription.objects.exists()
    assert Line.objects.values("queue_state", "lease_user_id", "lease_token").get(pk=line.pk) == state


@pytest.mark.parametrize(
    "arrange",
    [lease_of_someone_else, lease_never_held, lease_expired_and_taken, lease_released_and_granted_again],
)
def test_a_flag_not_under_the_labelers_current_lease_is_a_409_and_stores_nothing(
    world: tuple[Project, Line, User], arrange: Callable[[Project, Line, User], str | None]
) -> None:
    project, line, member = world
    lease = arrange(project, line, member)
    state = Line.objects.values("queue_state", "lease_user_id", "lease_token", "flag_id").get(pk=line.pk)

    body = {"kind": "illegible", "client_id": str(uuid.uuid4()), "lease": lease}
    response = as_user(member).post(reverse("line-flag", args=[line.pk]), body, format="json")

    assert response.status_code == 409, response.json()
    assert response.json()["error"]["code"] == "conflict"
    assert not LineFlag.objects.exists()
    assert Line.objects.values("queue_state", "lease_user_id", "lease_token", "flag_id").get(pk=line.pk) == state


def test_a_submit_under_the_current_lease_is_stored() -> None:
    project = make_project()
    make_lines(project, 2)
    member = make_member(project)
    client = as_user(member)
    shown = client.post(reverse("queue-next", args=[project.pk])).json()["line"]
    assert shown["lease"]
    body = {"text": "kew gardens", "client_id": str(uuid.uuid4()), "lease": shown["lease"]}
    assert client.post(reverse("line-submit", args=[shown["id"]]), body, format="json").status_code == 200
    assert Line.objects.get(pk=shown["id"]).queue_state == Line.QueueState.LABELED


def browser(user: User, project: Project) -> tuple[Client, str]:
    """A logged-in browser session with CSRF enforced, and its CSRF token."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    shell = client.get(f"/projects/{project.pk}/label")
    return client, shell.cookies["csrftoken"].value


def held(user: User) -> set[int]:
    return set(Line.objects.filter(lease_user=user).values_list("pk", flat=True))


def test_release_takes_a_beacons_form_with_the_csrf_token_in_the_body() -> None:
    project = make_project()
    make_lines(project, 4)
    member = make_member(project)
    client, token = browser(member, project)
    csrf = {"X-CSRFToken": token}
    shown = client.post(reverse("queue-next", args=[project.pk]), {}, content_type="application/json", headers=csrf)
    shown_line = shown.json()["line"]
    ahead = client.post(
        reverse("queue-next", args=[project.pk]),
        {"exclude": [shown_line["id"]]},
        content_type="application/json",
        headers=csrf,
    ).json()["line"]
    assert held(member) == {shown_line["id"], ahead["id"]}
    form = "application/x-www-form-urlencoded"  # what navigator.sendBeacon sends for URLSearchParams
    leases = [shown_line["lease"], ahead["lease"]]
    url = reverse("queue-release", args=[project.pk])

    refused = client.post(url, urlencode({"leases": leases}, doseq=True), content_type=form)
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]["message"]
    assert held(member) == {shown_line["id"], ahead["id"]}

    released = client.post(
        url, urlencode({"csrfmiddlewaretoken": token, "leases": leases}, doseq=True), content_type=form
    )
    assert released.status_code == 200
    assert released.json() == {"released": 2}
    assert held(member) == set()
    assert not Transcription.objects.exists()


def test_release_gives_back_only_the_named_grants_of_the_caller() -> None:
    project = make_project()
    make_lines(project, 4)
    member, rival = make_member(project), make_member(project)
    theirs = line_claim(project=project, user=rival)
    mine = line_claim(project=project, user=member)
    assert theirs is not None
    assert mine is not None
    client = as_user(member)
    url = reverse("queue-release", args=[project.pk])

    stale = client.post(url, {"leases": [str(theirs.lease_token), str(uuid.uuid4())]}, format="json")
    assert stale.json() == {"released": 0}
    assert held(rival) == {theirs.pk}
    assert held(member) == {mine.pk}
    bad = client.post(url, {"leases": ["not-a-uuid"]}, format="json")
    assert bad.status_code == 400
    assert bad.json()["error"]["fields"]["leases"]
    assert held(member) == {mine.pk}


def test_logout_releases_the_labelers_leases_but_not_lines_still_being_submitted() -> None:
    project = make_project()
    make_lines(project, 4)
    member = make_member(project)
    shown, _ahead = claim_with_ahead(project, member)
    client, token = browser(member, project)

    response = client.post(
        reverse("auth-logout"), {"keep": [shown.pk]}, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )

    assert response.status_code == 204
    assert held(member) == {shown.pk}
    assert client.get(reverse("me")).status_code in {401, 403}
    # The submit that was on its way still lands.
    label_submit(line=shown, user=member, text="kew", client_id=uuid.uuid4(), lease=shown.lease_token)
    assert Line.objects.get(pk=shown.pk).queue_state == Line.QueueState.LABELED


def test_history_reaches_the_last_lines_not_only_the_last_one() -> None:
    project = make_project()
    make_lines(project, 6)
    member = make_member(project)
    labeled = []
    for n in range(5):
        line = line_claim(project=project, user=member)
        assert line is not None
        label_submit(line=line, user=member, text=f"text {n}", client_id=uuid.uuid4())
        labeled.append(line.pk)
    client = as_user(member)
    url = reverse("queue-previous", args=[project.pk])

    walked = [client.get(url, {"back": k}).json()["line"] for k in range(5)]
    assert [line["id"] for line in walked] == labeled[::-1]
    assert [line["transcription"]["text"] for line in walked] == [f"text {n}" for n in range(4, -1, -1)]
    assert client.get(url, {"back": 5}).json() == {"line": None}
    assert client.get(url).json()["line"]["id"] == labeled[-1]
    too_far = client.get(url, {"back": 50})
    assert too_far.status_code == 400
    assert too_far.json()["error"]["fields"]["back"]

    # An amend moves the line to the front, once.
    label_submit(line=Line.objects.get(pk=labeled[0]), user=member, text="text 0, amended", client_id=uuid.uuid4())
    recent = client.get(reverse("queue-recent", args=[project.pk]), {"limit": 3}).json()["lines"]
    assert [line["id"] for line in recent] == [labeled[0], labeled[4], labeled[3]]
    assert recent[0]["transcription"]["text"] == "text 0, amended"
    assert client.get(reverse("queue-recent", args=[project.pk]), {"limit": 0}).status_code == 400


def test_skip_is_204_and_moves_on(world: tuple[Project, Line, User]) -> None:
    project, line, member = world
    client = as_user(member)
    client.post(reverse("queue-next", args=[project.pk]))
    assert client.post(reverse("line-skip", args=[line.pk])).status_code == 204
    assert client.post(reverse("queue-next", args=[project.pk])).json() == {"line": None}


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"client_id": "11111111-1111-1111-1111-111111111111"}, "text", "This field is required."),
        ({"text": "kew"}, "client_id", "This field is required."),
        ({"text": "kew", "client_id": "not-a-uuid"}, "client_id", "Must be a valid UUID."),
        ({"text": "k" * 1001, "client_id": "11111111-1111-1111-1111-111111111111"}, "text", "at most 1000"),
        ({"text": "kew\tgardens", "client_id": "11111111-1111-1111-1111-111111111111"}, "text", "U+0009"),
        ({"text": "", "client_id": "11111111-1111-1111-1111-111111111111"}, "text", "empty"),
        ({"text": ["kew"], "client_id": "11111111-1111-1111-1111-111111111111"}, "text", "Not a valid string."),
    ],
)
def test_bad_submissions_get_clear_400s(
    world: tuple[Project, Line, User], body: dict[str, Any], field: str, message: str
) -> None:
    project, line, member = world
    client = as_user(member)
    client.post(reverse("queue-next", args=[project.pk]))
    response = client.post(reverse("line-submit", args=[line.pk]), body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert any(message in text for text in error["fields"][field]), error
    assert message in error["message"]


def test_malformed_json_is_a_400(world: tuple[Project, Line, User]) -> None:
    _project, line, member = world
    response = as_user(member).post(
        reverse("line-submit", args=[line.pk]), "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["error"]["message"]


def test_line_image_is_served_to_members_only(world: tuple[Project, Line, User], media_root: Path) -> None:
    _project, line, member = world
    crop = media_root / str(line.crop.name)
    crop.parent.mkdir()
    crop.write_bytes(b"\x89PNG fake")
    response = as_user(member).get(reverse("line-image", args=[line.pk]), HTTP_ACCEPT="image/png")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == b"\x89PNG fake"  # type: ignore[attr-defined]

    outsider = make_member(make_project())
    assert as_user(outsider).get(reverse("line-image", args=[line.pk])).status_code == 404
    crop.unlink()
    missing = as_user(member).get(reverse("line-image", args=[line.pk]))
    assert missing.status_code == 404
    assert "missing" in missing.json()["error"]["message"]


def test_token_auth(world: tuple[Project, Line, User]) -> None:
    project, _line, member = world
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=member).key}")
    listed = [{"id": project.pk, "name": project.name, "role": "labeler", "can_export": False}]
    assert client.get(reverse("project-list")).json() == listed


def test_openapi_schema_lists_the_queue() -> None:
    response = APIClient().get(reverse("schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert "/api/projects/{project_id}/queue/next" in response.content.decode()


def test_training_runs_and_models_over_http(
    world: tuple[Project, Line, User],
    enqueued: list[tuple[str, tuple]],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    project, line, labeler = world
    admin = make_member(project, role=Membership.Role.ADMIN)
    url = reverse("training-run-list", args=[project.pk])

    refused = as_user(labeler).post(url)
    assert refused.status_code == 403
    assert "labeler" in refused.json()["error"]["message"]

    with django_capture_on_commit_callbacks(execute=True):
        started = as_user(admin).post(url)
        again = as_user(admin).post(url)
    assert started.status_code == again.status_code == 202
    run = started.json()
    assert (run["status"], run["trigger"], run["attempt"]) == ("queued", "manual", 1)
    assert again.json()["id"] == run["id"]  # one run at a time
    assert enqueued == [("annotator.tasks.training_run_execute", (run["id"],))]

    TrainingRun.objects.filter(pk=run["id"]).update(status="running", progress={"phase": "training", "step": 40})
    listed = as_user(labeler).get(url).json()
    assert [item["id"] for item in listed] == [run["id"]]
    detail = as_user(labeler).get(reverse("training-run-detail", args=[run["id"]])).json()
    assert detail["progress"] == {"phase": "training", "step": 40}
    cancel = reverse("training-run-cancel", args=[run["id"]])
    assert as_user(labeler).post(cancel).status_code == 403
    assert as_user(admin).post(cancel).json()["status"] == "cancelled"

    model = score_lines([line], [0.3])
    ModelVersion.objects.filter(pk=model.pk).update(cer=0.12, train_lines=200)
    models = as_user(labeler).get(reverse("model-version-list", args=[project.pk])).json()
    assert [(m["id"], m["status"], m["cer"], m["train_lines"]) for m in models] == [(model.pk, "active", 0.12, 200)]


# --- every /api/ error is JSON in the one shape -------------------------------------

SENTINEL = 987654321
# Ids the resolver refuses (negative, not a number, longer than a bigint) and
# ids it passes that no row has (0, the largest bigint).
BAD_IDS = ["-1", "abc", "99999999999999999999", "0", str(2**63 - 1)]


def assert_error_shape(response: Any, what: str) -> None:
    assert response["Content-Type"].startswith("application/json"), f"{what}: {response['Content-Type']}"
    error = response.json()["error"]
    assert set(error) == {"code", "message", "fields"}, f"{what}: {error}"
    assert error["code"], f"{what}: {error}"
    assert error["message"], f"{what}: {error}"


def test_every_api_route_answers_bad_ids_and_methods_with_the_error_shape(world: tuple[Project, Line, User]) -> None:
    project, _line, _member = world
    admin = as_user(make_member(project, role=Membership.Role.ADMIN))
    for client in (admin, APIClient()):
        for pattern in get_resolver().url_patterns:
            if not (isinstance(pattern, URLPattern) and str(pattern.pattern).startswith("api/")):
                continue
            kwargs = {name: SENTINEL for name in pattern.pattern.converters}
            if not kwargs:
                continue
            template = reverse(str(pattern.name), kwargs=kwargs)
            for bad in BAD_IDS:
                url = template.replace(str(SENTINEL), bad)
                for method in ("get", "post", "put", "patch", "delete"):
                    response = getattr(client, method)(url, {}, format="json")
                    what = f"{method.upper()} {url}"
                    assert response.status_code in {400, 401, 403, 404, 405}, f"{what} -> {response.status_code}"
                    assert_error_shape(response, what)


def test_an_unknown_api_path_and_a_wrong_method_are_json() -> None:
    client = APIClient()
    assert_error_shape(client.get("/api/nowhere"), "GET /api/nowhere")
    assert client.get("/api/nowhere").status_code == 404
    unknown = client.delete(reverse("auth-login"))
    assert unknown.status_code == 405
    assert_error_shape(unknown, "DELETE login")


def test_more_files_than_django_takes_is_a_json_400(world: tuple[Project, Line, User], settings: Any) -> None:
    project, _line, _member = world
    admin = as_user(make_member(project, role=Membership.Role.ADMIN))
    files = [SimpleUploadedFile(f"{n}.png", b"x") for n in range(settings.DATA_UPLOAD_MAX_NUMBER_FILES + 1)]

    response = admin.post(reverse("import-list", args=[project.pk]), {"file": files}, format="multipart")

    assert response.status_code == 400
    assert_error_shape(response, "101 files")
    assert "Too many files" in response.json()["error"]["message"]


def test_a_server_error_under_api_is_json(world: tuple[Project, Line, User], monkeypatch: pytest.MonkeyPatch) -> None:
    _project, _line, member = world

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(vocabulary.VocabularyApi, "get", broken)
    client = Client(raise_request_exception=False)
    client.force_login(member)

    response = client.get(reverse("vocabulary"))

    assert response.status_code == 500
    assert_error_shape(response, "500")


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_deeply_nested_json_is_a_400_on_every_json_endpoint(world: tuple[Project, Line, User]) -> None:
    project, line, _member = world
    admin = as_user(make_member(project, role=Membership.Role.ADMIN))
    writes = [call for call in calls(project, line) if call[1] != "get"]
    for name, method, url in [*writes, ("auth-login", "post", reverse("auth-login"))]:
        for body in (nested(100_000), nested(40)):
            response = getattr(admin, method)(url, body, content_type="application/json")
            what = f"{name}: {method.upper()} {url}"
            assert response.status_code != 500, what
            if response.status_code >= 400:
                assert_error_shape(response, what)
    submit = admin.post(reverse("line-submit", args=[line.pk]), nested(100_000), content_type="application/json")
    assert submit.status_code == 400
    assert "nested deeper" in submit.json()["error"]["message"]


def test_a_json_body_over_the_size_limit_is_a_413(world: tuple[Project, Line, User]) -> None:
    _project, line, member = world
    body = json.dumps({"text": "x" * (MAX_JSON_BYTES + 1), "client_id": str(uuid.uuid4())})
    response = as_user(member).post(reverse("line-submit", args=[line.pk]), body, content_type="application/json")
    assert response.status_code == 413
    assert_error_shape(response, "large body")


def test_numbers_past_the_database_range_are_400s(world: tuple[Project, Line, User]) -> None:
    project, _line, member = world
    reviewer = as_user(make_member(project, role=Membership.Role.REVIEWER))
    url = reverse("review-list", args=[project.pk])
    for kind in REVIEW_KINDS:
        huge = reviewer.get(url, {"kind": kind, "offset": str(10**30)})
        assert huge.status_code == 400, kind
        assert "offset" in huge.json()["error"]["fields"]
        assert reviewer.get(url, {"kind": kind, "offset": str(2**63 - 1)}).status_code == 200, kind
    claim = as_user(member).post(reverse("queue-next", args=[project.pk]), {"exclude": [10**30]}, format="json")
    assert claim.status_code == 400
    assert "exclude" in claim.json()["error"]["fields"]
    admin = as_user(make_member(project, role=Membership.Role.ADMIN))
    for name in ("retrain_threshold", "full_retrain_every", "top_window", "lease_seconds"):
        changed = admin.patch(reverse("project-settings", args=[project.pk]), {name: 10**30}, format="json")
        assert changed.status_code == 400, name
        assert name in changed.json()["error"]["fields"]
    schedule = admin.put(reverse("project-schedule", args=[project.pk]), {"every_minutes": 10**30}, format="json")
    assert schedule.status_code == 400


@pytest.mark.parametrize("role", list(Membership.Role))
def test_the_page_view_and_its_edits_are_for_reviewers_and_admins(world: tuple[Project, Line, User], role: str) -> None:
    project, line, _member = world
    client = as_user(make_member(project, role=role))
    walked = [(name, method, url) for name, method, url in calls(project, line) if name in PAGE_ROUTES]
    walked.append(("line-detail", "delete", reverse("line-detail", args=[line.pk])))
    assert {name for name, _method, _url in walked} == PAGE_ROUTES | {"line-detail"}
    for _name, method, url in walked:
        response = send(client, method, url)
        what = f"{role} {method.upper()} {url} -> {response.status_code}"
        if role == Membership.Role.LABELER:
            assert response.status_code == 403, what
            assert role in response.json()["error"]["message"], what
        else:
            # Allowed, or refused for what the walk's body or world lacks (a page image, the line's page).
            assert response.status_code in {200, 201, 202, 400, 404, 405, 409}, what
            if response.status_code >= 400:
                assert_error_shape(response, what)
    assert Line.objects.filter(pk=line.pk).exists()
