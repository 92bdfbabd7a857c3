"""How far a line's confidence can be trusted, and when a line needs no human.

A line's raw confidence is ``p(labels | x)`` (:mod:`recognition.decoding`), the
model's own probability that the line reads exactly as output. A line is
*correct* when the prediction equals the ground truth after NFC. Networks
trained with CTC are over-confident, so the raw value is recalibrated on
held-out (validation) lines:

* ``platt``: ``p = sigmoid(a * logit(c) + b)``, a logistic regression on the
  logit of the raw confidence (two numbers; ``a`` acts like an inverse
  temperature on the line's log-odds, ``b`` moves the base rate);
* ``isotonic``: a monotone step function fitted by pool-adjacent-violators,
  interpolated between block centres;
* ``identity``: the raw confidence.

Why not a temperature on the log-probabilities: the app stores one confidence
number per line and must calibrate it without the (T, C) matrix; both maps
above work on that number. ``fit_calibration(method="auto")`` picks platt or
isotonic by cross-validated Brier score.

The reliability table and ECE use equal-width confidence bins; ECE is the
count-weighted mean of ``|accuracy - mean confidence|`` over the bins.
:func:`auto_accept_threshold` picks the lowest calibrated confidence at which
the lines accepted (confidence >= threshold) keep their line error under a
target; coverage is the share of lines accepted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "CALIBRATION_METHODS",
    "Calibration",
    "ReliabilityBin",
    "auto_accept_threshold",
    "expected_calibration_error",
    "fit_calibration",
    "reliability_table",
]

CALIBRATION_METHODS = ("identity", "platt", "isotonic")
# Raw confidences are clipped here before the logit: p(labels | x) of a long
# wrong line underflows to 0, and 1.0 is reachable in float32.
_EPS = 1e-7


def _arrays(confidence: ArrayLike, correct: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    conf = np.asarray(confidence, dtype=np.float64).reshape(-1)
    hit = np.asarray(correct, dtype=np.float64).reshape(-1)
    if conf.shape != hit.shape:
        raise ValueError(f"confidence {conf.shape} and correct {hit.shape} differ in length")
    if conf.size and (np.any(~np.isfinite(conf)) or conf.min() < 0 or conf.max() > 1):
        raise ValueError("confidences must be finite and within [0, 1]")
    return conf, hit


@dataclass(frozen=True)
class ReliabilityBin:
    """One equal-width confidence bin ``[lower, upper)`` (the last one closed)."""

    lower: float
    upper: float
    count: int
    mean_confidence: float
    accuracy: float

    def to_dict(self) -> dict[str, float | int]:
        return {
            "lower": self.lower,
            "upper": self.upper,
            "count": self.count,
            "mean_confidence": self.mean_confidence,
            "accuracy": self.accuracy,
        }


def reliability_table(confidence: ArrayLike, correct: ArrayLike, *, bins: int = 10) -> list[ReliabilityBin]:
    """``bins`` equal-width bins over [0, 1]: count, mean confidence, accuracy (NaN when empty).

    ``confidence``: (N,) in [0, 1]; ``correct``: (N,) booleans or 0/1.
    """
    conf, hit = _arrays(confidence, correct)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, bins - 1)
    table = []
    for b in range(bins):
        member = index == b
        count = int(member.sum())
        table.append(
            ReliabilityBin(
                lower=float(edges[b]),
                upper=float(edges[b + 1]),
                count=count,
                mean_confidence=float(conf[member].mean()) if count else math.nan,
                accuracy=float(hit[member].mean()) if count else math.nan,
            )
        )
    return table


def expected_calibration_error(confidence: ArrayLike, correct: ArrayLike, *, bins: int = 10) -> float:
    """Count-weighted mean ``|accuracy - mean confidence|`` over equal-width bins; 0.0 for no lines."""
    conf, _ = _arrays(confidence, correct)
    if conf.size == 0:
        return 0.0
    table = reliability_table(confidence, correct, bins=bins)
    return float(sum(b.count * abs(b.accuracy - b.mean_confidence) for b in table if b.count) / conf.size)


def _logit(conf: NDArray[np.float64]) -> NDArray[np.float64]:
    clipped = np.clip(conf, _EPS, 1 - _EPS)
    return np.asarray(np.log(clipped) - np.log1p(-clipped))


def _sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)))  # overflow-free form


def _fit_platt(conf: NDArray[np.float64], hit: NDArray[np.float64], *, l2: float = 1e-3) -> tuple[float, float]:
    """Logistic regression of ``hit`` on ``logit(conf)`` by Newton's method.

    The small L2 penalty keeps the slope finite when the two classes are
    separable (common with few correct lines), where the plain maximum
    likelihood runs off to infinity.
    """
    # Platt's smoothed targets: no probability of exactly 0 or 1 from a finite sample.
    positives, negatives = hit.sum(), hit.size - hit.sum()
    target = np.where(hit > 0.5, (positives + 1) / (positives + 2), 1 / (negatives + 2))
    if positives == 0 or negatives == 0:
        # One class only: nothing to regress on; the smoothed base rate everywhere.
        return 0.0, float(_logit(np.array([target.mean()]))[0])
    x = _logit(conf)
    design = np.stack([x, np.ones_like(x)], axis=1)  # (N, 2)

    def loss(params: NDArray[np.float64]) -> float:
        z = design @ params
        # log(1 + e^z) - target * z, stably; plus the penalty.
        return float(np.sum(np.logaddexp(0.0, z) - target * z) + 0.5 * l2 * params @ params)

    params = np.array([1.0, 0.0])
    current = loss(params)
    for _ in range(100):
        p = _sigmoid(design @ params)
        gradient = design.T @ (p - target) + l2 * params
        hessian = (design * (p * (1 - p))[:, None]).T @ design + l2 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        # Backtracking: a full Newton step can overshoot far from the optimum.
        scale = 1.0
        while scale > 1e-6 and loss(params - scale * step) > current:
            scale /= 2
        params = params - scale * step
        previous, current = current, loss(params)
        if previous - current < 1e-10:
            break
    return float(params[0]), float(params[1])


def _fit_isotonic(conf: NDArray[np.float64], hit: NDArray[np.float64]) -> tuple[list[float], list[float]]:
    """Pool-adjacent-violators on (conf, hit): block centres and block accuracies, both ascending."""
    order = np.argsort(conf, kind="stable")
    xs, ys = conf[order], hit[order]
    # Blocks as [sum_x, sum_y, count]; merge while a block's mean falls below its left neighbour's.
    blocks: list[list[float]] = []
    for x, y in zip(xs.tolist(), ys.tolist(), strict=True):
        blocks.append([x, y, 1.0])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][2] >= blocks[-1][1] / blocks[-1][2]:
            last = blocks.pop()
            blocks[-1] = [blocks[-1][0] + last[0], blocks[-1][1] + last[1], blocks[-1][2] + last[2]]
    return [b[0] / b[2] for b in blocks], [b[1] / b[2] for b in blocks]


@dataclass(frozen=True)
class Calibration:
    """A fitted map from raw line confidence to the probability that the line is right.

    Serialises to a plain, JSON-safe dict (``to_dict``/``from_dict``): stored
    in checkpoints under ``"calibration"`` and by the app per model version.
    """

    method: str = "identity"
    # platt: {"a": float, "b": float}; isotonic: {"x": [...], "y": [...]}
    # (ascending block centres and accuracies, linearly interpolated).
    params: dict[str, Any] = field(default_factory=dict)
    fitted_lines: int = 0
    fitted_accuracy: float = math.nan
    # ECE on the lines it was fitted on, before and after (in-sample).
    ece_before: float = math.nan
    ece_after: float = math.nan

    def __post_init__(self) -> None:
        if self.method not in CALIBRATION_METHODS:
            raise ValueError(f"unknown calibration method {self.method!r}; known: {CALIBRATION_METHODS}")

    @overload
    def apply(self, confidence: float) -> float: ...

    @overload
    def apply(self, confidence: NDArray[np.floating[Any]] | list[float]) -> NDArray[np.float64]: ...

    def apply(self, confidence: float | NDArray[np.floating[Any]] | list[float]) -> float | NDArray[np.float64]:
        """Calibrated probability for a raw confidence (a float, or an array of any shape)."""
        conf = np.clip(np.asarray(confidence, dtype=np.float64), 0.0, 1.0)
        if self.method == "platt":
            out = _sigmoid(self.params["a"] * _logit(conf) + self.params["b"])
        elif self.method == "isotonic":
            out = np.interp(conf, self.params["x"], self.params["y"])
        else:
            out = conf
        if isinstance(confidence, float | int):
            return float(out)
        return np.asarray(out, dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        def finite(value: float) -> float | None:
            return value if math.isfinite(value) else None

        return {
            "method": self.method,
            "params": {k: (list(v) if isinstance(v, list | tuple) else v) for k, v in self.params.items()},
            "fitted_lines": self.fitted_lines,
            "fitted_accuracy": finite(self.fitted_accuracy),
            "ece_before": finite(self.ece_before),
            "ece_after": finite(self.ece_after),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        def number(value: Any) -> float:
            return math.nan if value is None else float(value)

        return cls(
            method=str(data.get("method", "identity")),
            params=dict(data.get("params") or {}),
            fitted_lines=int(data.get("fitted_lines", 0)),
            fitted_accuracy=number(data.get("fitted_accuracy")),
            ece_before=number(data.get("ece_before")),
            ece_after=number(data.get("ece_after")),
        )


def _fit(method: str, conf: NDArray[np.float64], hit: NDArray[np.float64]) -> Calibration:
    if method == "platt":
        a, b = _fit_platt(conf, hit)
        return Calibration("platt", {"a": a, "b": b})
    if method == "isotonic":
        x, y = _fit_isotonic(conf, hit)
        return Calibration("isotonic", {"x": x, "y": y})
    return Calibration("identity")


def _cv_brier(method: str, conf: NDArray[np.float64], hit: NDArray[np.float64], folds: int, seed: int) -> float:
    fold = np.random.default_rng(seed).permutation(conf.size) % folds
    total = 0.0
    for k in range(folds):
        held = fold == k
        if held.all() or not held.any():
            continue
        calibration = _fit(method, conf[~held], hit[~held])
        total += float(((calibration.apply(conf[held]) - hit[held]) ** 2).sum())
    return total / conf.size


def fit_calibration(
    confidence: ArrayLike, correct: ArrayLike, *, method: str = "auto", bins: int = 10, seed: int = 0
) -> Calibration:
    """Fit a calibration on held-out lines: (N,) raw confidences and (N,) correctness.

    ``method``: ``platt``, ``isotonic``, ``identity`` or ``auto`` (platt or
    isotonic, whichever has the lower 5-fold cross-validated Brier score; platt
    below 50 lines, where isotonic steps overfit). No lines: identity.
    """
    conf, hit = _arrays(confidence, correct)
    if method not in (*CALIBRATION_METHODS, "auto"):
        raise ValueError(f"unknown calibration method {method!r}")
    if conf.size == 0:
        return Calibration("identity")
    if method == "auto":
        method = "platt"
        if conf.size >= 50 and _cv_brier("isotonic", conf, hit, 5, seed) < _cv_brier("platt", conf, hit, 5, seed):
            method = "isotonic"
    fitted = _fit(method, conf, hit)
    return Calibration(
        method=fitted.method,
        params=fitted.params,
        fitted_lines=int(conf.size),
        fitted_accuracy=float(hit.mean()),
        ece_before=expected_calibration_error(conf, hit, bins=bins),
        ece_after=expected_calibration_error(fitted.apply(conf), hit, bins=bins),
    )


def auto_accept_threshold(
    calibrated_conf: ArrayLike, correct: ArrayLike, *, max_line_error: float = 0.01
) -> tuple[float, float]:
    """``(threshold, coverage)``: the lowest threshold whose accepted lines keep the error <= target.

    A line is accepted when its calibrated confidence is ``>= threshold``;
    lines with equal confidence are accepted or refused together. Coverage is
    the share of the given lines accepted. When no threshold qualifies (or no
    lines are given) the threshold is ``inf`` and the coverage 0.0: accept
    nothing (store it as null in JSON).
    """
    conf, hit = _arrays(calibrated_conf, correct)
    if conf.size == 0:
        return math.inf, 0.0
    values, inverse = np.unique(conf, return_inverse=True)  # ascending distinct values
    wrong_at = np.bincount(inverse, weights=1.0 - hit, minlength=values.size)
    count_at = np.bincount(inverse, minlength=values.size).astype(np.float64)
    # Accepting every line at or above values[i]: suffix sums.
    wrong = np.cumsum(wrong_at[::-1])[::-1]
    count = np.cumsum(count_at[::-1])[::-1]
    ok = np.flatnonzero(wrong / count <= max_line_error + 1e-12)
    if ok.size == 0:
        return math.inf, 0.0
    first = int(ok[0])
    return float(values[first]), float(count[first] / conf.size)
