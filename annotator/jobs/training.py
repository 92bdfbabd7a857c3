"""The training job: claim a queued run, then train, judge, publish and promote.

``training_run_execute`` is safe to run twice: it only trains a run it moved
from queued to running itself. Its three steps are separate functions so each
can change alone:

- ``run_train``: what the model learns from and how (a fine-tune of the
  active model, which for a project's first run is its base model; a fresh
  model of the project's preset only for a project started from scratch),
  on the lines of the run's kind (``training_data``: every verified line, or
  for an incremental run the new ones and a replay sample), within a step
  budget under a wall-clock ceiling (``training_data.train_config``), with
  throttled progress on the run's row. The heartbeat comes from a thread of
  its own (``jobs.heartbeat``) through every step.
- ``judging.run_judge``: the candidate and the active model (a base model
  included) read the same verified eval lines; the candidate must have the
  lower CER.
- ``run_publish_and_promote``: the checkpoint goes to storage, the model
  version gets its metrics, and a better one is promoted through the service
  the web also uses (``model_version_promote``), in one transaction that
  re-checks the run is still running and the active model unchanged.

Any error marks the run failed with its text; the active model is only ever
changed by the promotion at the very end.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

from django.db import DatabaseError, transaction
from django.utils import timezone

from annotator.jobs.heartbeat import Heartbeat
from annotator.jobs.jsonsafe import json_safe
from annotator.jobs.judging import Judgement, run_judge
from annotator.jobs.recovery import training_run_recover_stale
from annotator.jobs.training_data import TrainingData, train_config, training_data
from annotator.models import ModelVersion, Project, TrainingRun
from annotator.selectors import project_active_model
from annotator.services import TrainingError, model_version_promote
from annotator.storage import storage_local_path, storage_publish, storage_work_dir
from recognition.checkpoint import load_checkpoint
from recognition.model import PRESETS, ModelConfig
from recognition.train import Progress, TrainResult, train

logger = logging.getLogger(__name__)

# The progress callback runs after every training step; it writes to the
# database at most this often (and after every evaluation).
PROGRESS_INTERVAL_SECONDS = 2.0


def training_run_execute(*, run: TrainingRun) -> TrainingRun:
    """The training job (see the module docstring). A run found running with a
    stale heartbeat (the job redelivered after its worker died) is recovered
    and retried as a new run."""
    run.refresh_from_db()
    if run.status == TrainingRun.Status.RUNNING:
        training_run_recover_stale(project=run.project)
    if not _claim(run):
        run.refresh_from_db()
        return run
    try:
        # Every phase (data, training, judging, publishing) under one heartbeat.
        with Heartbeat(partial(_run_touch, run.pk)):
            _train_judge_promote(run)
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
        parent = project_active_model(project=run.project)
        version = ModelVersion.objects.create(project_id=run.project_id, parent=parent, status="training")
        fields: dict[str, Any] = {"model_version": version}
        if run.kind == TrainingRun.Kind.INCREMENTAL and (parent is None or parent.base_name or not parent.checkpoint):
            # Nothing trained on this project's lines to warm-start from (the
            # base changed since the request): this run is a full one.
            fields["kind"] = TrainingRun.Kind.FULL
        TrainingRun.objects.filter(pk=run.pk).update(**fields)
    return True


def _train_judge_promote(run: TrainingRun) -> None:
    run.refresh_from_db()
    version = run.model_version
    assert version is not None  # set by _claim
    parent = version.parent
    data = training_data(
        project=run.project, kind=run.kind, since=parent.created_at if parent is not None else None, seed=run.pk
    )
    log = RunLog()
    result = run_train(run=run, version=version, data=data, log=log)
    last = TrainingRun.objects.values_list("progress", flat=True).get(pk=run.pk)
    if not _run_touch(run.pk, progress={**last, "phase": "evaluating"}, log=log.text):
        return  # cancelled, or declared dead and replaced: leave it to whoever changed it
    # The active model when the run started (``parent``): the one a promotion replaces.
    judgement = run_judge(
        project=run.project,
        candidate=result.best_checkpoint,
        active=_checkpoint_path(parent) if parent is not None and parent.checkpoint else None,
        eval_samples=data.eval,
    )
    log.add(judgement.summary)
    run_publish_and_promote(run=run, version=version, result=result, data=data, judgement=judgement, log=log)


# --- progress ----------------------------------------------------------------


class RunLog:
    """The run's human-readable log, written with every heartbeat that carries it."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def add(self, line: str) -> None:
        self.lines.append(line)


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


