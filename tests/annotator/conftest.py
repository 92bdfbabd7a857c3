"""Annotator tests run on PostgreSQL by default (annotator/settings.py picks
LINEPROOF_TEST_DATABASE_URL, then DATABASE_URL, then the local server), and a
database that cannot be reached is an error, never a skip: the queue's
guarantees are the database's, so a run without it proves nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from celery.app.task import Task
from django.conf import settings
from django.db import OperationalError, connection
from pytest_django import DjangoDbBlocker, Settings


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix: None, django_db_blocker: DjangoDbBlocker
) -> None:
    config = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        return
    with django_db_blocker.unblock():
        try:
            connection.ensure_connection()
        except OperationalError as error:
            where = f"{config.get('HOST') or 'localhost'}:{config.get('PORT') or 5432}/{config['NAME']}"
            pytest.fail(
                f"The test database ({connection.vendor} at {where}) is not reachable: {error}\n"
                "Start PostgreSQL (.ci/run starts it when it is down), or point LINEPROOF_TEST_DATABASE_URL "
                "at a reachable one (sqlite:///db.sqlite3 runs everything except the PostgreSQL checks).",
                pytrace=False,
            )
        finally:
            connection.close()


@pytest.fixture
def media_root(tmp_path: Path, settings: Settings) -> Path:
    """MEDIA_ROOT in a temporary folder, so tests that store crops leave nothing behind."""
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture(autouse=True)
def enqueued(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple]]:
    """Tasks sent to the broker, recorded instead of sent as (task name, args).

    Only the end-to-end tests (marked e2e) talk to a real broker; elsewhere a
    test calls the service a task would run, so nothing runs behind its back.
    Enqueues happen on commit: in a test wrapped in a transaction, capture them
    with django_capture_on_commit_callbacks(execute=True).
    """
    sent: list[tuple[str, tuple]] = []
    if request.node.get_closest_marker("e2e") is None:

        def record(self: Task, args: Any = None, kwargs: Any = None, **_options: Any) -> None:
            sent.append((str(self.name), tuple(args or ())))

        monkeypatch.setattr(Task, "apply_async", record)
    return sent
