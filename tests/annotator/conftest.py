"""Annotator tests run on PostgreSQL by default (annotator/settings.py picks
LINEPROOF_TEST_DATABASE_URL, then DATABASE_URL, then the local server), and a
database that cannot be reached is an error, never a skip: the queue's
guarantees are the database's, so a run without it proves nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError, connection
from pytest_django import DjangoCaptureOnCommitCallbacks, DjangoDbBlocker, Settings

import annotator.tasks  # noqa: F401  registers the tasks run_enqueued runs
from annotator import enqueue
from annotator.celery import app as celery_app
from annotator.models import Line, Membership, Project
from tests.annotator.factories import (
    TRAINING_TEXTS,
    Broker,
    make_member,
    make_project,
    make_rendered_lines,
    tiny_config,
    verify,
)


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


@pytest.fixture(autouse=True)
def cleared_cache() -> None:
    """The cache (the login throttle's counters) starts empty in every test."""
    cache.clear()


@pytest.fixture
def media_root(tmp_path: Path, settings: Settings) -> Path:
    """MEDIA_ROOT in a temporary folder, so tests that store crops leave nothing behind."""
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def tiny_training(settings: Settings, media_root: Path) -> Settings:
    """Training runs a test can afford: tiny configs, one thread, low minimums."""
    settings.LINEPROOF_TRAIN_CONFIG = tiny_config()
    settings.LINEPROOF_TRAIN_THREADS = 1
    settings.LINEPROOF_INFER_THREADS = 1
    settings.LINEPROOF_TRAIN_MIN_TRAIN_LINES = 5
    settings.LINEPROOF_TRAIN_MIN_EVAL_LINES = 2
    return settings


Enqueued = list[tuple[str, tuple[Any, ...]]]


@pytest.fixture(autouse=True)
def enqueued(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Enqueued:
    """Tasks sent to the broker, recorded instead of sent as (task name, args).

    Only the end-to-end tests (marked e2e) talk to a real broker; elsewhere a
    test calls the job a task would run (or ``run_enqueued``), so nothing runs
    behind its back. Enqueues happen on commit: in a test wrapped in a
    transaction, capture them with django_capture_on_commit_callbacks(execute=True).
    """
    sent: Enqueued = []
    if request.node.get_closest_marker("e2e") is None:

        def record(name: str, *args: Any) -> bool:
            sent.append((name, tuple(args)))
            return True

        monkeypatch.setattr(enqueue, "task_send", record)
    return sent


@pytest.fixture
def run_enqueued(
    enqueued: Enqueued, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> Callable[[], list[str]]:
    """Run the recorded tasks in this process, in order, including those they
    enqueue in turn, as a worker would (each in its own on-commit capture, so
    what it enqueues is recorded); returns the task names run."""

    def run() -> list[str]:
        done = []
        while enqueued:
            name, args = enqueued.pop(0)
            with django_capture_on_commit_callbacks(execute=True):
                celery_app.tasks[name](*args)
            done.append(name)
        return done

    return run


@pytest.fixture
def broker(enqueued: Enqueued, monkeypatch: pytest.MonkeyPatch) -> Iterator[Broker]:
    """Control of the broker (``Broker``): up, with sends recorded, until ``down()``."""
    broker = Broker(monkeypatch)
    yield broker
    broker.closed.close()


@pytest.fixture
def broker_down(broker: Broker) -> Callable[[], None]:
    """The broker down from the start of the test (``Broker.down``); call the value to bring it back."""
    broker.down()
    return broker.up


@pytest.fixture
def world(tiny_training: Settings) -> tuple[Project, Any]:
    """Five verified training lines and, rendered identically, two verified eval
    lines (a model that learned the training lines reads them), plus three
    unlabeled training lines for the queue; returns the project and its admin."""
    project = make_project(model_preset="tiny", retrain_threshold=0)
    admin = make_member(project, role=Membership.Role.ADMIN)
    verify(make_rendered_lines(project, TRAINING_TEXTS, prefix="t"), TRAINING_TEXTS, user=admin)
    evaluation = make_rendered_lines(project, TRAINING_TEXTS[:2], split=Line.Split.EVAL, prefix="e")
    verify(evaluation, TRAINING_TEXTS[:2], user=admin)
    make_rendered_lines(project, ("dear kew", "sir 1851 seeds", "truly"), prefix="u", seed=5)
    return project, admin
