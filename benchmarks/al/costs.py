"""Pure arithmetic of the simulation: what a label costs, and how much of it reaches a target CER.

* A labeler's cost for one line is not one unit: it is the keystrokes that
  turn the model's pre-filled reading into the truth, counted as the
  Levenshtein edit operations between the two (NFC) at the time the line was
  served (:func:`keystrokes`).
* A curve is CER after each round against cumulative labels and cumulative
  keystrokes; "labels (keystrokes) to reach" a target is where the mean curve
  first falls to it, linearly interpolated between rounds
  (:func:`x_to_reach`).
* Review time (:class:`ReviewTimeModel`): a line costs a fixed look-and-submit
  time, reading time per character and typing time per edit. It is a stated
  model, not a measurement: the app records seconds per label
  (``Label.seconds``) but no project has labeled enough to fit one yet.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recognition.metrics import character_errors

SELF = "+self"  # suffix of a self-training run's name


def keystrokes(truth: str, reading: str) -> int:
    """Edit operations (insert, delete, substitute; NFC) from ``reading`` to ``truth``."""
    return character_errors(truth, reading)


def normalised_auc(x: Sequence[float], values: Sequence[float]) -> float:
    """Trapezoid area under ``values`` over ``x`` divided by the x range (a mean CER)."""
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(values, dtype=np.float64)
    if len(xs) < 2 or xs[-1] == xs[0]:
        return float(ys.mean()) if len(ys) else math.nan
    return float(np.sum((ys[1:] + ys[:-1]) / 2 * np.diff(xs)) / (xs[-1] - xs[0]))


def x_to_reach(x: Sequence[float], values: Sequence[float], target: float) -> float | None:
    """``x`` (labels or keystrokes) at which the curve first falls to ``target``, interpolated; None if never."""
    for i, value in enumerate(values):
        if value <= target:
            if i == 0:
                return float(x[0])
            x0, x1, y0, y1 = x[i - 1], x[i], values[i - 1], values[i]
            return float(x0 + (x1 - x0) * (y0 - target) / (y0 - y1))
    return None


@dataclass
class Curve:
    """One (dataset, batch size, strategy, seed) job; lists have one entry per point (round 0 = the base)."""

    dataset: str
    batch: int
    strategy: str
    seed: int
    labels: list[int]  # cumulative labeled lines
    cer: list[float]  # test CER of the model after that many labels
    keystrokes: list[int]  # cumulative edits from the served reading to the truth
    characters: list[int]  # cumulative ground-truth characters of the picked lines
    steps: list[int] = field(default_factory=list)  # optimizer steps of each round's training run
    pseudo: list[int] = field(default_factory=list)  # pseudo-labeled lines each round trained on
    seconds: float = 0.0
    final_checkpoint: str = ""
    labeled_ids: list[str] = field(default_factory=list)
    # Round ("1", "2", ...) -> auto-accept of that round's model (benchmarks.al.simulation.auto_accept).
    auto_accept: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.auto_accept = dict(self.auto_accept or {})  # null in files written before it was per round

    @property
    def final_auto_accept(self) -> dict[str, Any] | None:
        return self.auto_accept.get(str(len(self.labels) - 1))


@dataclass
class Summary:
    """Mean over seeds of one (dataset, batch, strategy)."""

    dataset: str
    batch: int
    strategy: str
    seeds: int
    labels: list[int]
    mean_cer: list[float]
    std_cer: list[float]
    min_cer: list[float]
    max_cer: list[float]
    mean_keystrokes: list[float]
    auc: float
    labels_to_reach: float | None
    keystrokes_to_reach: float | None
    characters_per_line: float
    edits_per_line: float
    pseudo_per_round: float
    steps: list[float]


def summarise(curves: Sequence[Curve]) -> tuple[list[Summary], dict[str, float]]:
    """Per (dataset, batch, strategy) mean curves; targets = random's final mean CER per ``dataset/batch``.

    Seeds of one group must share their label points. Groups without random get no "to reach".
    """
    groups: dict[tuple[str, int, str], list[Curve]] = {}
    for curve in curves:
        groups.setdefault((curve.dataset, curve.batch, curve.strategy), []).append(curve)
    targets = {
        f"{d}/{b}": float(np.mean([c.cer[-1] for c in runs])) for (d, b, s), runs in groups.items() if s == "random"
    }
    out = []
    for (dataset, batch, strategy), runs in groups.items():
        labels = runs[0].labels
        if any(c.labels != labels for c in runs):
            raise ValueError(f"{dataset}/{batch}/{strategy}: seeds differ in their label points")
        values = np.array([c.cer for c in runs])  # (seeds, points)
        keys = np.array([c.keystrokes for c in runs], dtype=np.float64).mean(axis=0)  # (points,)
        mean = values.mean(axis=0)
        target = targets.get(f"{dataset}/{batch}")
        picked = labels[-1] - labels[0]
        out.append(
            Summary(
                dataset=dataset,
                batch=batch,
                strategy=strategy,
                seeds=len(runs),
                labels=list(labels),
                mean_cer=mean.tolist(),
                std_cer=values.std(axis=0).tolist(),
                min_cer=values.min(axis=0).tolist(),
                max_cer=values.max(axis=0).tolist(),
                mean_keystrokes=keys.tolist(),
                auc=normalised_auc(labels, mean.tolist()),
                labels_to_reach=None if target is None else x_to_reach(labels, mean.tolist(), target),
                keystrokes_to_reach=None if target is None else x_to_reach(keys.tolist(), mean.tolist(), target),
                characters_per_line=float(np.mean([c.characters[-1] for c in runs])) / picked if picked else math.nan,
                edits_per_line=float(keys[-1]) / picked if picked else math.nan,
                pseudo_per_round=float(np.mean([np.mean(c.pseudo) if c.pseudo else 0.0 for c in runs])),
                steps=np.array([c.steps for c in runs], dtype=np.float64).mean(axis=0).tolist(),
            )
        )
    return out, targets


@dataclass(frozen=True)
class ReviewTimeModel:
    """Seconds a person spends on one pre-filled line: look and submit, check each character, type each edit.

    Assumed, not measured (module docstring): 3 s to take in the line and
    submit, 0.1 s per character to check the reading against the image, 0.5 s
    per edit (find the spot, type). A line auto-accepted is not reviewed at all.
    """

    fixed_seconds: float = 3.0
    seconds_per_character: float = 0.1
    seconds_per_edit: float = 0.5

    def seconds(self, characters: int, edits: int) -> float:
        return self.fixed_seconds + self.seconds_per_character * characters + self.seconds_per_edit * edits

    def describe(self) -> str:
        return (
            f"{self.fixed_seconds:g} s per line + {self.seconds_per_character:g} s per character checked "
            f"+ {self.seconds_per_edit:g} s per edit typed"
        )


REVIEW_TIME = ReviewTimeModel()


def review_savings(
    accepted: Sequence[bool], truths: Sequence[str], readings: Sequence[str], model: ReviewTimeModel = REVIEW_TIME
) -> dict[str, float]:
    """Review time auto-accept saves on these lines under ``model``.

    ``saved_share``: modelled seconds of the accepted lines over those of all
    lines (the accepted ones are mostly right, so they are the cheap ones);
    ``median_seconds``: median modelled seconds of a line reviewed without
    auto-accept; ``hours_saved_per_1000``: accepted share x 1000 lines x
    that median, the simple estimate (lines not reviewed x median seconds).
    """
    if not (len(accepted) == len(truths) == len(readings)):
        raise ValueError("accepted, truths and readings differ in length")
    if not truths:
        return {"saved_share": 0.0, "median_seconds": math.nan, "hours_saved_per_1000": 0.0}
    seconds = np.array([model.seconds(len(t), keystrokes(t, r)) for t, r in zip(truths, readings, strict=True)])
    mask = np.asarray(accepted, dtype=bool)
    median = float(np.median(seconds))
    return {
        "saved_share": float(seconds[mask].sum() / seconds.sum()),
        "median_seconds": median,
        "hours_saved_per_1000": float(mask.mean()) * 1000 * median / 3600,
    }
