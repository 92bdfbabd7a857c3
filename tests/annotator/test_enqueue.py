"""Sending work to the workers: by task name, on commit, and never failing the
write that sent it when the broker is down (the periodic check sends again)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError
from pytest_django import DjangoCaptureOnCommitCallbacks, Settings
from rest_framework.test import APIClient

from annotator import enqueue
from annotator.celery import app
from annotator.jobs.recovery import jobs_recover, jobs_unsent_resend
from annotator.jobs.scoring import predictions_refresh
from annotator.models import ExportJob, ImportJob, Membership, ModelVersion, ResegmentJob, TrainingRun, Transcription
from annotator.services import model_version_promote
from tests.annotator.factories import Broker, make_lines, make_member, make_project

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
    lost_rescore = ModelVersion.objects.create(project=project, status="active", rescore_requested_at=long_ago)
    lost_resegment = ResegmentJob.objects.create(project=project, created_at=long_ago)
    ImportJob.objects.create(project=project)  # just sent: a worker will take it
    ImportJob.objects.create(project=project, created_at=long_ago, status=ImportJob.Status.SUCCEEDED)
    ModelVersion.objects.create(project=project, status="retired", rescore_requested_at=long_ago)

    with django_capture_on_commit_callbacks(execute=True):
        sent = jobs_unsent_resend()

    assert sent == {
        enqueue.IMPORT_JOB_RUN: [lost_import.pk],
        enqueue.EXPORT_JOB_RUN: [lost_export.pk],
        enqueue.TRAINING_RUN_EXECUTE: [lost_run.pk],
        enqueue.PREDICTIONS_REFRESH: [lost_rescore.pk],
        enqueue.RESEGMENT_JOB_RUN: [lost_resegment.pk],
    }
    assert sorted(enqueued) == sorted(
        [
            (enqueue.IMPORT_JOB_RUN, (lost_import.pk,)),
            (enqueue.EXPORT_JOB_RUN, (lost_export.pk,)),
            (enqueue.TRAINING_RUN_EXECUTE, (lost_run.pk,)),
            (enqueue.PREDICTIONS_REFRESH, (lost_rescore.pk,)),
            (enqueue.RESEGMENT_JOB_RUN, (lost_resegment.pk,)),
        ]
    )


def test_the_recovery_check_runs_every_minute_or_less_and_resends_after_about_a_minute() -> None:
    entry: dict[str, Any] = settings.CELERY_BEAT_SCHEDULE["jobs-recover"]
    assert entry["task"] in app.tasks
    assert 0 < float(entry["schedule"]) <= 60
    assert 0 < settings.LINEPROOF_JOB_UNSENT_SECONDS <= 90


def minutes_ago(minutes: float) -> datetime:
    return timezone.now() - timedelta(minutes=minutes)


def test_a_submit_that_crosses_the_threshold_while_the_broker_is_down_is_stored_and_training_waits(
    broker: Broker,
    enqueued: list[tuple[str, tuple]],
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    settings.LINEPROOF_TRAIN_MIN_EVAL_LINES = 0
    project = make_project(retrain_threshold=1)
    (line,) = make_lines(project, 1)
    client = APIClient()
    client.force_authenticate(make_member(project))
    client.post(reverse("queue-next", args=[project.pk]))
    broker.down()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("line-submit", args=[line.pk]), {"text": "kew", "client_id": str(uuid.uuid4())}, format="json"
        )

    assert response.status_code == 200, response.content
    assert Transcription.objects.get(line=line).text == "kew"
    run = TrainingRun.objects.get(project=project)
    assert run.status == TrainingRun.Status.QUEUED
    assert response.json()["training"] == {"id": run.pk, "status": "queued", "waiting_for_worker": True}
    assert "sends it again" in caplog.text
    assert enqueued == []

    broker.up()
    TrainingRun.objects.filter(pk=run.pk).update(created_at=minutes_ago(2))
    with django_capture_on_commit_callbacks(execute=True):
        jobs_recover()
    assert enqueued == [(enqueue.TRAINING_RUN_EXECUTE, (run.pk,))]


def test_a_manual_request_finding_a_run_no_worker_took_sends_it_again(
    enqueued: list[tuple[str, tuple]], django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    project = make_project()
    client = APIClient()
    client.force_authenticate(make_member(project, role=Membership.Role.ADMIN))
    stuck = TrainingRun.objects.create(project=project, created_at=minutes_ago(33))

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("training-run-list", args=[project.pk]))

    assert response.status_code == 202
    assert response.json()["id"] == stuck.pk
    assert enqueued == [(enqueue.TRAINING_RUN_EXECUTE, (stuck.pk,))]


def test_an_export_during_an_outage_is_accepted_kept_and_sent_when_the_broker_is_back(
    broker: Broker,
    enqueued: list[tuple[str, tuple]],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    project = make_project()
    client = APIClient()
    client.force_authenticate(make_member(project, role=Membership.Role.ADMIN))
    broker.down()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("export-list", args=[project.pk]), {"format": "text"}, format="json")

    assert response.status_code == 202
    job = ExportJob.objects.get(pk=response.json()["id"])
    assert (job.status, response.json()["status"]) == ("queued", "queued")

    broker.up()
    with django_capture_on_commit_callbacks(execute=True):
        jobs_recover()
    assert enqueued == [], "not before the limit: a worker may be about to take it"
    ExportJob.objects.filter(pk=job.pk).update(created_at=minutes_ago(2))
    with django_capture_on_commit_callbacks(execute=True):
        jobs_recover()
    assert enqueued == [(enqueue.EXPORT_JOB_RUN, (job.pk,))]


def recovery_resends_the_refresh(
    model: ModelVersion, enqueued: list[tuple[str, tuple]], capture: DjangoCaptureOnCommitCallbacks
) -> None:
    """After a lost re-scoring, with the broker back: once its request is old enough the
    recovery check sends the refresh, and the refresh (what a worker runs) sends its
    batches, which are left in ``enqueued``."""
    ModelVersion.objects.filter(pk=model.pk).update(rescore_requested_at=minutes_ago(2))
    with capture(execute=True):
        jobs_recover()
    assert enqueued == [(enqueue.PREDICTIONS_REFRESH, (model.pk,))]
    enqueued.clear()
    with capture(execute=True):
        predictions_refresh(model_version=ModelVersion.objects.get(pk=model.pk))


def test_a_rescoring_lost_to_an_outage_is_requested_again_until_a_worker_takes_it(
    broker: Broker,
    enqueued: list[tuple[str, tuple]],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    project = make_project()
    make_lines(project, 2)
    model = ModelVersion.objects.create(project=project, status=ModelVersion.Status.CANDIDATE)
    broker.down()

    with django_capture_on_commit_callbacks(execute=True):
        model_version_promote(model_version=model)

    broker.up()
    recovery_resends_the_refresh(model, enqueued, django_capture_on_commit_callbacks)
    assert [name for name, _args in enqueued] == [enqueue.PREDICTION_BATCH_STORE]
    enqueued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        jobs_recover()
    assert enqueued == [], "taken: not sent again"


@pytest.mark.parametrize("unread_only", [False, True], ids=["after-a-promotion", "after-an-import"])
def test_a_rescoring_whose_batches_the_broker_refused_is_sent_again_by_the_recovery_check(
    broker: Broker,
    enqueued: list[tuple[str, tuple]],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
    unread_only: bool,
) -> None:
    project = make_project()
    make_lines(project, 3)
    model = ModelVersion.objects.create(
        project=project,
        status=ModelVersion.Status.ACTIVE,
        rescore_requested_at=None if unread_only else minutes_ago(0.5),
    )
    broker.down()  # the worker took the refresh, then the broker went down before its batches

    with django_capture_on_commit_callbacks(execute=True):
        predictions_refresh(model_version=ModelVersion.objects.get(pk=model.pk), unread_only=unread_only)

    assert ModelVersion.objects.get(pk=model.pk).rescore_requested_at is not None, "the request still stands"
    broker.up()
    recovery_resends_the_refresh(model, enqueued, django_capture_on_commit_callbacks)
    assert {name for name, _ in enqueued} == {enqueue.PREDICTION_BATCH_STORE}
    assert sorted(pk for _, (_, batch) in enqueued for pk in batch) == sorted(
        project.lines.values_list("pk", flat=True)
    )
    assert ModelVersion.objects.get(pk=model.pk).rescore_requested_at is None, "taken once the broker took every batch"
