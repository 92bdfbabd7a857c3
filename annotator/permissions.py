"""Who may do what in a project. Every API call goes through ``membership_require``
(directly or via a selector that scopes by membership); outsiders are told the
object does not exist rather than that they may not see it."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from annotator.errors import ForbiddenError, NotFoundError
from annotator.models import Membership, Project

AnyUser = AbstractBaseUser | AnonymousUser

LABELING_ROLES = frozenset(Membership.Role)
REVIEW_ROLES = frozenset({Membership.Role.REVIEWER, Membership.Role.ADMIN})
ADMIN_ROLES = frozenset({Membership.Role.ADMIN})
# Exporting (texts, images, the model) is the admins'; a project may grant it
# to its reviewers (Project.reviewers_can_export). See export_roles.
EXPORT_GRANTABLE_ROLES = frozenset({Membership.Role.REVIEWER})


def user_pk(user: AnyUser) -> int:
    """The id of a logged-in user; the API lets no anonymous request this far."""
    if not user.is_authenticated or user.pk is None:
        raise ForbiddenError("Log in first.")
    return int(user.pk)


def membership_get(*, project: Project | int, user: AnyUser) -> Membership | None:
    if not user.is_authenticated:
        return None
    project_id = project.pk if isinstance(project, Project) else project
    return Membership.objects.filter(project_id=project_id, user_id=user_pk(user)).first()


def membership_require(*, project: Project | int, user: AnyUser, roles: frozenset[str] = LABELING_ROLES) -> Membership:
    membership = membership_get(project=project, user=user)
    if membership is None:
        raise NotFoundError("No such project.")
    if membership.role not in roles:
        raise ForbiddenError(f"Your role in this project ({membership.role}) does not allow this.")
    return membership


def export_roles(*, project: Project) -> frozenset[str]:
    """The roles that may export ``project``: admins, and reviewers where the project grants it."""
    return ADMIN_ROLES | (EXPORT_GRANTABLE_ROLES if project.reviewers_can_export else frozenset())


def export_require(*, project: Project | int, user: AnyUser) -> Membership:
    """The one check before anything of an export is made, listed, shown or
    downloaded: a member whose role may export ``project`` (else 404 for
    outsiders, 403 for members)."""
    project = project if isinstance(project, Project) else Project.objects.get(pk=project)
    return membership_require(project=project, user=user, roles=export_roles(project=project))


def project_create_allowed(*, user: AnyUser) -> bool:
    """Whether ``user`` may create projects: every user, or only Django staff,
    as ``settings.LINEPROOF_PROJECT_CREATORS`` says."""
    if not user.is_authenticated:
        return False
    return settings.LINEPROOF_PROJECT_CREATORS == "all" or bool(getattr(user, "is_staff", False))


def project_create_require(*, user: AnyUser) -> None:
    if not project_create_allowed(user=user):
        raise ForbiddenError("Only staff may create projects on this site.")
