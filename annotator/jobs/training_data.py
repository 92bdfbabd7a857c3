"""What a training run learns from and for how long: its lines and its TrainConfig.

A full run (``TrainingRun.Kind.FULL``) learns from every verified training
line with ``recognition.finetune.finetune_config``'s budget. An incremental
run learns from the lines verified since the active model's data snapshot
(``ModelVersion.created_at``: lines verified while that model trained count as
new) plus a replay sample of the older ones (``incremental_replay_lines``,
drawn with the run's seed), with ``incremental_config``'s small budget. Both
are judged on every verified evaluation line, so their CERs compare.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import datetime

from django.conf import settings

from annotator.models import Line, Project, TrainingRun, Transcription
from annotator.selectors import lines_verified
from annotator.services import TrainingError
from annotator.storage import storage_local_path
from recognition.data import LineSample
from recognition.finetune import finetune_config, incremental_config, incremental_replay_lines
from recognition.train import TrainConfig


@dataclass(frozen=True)
class TrainingData:
    train: list[LineSample]
    eval: list[LineSample]
    kind: str = TrainingRun.Kind.FULL
    # Incremental runs: how many of ``train`` (the first ones) were verified
    # since the active model's snapshot; the rest are replayed older lines.
    new_lines: int = 0

    @property
    def replay_lines(self) -> int:
        return len(self.train) - self.new_lines if self.kind == TrainingRun.Kind.INCREMENTAL else 0


def _samples_verified(*, project: Project, split: str) -> list[tuple[LineSample, datetime]]:
    """The verified lines of ``split`` as samples, each with the time its text was verified."""
    lines = lines_verified(project=project, split=split).select_related("current_transcription").order_by("id")
    if not project.train_on_model_accepted:
        lines = lines.exclude(current_transcription__source=Transcription.Source.MODEL_ACCEPTED)
    samples = []
    for line in lines:
        transcription = line.current_transcription
        if transcription is None:
            continue
        accepted = transcription.source == Transcription.Source.MODEL_ACCEPTED
        sample = LineSample(
            id=str(line.pk),
            text=transcription.text,
            path=storage_local_path(line.crop.name or ""),
            weight=project.model_accepted_weight if accepted else 1.0,
        )
        samples.append((sample, transcription.created_at))
    return samples


def line_samples_verified(*, project: Project, split: str) -> list[LineSample]:
    """What a training run learns from (``split="train"``) or is judged on (``"eval"``).

    Human-verified lines at weight 1; model-accepted ones only when the
    project opts in, at ``project.model_accepted_weight`` (they are the model's
    own readings: self-training, which should pull less than human truth).
    """
    return [sample for sample, _verified_at in _samples_verified(project=project, split=split)]


def training_data(
    *, project: Project, kind: str = TrainingRun.Kind.FULL, since: datetime | None = None, seed: int = 0
) -> TrainingData:
    """The lines of a run of ``kind`` (see the module docstring; ``since``: the
    active model's snapshot, for an incremental run), or TrainingError below
    the minimums or, for an incremental run, with no new line."""
    verified = _samples_verified(project=project, split=Line.Split.TRAIN)
    evaluation = line_samples_verified(project=project, split=Line.Split.EVAL)
    need_train, need_eval = settings.LINEPROOF_TRAIN_MIN_TRAIN_LINES, settings.LINEPROOF_TRAIN_MIN_EVAL_LINES
    if len(verified) < need_train or len(evaluation) < need_eval:
        raise TrainingError(
            f"Not enough verified lines to train: {len(verified)} training lines (need {need_train}) "
            f"and {len(evaluation)} evaluation lines (need {need_eval})."
        )
    if kind != TrainingRun.Kind.INCREMENTAL:
        return TrainingData(train=[sample for sample, _at in verified], eval=evaluation)
    if since is None:
        raise TrainingError("An incremental run needs an active trained model to start from.")
    new = [sample for sample, verified_at in verified if verified_at > since]
    old = [sample for sample, verified_at in verified if verified_at <= since]
    if not new:
        raise TrainingError("No training line was verified since the active model: nothing new to learn.")
    replay = random.Random(seed).sample(old, incremental_replay_lines(len(new), len(old)))
    return TrainingData(train=new + replay, eval=evaluation, kind=kind, new_lines=len(new))


def train_config(*, lines: int, fine_tune: bool, new_lines: int | None = None) -> TrainConfig:
    """A run's TrainConfig: its budget counts optimizer steps, with
    LINEPROOF_TRAIN_MAX_MINUTES only as a wall-clock ceiling, so a busy
    machine gives fewer runs rather than worse ones. Fine-tuning (the active
    model, a base included) follows ``recognition.finetune`` for ``lines``
    labeled lines, or, for an incremental run (``new_lines`` of the ``lines``
    new, the rest replayed), its incremental recipe; a first model from
    scratch gets LINEPROOF_TRAIN_MAX_STEPS. LINEPROOF_TRAIN_CONFIG overrides
    any field."""
    ceiling = settings.LINEPROOF_TRAIN_MAX_MINUTES
    if fine_tune and new_lines is not None:
        config = incremental_config(max(1, new_lines), max(0, lines - new_lines), max_minutes=ceiling)
    elif fine_tune:
        config = finetune_config(max(1, lines), max_minutes=ceiling)
    else:
        config = TrainConfig(max_steps=settings.LINEPROOF_TRAIN_MAX_STEPS, max_minutes=ceiling)
    return replace(config, **{"threads": settings.LINEPROOF_TRAIN_THREADS, **settings.LINEPROOF_TRAIN_CONFIG})
