"""Two admins demoting or removing each other at the same moment, each in its
own thread and connection: the project keeps an admin whatever the order.
``transaction=True`` because the threads must see each other's commits."""

from __future__ import annotations

import pytest

from annotator.errors import ApplicationError, ConflictError
from annotator.models import Invitation, Membership
from annotator.services import invitation_accept, invitation_create, membership_remove, membership_role_set
from tests.annotator.factories import make_member, make_project, make_user, run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("how", ["demote", "remove"])
def test_two_admins_dropping_each_other_at_once_leave_one_admin(how: str) -> None:
    project = make_project()
    admins = [make_member(project, role=Membership.Role.ADMIN) for _ in range(2)]
    rows = [Membership.objects.get(user=admin) for admin in admins]
    refused: list[int] = []

    def drop_the_other(index: int) -> None:
        other = rows[1 - index]
        try:
            if how == "demote":
                membership_role_set(project=project, user=admins[index], membership_id=other.pk, role="labeler")
            else:
                membership_remove(project=project, user=admins[index], membership_id=other.pk)
        except ApplicationError:
            # The last admin (409), or no longer an admin (403) or a member (404) by the time it asked.
            refused.append(index)

    run_in_threads(drop_the_other, 2)

    assert Membership.objects.filter(project=project, role=Membership.Role.ADMIN).count() == 1
    assert len(refused) == 1


def test_an_invitation_accepted_twice_at_once_makes_one_member() -> None:
    project = make_project()
    lead = make_member(project, role=Membership.Role.ADMIN)
    _invitation, link = invitation_create(
        project=project, user=lead, email="lin@example.org", role="labeler", link_base="http://testserver/invite/"
    )
    token = link.rsplit("/", 1)[1]
    users = [make_user(), make_user()]
    refused: list[int] = []

    def accept(index: int) -> None:
        try:
            invitation_accept(token=token, user=users[index])
        except ConflictError:
            refused.append(index)

    run_in_threads(accept, 2)

    assert len(refused) == 1
    assert Membership.objects.filter(project=project, role="labeler").count() == 1
    assert Invitation.objects.get().accepted_by_id == users[1 - refused[0]].pk
