"""A project's team over HTTP: adding users by username or e-mail, invitation
links (single use, expiring, landing with their role), role changes, removal
and the last admin."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from pytest_django import Settings
from rest_framework.test import APIClient

from annotator.models import Invitation, Membership, Project
from annotator.services import line_claim
from tests.annotator.factories import make_lines, make_member, make_project, make_user

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def fast_hashing(settings: Settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def as_user(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def team() -> tuple[Project, User]:
    project = make_project(name="Hooker letters")
    return project, make_member(project, role=Membership.Role.ADMIN)


def members_url(project: Project) -> str:
    return reverse("member-list", args=[project.pk])


def test_admins_add_existing_users_by_username_or_email(team: tuple[Project, User]) -> None:
    project, admin = team
    ada = User.objects.create_user("ada", email="ada@example.org")
    bo = User.objects.create_user("bo", email="Bo@Example.org")
    client = as_user(admin)

    by_name = client.post(members_url(project), {"user": "ada", "role": "labeler"}, format="json")
    by_mail = client.post(members_url(project), {"user": "bo@example.org", "role": "reviewer"}, format="json")

    assert by_name.status_code == 201
    assert by_name.json()["username"] == "ada"
    assert by_mail.status_code == 201
    assert Membership.objects.get(project=project, user=ada).role == "labeler"
    assert Membership.objects.get(project=project, user=bo).role == "reviewer"
    listed = {m["username"]: m["role"] for m in client.get(members_url(project)).json()}
    assert listed == {admin.username: "admin", "ada": "labeler", "bo": "reviewer"}


def test_adding_nobody_or_a_member_again_says_why(team: tuple[Project, User]) -> None:
    project, admin = team
    client = as_user(admin)
    User.objects.create_user("ada", email="ada@example.org")
    client.post(members_url(project), {"user": "ada", "role": "labeler"}, format="json")

    unknown = client.post(members_url(project), {"user": "nobody@example.org", "role": "labeler"}, format="json")
    again = client.post(members_url(project), {"user": "ada", "role": "admin"}, format="json")
    bad_role = client.post(members_url(project), {"user": "ada", "role": "owner"}, format="json")

    assert unknown.status_code == 404
    assert "Invite them" in unknown.json()["error"]["message"]
    assert again.status_code == 409
    assert bad_role.status_code == 400
    assert "role" in bad_role.json()["error"]["fields"]


@pytest.mark.parametrize("role", [Membership.Role.LABELER, Membership.Role.REVIEWER])
def test_only_admins_manage_the_team(team: tuple[Project, User], role: str) -> None:
    project, admin = team
    client = as_user(make_member(project, role=role))
    User.objects.create_user("ada")
    admin_row = Membership.objects.get(user=admin)
    detail = reverse("member-detail", args=[project.pk, admin_row.pk])

    for response in (
        client.get(members_url(project)),
        client.post(members_url(project), {"user": "ada", "role": "admin"}, format="json"),
        client.patch(detail, {"role": "labeler"}, format="json"),
        client.delete(detail),
        client.get(reverse("invitation-list", args=[project.pk])),
        client.post(
            reverse("invitation-list", args=[project.pk]), {"email": "x@example.org", "role": "admin"}, format="json"
        ),
    ):
        assert response.status_code == 403
        assert role in response.json()["error"]["message"]
    assert Membership.objects.get(user=admin).role == "admin"
    assert not Invitation.objects.exists()


def test_admins_change_roles_and_remove_members(team: tuple[Project, User]) -> None:
    project, admin = team
    labeler = make_member(project)
    (held,) = make_lines(project, 1)
    line_claim(project=project, user=labeler)
    row = Membership.objects.get(user=labeler)
    url = reverse("member-detail", args=[project.pk, row.pk])
    client = as_user(admin)

    changed = client.patch(url, {"role": "reviewer"}, format="json")
    assert changed.status_code == 200
    assert changed.json()["role"] == "reviewer"
    assert client.delete(url).status_code == 204
    assert not Membership.objects.filter(user=labeler).exists()
    held.refresh_from_db()
    assert held.lease_user_id is None  # the line they held is back in the queue
    assert client.delete(url).status_code == 404


def test_the_last_admin_can_be_neither_demoted_nor_removed(team: tuple[Project, User]) -> None:
    project, admin = team
    row = Membership.objects.get(user=admin)
    url = reverse("member-detail", args=[project.pk, row.pk])
    client = as_user(admin)

    demoted = client.patch(url, {"role": "labeler"}, format="json")
    removed = client.delete(url)

    assert demoted.status_code == 409
    assert "needs an admin" in demoted.json()["error"]["message"]
    assert removed.status_code == 409
    assert Membership.objects.get(pk=row.pk).role == "admin"
    second = make_member(project, role=Membership.Role.ADMIN)
    assert client.delete(url).status_code == 204  # with another admin, this one may go
    assert Membership.objects.filter(project=project, role="admin").get().user == second


def test_a_member_of_another_project_is_not_found(team: tuple[Project, User]) -> None:
    project, admin = team
    elsewhere = make_project()
    row = Membership.objects.get(user=make_member(elsewhere))
    response = as_user(admin).delete(reverse("member-detail", args=[project.pk, row.pk]))
    assert response.status_code == 404
    assert Membership.objects.filter(pk=row.pk).exists()


def invite(client: APIClient, project: Project, role: str = "labeler") -> str:
    """Invite lin@example.org; the link from the mail (which the answer shows too)."""
    response = client.post(
        reverse("invitation-list", args=[project.pk]), {"email": "lin@example.org", "role": role}, format="json"
    )
    assert response.status_code == 201, response.json()
    link = response.json()["link"]
    assert mail.outbox[-1].to == ["lin@example.org"]
    assert link in mail.outbox[-1].body
    return link


def token_of(link: str) -> str:
    match = re.search(r"/invite/([A-Za-z0-9_-]+)$", link)
    assert match, link
    return match.group(1)


def test_an_invitation_lands_a_new_person_in_the_project_with_its_role(team: tuple[Project, User]) -> None:
    project, admin = team
    token = token_of(invite(as_user(admin), project, role="reviewer"))
    assert token not in Invitation.objects.get().token_hash  # only a hash is stored
    visitor = APIClient()

    offered = visitor.get(reverse("invitation-public", args=[token])).json()
    accepted = visitor.post(
        reverse("invitation-accept", args=[token]), {"username": "lin", "password": PASSWORD}, format="json"
    )

    assert offered == {**offered, "project": "Hooker letters", "role": "reviewer", "state": "open"}
    assert accepted.status_code == 200, accepted.json()
    assert accepted.json() == {"project": project.pk, "role": "reviewer", "username": "lin"}
    lin = User.objects.get(username="lin")
    assert lin.email == "lin@example.org"
    assert lin.check_password(PASSWORD)
    assert Membership.objects.get(project=project, user=lin).role == "reviewer"
    me = visitor.get(reverse("me")).json()  # logged in by accepting
    assert me["projects"] == [{"id": project.pk, "name": "Hooker letters", "role": "reviewer", "can_export": False}]


def test_an_invitation_works_once(team: tuple[Project, User]) -> None:
    project, admin = team
    token = token_of(invite(as_user(admin), project))
    url = reverse("invitation-accept", args=[token])
    assert APIClient().post(url, {"username": "lin", "password": PASSWORD}, format="json").status_code == 200

    again = APIClient().post(url, {"username": "lin2", "password": PASSWORD}, format="json")

    assert again.status_code == 409
    assert "used already" in again.json()["error"]["message"]
    assert not User.objects.filter(username="lin2").exists()
    assert APIClient().get(reverse("invitation-public", args=[token])).json()["state"] == "used"


def test_an_expired_invitation_is_refused(team: tuple[Project, User]) -> None:
    project, admin = team
    token = token_of(invite(as_user(admin), project))
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = APIClient().post(
        reverse("invitation-accept", args=[token]), {"username": "lin", "password": PASSWORD}, format="json"
    )

    assert response.status_code == 409
    assert "expired" in response.json()["error"]["message"]
    assert not User.objects.filter(username="lin").exists()


def test_invitations_expire_after_the_configured_days(team: tuple[Project, User], settings: Settings) -> None:
    settings.LINEPROOF_INVITATION_DAYS = 2
    project, admin = team
    invite(as_user(admin), project)
    lasts = Invitation.objects.get().expires_at - Invitation.objects.get().created_at
    assert timedelta(days=2) - timedelta(seconds=5) < lasts <= timedelta(days=2)


def test_a_weak_password_or_a_taken_username_creates_nothing(team: tuple[Project, User]) -> None:
    project, admin = team
    token = token_of(invite(as_user(admin), project))
    url = reverse("invitation-accept", args=[token])

    weak = APIClient().post(url, {"username": "lin", "password": "123"}, format="json")
    taken = APIClient().post(url, {"username": admin.username, "password": PASSWORD}, format="json")

    assert weak.status_code == 400
    assert "password" in weak.json()["error"]["fields"]
    assert taken.status_code == 409
    assert Invitation.objects.get().accepted_at is None
    assert not User.objects.filter(username="lin").exists()


def test_a_logged_in_user_accepts_into_their_own_account(team: tuple[Project, User]) -> None:
    project, admin = team
    token = token_of(invite(as_user(admin), project, role="labeler"))
    existing = make_user()

    response = as_user(existing).post(reverse("invitation-accept", args=[token]), {}, format="json")

    assert response.status_code == 200
    assert Membership.objects.get(project=project, user=existing).role == "labeler"


def test_wrong_invitation_tokens_are_throttled(settings: Settings) -> None:
    settings.LINEPROOF_LOGIN_MAX_FAILURES_PER_ADDRESS = 3
    client = APIClient()
    url = reverse("invitation-accept", args=["not-a-real-token"])
    statuses = [client.post(url, {"username": "x", "password": PASSWORD}, format="json").status_code for _ in range(4)]
    assert statuses == [404, 404, 404, 429]


def test_admins_see_and_withdraw_open_invitations(team: tuple[Project, User]) -> None:
    project, admin = team
    client = as_user(admin)
    token = token_of(invite(client, project))
    listed = client.get(reverse("invitation-list", args=[project.pk])).json()
    assert [(i["email"], i["role"], i["state"]) for i in listed] == [("lin@example.org", "labeler", "open")]
    assert "link" not in listed[0]

    withdrawn = client.delete(reverse("invitation-detail", args=[project.pk, listed[0]["id"]]))

    assert withdrawn.status_code == 204
    assert APIClient().get(reverse("invitation-public", args=[token])).status_code == 404
