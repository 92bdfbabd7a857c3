"""Which unlabeled lines a person should read next: one implementation for the app's queue and the simulation.

The app cannot select a batch at once: it stores one priority number per
line (``Line.uncertainty``, served highest first) and re-scores lines in
batches of a few hundred. So every strategy is expressed as
:func:`line_priorities` over any subset of lines (higher = label first), and
:func:`select_batch` is the top-k of those same priorities, so the queue and
the simulation rank alike.

Strategies (:data:`STRATEGIES`, a stable public list: the app stores the name):

* ``random``: uniform priorities; the baseline every other strategy must beat.
* ``mean_log_prob``, ``min_char_prob``, ``ctc_nll``, ``beam_margin``,
  ``expected_errors``, ``expected_edits``: the uncertainty scores of
  :mod:`recognition.uncertainty` as they are (the last two not normalised by
  length; ``expected_edits`` is the keystroke-aware one: the edits a labeler
  is expected to make, dropped characters included).
* ``disagreement``: MC dropout. ``mc_samples`` extra stochastic passes
  (dropout on, BatchNorm frozen) read each line again; the score is the mean
  normalised edit distance between those readings and the deterministic one,
  in [0, 1]. Ties (common: many lines read the same every time) are broken
  by ``mean_log_prob``, squashed so it never outweighs one disagreeing
  character.
* ``diversity``: uncertainty-weighted k-center greedy on the model's own line
  embeddings (mean-pooled BiLSTM outputs). Lines are picked one by one, each
  time the one maximising ``u_i * min(1, d_i / s)``: ``u`` the line's
  :data:`DIVERSITY_BASE` score, ``d_i`` its cosine distance to the closest
  line already picked and ``s`` the median pairwise distance in the subset.
  Near-duplicates of a picked line lose priority in proportion to how close
  they are; a line as far away as a typical pair keeps its full uncertainty,
  so priorities stay in the base score's units and comparable across the
  app's re-scoring batches.
  The priority of a line is its gain when picked; gains never rise along the
  greedy order (distances to the picked set only shrink), so sorting the
  priorities reproduces the greedy batch.

* ``near_duplicate_cap``: ``expected_errors`` order, but at most
  :data:`NEAR_DUPLICATE_CAP` lines of a batch within
  :data:`NEAR_DUPLICATE_RADIUS` (a share of the subset's median pairwise
  cosine distance) of each other: walking the order, a line with that many
  accepted lines already that close is deferred (priority times
  :data:`DEFERRED_WEIGHT`, so it comes after the lines kept). Unlike
  ``diversity`` it leaves the order alone until a line really repeats.

The app's re-scoring batch calls :func:`pool_scores` (one model pass; MC
dropout passes only for ``disagreement``, embeddings only for ``diversity``
and ``near_duplicate_cap``),
stores the predictions, then :func:`line_priorities` as ``Line.uncertainty``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from recognition.metrics import edit_distance

if TYPE_CHECKING:
    from recognition.infer import LineReading, Recognizer

__all__ = [
    "DEFAULT_STRATEGY",
    "DIVERSITY_BASE",
    "MC_SAMPLES",
    "NEAR_DUPLICATE_CAP",
    "NEAR_DUPLICATE_RADIUS",
    "STRATEGIES",
    "PoolScores",
    "diversity_order",
    "line_priorities",
    "mc_disagreement",
    "near_duplicate_order",
    "pool_scores",
    "select_batch",
    "strategy_needs",
]

# Name -> one-line description. Stable: the app stores the name per project.
STRATEGIES: dict[str, str] = {
    "random": "uniformly random order (the baseline)",
    "mean_log_prob": "least confidence: negative mean log character confidence",
    "min_char_prob": "1 - probability of the least confident character",
    "ctc_nll": "CTC negative log-likelihood of the best-path text, per character",
    "beam_margin": "probability of the runner-up beam hypothesis relative to the best",
    "expected_errors": "expected number of wrong characters on the line (sum of 1 - character confidence)",
    "disagreement": "MC dropout: how much stochastic re-readings differ from the reading",
    "diversity": "expected_errors, discounted for lines close to a more uncertain one (k-center greedy on embeddings)",
    "expected_edits": "keystroke-aware: expected edit operations to the truth (wrong characters plus dropped ones)",
    "near_duplicate_cap": "expected_errors, with at most a few near-duplicate lines (embeddings) per batch",
}
# What the queue uses unless a project picks another, chosen by keystrokes
# (benchmarks/ACTIVE_LEARNING.md: from the shipped base, app-sized training
# runs, hooker, 1 seed, 1 round of 50). No strategy reached random's CER with
# fewer keystrokes than random: uncertainty picks longer, worse-read lines
# (expected_errors 26 edits a line against random's 18), so each label buys
# more CER but costs more typing. beam_margin came closest (about 105% of
# random's keystrokes, 93% of its labels; expected_errors 127% and 87%), so it
# stays; one seed and one round cannot justify switching the default to
# random. Earlier, from weak models (ACTIVE_LEARNING_SYNTHETIC.md,
# ACTIVE_LEARNING_SCRATCH.md), it was within the seed spread of the best by labels.
DEFAULT_STRATEGY = "beam_margin"
# The uncertainty diversity discounts: a length-aware one. On ctc_nll (per
# character) it picked 19 characters per line against the pool's 29 and
# ended at 45.1% CER; on expected_errors, 34 characters and 42.2%.
DIVERSITY_BASE = "expected_errors"
MC_SAMPLES = 4
# near_duplicate_cap: "near" is closer than this share of the median pairwise
# cosine distance of the scored lines; at most this many such lines per batch.
# On 400 hooker lines read by the base, 0.4 is about the closest 5% of pairs:
# it changes 9 of expected_errors' top 50 (0.25 changed none, 0.5 changed 20).
NEAR_DUPLICATE_RADIUS = 0.4
NEAR_DUPLICATE_CAP = 2
DEFERRED_WEIGHT = 1e-3
_UNCERTAINTY = ("mean_log_prob", "min_char_prob", "ctc_nll", "beam_margin", "expected_errors", "expected_edits")
_EMBEDDING_STRATEGIES = ("diversity", "near_duplicate_cap")


def _vector(values: ArrayLike, name: str) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must have shape (N,), got {array.shape}")
    # A score that is NaN or infinite (an impossible labelling) ranks as
    # the most uncertain finite value: such a line needs a human.
    bad = ~np.isfinite(array)
    if bad.any():
        array = array.copy()
        array[bad] = np.max(array[~bad], initial=0.0) + 1.0
    return array


@dataclass(frozen=True)
class PoolScores:
    """Per-line scores of N pool lines; every array is (N,) except ``embeddings`` (N, D).

    All uncertainty scores are "higher = more uncertain". ``confidence`` is
    the raw line confidence p(labels | x), ``calibrated`` the calibrated
    probability that the line is right (when the model has a calibration).
    """

    mean_log_prob: NDArray[np.float64]
    min_char_prob: NDArray[np.float64]
    ctc_nll: NDArray[np.float64]
    beam_margin: NDArray[np.float64]
    expected_errors: NDArray[np.float64]
    confidence: NDArray[np.float64]
    expected_edits: NDArray[np.float64] | None = None
    disagreement: NDArray[np.float64] | None = None
    embeddings: NDArray[np.float32] | None = None
    calibrated: NDArray[np.float64] | None = None

    def __post_init__(self) -> None:
        n = len(self.mean_log_prob)
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and len(value) != n:
                raise ValueError(f"PoolScores.{f.name} has {len(value)} rows, expected {n}")
        if self.embeddings is not None and self.embeddings.ndim != 2:
            raise ValueError(f"embeddings must have shape (N, D), got {self.embeddings.shape}")

    @classmethod
    def from_arrays(
        cls,
        *,
        mean_log_prob: ArrayLike,
        min_char_prob: ArrayLike,
        ctc_nll: ArrayLike,
        beam_margin: ArrayLike,
        expected_errors: ArrayLike,
        confidence: ArrayLike | None = None,
        expected_edits: ArrayLike | None = None,
        disagreement: ArrayLike | None = None,
        embeddings: ArrayLike | None = None,
        calibrated: ArrayLike | None = None,
    ) -> PoolScores:
        """Build from any array-likes; a missing ``confidence`` is taken as 0.5 everywhere."""
        base = _vector(mean_log_prob, "mean_log_prob")
        return cls(
            mean_log_prob=base,
            min_char_prob=_vector(min_char_prob, "min_char_prob"),
            ctc_nll=_vector(ctc_nll, "ctc_nll"),
            beam_margin=_vector(beam_margin, "beam_margin"),
            expected_errors=_vector(expected_errors, "expected_errors"),
            confidence=np.full(len(base), 0.5) if confidence is None else _vector(confidence, "confidence"),
            expected_edits=None if expected_edits is None else _vector(expected_edits, "expected_edits"),
            disagreement=None if disagreement is None else _vector(disagreement, "disagreement"),
            embeddings=None if embeddings is None else np.asarray(embeddings, dtype=np.float32),
            calibrated=None if calibrated is None else _vector(calibrated, "calibrated"),
        )

    @classmethod
    def from_predictions(
        cls,
        predictions: Sequence[LineReading],
        *,
        disagreement: ArrayLike | None = None,
        embeddings: ArrayLike | None = None,
        calibrated: ArrayLike | None = None,
    ) -> PoolScores:
        return cls.from_arrays(
            **{name: [p.uncertainty.get(name) for p in predictions] for name in _UNCERTAINTY},
            confidence=[p.confidence for p in predictions],
            disagreement=disagreement,
            embeddings=embeddings,
            calibrated=calibrated,
        )

    def __len__(self) -> int:
        return len(self.mean_log_prob)

    def score(self, name: str) -> NDArray[np.float64]:
        """The (N,) array of one uncertainty score (or ``disagreement``)."""
        if name not in (*_UNCERTAINTY, "disagreement"):  # expected_edits may be absent (older stored scores)
            raise KeyError(f"unknown score {name!r}")
        value = getattr(self, name)
        if value is None:
            raise ValueError(f"{name} was not computed for these lines (see strategy_needs)")
        return np.asarray(value)

    def subset(self, indices: ArrayLike) -> PoolScores:
        """The scores of ``indices`` (any integer index array), in that order."""
        index = np.asarray(indices, dtype=np.intp)
        picked: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            picked[f.name] = None if value is None else value[index]
        return PoolScores(**picked)

    def line_scores(self, i: int) -> dict[str, float]:
        """Line ``i``'s scalar scores as a JSON-safe dict (only the ones computed)."""
        out = {}
        for name in (*_UNCERTAINTY, "confidence", "disagreement", "calibrated"):  # absent ones skipped
            array = getattr(self, name)
            if array is not None:
                value = float(array[i])
                out[name] = value if math.isfinite(value) else 0.0
        return out


