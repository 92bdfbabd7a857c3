"""Training runs, model versions and re-scoring: the worker side of active learning.

The life of a run::

    training_run_request     queued   (one in flight per project: a partial unique index)
    training_run_execute     running  (claimed by compare-and-set; heartbeats while it trains)
                             succeeded, with its ModelVersion promoted (better than the
                             active model on the fixed eval lines) or rejected (not better);
                             or failed (error text on the run, the active model untouched);
                             or cancelled (training_run_cancel, noticed within seconds)
    training_run_recover_stale   a running run whose heartbeat stopped lost its worker:
                             failed ("worker lost") and requeued as a new run, attempt + 1

After a promotion, ``scoring.predictions_refresh`` re-scores the unverified
lines batch by batch (see annotator/services/scoring.py).

PyTorch is imported inside the functions only the workers run: the web process
imports this module (label_submit's threshold trigger, the manual trigger) and
stays light.
"""

from __future__ import annotations

import logging
import math
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from annotator.models import Line, ModelVersion, Project, TrainingRun
from annotator.permissions import ADMIN_ROLES, AnyUser, membership_require, user_pk
from annotator.selectors import (
    line_samples_verified,
    lines_verified,
    project_active_model,
    verified_lines_since_last_model,
)
from annotator.storage import storage_local_path, storage_publish, storage_work_dir

if TYPE_CHECKING:
    from recognition.data import LineSample
    from recognition.infer import Prediction as Reading
    from recognition.infer import Recognizer
    from recognition.train import Progress

logger = logging.getLogger(__name__)

IN_FLIGHT = (TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING)
# The progress callback runs after every training step; it writes to the
# database at most this often (and after every evaluation).
PROGRESS_INTERVAL_SECONDS = 2.0


class TrainingError(Exception):
    """A run that cannot go on, with a message for the run's error field."""


# --- requesting runs ---------------------------------------------------------


def _enqueue_training(run: TrainingRun) -> None:
    from annotator import tasks

    tasks.training_run_execute.delay_on_commit(run.pk)


def training_run_request(*, project: Project, trigger: str, user: AnyUser | None = None) -> TrainingRun:
    """Queue a training run for ``project`` and enqueue its job once the
    transaction commits; if one is already queued or running, return that one
    instead (one run at a time: a second would train on the same labels).
    ``user``, when given, must be an admin of the project."""
    if user is not None:
        membership_require(project=project, user=user, roles=ADMIN_ROLES)
    # A run whose worker died would block every new request until it is
    # recovered, so recover first.
    training_run_recover_stale(project=project)
    for _attempt in range(3):
        try:
            with transaction.atomic():
                run = TrainingRun.objects.create(
                    project=project, trigger=trigger, requested_by_id=user_pk(user) if user is not None else None
                )
        except IntegrityError:
            # Race: two requests at once (two submits crossing the threshold
            # together, a click while beat fires) both found no run in flight.
            # The partial unique index trainingrun_one_in_flight admits one
            # INSERT; the other waits for it to commit, fails here and returns
            # the winner's run.
            existing = TrainingRun.objects.filter(project=project, status__in=IN_FLIGHT).first()
            if existing is not None:
                return existing
            continue  # the winner finished in between: try again
        _enqueue_training(run)
        return run
    raise TrainingError("Could not queue a training run; try again.")


