"""A gate in front of the live server the browser tests drive (tests/settings.py
puts it first in MIDDLEWARE).

When a browser test ends, its database is flushed (TRUNCATE) while the browser
may still have requests in the live server's threads: a fetch-ahead, a
heartbeat, the beacon a closing page sends. Such a request holds row locks the
TRUNCATE waits for while it waits for a table the TRUNCATE holds: PostgreSQL
reports a deadlock and the next test starts on a database that was not flushed.
``drain`` closes the gate (a new request gets a 503 and never reaches the
database) and waits until the requests already inside have finished, so the
flush always finds the database quiet.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

_state = threading.Condition()
_inside = 0
_open = True


class LiveServerGate:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        global _inside
        if request.META.get("SERVER_NAME") == "testserver":
            # Django's test client, in the test's own thread: it never outlives its test.
            return self.get_response(request)
        with _state:
            if not _open:
                return HttpResponse("The test is over.", status=503, content_type="text/plain")
            _inside += 1
        try:
            return self.get_response(request)
        finally:
            with _state:
                _inside -= 1
                _state.notify_all()


def gate_open() -> None:
    global _open
    with _state:
        _open = True


def drain(*, timeout: float = 60.0) -> None:
    """Close the gate and wait for the requests inside to finish."""
    global _open
    with _state:
        _open = False
        if not _state.wait_for(lambda: _inside == 0, timeout=timeout):
            raise RuntimeError(f"{_inside} live-server request(s) still running after {timeout} s")
