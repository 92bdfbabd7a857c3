"""Heartbeats and stale jobs: a running job writes a heartbeat every few seconds
in every phase, so the recovery check (every 30 s, a 60 s limit) fails and
retries a job whose worker is gone within about a minute, and never a live one."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from pytest_django import DjangoCaptureOnCommitCallbacks, Settings

from annotator import enqueue
from annotator.jobs import imports, training
from annotator.jobs.imports import import_job_run
from annotator.jobs.recovery import jobs_recover
from annotator.jobs.training import _claim, training_run_execute
from annotator.models import ImportJob, TrainingRun
from tests.annotator.factories import make_project

pytestmark = pytest.mark.django_db

Job = type[TrainingRun] | type[ImportJob]


def ago(seconds: float) -> Any:
    return timezone.now() - timedelta(seconds=seconds)


def running_run(*, heartbeat_seconds_ago: float) -> TrainingRun:
    run = TrainingRun.objects.create(project=make_project())
    assert _claim(run)
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=ago(heartbeat_seconds_ago))
    return TrainingRun.objects.get(pk=run.pk)


def test_with_the_default_limits_a_job_silent_for_a_minute_is_failed_and_retried(
    settings: Settings,
    enqueued: list[tuple[str, tuple]],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    assert settings.LINEPROOF_TRAIN_STALE_SECONDS <= 60
    assert settings.LINEPROOF_IMPORT_STALE_SECONDS <= 60
    assert settings.LINEPROOF_HEARTBEAT_SECONDS * 4 <= settings.LINEPROOF_TRAIN_STALE_SECONDS
    dead = running_run(heartbeat_seconds_ago=settings.LINEPROOF_TRAIN_STALE_SECONDS + 5)
    live = running_run(heartbeat_seconds_ago=settings.LINEPROOF_HEARTBEAT_SECONDS * 2)
    project = make_project()
    dead_import = ImportJob.objects.create(project=project, status="running", started_at=ago(65))
    ImportJob.objects.create(project=project, status="running", started_at=ago(10))

    with django_capture_on_commit_callbacks(execute=True):
        jobs_recover()

    dead.refresh_from_db()
    assert (dead.status, dead.error[:11]) == (TrainingRun.Status.FAILED, "worker lost")
    retry = TrainingRun.objects.get(retry_of=dead)
    assert retry.status == TrainingRun.Status.QUEUED
    live.refresh_from_db()
    assert live.status == TrainingRun.Status.RUNNING
    assert sorted(enqueued) == sorted(
        [(enqueue.TRAINING_RUN_EXECUTE, (retry.pk,)), (enqueue.IMPORT_JOB_RUN, (dead_import.pk,))]
    )


def wait_for_heartbeat(model: Job, pk: int, field: str, *, after: Any) -> None:
    """Until the heartbeat thread has written ``field`` past ``after`` (it beats
    every few milliseconds here); a job without one never gets there."""
    deadline = timezone.now() + timedelta(seconds=30)
    while timezone.now() < deadline:
        if model.objects.filter(pk=pk, **{f"{field}__gt": after}).exists():
            return
        time.sleep(0.01)
    pytest.fail(f"no heartbeat on {model.__name__} {pk}")


def a_long_silent_phase(model: Job, pk: int, field: str, seen: list[str]) -> Callable[..., Any]:
    """A phase that writes no progress (judging, publishing, decoding pages):
    the heartbeat looks ten minutes old, then the recovery check runs once the
    heartbeat thread has written again."""

    def phase(*_args: Any, **_kwargs: Any) -> list[Any]:
        old = ago(600)
        model.objects.filter(pk=pk).update(**{field: old})
        wait_for_heartbeat(model, pk, field, after=old)
        jobs_recover()
        seen.append(model.objects.get(pk=pk).status)
        return []

    return phase


@pytest.mark.django_db(transaction=True)
def test_a_live_training_run_heartbeats_through_phases_without_progress_and_is_not_failed(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.LINEPROOF_HEARTBEAT_SECONDS = 0.01
    run = TrainingRun.objects.create(project=make_project())
    seen: list[str] = []
    monkeypatch.setattr(
        training, "_train_judge_promote", a_long_silent_phase(TrainingRun, run.pk, "heartbeat_at", seen)
    )

    training_run_execute(run=run)

    assert seen == [TrainingRun.Status.RUNNING]
    assert not TrainingRun.objects.filter(retry_of=run).exists()


@pytest.mark.django_db(transaction=True)
def test_a_live_import_heartbeats_while_it_reads_its_files_and_is_not_taken_over(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, media_root: Path, enqueued: list[tuple[str, tuple]]
) -> None:
    settings.LINEPROOF_HEARTBEAT_SECONDS = 0.01
    stored = default_storage.save("imports/notes.txt", ContentFile(b"some text"))
    job = ImportJob.objects.create(project=make_project(), files=[stored])
    seen: list[str] = []
    monkeypatch.setattr(imports, "upload_units", a_long_silent_phase(ImportJob, job.pk, "started_at", seen))

    import_job_run(job=job)

    assert seen == [ImportJob.Status.RUNNING]
    assert enqueued == [], "not handed to another worker"