# --- the steps ---------------------------------------------------------------


def run_train(*, run: TrainingRun, version: ModelVersion, data: TrainingData, log: RunLog) -> TrainResult:
    """Train the candidate: a fine-tune of the active model when there is one
    (the base model, before the first trained one), else a new model of
    ``project.model_preset``."""
    project, parent = run.project, version.parent
    init = _checkpoint_path(parent) if parent is not None and parent.checkpoint else None
    model_config = None if init is not None else ModelConfig(num_classes=2, **PRESETS[project.model_preset])
    incremental = data.kind == TrainingRun.Kind.INCREMENTAL
    config = train_config(
        lines=len(data.train), fine_tune=init is not None, new_lines=data.new_lines if incremental else None
    )
    if parent is not None and init is not None:
        source = f"fine-tuning model {parent.pk}" + (f" (base model {parent.base_name})" if parent.base_name else "")
    else:
        source = f"new {project.model_preset} model"
    lines = f"{len(data.train)} training lines"
    if incremental:
        lines = f"incremental: {data.new_lines} new and {data.replay_lines} replayed training lines"
    log.add(
        f"{lines}, {len(data.eval)} evaluation lines; {source}; "
        f"at most {config.max_steps} steps and {config.max_minutes} minutes"
    )
    _run_touch(run.pk, log=log.text)
    result = train(
        data.train,
        data.eval,
        out_dir=storage_work_dir(str(_run_folder(run))),
        config=config,
        model_config=model_config,
        init=init,
        progress=_ProgressWriter(run.pk),
    )
    log.add(f"trained {result.steps} steps in {result.seconds:.0f} s, stopped: {result.stopped_because}")
    return result


def _run_folder(run: TrainingRun) -> Path:
    return Path("models") / str(run.project_id) / str(run.pk)


def run_publish_and_promote(
    *,
    run: TrainingRun,
    version: ModelVersion,
    result: TrainResult,
    data: TrainingData,
    judgement: Judgement,
    log: RunLog,
) -> None:
    """Store the checkpoint and the version's metrics, promote it if it is
    better, and finish the run, unless the run stopped running meanwhile."""
    project, parent = run.project, version.parent
    alphabet = load_checkpoint(result.best_checkpoint).codec.alphabet
    checkpoint_name = storage_publish(result.best_checkpoint, str(_run_folder(run) / result.best_checkpoint.name))
    better, decision = judgement.better, judgement.decision
    with transaction.atomic():
        locked = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if locked.status != TrainingRun.Status.RUNNING:
            return
        Project.objects.select_for_update().get(pk=project.pk)
        current = project_active_model(project=project)
        if (current.pk if current else None) != (parent.pk if parent else None):
            # Another model was promoted while this one trained: the comparison
            # was against the wrong model, so this one is not promoted.
            better, decision = False, "rejected"
            log.add("the active model changed during training: rejected")
        metrics = judgement.candidate_metrics
        ModelVersion.objects.filter(pk=version.pk).update(
            checkpoint=checkpoint_name,
            alphabet="".join(alphabet),
            cer=metrics["cer"],
            wer=metrics["wer"],
            ser=metrics["ser"],
            # The verified lines the model has learned from: an incremental
            # run adds its new lines to those of the model it started from.
            train_lines=data.new_lines + parent.train_lines
            if data.kind == TrainingRun.Kind.INCREMENTAL and parent is not None
            else len(data.train),
            status=ModelVersion.Status.CANDIDATE if better else ModelVersion.Status.REJECTED,
            **judgement.acceptance,
        )
        if parent is not None and parent.base_name and parent.cer is None and judgement.active_metrics is not None:
            # A base model has no metrics on this project's lines until a run
            # measures them: the first comparison's are kept for the models page.
            active = judgement.active_metrics
            ModelVersion.objects.filter(pk=parent.pk).update(cer=active["cer"], wer=active["wer"], ser=active["ser"])
        version.refresh_from_db()
        if better:
            model_version_promote(model_version=version)
        TrainingRun.objects.filter(pk=run.pk).update(
            status=TrainingRun.Status.SUCCEEDED,
            finished_at=timezone.now(),
            heartbeat_at=timezone.now(),
            log=log.text,
            progress={
                **locked.progress,
                "phase": "done",
                "decision": decision,
                "eval_lines": len(data.eval),
                "train_lines": len(data.train),
                "new_lines": data.new_lines,
                "metrics": metrics,
                "active_metrics": judgement.active_metrics,
            },
        )
