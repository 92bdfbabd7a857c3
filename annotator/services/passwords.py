"""Passwords: changing your own, and the reset path for a forgotten one.

A reset link carries Django's token (``default_token_generator``): it expires
after ``settings.PASSWORD_RESET_TIMEOUT`` and is spent once the password
changes. Asking for one answers the same whether or not the account exists (no
account enumeration); the requests count against the address and the account
under the login throttle's counters, as do wrong reset tokens.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db.models import Q
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from annotator.errors import InvalidInputError
from annotator.permissions import AnyUser, user_pk
from annotator.services.accounts import login_failure_record, login_throttle_check


def _password_check(password: str, *, user: User, field: str) -> None:
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise InvalidInputError(" ".join(exc.messages), fields={field: list(exc.messages)}) from exc


def password_change(*, user: AnyUser, old_password: str, new_password: str) -> User:
    """Change the logged-in user's password, given the current one."""
    account = User.objects.get(pk=user_pk(user))
    if not account.check_password(old_password):
        message = "Your current password is not right."
        raise InvalidInputError(message, fields={"old_password": [message]})
    _password_check(new_password, user=account, field="new_password")
    account.set_password(new_password)
    account.save(update_fields=["password"])
    return account


def password_reset_request(*, identifier: str, link_base: str, address: str = "") -> None:
    """Mail a reset link (``link_base`` + ``<uid>/<token>``) to the account whose
    username or e-mail ``identifier`` is, if there is one that may log in.
    Returns nothing either way."""
    text = identifier.strip()
    login_throttle_check(username=text, address=address, scope="password-reset")
    login_failure_record(username=text, address=address, scope="password-reset")
    if not text:
        return
    for account in User.objects.filter(Q(username=text) | Q(email__iexact=text), is_active=True)[:5]:
        if not account.email or not account.has_usable_password():
            continue
        uid = urlsafe_base64_encode(force_bytes(account.pk))
        link = f"{link_base}{uid}/{default_token_generator.make_token(account)}"
        send_mail(
            subject="Reset your Lineproof password",
            message=(
                f"Someone (hopefully you) asked to reset the password of the Lineproof account {account.username}.\n\n"
                f"Choose a new password here:\n{link}\n\nIf it was not you, ignore this e-mail."
            ),
            from_email=None,
            recipient_list=[account.email],
        )


def password_reset_confirm(*, uid: str, token: str, new_password: str, address: str = "") -> User:
    """Set a new password with a reset link's ``uid`` and ``token``."""
    login_throttle_check(username=uid, address=address, scope="password-reset")
    try:
        pk = int(force_str(urlsafe_base64_decode(uid)))
    except (ValueError, OverflowError):
        pk = 0
    account = User.objects.filter(pk=pk, is_active=True).first() if 0 < pk < 2**63 else None
    if account is None or not default_token_generator.check_token(account, token):
        login_failure_record(username=uid, address=address, scope="password-reset")
        raise InvalidInputError("This reset link is not valid or has expired. Ask for a new one.")
    _password_check(new_password, user=account, field="new_password")
    account.set_password(new_password)
    account.save(update_fields=["password"])
    return account
