"""Line-level uncertainty scores for ordering the review queue.

Every score is oriented the same way: **higher means more uncertain**, so a
queue sorts by one score descending whichever score it uses. Scores are
computed from one line's log-probabilities ``(T, C)`` and its best-path
(greedy) decoding; ``beam_margin`` also runs a small beam search.

* ``mean_log_prob``: ``-mean(log char_confidence)`` over the output
  characters, with confidences as in :mod:`recognition.decoding` (each
  character's peak probability). In ``[0, -log(PROB_FLOOR)]``; 0 when every
  character is certain. Length-independent: an average, not a sum.
* ``min_char_prob``: ``1 - min(char_confidence)``, in ``[0, 1]``. Driven by
  the single weakest character, which is what a reviewer has to find.
* ``ctc_nll``: ``-log p(labels | x) / max(1, len(labels))``, the CTC
  negative log-likelihood of the best-path labelling summed over all
  alignments (forward algorithm), per character. Unlike the two above it
  also sees mass on alternative alignments, e.g. frames that might hold a
  character the best path dropped. In ``[0, inf)``; ``inf`` only if the
  labelling is impossible, which cannot happen for a best path.
* ``beam_margin``: ``exp(-(score_1 - score_2))`` for the two best beam
  hypotheses, i.e. the second-best labelling's probability relative to the
  best (with an LM, of their combined scores). In ``[0, 1]``: 1 is a tie,
  0 a clear winner.
* ``expected_errors``: ``sum(1 - char_confidence)`` over the output
  characters: the expected number of characters a labeler has to fix if each
  confidence were the probability of that character being right. Deliberately
  **not** length-normalised: a long doubtful line outranks a short one with
  the same per-character doubt, which is what a queue that pays per labeled
  line wants (the normalised scores above pick short lines and so buy fewer
  characters per label, see ``benchmarks/ACTIVE_LEARNING.md``). In
  ``[0, len(text)]``.
* ``expected_edits``: the keystroke-aware score, the expected number of edit
  operations from the reading to the truth: ``expected_errors`` (characters
  read wrong or read extra) plus the expected number of characters the
  reading dropped. A dropped character hides in the frames the best path
  reads as blank; each such frame ``t`` adds the probability that a
  character starts there, ``(1 - p_blank(t)) * p_blank(t - 1)`` (non-blank
  now, blank before, so the tail of a character the reading kept is not
  counted again). In ``[0, len(text) + T]``.

Edge cases, chosen so that suspicious lines rise in the queue and every
score stays finite and JSON-safe:

* Empty output (no characters) takes the maximum of the character-based
  scores: ``mean_log_prob = -log(PROB_FLOOR)`` and ``min_char_prob = 1``.
  A line crop that reads as nothing is either a segmentation error or text
  the model missed; both need a human.
* Empty output has ``expected_errors`` = the summed non-blank probability
  mass of the frames (text the reading dropped), so a blank reading of a
  line with visible ink still ranks as uncertain.
* A beam with a single hypothesis (the pruning left no alternative, which
  only happens when every competitor is negligible) has ``beam_margin = 0``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike

from recognition.codec import Codec
from recognition.decoding import (
    Decoded,
    Hypothesis,
    beam_search,
    ctc_log_likelihood,
    greedy_decode,
)
from recognition.lm import CharNGramLM

__all__ = [
    "PROB_FLOOR",
    "UNCERTAINTY_SCORES",
    "UncertaintyScores",
    "beam_margin",
    "ctc_nll",
    "expected_edits",
    "expected_errors",
    "line_uncertainty",
    "mean_log_prob",
    "min_char_prob",
]

# Confidences are clipped here before the log so that a float32 zero cannot
# make a score infinite; it also bounds mean_log_prob at about 27.6.
PROB_FLOOR = 1e-12
_MAX_NEG_LOG = -math.log(PROB_FLOOR)


def mean_log_prob(decoded: Decoded) -> float:
    """``-mean(log char_confidence)``; ``-log(PROB_FLOOR)`` for empty output."""
    if not decoded.char_confidences:
        return _MAX_NEG_LOG
    probs = np.clip(np.asarray(decoded.char_confidences, dtype=np.float64), PROB_FLOOR, 1.0)
    return float(-np.log(probs).mean())


def min_char_prob(decoded: Decoded) -> float:
    """``1 - min(char_confidence)``; 1.0 for empty output."""
    if not decoded.char_confidences:
        return 1.0
    return float(1.0 - min(decoded.char_confidences))


def ctc_nll(log_probs: ArrayLike, labels: Sequence[int]) -> float:
    """``-log p(labels | x) / max(1, len(labels))`` by the CTC forward algorithm.

    ``log_probs``: ``(T, C)`` natural-log probabilities; ``labels``: ``(L,)``.
    """
    return -ctc_log_likelihood(log_probs, labels) / max(1, len(labels))


def beam_margin(hypotheses: Sequence[Hypothesis]) -> float:
    """``exp(-(score_1 - score_2))`` of the two best hypotheses; 0.0 with fewer than two."""
    if len(hypotheses) < 2:
        return 0.0
    best, second = sorted((h.score for h in hypotheses), reverse=True)[:2]
    if second == -math.inf:
        return 0.0
    return float(math.exp(-(best - second)))


def expected_errors(decoded: Decoded, log_probs: ArrayLike) -> float:
    """``sum(1 - char_confidence)``; for empty output ``sum_t (1 - p_blank(t))``.

    ``log_probs``: ``(T, C)``, read only for empty output.
    """
    if decoded.char_confidences:
        return float(np.sum(1.0 - np.asarray(decoded.char_confidences, dtype=np.float64)))
    blank = np.exp(np.asarray(log_probs, dtype=np.float64)[:, 0])  # (T,)
    return float(np.sum(1.0 - blank))


def expected_edits(decoded: Decoded, log_probs: ArrayLike) -> float:
    """``sum(1 - char_confidence)`` plus the expected characters dropped in blank frames (module docstring).

    ``log_probs``: ``(T, C)``; ``decoded`` its greedy decoding.
    """
    blank = np.exp(np.asarray(log_probs, dtype=np.float64)[:, 0])  # (T,)
    if blank.size == 0:
        return 0.0
    read_blank = np.ones(blank.size, dtype=bool)
    for start, end in decoded.spans:
        read_blank[start:end] = False
    before = np.r_[1.0, blank[:-1]]  # p_blank(t - 1); "before the line" is blank
    dropped = float(np.sum(((1.0 - blank) * before)[read_blank]))
    wrong = float(np.sum(1.0 - np.asarray(decoded.char_confidences, dtype=np.float64)))
    return wrong + dropped


@dataclass(frozen=True)
class UncertaintyScores:
    """The scores of one line; higher = more uncertain for each."""

    mean_log_prob: float
    min_char_prob: float
    ctc_nll: float
    beam_margin: float
    expected_errors: float
    expected_edits: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    def get(self, name: str) -> float:
        """The score called ``name`` (a key of :data:`UNCERTAINTY_SCORES`)."""
        if name not in UNCERTAINTY_SCORES:
            raise KeyError(f"unknown uncertainty score {name!r}; known: {sorted(UNCERTAINTY_SCORES)}")
        return float(getattr(self, name))


# Name -> one-line description; each name is a field of UncertaintyScores, so
# ``scores.get(name)`` picks it. All are "higher = more uncertain".
UNCERTAINTY_SCORES: dict[str, str] = {
    "mean_log_prob": "negative mean log character confidence (least confidence)",
    "min_char_prob": "1 - probability of the least confident character",
    "ctc_nll": "CTC negative log-likelihood of the best-path text, per character",
    "beam_margin": "probability of the runner-up beam hypothesis relative to the best",
    "expected_errors": "expected number of wrong characters: sum of (1 - character confidence), not per character",
    "expected_edits": "expected edit operations to the truth: expected_errors plus the characters the reading dropped",
}


def line_uncertainty(
    log_probs: ArrayLike,
    codec: Codec,
    *,
    beam_width: int = 8,
    lm: CharNGramLM | None = None,
    lm_weight: float = 0.5,
    decoded: Decoded | None = None,
    hypotheses: Sequence[Hypothesis] | None = None,
) -> UncertaintyScores:
    """All uncertainty scores for one line.

    ``log_probs``: ``(T, C)``. ``decoded`` (default: :func:`greedy_decode`)
    is the output the character scores and ``ctc_nll`` judge; pass
    ``hypotheses`` to reuse a beam search already run, otherwise one of
    ``beam_width`` (with ``lm`` if given) is run for ``beam_margin``.
    """
    lp = np.asarray(log_probs, dtype=np.float64)
    if decoded is None:
        decoded = greedy_decode(lp, codec)
    if hypotheses is None:
        hypotheses = beam_search(lp, codec, beam_width=beam_width, lm=lm, lm_weight=lm_weight)
    return UncertaintyScores(
        mean_log_prob=mean_log_prob(decoded),
        min_char_prob=min_char_prob(decoded),
        ctc_nll=ctc_nll(lp, decoded.labels),
        beam_margin=beam_margin(hypotheses),
        expected_errors=expected_errors(decoded, lp),
        expected_edits=expected_edits(decoded, lp),
    )
