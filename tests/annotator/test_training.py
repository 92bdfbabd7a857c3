"""Training runs, promotion and re-scoring, through the services the Celery
tasks call. Models are trained for real (tiny preset, one thread, a few
hundred steps at most) on lines rendered by recognition.synthetic; the
recorded enqueues (conftest ``enqueued``) stand in for the broker."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from pytest_django import DjangoCaptureOnCommitCallbacks, Settings

from annotator.jobs.recovery import training_run_recover_stale
from annotator.jobs.scoring import prediction_batch_store, predictions_refresh
from annotator.jobs.training import _claim, _ProgressWriter, training_run_execute
from annotator.jobs.training_data import line_samples_verified
from annotator.models import Line, Membership, ModelVersion, Prediction, Project, TrainingRun
from annotator.selectors import eval_lines_labeled, verified_lines_since_last_model
from annotator.services import (
    label_submit,
    line_claim,
    line_flag,
    model_version_promote,
    training_run_cancel,
    training_run_request,
    training_run_request_if_due,
)
from recognition.train import Progress
from tests.annotator.factories import (
    TRAINING_TEXTS,
    client_id,
    make_lines,
    make_member,
    make_project,
    run_in_threads,
    score_lines,
    tiny_config,
    verify,
)

pytestmark = pytest.mark.django_db

TEXTS = TRAINING_TEXTS
EXECUTE = "annotator.tasks.training_run_execute"
REFRESH = "annotator.tasks.predictions_refresh"


def run_once(project: Project, settings: Settings, **config: Any) -> TrainingRun:
    settings.LINEPROOF_TRAIN_CONFIG = tiny_config(**config)
    run = TrainingRun.objects.create(project=project, trigger=TrainingRun.Trigger.MANUAL)
    return training_run_execute(run=run)


def active(project: Project) -> ModelVersion | None:
    return ModelVersion.objects.filter(project=project, status=ModelVersion.Status.ACTIVE).first()


def test_first_model_then_a_better_one_are_promoted_and_rescoring_reorders_the_queue(
    world: tuple[Project, User],
    tiny_training: Settings,
    enqueued: list[tuple[str, tuple]],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    project, _admin = world
    Project.objects.filter(pk=project.pk).update(selection_strategy="ctc_nll")
    project.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        first = run_once(project, tiny_training, max_steps=2, eval_every=2)
    assert first.status == TrainingRun.Status.SUCCEEDED, first.error
    assert first.progress["decision"] == "promoted"
    first_model = active(project)
    assert first_model is not None
    assert first_model == first.model_version
    assert first_model.parent is None
    assert (REFRESH, (first_model.pk,)) in enqueued
    assert Path(tiny_training.MEDIA_ROOT, first_model.checkpoint).is_file()
    assert first_model.checkpoint.startswith(f"models/{project.pk}/{first.pk}/")

    second = run_once(project, tiny_training, max_steps=200)
    assert second.status == TrainingRun.Status.SUCCEEDED, second.error
    model = active(project)
    assert model is not None
    assert model == second.model_version, second.log
    assert model.parent == first_model
    assert model.cer is not None
    assert first_model.cer is not None
    assert model.cer < first_model.cer
    assert second.progress["active_metrics"]["cer"] == pytest.approx(first_model.cer)
    assert model.train_lines == len(TEXTS)
    assert set(model.alphabet) == set("".join(TEXTS))
    # Calibrated on the eval lines, with the auto-accept threshold measured there.
    assert model.calibration["method"] in {"identity", "platt", "isotonic"}
    assert model.calibration["fitted_lines"] == second.progress["eval_lines"]
    assert model.accept_coverage is not None
    assert 0.0 <= model.accept_coverage <= 1.0
    first_model.refresh_from_db()
    assert first_model.status == ModelVersion.Status.RETIRED

    # Re-scoring: batches of unverified lines, each moving Line.priority.
    batches = predictions_refresh(model_version=model, batch_size=2)
    unlabeled = set(Line.objects.filter(project=project, queue_state="unlabeled").values_list("pk", flat=True))
    assert {pk for batch in batches for pk in batch} == unlabeled
    assert [len(batch) for batch in batches] == [2, 1]
    assert prediction_batch_store(model_version=model, line_ids=batches[0]) == 2
    assert Line.objects.filter(pk__in=batches[0], priority__gt=Line.UNSCORED).count() == 2
    assert Line.objects.filter(pk__in=batches[1], priority=Line.UNSCORED).count() == 1
    assert prediction_batch_store(model_version=model, line_ids=batches[1]) == 1
    assert prediction_batch_store(model_version=model, line_ids=batches[1]) == 1  # idempotent
    stored = Prediction.objects.filter(model_version=model)
    assert stored.count() == 3
    assert set(stored.first().scores) >= {"mean_log_prob", "min_char_prob", "ctc_nll", "beam_margin"}  # type: ignore[union-attr]
    for prediction in stored:
        assert prediction.priority == pytest.approx(prediction.scores["ctc_nll"])
        assert Line.objects.get(pk=prediction.line_id).priority == pytest.approx(prediction.priority)

    # The queue now serves the most uncertain line first.
    project.top_window = 1
    project.save()
    highest = max(prediction.priority for prediction in stored)
    claimed = line_claim(project=project, user=make_member(project))
    assert claimed is not None
    assert claimed.priority == pytest.approx(highest)

    # A superseded version's late batch changes nothing.
    model_version_promote(model_version=first_model)
    assert prediction_batch_store(model_version=model, line_ids=batches[0]) == 0
    assert predictions_refresh(model_version=model) == []


def test_a_model_that_is_not_better_is_rejected(world: tuple[Project, User], tiny_training: Settings) -> None:
    project, _admin = world
    first = run_once(project, tiny_training, max_steps=2, eval_every=2)
    model = active(project)
    assert model is not None
    assert model == first.model_version
    # Learning rate 0: only BatchNorm statistics move; the result is no better, so not promoted.
    second = run_once(project, tiny_training, max_steps=2, eval_every=2, learning_rate=0.0)
    assert second.status == TrainingRun.Status.SUCCEEDED, second.error
    assert second.progress["decision"] == "rejected"
    assert second.progress["metrics"]["cer"] >= second.progress["active_metrics"]["cer"]
    assert second.model_version is not None
    assert second.model_version.status == ModelVersion.Status.REJECTED
    assert active(project) == model


def test_too_few_lines_fail_the_run_with_a_clear_error(world: tuple[Project, User], tiny_training: Settings) -> None:
    project, _admin = world
    tiny_training.LINEPROOF_TRAIN_MIN_EVAL_LINES = 3
    run = run_once(project, tiny_training)
    assert run.status == TrainingRun.Status.FAILED
    assert run.error == (
        "Not enough verified lines to train: 5 training lines (need 5) and 2 evaluation lines (need 3)."
    )
    assert run.model_version is not None
    assert run.model_version.status == ModelVersion.Status.FAILED
    assert run.finished_at is not None


def test_an_error_while_training_fails_the_run_and_keeps_the_active_model(
    world: tuple[Project, User], tiny_training: Settings
) -> None:
    project, _admin = world
    unlabeled = list(Line.objects.filter(project=project, queue_state="unlabeled"))
    model = score_lines(unlabeled, [0.1, 0.2, 0.3])
    corrupt = Line.objects.filter(project=project, split="train", queue_state="labeled").first()
    assert corrupt is not None
    Path(corrupt.crop.path).write_bytes(b"not a png")
    run = run_once(project, tiny_training)
    assert run.status == TrainingRun.Status.FAILED
    assert run.error.startswith("DataError: line "), run.error
    assert "not a readable image" in run.error
    assert active(project) == model
    assert run.model_version is not None
    assert run.model_version.status == ModelVersion.Status.FAILED


def test_a_finished_or_claimed_run_is_not_run_again(world: tuple[Project, User]) -> None:
    project, _admin = world
    run = TrainingRun.objects.create(project=project)
    assert _claim(run)
    assert not _claim(run)  # the second worker's compare-and-set finds it running
    TrainingRun.objects.filter(pk=run.pk).update(status=TrainingRun.Status.SUCCEEDED)
    again = training_run_execute(run=run)
    assert again.status == TrainingRun.Status.SUCCEEDED
    assert ModelVersion.objects.filter(project=project).count() == 1


def stale_run(project: Project, *, attempt: int = 1, minutes: float = 30) -> TrainingRun:
    run = TrainingRun.objects.create(project=project, attempt=attempt)
    assert _claim(run)
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=minutes))
    run.refresh_from_db()
    return run


def test_a_run_whose_worker_died_is_failed_and_retried(
    enqueued: list[tuple[str, tuple]], django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    project = make_project()
    model = score_lines(make_lines(project, 1), [0.5])
    dead = stale_run(project)
    fresh_project = make_project()
    alive = stale_run(fresh_project, minutes=0.25)

    with django_capture_on_commit_callbacks(execute=True):
        (retry,) = training_run_recover_stale()
    dead.refresh_from_db()
    assert dead.status == TrainingRun.Status.FAILED
    assert dead.error.startswith("worker lost")
    assert dead.model_version is not None
    assert dead.model_version.status == ModelVersion.Status.FAILED
    assert (retry.status, retry.attempt, retry.retry_of) == (TrainingRun.Status.QUEUED, 2, dead)
    assert enqueued == [(EXECUTE, (retry.pk,))]
    assert active(project) == model
    alive.refresh_from_db()
    assert alive.status == TrainingRun.Status.RUNNING  # its heartbeat is recent
    assert training_run_recover_stale() == []  # recovered once only


def test_with_no_worker_alive_even_a_fresh_heartbeat_is_recovered(
    enqueued: list[tuple[str, tuple]], django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    project = make_project()
    interrupted = stale_run(project, minutes=0)
    assert training_run_recover_stale() == [], "by default a fresh heartbeat means a live worker"
    with django_capture_on_commit_callbacks(execute=True):
        (retry,) = training_run_recover_stale(stale_after=0)
    interrupted.refresh_from_db()
    assert interrupted.status == TrainingRun.Status.FAILED
    assert (retry.attempt, retry.retry_of) == (2, interrupted)
    assert enqueued == [(EXECUTE, (retry.pk,))]


def test_recovery_gives_up_after_the_last_attempt(settings: Settings) -> None:
    settings.LINEPROOF_TRAIN_MAX_ATTEMPTS = 3
    project = make_project()
    dead = stale_run(project, attempt=3)
    assert training_run_recover_stale(project=project) == []
    dead.refresh_from_db()
    assert dead.status == TrainingRun.Status.FAILED
    assert "attempt 3 of 3" in dead.error
    assert not TrainingRun.objects.filter(status__in=["queued", "running"]).exists()


def test_a_redelivered_job_for_a_dead_run_recovers_it(
    enqueued: list[tuple[str, tuple]], django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    project = make_project()
    dead = stale_run(project)
    with django_capture_on_commit_callbacks(execute=True):
        result = training_run_execute(run=dead)
    assert result.status == TrainingRun.Status.FAILED
    retry = TrainingRun.objects.get(retry_of=dead)
    assert enqueued == [(EXECUTE, (retry.pk,))]


def test_a_request_while_a_run_is_in_flight_returns_that_run(
    enqueued: list[tuple[str, tuple]], django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    project = make_project()
    with django_capture_on_commit_callbacks(execute=True):
        first = training_run_request(project=project, trigger=TrainingRun.Trigger.MANUAL)
        second = training_run_request(project=project, trigger=TrainingRun.Trigger.SCHEDULE)
    assert first == second
    assert enqueued == [(EXECUTE, (first.pk,))]
    # A stale run blocks nobody: the request recovers it and returns its retry.
    TrainingRun.objects.filter(pk=first.pk).update(status="running", heartbeat_at=timezone.now() - timedelta(hours=1))
    third = training_run_request(project=project, trigger=TrainingRun.Trigger.MANUAL)
    assert third.retry_of == first


def test_the_progress_callback_writes_and_stops_a_cancelled_run() -> None:
    project = make_project()
    admin = make_member(project, role=Membership.Role.ADMIN)
    run = TrainingRun.objects.create(project=project)
    assert _claim(run)
    writer = _ProgressWriter(run.pk, interval=3600)

    def progress(step: int, evaluated: bool) -> Progress:
        return Progress(
            step=step,
            epoch=0,
            loss=float("nan"),
            learning_rate=0.01,
            val_cer=0.5 if evaluated else None,
            best_cer=None,
            elapsed_seconds=1.0,
            eta_seconds=None,
            lines_per_second=3.0,
            evaluated=evaluated,
        )

    assert writer(progress(1, False)) is True
    run.refresh_from_db()
    assert run.progress["step"] == 1
    assert run.progress["loss"] is None  # NaN is not JSON
    assert writer(progress(2, False)) is True  # throttled: not written
    run.refresh_from_db()
    assert run.progress["step"] == 1
    assert writer(progress(3, True)) is True  # every evaluation is written
    run.refresh_from_db()
    assert (run.progress["step"], run.progress["val_cer"]) == (3, 0.5)
    training_run_cancel(run=run, user=admin)
    assert writer(progress(4, True)) is False
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.CANCELLED


@pytest.fixture
def no_eval_minimum(settings: Settings) -> None:
    settings.LINEPROOF_TRAIN_MIN_EVAL_LINES = 0


def test_a_verified_submit_past_the_threshold_requests_one_run(
    enqueued: list[tuple[str, tuple]],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
    no_eval_minimum: None,
) -> None:
    project = make_project(retrain_threshold=2)
    labeler = make_member(project)
    make_lines(project, 3)
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            line = line_claim(project=project, user=labeler)
            assert line is not None
            label_submit(line=line, user=labeler, text="kew", client_id=client_id())
            if _ == 0:
                assert not TrainingRun.objects.exists()
    run = TrainingRun.objects.get()
    assert (run.trigger, run.status) == (TrainingRun.Trigger.THRESHOLD, TrainingRun.Status.QUEUED)
    assert enqueued == [(EXECUTE, (run.pk,))]


def test_the_trigger_waits_for_eval_lines_and_after_a_failure(settings: Settings) -> None:
    settings.LINEPROOF_TRAIN_MIN_EVAL_LINES = 1
    project = make_project(retrain_threshold=1)
    admin = make_member(project, role=Membership.Role.ADMIN)
    (train_line, eval_line) = make_lines(project, 2)
    Line.objects.filter(pk=eval_line.pk).update(split=Line.Split.EVAL)
    verify([train_line], ["kew"], user=admin)
    assert not TrainingRun.objects.exists()  # threshold met, but nothing to evaluate on
    failed = TrainingRun.objects.create(project=project, status="failed", finished_at=timezone.now())
    verify([eval_line], ["gardens"], user=admin)
    assert list(TrainingRun.objects.all()) == [failed]  # failed a moment ago: not again yet
    TrainingRun.objects.filter(pk=failed.pk).update(finished_at=timezone.now() - timedelta(hours=1))
    run = training_run_request_if_due(project=project)
    assert run is not None
    assert run.trigger == TrainingRun.Trigger.THRESHOLD


@pytest.mark.django_db(transaction=True)
def test_two_submits_racing_past_the_threshold_request_exactly_one_run(
    enqueued: list[tuple[str, tuple]], no_eval_minimum: None
) -> None:
    project = make_project(retrain_threshold=2)
    labelers = [make_member(project) for _ in range(2)]
    make_lines(project, 2)
    held = [line_claim(project=project, user=user) for user in labelers]
    assert None not in held

    def submit(index: int) -> None:
        line = held[index]
        assert line is not None
        label_submit(line=line, user=labelers[index], text="kew", client_id=client_id())

    run_in_threads(submit, 2, timeout=60)
    run = TrainingRun.objects.get(project=project)
    assert enqueued == [(EXECUTE, (run.pk,))]


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_queue_one_run(enqueued: list[tuple[str, tuple]]) -> None:
    project = make_project()
    runs: list[int] = []
    run_in_threads(lambda _n: runs.append(training_run_request(project=project, trigger="manual").pk), 8, timeout=60)
    run = TrainingRun.objects.get(project=project)
    assert runs == [run.pk] * 8
    assert enqueued == [(EXECUTE, (run.pk,))]


def test_flagged_lines_are_never_training_or_evaluation_text() -> None:
    project = make_project(eval_share=0.5)
    admin = make_member(project, Membership.Role.ADMIN)
    lines = make_lines(project, 16)
    verify(lines, [f"line {n}" for n in range(16)], user=admin)
    by_split = {split: [line for line in lines if line.split == split] for split in ("train", "eval")}
    assert all(len(chosen) >= 2 for chosen in by_split.values())
    flagged = {by_split["train"][0].pk, by_split["eval"][0].pk}
    for line in lines:
        if line.pk in flagged:
            line_flag(line=line, user=admin, kind="second_look", client_id=client_id())

    for split, chosen in by_split.items():
        samples = line_samples_verified(project=project, split=split)
        assert [int(sample.id) for sample in samples] == [line.pk for line in chosen[1:]]
    assert verified_lines_since_last_model(project=project) == len(by_split["train"]) - 1
    assert eval_lines_labeled(project=project, at_most=100) == len(by_split["eval"]) - 1