def training_run_request_if_due(*, project: Project) -> TrainingRun | None:
    """The automatic trigger: a run when ``project.retrain_threshold`` training
    lines were verified since the last model started and none is in flight
    (a threshold of 0 turns it off). Called after every verified submit and by
    the periodic schedule check."""
    threshold = project.retrain_threshold
    runs = TrainingRun.objects.filter(project=project)
    if threshold <= 0 or runs.filter(status__in=IN_FLIGHT).exists():
        return None
    if verified_lines_since_last_model(project=project, at_most=threshold) < threshold:
        return None
    # A run that cannot succeed is not started again on every submit: not
    # while the eval lines it needs are missing, nor soon after a failure.
    need_eval = settings.LINEPROOF_TRAIN_MIN_EVAL_LINES
    verified_eval = lines_verified(project=project, split=Line.Split.EVAL)
    if verified_eval[:need_eval].count() < need_eval:
        return None
    backoff = timezone.now() - timedelta(seconds=settings.LINEPROOF_TRAIN_FAILURE_BACKOFF_SECONDS)
    if runs.filter(status=TrainingRun.Status.FAILED, finished_at__gt=backoff, retries__isnull=True).exists():
        return None
    return training_run_request(project=project, trigger=TrainingRun.Trigger.THRESHOLD)


def training_run_cancel(*, run: TrainingRun, user: AnyUser) -> TrainingRun:
    """Stop a queued or running run; the training loop notices within seconds."""
    membership_require(project=run.project_id, user=user, roles=ADMIN_ROLES)
    TrainingRun.objects.filter(pk=run.pk, status__in=IN_FLIGHT).update(
        status=TrainingRun.Status.CANCELLED, finished_at=timezone.now()
    )
    ModelVersion.objects.filter(training_runs=run, status=ModelVersion.Status.TRAINING).update(
        status=ModelVersion.Status.FAILED
    )
    return TrainingRun.objects.get(pk=run.pk)


def training_run_recover_stale(
    *, project: Project | None = None, now: datetime | None = None, stale_after: float | None = None
) -> list[TrainingRun]:
    """Runs left 'running' by a worker that died (SIGKILL, OOM, a lost machine):
    their heartbeat is older than ``stale_after`` seconds (default
    LINEPROOF_TRAIN_STALE_SECONDS; 0 when the caller knows no worker is alive,
    as the launcher does before it starts the only ones). Each is marked
    failed ("worker lost"), its model version failed (the active model was never
    touched: promotion is the last step of a run, in one transaction) and, below
    LINEPROOF_TRAIN_MAX_ATTEMPTS, a new queued run (attempt + 1) is enqueued.
    Returns the new runs. Called by new requests, by a redelivered job and by
    the periodic schedule check."""
    now = now or timezone.now()
    seconds = settings.LINEPROOF_TRAIN_STALE_SECONDS if stale_after is None else stale_after
    stale = TrainingRun.objects.filter(
        status=TrainingRun.Status.RUNNING, heartbeat_at__lte=now - timedelta(seconds=seconds)
    )
    if project is not None:
        stale = stale.filter(project=project)
    retries = []
    for dead in stale.order_by("id"):
        with transaction.atomic():
            # Race: the redelivered job, the periodic check and a new request
            # may all find the same dead run. The UPDATE re-tests status and the
            # heartbeat we read, so exactly one of them marks it failed and
            # queues the retry; a worker that was merely slow and heartbeats
            # meanwhile changes heartbeat_at and keeps its run.
            marked = TrainingRun.objects.filter(
                pk=dead.pk, status=TrainingRun.Status.RUNNING, heartbeat_at=dead.heartbeat_at
            ).update(
                status=TrainingRun.Status.FAILED,
                finished_at=now,
                error=f"worker lost: no heartbeat since {dead.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC "
                f"(attempt {dead.attempt} of {settings.LINEPROOF_TRAIN_MAX_ATTEMPTS})",
            )
            if not marked:
                continue
            ModelVersion.objects.filter(training_runs=dead, status=ModelVersion.Status.TRAINING).update(
                status=ModelVersion.Status.FAILED
            )
            if dead.attempt >= settings.LINEPROOF_TRAIN_MAX_ATTEMPTS:
                logger.warning("training run %s lost its worker %s times; giving up", dead.pk, dead.attempt)
                continue
            try:
                with transaction.atomic():
                    retry = TrainingRun.objects.create(
                        project_id=dead.project_id,
                        trigger=dead.trigger,
                        requested_by_id=dead.requested_by_id,
                        attempt=dead.attempt + 1,
                        retry_of=dead,
                    )
            except IntegrityError:
                continue  # someone queued a run for the project meanwhile: that one will train
            _enqueue_training(retry)
            retries.append(retry)
    return retries