def strategy_needs(strategy: str) -> frozenset[str]:
    """Optional inputs ``strategy`` reads: ``"embeddings"``, ``"disagreement"`` or neither."""
    _check(strategy)
    if strategy in _EMBEDDING_STRATEGIES:
        return frozenset({"embeddings"})
    if strategy == "disagreement":
        return frozenset({"disagreement"})
    return frozenset()


def _check(strategy: str) -> None:
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown selection strategy {strategy!r}; known: {list(STRATEGIES)}")


TIE_TOLERANCE = 1e-6


def _unit_rows(embeddings: NDArray[np.floating[Any]]) -> NDArray[np.float64]:
    e = np.asarray(embeddings, dtype=np.float64)
    norms = np.linalg.norm(e, axis=1, keepdims=True)
    return np.asarray(e / np.where(norms > 0, norms, 1.0))


def _typical_distance(unit: NDArray[np.float64]) -> float:
    """Median cosine distance between two of the (N, D) unit rows: the unit of "close" in a subset.

    Every pair up to 200 lines; seeded sampled pairs above, so big subsets
    stay O(N) and the result stays deterministic.
    """
    n = unit.shape[0]
    if n <= 200:
        a, b = np.triu_indices(n, k=1)
    else:
        a, b = np.random.default_rng(0).integers(n, size=(2, 20000))
        a, b = a[a != b], b[a != b]
    pair = 1.0 - np.einsum("ij,ij->i", unit[a], unit[b])
    scale = float(np.median(pair)) if pair.size else 1.0
    return max(scale, 1e-9)


