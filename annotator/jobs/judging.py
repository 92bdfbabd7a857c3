"""Judging a candidate model: it and the active model read the same verified
eval lines (the fixed split, so the comparison is like for like), and the
candidate is better only with the lower CER. Also the candidate's calibration
and auto-accept threshold, measured on those lines."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from annotator.jobs.jsonsafe import json_safe_dict
from annotator.models import Project
from recognition.calibration import auto_accept_threshold
from recognition.data import LineSample
from recognition.infer import LineReading, Recognizer
from recognition.metrics import cer, ser, wer

Metrics = dict[str, float]


@dataclass(frozen=True)
class Judgement:
    candidate_metrics: Metrics
    active_metrics: Metrics | None  # None: there is no active model to beat
    acceptance: dict[str, Any]  # ModelVersion's calibration, accept_threshold, accept_coverage

    @property
    def better(self) -> bool:
        return self.active_metrics is None or self.candidate_metrics["cer"] < self.active_metrics["cer"]

    @property
    def decision(self) -> str:
        return "promoted" if self.better else "rejected"

    @property
    def summary(self) -> str:
        against = (
            f" vs active {self.active_metrics['cer']:.4f}" if self.active_metrics is not None else " (first model)"
        )
        return f"eval CER {self.candidate_metrics['cer']:.4f}{against}: {self.decision}"


def run_judge(
    *, project: Project, candidate: Path, active: Path | None, eval_samples: Sequence[LineSample]
) -> Judgement:
    """Read ``eval_samples`` with the ``candidate`` checkpoint and the ``active`` one."""
    threads = settings.LINEPROOF_TRAIN_THREADS
    recognizer = Recognizer.load(candidate, threads=threads)
    candidate_metrics, readings = _read(recognizer, eval_samples)
    acceptance = _acceptance(recognizer, eval_samples, readings, project.auto_accept_max_error)
    active_metrics = None
    if active is not None:
        active_metrics, _ = _read(Recognizer.load(active, threads=threads), eval_samples)
    return Judgement(candidate_metrics=candidate_metrics, active_metrics=active_metrics, acceptance=acceptance)


def _read(recognizer: Recognizer, samples: Sequence[LineSample]) -> tuple[Metrics, list[LineReading]]:
    texts = [sample.text for sample in samples]
    readings = recognizer.predict([sample.load() for sample in samples])
    hypotheses = [reading.text for reading in readings]
    metrics = {"cer": cer(texts, hypotheses), "wer": wer(texts, hypotheses), "ser": ser(texts, hypotheses)}
    return metrics, readings


def _acceptance(
    recognizer: Recognizer, samples: Sequence[LineSample], readings: Sequence[LineReading], max_error: float
) -> dict[str, Any]:
    """The model's calibration and the auto-accept threshold that keeps the
    line error under ``max_error`` on the eval lines, with the share of them
    it accepts. The calibration was fitted on these same lines (the run's
    validation set), so the coverage is an optimistic estimate."""
    calibration = recognizer.calibration
    if calibration is None or not samples:
        return {"calibration": {}, "accept_threshold": None, "accept_coverage": None}
    calibrated = calibration.apply([reading.confidence for reading in readings])
    correct = [
        unicodedata.normalize("NFC", reading.text) == unicodedata.normalize("NFC", sample.text)
        for reading, sample in zip(readings, samples, strict=True)
    ]
    threshold, coverage = auto_accept_threshold(calibrated, correct, max_line_error=max_error)
    return {
        "calibration": json_safe_dict(calibration.to_dict()),
        "accept_threshold": threshold if math.isfinite(threshold) else None,
        "accept_coverage": coverage,
    }