# --- the training job --------------------------------------------------------


def json_safe(value: Any) -> Any:
    """JSON for PostgreSQL: NaN and infinities become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class _ProgressWriter:
    """The training loop's progress callback: writes progress and the heartbeat
    to the run's row (throttled) and stops the loop when the row is no longer
    'running' (cancelled, or declared dead and replaced)."""

    def __init__(self, run_id: int, interval: float = PROGRESS_INTERVAL_SECONDS) -> None:
        self.run_id = run_id
        self.interval = interval
        self.last_write = -math.inf

    def __call__(self, progress: Progress) -> bool:
        now = time.monotonic()
        if not progress.evaluated and now - self.last_write < self.interval:
            return True
        self.last_write = now
        report = {name: json_safe(value) for name, value in asdict(progress).items()}
        try:
            return _run_touch(self.run_id, progress={"phase": "training", **report})
        except DatabaseError:
            # A database blip must not throw away the training so far; the
            # final write re-checks the run (and fails loudly if it still can't).
            logger.warning("training run %s: progress not written", self.run_id, exc_info=True)
            return True


def _run_touch(run_id: int, **fields: Any) -> bool:
    """Heartbeat (and any other fields) on a running run; False if it is not running any more."""
    updated = TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.RUNNING).update(
        heartbeat_at=timezone.now(), **fields
    )
    return updated == 1


def _checkpoint_path(model_version: ModelVersion) -> Path:
    return storage_local_path(model_version.checkpoint)


def _train_config() -> Any:
    from recognition.train import TrainConfig

    values: dict[str, Any] = {
        "max_minutes": settings.LINEPROOF_TRAIN_MAX_MINUTES,
        "threads": settings.LINEPROOF_TRAIN_THREADS,
        **settings.LINEPROOF_TRAIN_CONFIG,
    }
    return TrainConfig(**values)


def _read(recognizer: Recognizer, samples: Sequence[LineSample]) -> tuple[dict[str, float], list[Reading]]:
    from recognition.metrics import cer, ser, wer

    texts = [sample.text for sample in samples]
    predictions = recognizer.predict([sample.load() for sample in samples])
    hypotheses = [prediction.text for prediction in predictions]
    metrics = {"cer": cer(texts, hypotheses), "wer": wer(texts, hypotheses), "ser": ser(texts, hypotheses)}
    return metrics, predictions


def _acceptance(
    recognizer: Recognizer, samples: Sequence[LineSample], predictions: Sequence[Reading], max_error: float
) -> dict[str, Any]:
    """The model's calibration and the auto-accept threshold that keeps the
    line error under ``max_error`` on the eval lines, with the share of them
    it accepts. The calibration was fitted on these same lines (the run's
    validation set), so the coverage is an optimistic estimate."""
    from recognition.calibration import auto_accept_threshold

    calibration = recognizer.calibration
    if calibration is None or not samples:
        return {"calibration": {}, "accept_threshold": None, "accept_coverage": None}
    calibrated = calibration.apply([prediction.confidence for prediction in predictions])
    correct = [
        unicodedata.normalize("NFC", p.text) == unicodedata.normalize("NFC", sample.text)
        for p, sample in zip(predictions, samples, strict=True)
    ]
    threshold, coverage = auto_accept_threshold(calibrated, correct, max_line_error=max_error)
    return {
        "calibration": json_safe_dict(calibration.to_dict()),
        "accept_threshold": threshold if math.isfinite(threshold) else None,
        "accept_coverage": coverage,
    }


def json_safe_dict(data: dict[str, Any]) -> dict[str, Any]:
    return {key: json_safe(value) for key, value in data.items()}


def _claim(run: TrainingRun) -> bool:
    now = timezone.now()
    with transaction.atomic():
        # Race: two workers executing the same run (a message redelivered after
        # acks_late, or delivered twice while the first worker still trains).
        # This compare-and-set moves queued -> running in one UPDATE; the
        # database orders the two UPDATEs on the row and the second re-tests
        # status = 'queued' against the committed row, updates nothing and
        # returns. Only the winner goes on to train.
        claimed = TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.QUEUED).update(
            status=TrainingRun.Status.RUNNING, started_at=now, heartbeat_at=now, progress={"phase": "starting"}
        )
        if not claimed:
            return False
        # The model version exists from the start: its created_at is the data
        # snapshot, so lines verified while this run trains count towards the next.
        version = ModelVersion.objects.create(
            project_id=run.project_id, parent=project_active_model(project=run.project), status="training"
        )
        TrainingRun.objects.filter(pk=run.pk).update(model_version=version)
    return True


def training_run_execute(*, run: TrainingRun) -> TrainingRun:
    """The training job. Safe to run twice: it only trains a run it moved from
    queued to running itself. A run found running with a stale heartbeat (the
    job redelivered after its worker died) is recovered and retried as a new run.
    Any error marks the run failed with the error text; the active model is
    only ever changed by the promotion at the very end."""
    run.refresh_from_db()
    if run.status == TrainingRun.Status.RUNNING:
        training_run_recover_stale(project=run.project)
    if not _claim(run):
        run.refresh_from_db()
        return run
    try:
        _train_and_judge(run)
    except Exception as error:
        logger.exception("training run %s failed", run.pk)
        message = str(error) if isinstance(error, TrainingError) else f"{type(error).__name__}: {error}"
        with transaction.atomic():
            TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.RUNNING).update(
                status=TrainingRun.Status.FAILED, error=message, finished_at=timezone.now()
            )
            ModelVersion.objects.filter(training_runs=run, status=ModelVersion.Status.TRAINING).update(
                status=ModelVersion.Status.FAILED
            )
    run.refresh_from_db()
    return run


def _train_and_judge(run: TrainingRun) -> None:
    from recognition.model import PRESETS, ModelConfig
    from recognition.train import train

    run.refresh_from_db()
    project, version = run.project, run.model_version
    assert version is not None  # set by _claim
    parent = version.parent
    train_samples = line_samples_verified(project=project, split=Line.Split.TRAIN)
    eval_samples = line_samples_verified(project=project, split=Line.Split.EVAL)
    need_train, need_eval = settings.LINEPROOF_TRAIN_MIN_TRAIN_LINES, settings.LINEPROOF_TRAIN_MIN_EVAL_LINES
    if len(train_samples) < need_train or len(eval_samples) < need_eval:
        raise TrainingError(
            f"Not enough verified lines to train: {len(train_samples)} training lines (need {need_train}) "
            f"and {len(eval_samples)} evaluation lines (need {need_eval})."
        )
    init = _checkpoint_path(parent) if parent is not None and parent.checkpoint else None
    model_config = None if init is not None else ModelConfig(num_classes=2, **PRESETS[project.model_preset])
    relative = Path("models") / str(project.pk) / str(run.pk)
    out_dir = storage_work_dir(str(relative))
    log = [
        f"{len(train_samples)} training lines, {len(eval_samples)} evaluation lines; "
        + (f"fine-tuning model {version.parent_id}" if init is not None else f"new {project.model_preset} model")
    ]
    _run_touch(run.pk, log="\n".join(log))
    result = train(
        train_samples,
        eval_samples,
        out_dir=out_dir,
        config=_train_config(),
        model_config=model_config,
        init=init,
        progress=_ProgressWriter(run.pk),
    )
    log.append(f"trained {result.steps} steps in {result.seconds:.0f} s, stopped: {result.stopped_because}")
    last = TrainingRun.objects.values_list("progress", flat=True).get(pk=run.pk)
    if not _run_touch(run.pk, progress={**last, "phase": "evaluating"}, log="\n".join(log)):
        return  # cancelled, or declared dead and replaced: leave it to whoever changed it

    # Both models read the same verified eval lines: the fixed split, so the
    # comparison is like for like.
    from recognition.infer import Recognizer

    threads = settings.LINEPROOF_TRAIN_THREADS
    recognizer = Recognizer.load(result.best_checkpoint, threads=threads)
    new_metrics, new_predictions = _read(recognizer, eval_samples)
    acceptance = _acceptance(recognizer, eval_samples, new_predictions, project.auto_accept_max_error)
    old_metrics = None
    if init is not None:
        old_metrics, _ = _read(Recognizer.load(init, threads=threads), eval_samples)
    better = old_metrics is None or new_metrics["cer"] < old_metrics["cer"]
    decision = "promoted" if better else "rejected"
    log.append(
        f"eval CER {new_metrics['cer']:.4f}"
        + (f" vs active {old_metrics['cer']:.4f}" if old_metrics is not None else " (first model)")
        + f": {decision}"
    )
    from recognition.checkpoint import load_checkpoint

    alphabet = load_checkpoint(result.best_checkpoint).codec.alphabet
    checkpoint_name = storage_publish(result.best_checkpoint, str(relative / result.best_checkpoint.name))

    with transaction.atomic():
        locked = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if locked.status != TrainingRun.Status.RUNNING:
            return
        Project.objects.select_for_update().get(pk=project.pk)
        current = project_active_model(project=project)
        if (current.pk if current else None) != (parent.pk if parent else None):
            # Another model was promoted while this one trained: the comparison
            # above was against the wrong model, so this one is not promoted.
            better, decision = False, "rejected"
            log.append("the active model changed during training: rejected")
        ModelVersion.objects.filter(pk=version.pk).update(
            checkpoint=checkpoint_name,
            alphabet="".join(alphabet),
            cer=new_metrics["cer"],
            wer=new_metrics["wer"],
            ser=new_metrics["ser"],
            train_lines=len(train_samples),
            status=ModelVersion.Status.CANDIDATE if better else ModelVersion.Status.REJECTED,
            **acceptance,
        )
        version.refresh_from_db()
        if better:
            model_version_promote(model_version=version)
        TrainingRun.objects.filter(pk=run.pk).update(
            status=TrainingRun.Status.SUCCEEDED,
            finished_at=timezone.now(),
            heartbeat_at=timezone.now(),
            log="\n".join(log),
            progress={
                **locked.progress,
                "phase": "done",
                "decision": decision,
                "eval_lines": len(eval_samples),
                "metrics": new_metrics,
                "active_metrics": old_metrics,
            },
        )


# --- promotion and re-scoring ------------------------------------------------


def model_version_promote(*, model_version: ModelVersion) -> ModelVersion:
    """Make ``model_version`` the project's active model (the previous one is
    retired) and enqueue the re-scoring of unverified lines on commit. Lines
    keep the old model's uncertainty until their batch is re-scored, so the
    queue never falls back to an unranked order in between."""
    with transaction.atomic():
        # Race: two promotions in one project at once would both retire "the"
        # active model and both set theirs active; locking the project row
        # orders them (and the partial unique index modelversion_one_active
        # would refuse the second anyway).
        Project.objects.select_for_update().get(pk=model_version.project_id)
        ModelVersion.objects.filter(project_id=model_version.project_id, status=ModelVersion.Status.ACTIVE).exclude(
            pk=model_version.pk
        ).update(status=ModelVersion.Status.RETIRED)
        ModelVersion.objects.filter(pk=model_version.pk).update(status=ModelVersion.Status.ACTIVE)
        model_version.refresh_from_db()

        from annotator import tasks

        tasks.predictions_refresh.delay_on_commit(model_version.pk)
    return model_version
