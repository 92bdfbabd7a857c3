"""A project's members: adding existing users, inviting new people by link,
changing roles and removing members (all for the project's admins), and
accepting an invitation (whoever holds the link).

An invitation is a random token sent by e-mail (and shown to the admin who made
it); only its SHA-256 is stored. It is single use and expires after
``settings.LINEPROOF_INVITATION_DAYS``. A project never loses its last admin:
the role changes and removals that would leave it without one are refused
under a lock on the project's admin rows, so two admins demoting each other at
once cannot both succeed.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from annotator.errors import ConflictError, InvalidInputError, NotFoundError
from annotator.models import Invitation, Membership, Project
from annotator.permissions import ADMIN_ROLES, AnyUser, membership_require, user_pk
from annotator.selectors import invitation_token_hash
from annotator.services.accounts import login_failure_record, login_throttle_check
from annotator.services.labeling import leases_return


def _role_check(role: str) -> str:
    if role not in Membership.Role.values:
        message = f"Unknown role {role!r}; use one of {', '.join(Membership.Role.values)}."
        raise InvalidInputError(message, fields={"role": [message]})
    return role


def membership_add(*, project: Project, user: AnyUser, identifier: str, role: str) -> Membership:
    """Project admins: make the existing user named by ``identifier`` (a
    username, or an e-mail address only one account has) a member with ``role``."""
    membership_require(project=project, user=user, roles=ADMIN_ROLES)
    _role_check(role)
    text = identifier.strip()
    found = list(User.objects.filter(Q(username=text) | Q(email__iexact=text), is_active=True)[:2])
    by_name = [candidate for candidate in found if candidate.username == text]
    if by_name:
        found = by_name
    if not found:
        message = f"No user with the username or e-mail {text!r}. Invite them instead."
        raise NotFoundError(message, fields={"user": [message]})
    if len(found) > 1:
        message = f"More than one account has the e-mail {text!r}; give the username."
        raise InvalidInputError(message, fields={"user": [message]})
    (member,) = found
    try:
        with transaction.atomic():
            return Membership.objects.create(project=project, user=member, role=role)
    except IntegrityError:
        raise ConflictError(f"{member.username} is already a member of this project.") from None


def _membership_locked(*, project: Project, membership_id: int) -> tuple[Membership, int]:
    """The membership (locked) and how many admins the project has (their rows locked)."""
    admins = list(
        Membership.objects.select_for_update().filter(project=project, role=Membership.Role.ADMIN).order_by("pk")
    )
    membership = Membership.objects.select_for_update().filter(project=project, pk=membership_id).first()
    if membership is None:
        raise NotFoundError("No such member in this project.")
    return membership, len(admins)


def membership_role_set(*, project: Project, user: AnyUser, membership_id: int, role: str) -> Membership:
    """Project admins: give a member another role (never the last admin a lesser one)."""
    membership_require(project=project, user=user, roles=ADMIN_ROLES)
    _role_check(role)
    with transaction.atomic():
        membership, admins = _membership_locked(project=project, membership_id=membership_id)
        if membership.role == Membership.Role.ADMIN and role != Membership.Role.ADMIN and admins <= 1:
            raise ConflictError("A project needs an admin: make someone else admin first.")
        if membership.role != role:
            membership.role = role
            membership.save(update_fields=["role"])
    return membership


def membership_remove(*, project: Project, user: AnyUser, membership_id: int) -> None:
    """Project admins: remove a member (never the last admin); the lines they hold go back to the queue."""
    membership_require(project=project, user=user, roles=ADMIN_ROLES)
    with transaction.atomic():
        membership, admins = _membership_locked(project=project, membership_id=membership_id)
        if membership.role == Membership.Role.ADMIN and admins <= 1:
            raise ConflictError("A project needs an admin: make someone else admin before removing this one.")
        # The lines they hold go back to the queue now, not when their leases expire.
        leases_return(user=membership.user, project=project)
        membership.delete()


# --- invitations ----------------------------------------------------------------


def invitation_create(
    *, project: Project, user: AnyUser, email: str, role: str, link_base: str
) -> tuple[Invitation, str]:
    """Project admins: invite ``email`` with ``role``. Returns the invitation
    and its link (``link_base`` + token), which is also e-mailed to ``email``."""
    membership_require(project=project, user=user, roles=ADMIN_ROLES)
    _role_check(role)
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        project=project,
        email=email.strip(),
        role=role,
        token_hash=invitation_token_hash(token),
        created_by_id=user_pk(user),
        expires_at=timezone.now() + timedelta(days=settings.LINEPROOF_INVITATION_DAYS),
    )
    link = f"{link_base}{token}"
    inviter = user.get_username()
    send_mail(
        subject=f"You are invited to {project.name} on Lineproof",
        message=(
            f"{inviter} invites you to join the project {project.name} on Lineproof as {role}.\n\n"
            f"Open this link to accept (it works once, until {invitation.expires_at:%Y-%m-%d %H:%M} UTC):\n"
            f"{link}\n"
        ),
        from_email=None,
        recipient_list=[invitation.email],
    )
    return invitation, link


def invitation_revoke(*, project: Project, user: AnyUser, invitation_id: int) -> None:
    """Project admins: withdraw an invitation not yet accepted."""
    membership_require(project=project, user=user, roles=ADMIN_ROLES)
    deleted, _ = Invitation.objects.filter(project=project, pk=invitation_id, accepted_at__isnull=True).delete()
    if not deleted:
        raise NotFoundError("No such open invitation in this project.")


def invitation_state(*, invitation: Invitation) -> str:
    """ "open", "used" or "expired"."""
    if invitation.accepted_at is not None:
        return "used"
    return "expired" if invitation.expires_at <= timezone.now() else "open"


def invitation_accept(
    *, token: str, user: AnyUser, username: str = "", password: str = "", address: str = ""
) -> Membership:
    """Accept the invitation ``token`` names: the logged-in ``user`` joins the
    project, or (anonymous) a new account ``username`` with ``password`` (the
    password validators apply) and the invited e-mail is made and joins it.
    Wrong tokens count against the client's address (throttled like logins)."""
    # Counted per token and per address: one client guessing, or many guessing one token.
    login_throttle_check(username=token, address=address, scope="invitation")
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update()
            .select_related("project")
            .filter(token_hash=invitation_token_hash(token))
            .first()
        )
        if invitation is None:
            login_failure_record(username=token, address=address, scope="invitation")
            raise NotFoundError("This invitation link is not valid.")
        state = invitation_state(invitation=invitation)
        if state != "open":
            why = "was used already" if state == "used" else "has expired"
            raise ConflictError(f"This invitation {why}. Ask the project's admin for a new one.")
        member = _invitee(invitation=invitation, user=user, username=username, password=password)
        membership, created = Membership.objects.get_or_create(
            project=invitation.project, user=member, defaults={"role": invitation.role}
        )
        if not created and membership.role != invitation.role and invitation.role == Membership.Role.ADMIN:
            membership.role = invitation.role
            membership.save(update_fields=["role"])
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = member
        invitation.save(update_fields=["accepted_at", "accepted_by"])
    return membership


def _invitee(*, invitation: Invitation, user: AnyUser, username: str, password: str) -> User:
    if user.is_authenticated:
        return User.objects.get(pk=user_pk(user))
    name = username.strip()
    if not name:
        raise InvalidInputError("Choose a username.", fields={"username": ["Choose a username."]})
    if User.objects.filter(username__iexact=name).exists():
        message = f"The username {name!r} is taken. Choose another, or log in first if it is yours."
        raise ConflictError(message, fields={"username": [message]})
    candidate = User(username=name, email=invitation.email)
    try:
        validate_password(password, user=candidate)
    except ValidationError as exc:
        raise InvalidInputError(" ".join(exc.messages), fields={"password": list(exc.messages)}) from exc
    candidate.set_password(password)
    try:
        with transaction.atomic():
            candidate.save()
    except IntegrityError:
        raise ConflictError(f"The username {name!r} is taken.", fields={"username": ["Taken."]}) from None
    return candidate
