"""Writes: the login throttle.

Failed logins are counted per account and per client address in the Django
cache (Redis when REDIS_URL is set, so every web process shares the counts;
this process's memory otherwise), in a fixed window of
LINEPROOF_LOGIN_THROTTLE_SECONDS from the first failure. An account or address
with LINEPROOF_LOGIN_MAX_FAILURES_PER_ACCOUNT (or _PER_ADDRESS) failures in its
window gets a 429 with Retry-After until the window ends, the right password
included; a successful login clears its account's count.

The same counters (another ``scope``) bound the other doors an attacker could
knock on without a password: invitation tokens and password resets
(``services.passwords``, ``services.members``).
"""

from __future__ import annotations

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache

from annotator.errors import ThrottledError

# What each scope counts, for the message of a refusal.
SCOPES = {"login": "failed logins", "invitation": "invitation attempts", "password-reset": "password resets"}


def _keys(*, username: str, address: str, scope: str = "login") -> dict[str, str]:
    """The counters' cache keys by what they count, hashed: a username is any text."""
    prefix = "login-failures" if scope == "login" else f"{scope}-failures"
    account = hashlib.sha256(username.strip().casefold().encode("utf-8")).hexdigest()
    return {"account": f"{prefix}:account:{account}", "address": f"{prefix}:address:{address}"}


def _limits() -> dict[str, int]:
    return {
        "account": settings.LINEPROOF_LOGIN_MAX_FAILURES_PER_ACCOUNT,
        "address": settings.LINEPROOF_LOGIN_MAX_FAILURES_PER_ADDRESS,
    }


def login_throttle_check(*, username: str, address: str, now: float | None = None, scope: str = "login") -> None:
    """Raise ThrottledError (429, with the seconds to wait) when ``username`` or
    ``address`` has used up its failed logins (or the attempts of ``scope``) for now."""
    now = time.time() if now is None else now
    window = settings.LINEPROOF_LOGIN_THROTTLE_SECONDS
    limits = _limits()
    for what, key in _keys(username=username, address=address, scope=scope).items():
        counted = cache.get_many([key, f"{key}:since"])
        if int(counted.get(key, 0)) < limits[what]:
            continue
        since = float(counted.get(f"{key}:since", now))
        wait = max(1, math.ceil(since + window - now))
        minutes = math.ceil(wait / 60)
        whom = "this account" if what == "account" else "your address"
        raise ThrottledError(
            f"Too many {SCOPES[scope]} for {whom}. Try again in {minutes} minute{'s' if minutes != 1 else ''}.",
            retry_after=wait,
        )


def login_failure_record(*, username: str, address: str, now: float | None = None, scope: str = "login") -> None:
    """Count a failed login (or an attempt of ``scope``) against ``username`` and ``address``."""
    now = time.time() if now is None else now
    window = settings.LINEPROOF_LOGIN_THROTTLE_SECONDS
    for key in _keys(username=username, address=address, scope=scope).values():
        # add() starts a window only when none is open; incr() is atomic in Redis and locmem.
        cache.add(f"{key}:since", now, timeout=window)
        cache.add(key, 0, timeout=window)
        try:
            cache.incr(key)
        except ValueError:  # the window ended between add() and incr()
            cache.set(key, 1, timeout=window)


def login_success_record(*, username: str) -> None:
    """A successful login clears its account's failures (not its address's)."""
    key = _keys(username=username, address="")["account"]
    cache.delete_many([key, f"{key}:since"])