def near_duplicate_order(
    uncertainty: ArrayLike,
    embeddings: ArrayLike,
    *,
    cap: int = NEAR_DUPLICATE_CAP,
    radius: float = NEAR_DUPLICATE_RADIUS,
) -> NDArray[np.float64]:
    """(N,) priorities of ``near_duplicate_cap``: ``uncertainty``, deferred where a line repeats.

    ``uncertainty``: (N,) >= 0; ``embeddings``: (N, D). Lines are walked in
    descending uncertainty (ties to the lower index); a line that already has
    ``cap`` kept lines closer than ``radius`` times the median pairwise
    cosine distance is deferred: its priority is its uncertainty times
    :data:`DEFERRED_WEIGHT`; kept lines keep their uncertainty.
    """
    u = np.clip(_vector(uncertainty, "uncertainty"), 0.0, None)
    unit = _unit_rows(np.asarray(embeddings))
    n = len(u)
    if unit.shape[0] != n:
        raise ValueError(f"embeddings have {unit.shape[0]} rows, uncertainty {n}")
    if n == 0:
        return np.zeros(0)
    near = radius * _typical_distance(unit)
    close_kept = np.zeros(n, dtype=np.intp)  # kept lines within `near` of each line
    priorities = u.copy()
    for i in np.argsort(-u, kind="stable"):
        if close_kept[i] >= cap:
            priorities[i] = u[i] * DEFERRED_WEIGHT
            continue
        close_kept += (1.0 - unit @ unit[i]) < near
    return priorities


