"""Sending work to the workers: by task name, on commit, and never failing the
write that sent it when the broker is down (the periodic check sends again)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError
from pytest_django import DjangoCaptureOnCommitCallbacks

from annotator import enqueue
from annotator.celery import app
from annotator.jobs.recovery import jobs_unsent_resend
from annotator.models import ExportJob, ImportJob, TrainingRun
from tests.annotator.factories import make_project

pytestmark = pytest.mark.django_db


def test_a_send_while_the_broker_is_down_is_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.undo()  # the real task_send, not the recorder
    tried: list[str] = []

    def refuse(name: str, *_args: Any, **_kwargs: Any) -> None:
        tried.append(name)
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(app, "send_task", refuse)
    enqueue.task_send("annotator.tasks.no_such_task", 7)

    assert tried == ["annotator.tasks.no_such_task"]
    assert "sends it again" in caplog.text


def test_jobs_no_worker_took_are_sent_again_and_fresh_ones_are_left_alone(
    enqueued: list[tuple[str, tuple]], django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    project = make_project()
    long_ago = timezone.now() - timedelta(hours=2)
    lost_import = ImportJob.objects.create(project=project, created_at=long_ago)
    lost_export = ExportJob.objects.create(project=project, format="text", created_at=long_ago)
    lost_run = TrainingRun.objects.create(project=project, created_at=long_ago)
    ImportJob.objects.create(project=project)  # just sent: a worker will take it
    ImportJob.objects.create(project=project, created_at=long_ago, status=ImportJob.Status.SUCCEEDED)

    with django_capture_on_commit_callbacks(execute=True):
        sent = jobs_unsent_resend()

    assert sent == {
        enqueue.IMPORT_JOB_RUN: [lost_import.pk],
        enqueue.EXPORT_JOB_RUN: [lost_export.pk],
        enqueue.TRAINING_RUN_EXECUTE: [lost_run.pk],
    }
    assert sorted(enqueued) == sorted(
        [
            (enqueue.IMPORT_JOB_RUN, (lost_import.pk,)),
            (enqueue.EXPORT_JOB_RUN, (lost_export.pk,)),
            (enqueue.TRAINING_RUN_EXECUTE, (lost_run.pk,)),
        ]
    )
