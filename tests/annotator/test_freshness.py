"""Freshness: incremental runs (a short warm start of the active model on the
new lines plus a replay sample), the kind of each run, the top of the queue
re-scored first after a promotion, and all of it surviving a broker outage.
Models are trained for real (tiny preset, one thread)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone
from pytest_django import DjangoCaptureOnCommitCallbacks, Settings
from rest_framework.test import APIClient

from annotator import enqueue, tasks
from annotator.jobs.recovery import jobs_recover
from annotator.jobs.scoring import prediction_batch_store, predictions_refresh, rescore_order
from annotator.jobs.training import training_run_execute
from annotator.jobs.training_data import training_data
from annotator.models import Line, Membership, ModelVersion, Project, TrainingRun
from annotator.services import training_run_kind_choose
from tests.annotator.factories import (
    TRAINING_TEXTS,
    Broker,
    make_active_model,
    make_lines,
    make_member,
    make_project,
    make_rendered_lines,
    score_lines,
    tiny_config,
    verify,
)

pytestmark = pytest.mark.django_db

NEW_TEXTS = ("sir kew", "truly 1851")


def run_now(project: Project, settings: Settings, kind: str, **config: Any) -> TrainingRun:
    settings.LINEPROOF_TRAIN_CONFIG = tiny_config(**config)
    run = TrainingRun.objects.create(project=project, trigger=TrainingRun.Trigger.MANUAL, kind=kind)
    return training_run_execute(run=run)


def active(project: Project) -> ModelVersion:
    return ModelVersion.objects.get(project=project, status=ModelVersion.Status.ACTIVE)


@pytest.fixture
def trained(world: tuple[Project, User], tiny_training: Settings) -> tuple[Project, User, ModelVersion]:
    """``world`` after a first, barely trained model (two steps) was promoted,
    with two training lines verified since."""
    project, admin = world
    first = run_now(project, tiny_training, TrainingRun.Kind.FULL, max_steps=2, eval_every=2)
    assert first.progress["decision"] == "promoted", first.log
    verify(make_rendered_lines(project, NEW_TEXTS, prefix="n", seed=9), NEW_TEXTS, user=admin)
    return project, admin, active(project)


def test_an_incremental_run_learns_the_new_lines_and_a_replay_sample_from_the_active_model(
    trained: tuple[Project, User, ModelVersion], tiny_training: Settings
) -> None:
    project, _admin, first_model = trained
    new_ids = set(Line.objects.filter(project=project, key__startswith="n/").values_list("pk", flat=True))
    old_ids = set(Line.objects.filter(project=project, key__startswith="t/").values_list("pk", flat=True))

    data = training_data(project=project, kind=TrainingRun.Kind.INCREMENTAL, since=first_model.created_at, seed=7)
    chosen = [int(sample.id) for sample in data.train]
    assert set(chosen[: data.new_lines]) == new_ids
    replayed = set(chosen[data.new_lines :])
    assert len(replayed) == data.replay_lines == 2 * len(NEW_TEXTS)  # the recipe's replay ratio
    assert replayed < old_ids
    again = training_data(project=project, kind=TrainingRun.Kind.INCREMENTAL, since=first_model.created_at, seed=7)
    assert [sample.id for sample in again.train] == [sample.id for sample in data.train]

    run = run_now(project, tiny_training, TrainingRun.Kind.INCREMENTAL, max_steps=200)
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.kind == TrainingRun.Kind.INCREMENTAL
    assert "incremental: 2 new and 4 replayed training lines" in run.log
    assert f"fine-tuning model {first_model.pk}" in run.log
    assert (run.progress["new_lines"], run.progress["train_lines"]) == (2, 6)
    version = run.model_version
    assert version is not None
    assert version.parent == first_model
    assert run.progress["decision"] == "promoted", run.log
    # It has learned from the first model's lines and the new ones.
    assert version.train_lines == first_model.train_lines + 2


def test_an_incremental_run_that_reads_worse_is_not_promoted(
    trained: tuple[Project, User, ModelVersion], tiny_training: Settings
) -> None:
    project, _admin, first_model = trained
    # Learning rate 0: only BatchNorm statistics move, so it reads no better.
    run = run_now(project, tiny_training, TrainingRun.Kind.INCREMENTAL, max_steps=4, eval_every=2, learning_rate=0.0)
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.progress["decision"] == "rejected"
    assert run.progress["metrics"]["cer"] >= run.progress["active_metrics"]["cer"]
    assert active(project) == first_model


def test_an_incremental_request_without_a_trained_model_runs_full(
    world: tuple[Project, User], tiny_training: Settings
) -> None:
    project, _admin = world
    run = run_now(project, tiny_training, TrainingRun.Kind.INCREMENTAL, max_steps=2, eval_every=2)
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.kind == TrainingRun.Kind.FULL
    assert run.progress["train_lines"] == len(TRAINING_TEXTS)


def succeeded(project: Project, kind: str, minutes_ago: int) -> None:
    when = timezone.now() - timedelta(minutes=minutes_ago)
    TrainingRun.objects.create(project=project, kind=kind, status=TrainingRun.Status.SUCCEEDED, created_at=when)


def test_threshold_runs_are_incremental_until_every_kth_and_the_schedule_runs_full(media_root: Any) -> None:
    project = make_project(full_retrain_every=2)
    threshold, schedule = TrainingRun.Trigger.THRESHOLD, TrainingRun.Trigger.SCHEDULE
    assert training_run_kind_choose(project=project, trigger=threshold) == "full", "no trained model yet"
    make_active_model(project)
    assert training_run_kind_choose(project=project, trigger=threshold) == "incremental"
    assert training_run_kind_choose(project=project, trigger=schedule) == "full"
    assert training_run_kind_choose(project=project, trigger=TrainingRun.Trigger.MANUAL) == "full"
    succeeded(project, "full", 30)
    succeeded(project, "incremental", 20)
    assert training_run_kind_choose(project=project, trigger=threshold) == "incremental"
    succeeded(project, "incremental", 10)
    assert training_run_kind_choose(project=project, trigger=threshold) == "full", "two incremental since the full"
    succeeded(project, "full", 5)
    assert training_run_kind_choose(project=project, trigger=threshold) == "incremental"
    Project.objects.filter(pk=project.pk).update(full_retrain_every=1)
    project.refresh_from_db()
    assert training_run_kind_choose(project=project, trigger=threshold) == "full"

    # The per-project schedule (beat's task) asks for a full run.
    make_lines(project, 1)
    verify(list(Line.objects.filter(project=project)), ["kew"], user=make_member(project, Membership.Role.ADMIN))
    TrainingRun.objects.all().delete()
    run_id = tasks.training_run_scheduled(project.pk)
    assert TrainingRun.objects.get(pk=run_id).kind == TrainingRun.Kind.FULL


def test_a_manual_run_is_full_unless_asked_for_incremental(media_root: Any) -> None:
    project = make_project()
    make_active_model(project)
    client = APIClient()
    client.force_authenticate(make_member(project, role=Membership.Role.ADMIN))
    url = reverse("training-run-list", args=[project.pk])
    assert client.post(url, {"kind": "sideways"}, format="json").status_code == 400
    assert not TrainingRun.objects.exists()
    response = client.post(url, {"kind": "incremental"}, format="json")
    assert response.status_code == 202
    assert response.json()["kind"] == "incremental"
    TrainingRun.objects.all().delete()
    assert client.post(url).json()["kind"] == "full"


def test_rescoring_sends_the_lines_served_next_and_the_unscored_ones_first(settings: Settings) -> None:
    project = make_project()
    lines = make_lines(project, 9)
    # Priorities 0..5 for six lines (line 5 served first); three never scored.
    score_lines(lines[:6], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    Line.objects.filter(pk=lines[4].pk).update(split=Line.Split.EVAL)  # never served from the training queue
    unverified = Line.objects.filter(project=project)

    batches = rescore_order(unverified, batch_size=3, head_lines=2)

    pk = [line.pk for line in lines]
    assert batches[0] == [pk[5], pk[3], pk[6], pk[7]], "the two served next, then two never scored"
    assert batches[1:] == [[pk[8], pk[4], pk[2]], [pk[1], pk[0]]]
    assert sorted(p for batch in batches for p in batch) == sorted(pk)


def test_the_first_batch_to_land_marks_the_queue_re_ranked(media_root: Any, settings: Settings) -> None:
    settings.LINEPROOF_INFER_THREADS = 1
    settings.LINEPROOF_RESCORE_HEAD_LINES = 1
    project = make_project()
    lines = make_rendered_lines(project, ("kew", "dear sir", "seeds"))
    model = make_active_model(project)
    ModelVersion.objects.filter(pk=model.pk).update(promoted_at=timezone.now())
    batches = predictions_refresh(model_version=model, batch_size=2)
    assert batches[0] == [lines[0].pk], "no line scored yet: the first never-scored one"
    model.refresh_from_db()
    assert model.queue_reranked_at is None
    assert prediction_batch_store(model_version=model, line_ids=batches[0]) == 1
    model.refresh_from_db()
    first = model.queue_reranked_at
    assert first is not None
    assert model.promoted_at is not None
    assert first >= model.promoted_at
    prediction_batch_store(model_version=model, line_ids=batches[1])
    model.refresh_from_db()
    assert model.queue_reranked_at == first, "the first batch's time, not the last one's"


def submit(client: APIClient, line_id: int, text: str) -> None:
    body = {"text": text, "client_id": str(uuid.uuid4())}
    response = client.post(reverse("line-submit", args=[line_id]), body, format="json")
    assert response.status_code == 200, response.content


def test_an_incremental_run_and_its_head_first_rescoring_survive_a_broker_outage(
    trained: tuple[Project, User, ModelVersion],
    tiny_training: Settings,
    broker: Broker,
    enqueued: list[tuple[str, tuple]],
    run_enqueued: Any,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    project, _admin, first_model = trained
    tiny_training.LINEPROOF_TRAIN_CONFIG = tiny_config(max_steps=200)
    tiny_training.LINEPROOF_RESCORE_HEAD_LINES = 1
    Project.objects.filter(pk=project.pk).update(retrain_threshold=1, full_retrain_every=5)
    labeler = APIClient()
    labeler.force_authenticate(make_member(project))
    enqueued.clear()
    broker.down()

    # The labeler's submit crosses the threshold while the broker is down.
    with django_capture_on_commit_callbacks(execute=True):
        line = labeler.post(reverse("queue-next", args=[project.pk])).json()["line"]
        submit(labeler, line["id"], "dear kew")
    run = TrainingRun.objects.get(project=project, status=TrainingRun.Status.QUEUED)
    assert (run.trigger, run.kind) == (TrainingRun.Trigger.THRESHOLD, TrainingRun.Kind.INCREMENTAL)
    assert enqueued == []

    broker.up()
    TrainingRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(minutes=2))
    with django_capture_on_commit_callbacks(execute=True):
        jobs_recover()
    assert enqueued == [(enqueue.TRAINING_RUN_EXECUTE, (run.pk,))]

    # The training worker takes it; it reads better than the two-step model and
    # is promoted, while the broker is down again: the re-scoring waits.
    broker.down()
    with django_capture_on_commit_callbacks(execute=True):
        enqueued.clear()
        tasks.training_run_execute(run.pk)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.progress["decision"] == "promoted", run.log
    model = active(project)
    assert model != first_model
    assert model.rescore_requested_at is not None
    assert enqueued == []

    broker.up()
    ModelVersion.objects.filter(pk=model.pk).update(rescore_requested_at=timezone.now() - timedelta(minutes=2))
    with django_capture_on_commit_callbacks(execute=True):
        jobs_recover()
    assert enqueued == [(enqueue.PREDICTIONS_REFRESH, (model.pk,))]
    served_next = Line.objects.filter(project=project, queue_state="unlabeled", split="train").order_by(
        "-priority", "cold_rank", "id"
    )[0]
    enqueued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        tasks.predictions_refresh(model.pk)  # what the default worker runs
    assert [name for name, _args in enqueued] == [enqueue.PREDICTION_BATCH_STORE] * len(enqueued)
    assert enqueued[0][1] == (model.pk, [served_next.pk]), "the line served next is re-scored first"
    run_enqueued()
    model.refresh_from_db()
    assert model.queue_reranked_at is not None
    assert not Line.objects.filter(project=project, queue_state="unlabeled").exclude(predictions__model_version=model)