def diversity_order(
    uncertainty: ArrayLike, embeddings: ArrayLike, *, k: int | None = None
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Uncertainty-weighted k-center greedy: the pick order and each pick's gain.

    ``uncertainty``: (N,) >= 0; ``embeddings``: (N, D). Returns ``order`` (k,)
    indices and ``gains`` (k,), non-increasing: gain = ``u_i * min(1, d_i / s)``
    at the time of the pick (see the module docstring), ties going to the
    lowest index. ``k`` defaults to N (a full order).
    """
    u = np.clip(_vector(uncertainty, "uncertainty"), 0.0, None)
    unit = _unit_rows(np.asarray(embeddings))
    n = len(u)
    if unit.shape[0] != n:
        raise ValueError(f"embeddings have {unit.shape[0]} rows, uncertainty {n}")
    k = n if k is None else min(k, n)
    if n == 0 or k == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0)
    scale = _typical_distance(unit)
    closeness = np.ones(n)  # min(1, d_i / s); 1 before anything is picked
    picked = np.zeros(n, dtype=bool)
    order = np.empty(k, dtype=np.intp)
    gains = np.empty(k)
    for step in range(k):
        gain = np.where(picked, -np.inf, u * closeness)
        # Two copies of one line read in one batch can differ in the last bits
        # (thread count, position in the batch), so gains within TIE_TOLERANCE
        # of the best are ties, and ties go to the lowest index on any machine.
        top = float(gain.max())
        best = int(np.flatnonzero(gain >= top - TIE_TOLERANCE * max(1.0, abs(top)))[0])
        order[step], gains[step] = best, gain[best]
        picked[best] = True
        distance = np.clip(1.0 - unit @ unit[best], 0.0, None)
        closeness = np.minimum(closeness, np.minimum(1.0, distance / scale))
    return order, gains


def line_priorities(
    strategy: str, scores: PoolScores, *, rng: np.random.Generator | None = None
) -> NDArray[np.float64]:
    """(N,) priorities for ``scores``' lines under ``strategy``: higher = label first.

    Works on any subset of lines. ``rng`` drives ``random`` only (a fresh
    unseeded generator when None).
    """
    _check(strategy)
    n = len(scores)
    if strategy == "random":
        return (rng or np.random.default_rng()).random(n)
    if strategy in _UNCERTAINTY:
        return scores.score(strategy).copy()
    if strategy == "disagreement":
        # 1 - exp(-x) maps mean_log_prob into [0, 1); times 1e-3 it stays below
        # one character of disagreement (>= 1 / (MC_SAMPLES * line length)).
        tiebreak = 1e-3 * (1.0 - np.exp(-np.clip(scores.mean_log_prob, 0.0, None)))
        return scores.score("disagreement") + tiebreak
    if scores.embeddings is None:
        raise ValueError(f"{strategy} needs line embeddings (see strategy_needs)")
    if strategy == "near_duplicate_cap":
        return near_duplicate_order(scores.score("expected_errors"), scores.embeddings)
    order, gains = diversity_order(scores.score(DIVERSITY_BASE), scores.embeddings)
    priorities = np.empty(n)
    priorities[order] = gains
    return priorities


def select_batch(
    strategy: str, scores: PoolScores, k: int, *, rng: np.random.Generator | None = None
) -> NDArray[np.intp]:
    """Indices of the ``k`` lines to label next: the top-k of :func:`line_priorities`, best first.

    Equal priorities go to the lower index, which for ``diversity`` is exactly
    its greedy batch.
    """
    priorities = line_priorities(strategy, scores, rng=rng)
    return np.argsort(-priorities, kind="stable")[: max(0, k)].astype(np.intp)


def mc_disagreement(readings: Sequence[str], mc_readings: Sequence[Sequence[str]]) -> NDArray[np.float64]:
    """(N,) mean normalised edit distance of each line's MC readings to its reading, in [0, 1].

    Distance between two strings: edit distance over the longer length (0
    for two empty strings).
    """
    if len(readings) != len(mc_readings):
        raise ValueError("readings and mc_readings differ in length")
    out = np.zeros(len(readings))
    for i, (reading, samples) in enumerate(zip(readings, mc_readings, strict=True)):
        if not samples:
            continue
        total = 0.0
        for sample in samples:
            if sample != reading:
                total += edit_distance(reading, sample) / max(len(reading), len(sample), 1)
        out[i] = total / len(samples)
    return out


def pool_scores(
    recognizer: Recognizer,
    images: Sequence[np.ndarray],
    *,
    strategy: str = DEFAULT_STRATEGY,
    batch_size: int = 32,
    mc_samples: int = MC_SAMPLES,
    seed: int = 0,
) -> tuple[list[LineReading], PoolScores]:
    """Read (H, W) uint8 ``images`` once and score them for ``strategy``.

    Returns the per-line predictions (greedy text, confidence, character
    confidences and spans, the uncertainty scores: what the app stores)
    and their :class:`PoolScores`, with embeddings only for ``diversity``, MC
    dropout disagreement (``mc_samples`` passes, seeded by ``seed``) only for
    ``disagreement``, and calibrated confidences when the model has a
    calibration. Feed the scores to :func:`line_priorities`.
    """
    needs = strategy_needs(strategy)
    outputs = recognizer.outputs(
        images,
        batch_size=batch_size,
        embeddings="embeddings" in needs,
        mc_samples=mc_samples if "disagreement" in needs else 0,
        seed=seed,
    )
    predictions = recognizer.predictions(images, outputs.log_probs)
    disagreement = None
    if outputs.mc_texts is not None:
        disagreement = mc_disagreement([p.text for p in predictions], outputs.mc_texts)
    calibrated = None
    if recognizer.calibration is not None:
        calibrated = recognizer.calibration.apply(np.array([p.confidence for p in predictions]))
    scores = PoolScores.from_predictions(
        predictions, disagreement=disagreement, embeddings=outputs.embeddings, calibrated=calibrated
    )
    return predictions, scores
