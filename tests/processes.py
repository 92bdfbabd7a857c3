"""Helpers for the tests that start real processes (Celery workers, gunicorn,
the launcher): a free port, a logged process in its own session, a flushed
Redis database, waiting with the processes' logs on failure, and the
production environment for a local gunicorn (the one the queue benchmark uses)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import redis

from benchmarks.queue import environment as production_environment
from benchmarks.queue import free_port

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["ROOT", "flushed_redis", "free_port", "production_environment", "start_logged", "wait_for"]


def start_logged(argv: Sequence[str], *, env: dict[str, str], log: Path, cwd: Path = ROOT) -> subprocess.Popen[bytes]:
    """``argv`` with stdout and stderr into ``log``, in a session of its own, so
    that it and its children can be signalled (and found) as one group."""
    with log.open("wb") as out:
        return subprocess.Popen(
            list(argv), cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def flushed_redis(url: str) -> Iterator[str]:
    """For a fixture: the Redis database at ``url``, emptied before and after the test."""
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError as error:
        pytest.fail(f"Redis at {url} is not reachable ({error}); bin/services starts it.", pytrace=False)
    client.flushdb()
    yield url
    client.flushdb()


def wait_for(
    check: Callable[[], Any],
    what: str,
    *,
    logs: Callable[[], str],
    alive: Callable[[], None] = lambda: None,
    timeout: float = 60,
) -> Any:
    """Poll ``check`` until it returns something true; ``alive`` may fail the
    test early (a process that exited). Fails with the processes' ``logs``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        alive()
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{logs()}", pytrace=False)


def without(environ: Mapping[str, str], *prefixes: str) -> dict[str, str]:
    """A copy of ``environ`` without the variables whose names start with ``prefixes``."""
    return {key: value for key, value in environ.items() if not key.startswith(prefixes)}
