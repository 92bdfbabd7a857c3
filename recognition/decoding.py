"""CTC decoding: best path, prefix beam search, alignment and confidences.

All functions take one line's network output as natural-log probabilities
``log_probs`` of shape ``(T, C)``: ``T`` frames, ``C = codec.num_classes``
classes, class 0 (``BLANK``) being the CTC blank. Rows are assumed to be
log-softmax outputs (each row's ``exp`` sums to one).

Definitions used throughout:

* A character's *span* is the half-open frame range ``[start, end)`` of the
  run of frames that emitted it on the chosen alignment (the best path for
  :func:`greedy_decode`, the forced Viterbi alignment for
  :func:`decode_with_beam`).
* A character's *confidence* is the largest probability its label has on any
  frame of its span. CTC outputs are peaky, so a character is usually decided
  by one sharp frame; averaging over the run would punish long runs whose
  edge frames share mass with the blank, which says nothing about the
  character's identity.
* A line's *confidence* is ``p(labels | x)``, the CTC probability of the
  output labelling summed over all its alignments (forward algorithm). It is
  the model's own probability that the line reads exactly as output, so it is
  comparable across decoders; it is never below the best-path probability,
  and it falls with line length, as the chance of a whole line being right
  should. Per-character views of uncertainty live in
  :mod:`recognition.uncertainty`.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

import numpy as np
from numpy.typing import ArrayLike, NDArray

from recognition.codec import BLANK, Codec
from recognition.lm import CharNGramLM, Lexicon

__all__ = [
    "Decoded",
    "Hypothesis",
    "beam_search",
    "ctc_log_likelihood",
    "decode_with_beam",
    "forced_align",
    "greedy_decode",
]

_NEG_INF = -math.inf
# Default per-frame pruning for the beam: characters below this probability
# on a frame are not tried as extensions there. CTC output is peaky, so this
# leaves 1-3 candidates on most frames while losing no realistic hypothesis.
DEFAULT_MIN_CHAR_PROB = 1e-3
DEFAULT_MAX_CANDIDATES = 10
DEFAULT_LEXICON_WEIGHT = 2.0


@dataclass(frozen=True)
class Decoded:
    """One decoded line.

    ``labels``, ``char_confidences`` and ``spans`` have one entry per output
    character; ``spans`` are frame ranges ``[start, end)`` into the ``(T, C)``
    matrix. ``confidence`` is ``p(labels | x)`` (see module docstring).
    """

    text: str
    labels: tuple[int, ...]
    char_confidences: tuple[float, ...]
    spans: tuple[tuple[int, int], ...]
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "labels": list(self.labels),
            "char_confidences": list(self.char_confidences),
            "spans": [list(s) for s in self.spans],
            "confidence": self.confidence,
        }


@dataclass(frozen=True)
class Hypothesis:
    """One beam search result.

    ``score = ctc_log_prob + lm_weight * lm_log_prob + length_bonus * len(labels)
    - lexicon_weight * oov_words``. ``ctc_log_prob`` is ln p(labels | x) summed
    over the alignments the pruned search kept (a lower bound on the exact
    value); ``lm_log_prob`` includes the end-of-line symbol.
    """

    text: str
    labels: tuple[int, ...]
    score: float
    ctc_log_prob: float
    lm_log_prob: float = 0.0
    oov_words: int = 0


def _as_log_probs(log_probs: ArrayLike, codec: Codec | None = None) -> NDArray[np.float64]:
    array = np.asarray(log_probs, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"log_probs must have shape (T, C), got {array.shape}")
    if codec is not None and array.shape[1] != codec.num_classes:
        raise ValueError(f"log_probs has {array.shape[1]} classes but the codec has {codec.num_classes}")
    return array


def _extended(labels: NDArray[np.intp]) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
    """CTC state sequence ``(2L+1,)`` (blanks around every label) and its skip mask.

    ``skip[s]`` says state ``s`` may be entered from ``s - 2``: only label
    states whose label differs from the previous label, since between two
    equal labels the blank is mandatory.
    """
    states = np.zeros(2 * len(labels) + 1, dtype=np.intp)
    states[1::2] = labels
    skip = np.zeros(len(states), dtype=np.bool_)
    skip[3::2] = labels[1:] != labels[:-1]
    return states, skip


def _min_frames(labels: NDArray[np.intp]) -> int:
    return len(labels) + int(np.count_nonzero(labels[1:] == labels[:-1]))


def ctc_log_likelihood(log_probs: ArrayLike, labels: ArrayLike) -> float:
    """ln p(labels | x) by the CTC forward algorithm in log space.

    ``log_probs``: ``(T, C)``; ``labels``: ``(L,)`` non-blank labels. Returns
    ``-inf`` when no alignment fits (``T`` shorter than ``L`` plus the blanks
    that repeated labels need). Matches ``torch.nn.functional.ctc_loss``
    (negated, ``reduction='sum'``) for one sequence.
    """
    lp = _as_log_probs(log_probs)
    target = np.asarray(labels, dtype=np.intp).reshape(-1)
    if np.any(target == BLANK):
        raise ValueError("labels must not contain the blank")
    n_frames = lp.shape[0]
    if n_frames < _min_frames(target):
        return _NEG_INF
    if len(target) == 0:
        return float(lp[:, BLANK].sum())
    states, skip = _extended(target)
    emit = lp[:, states]  # (T, S): gathering once keeps the time loop to ufuncs
    n_states = len(states)
    # alpha lives at padded[2:]; the two -inf cells in front make "from s-1"
    # and "from s-2" plain views, and skip_mask (0 or -inf) bars s-2 moves.
    padded = np.full(n_states + 2, _NEG_INF)
    alpha = padded[2:]
    alpha[:2] = emit[0, :2]
    skip_mask = np.where(skip, 0.0, _NEG_INF)
    moved = np.empty(n_states)
    for t in range(1, n_frames):
        np.add(padded[:-2], skip_mask, out=moved)
        np.logaddexp(moved, padded[1:-1], out=moved)
        np.logaddexp(alpha, moved, out=alpha)
        alpha += emit[t]
    return float(np.logaddexp(alpha[-1], alpha[-2]))


def forced_align(log_probs: ArrayLike, labels: ArrayLike) -> tuple[tuple[tuple[int, int], ...], tuple[float, ...]]:
    """Spans and confidences of ``labels`` on their best (Viterbi) alignment.

    ``log_probs``: ``(T, C)``; ``labels``: ``(L,)``. Returns ``L`` frame
    ranges ``[start, end)`` and ``L`` probabilities (each label's largest
    probability within its span). Raises ``ValueError`` if no alignment fits.
    """
    lp = _as_log_probs(log_probs)
    target = np.asarray(labels, dtype=np.intp).reshape(-1)
    if len(target) == 0:
        return (), ()
    n_frames = lp.shape[0]
    if n_frames < _min_frames(target):
        raise ValueError(f"{len(target)} labels cannot be aligned to {n_frames} frames")
    states, skip = _extended(target)
    emit = lp[:, states]
    n_states = len(states)
    delta = np.full(n_states, _NEG_INF)
    delta[:2] = emit[0, :2]
    candidates = np.full((3, n_states), _NEG_INF)  # stay, from s-1, from s-2
    back = np.zeros((n_frames, n_states), dtype=np.int8)
    columns = np.arange(n_states)
    no_skip = ~skip
    for t in range(1, n_frames):
        candidates[0] = delta
        candidates[1, 1:] = delta[:-1]
        candidates[2, 2:] = delta[:-2]
        candidates[2, no_skip] = _NEG_INF
        step = candidates.argmax(axis=0)
        back[t] = step
        delta = candidates[step, columns] + emit[t]
    state = n_states - 1 if delta[-1] >= delta[-2] else n_states - 2
    path = np.empty(n_frames, dtype=np.intp)
    for t in range(n_frames - 1, -1, -1):
        path[t] = state
        state -= int(back[t, state])
    frames = np.flatnonzero(path % 2 == 1)
    which = path[frames] // 2  # label index, non-decreasing along the path
    starts = np.flatnonzero(np.r_[True, which[1:] != which[:-1]])
    ends = np.r_[starts[1:], len(frames)]
    best = np.maximum.reduceat(lp[frames, target[which]], starts)
    spans = tuple((int(frames[s]), int(frames[e - 1]) + 1) for s, e in zip(starts, ends, strict=True))
    return spans, tuple(float(p) for p in np.exp(best))


def greedy_decode(log_probs: ArrayLike, codec: Codec) -> Decoded:
    """Best-path decoding: per-frame argmax, merge repeated labels, drop blanks.

    ``log_probs``: ``(T, C)``. Spans are the argmax runs; a character's
    confidence is its label's largest probability over its run; the line's
    is ``p(labels | x)`` (module docstring). An empty matrix decodes to ``""``
    with confidence 1.
    """
    lp = _as_log_probs(log_probs, codec)
    n_frames = lp.shape[0]
    if n_frames == 0:
        return Decoded("", (), (), (), 1.0)
    best = lp.argmax(axis=1)
    starts = np.flatnonzero(np.r_[True, best[1:] != best[:-1]])
    ends = np.r_[starts[1:], n_frames]
    run_labels = best[starts]
    run_best = np.maximum.reduceat(lp[np.arange(n_frames), best], starts)
    keep = run_labels != BLANK
    labels = run_labels[keep]
    return Decoded(
        text=codec.decode(labels.tolist()),
        labels=tuple(labels.tolist()),
        char_confidences=tuple(np.exp(run_best[keep]).tolist()),
        spans=tuple(zip(starts[keep].tolist(), ends[keep].tolist(), strict=True)),
        confidence=math.exp(ctc_log_likelihood(lp, labels)),
    )


def _logaddexp(a: float, b: float) -> float:
    # Scalar version: np.logaddexp on Python floats costs ~1us, too much for
    # the inner loop of the beam search.
    if a < b:
        a, b = b, a
    if b == _NEG_INF:
        return a
    return a + math.log1p(math.exp(b - a))


class _Prefixes:
    """Trie of beam prefixes, so a prefix is an int and extending it is O(1).

    Per node it keeps what the scoring needs: the text (LM context), the
    current partial word (lexicon), the LM and out-of-lexicon totals, the
    node's score bonus (everything in the score but the CTC term), and a
    lazily filled LM log-prob row indexed by codec label.
    """

    def __init__(
        self,
        codec: Codec,
        lm: CharNGramLM | None,
        lexicon: Lexicon | None,
        *,
        lm_weight: float,
        length_bonus: float,
        lexicon_weight: float,
    ) -> None:
        self.codec = codec
        self.lm = lm
        self.lexicon = lexicon
        self.lm_weight = lm_weight
        self.length_bonus = length_bonus
        self.lexicon_weight = lexicon_weight
        self.parent: list[int] = [-1]
        self.label: list[int] = [BLANK]
        self.text: list[str] = [""]
        self.word: list[str] = [""]
        self.lm_total: list[float] = [0.0]
        self.oov: list[int] = [0]
        self.bonus: list[float] = [0.0]
        self.lm_row: list[list[float] | None] = [None]
        self.children: dict[tuple[int, int], int] = {}
        self.spaces = [False] + [c.isspace() for c in codec.alphabet]
        self._known: dict[str, bool] = {}
        if lm is not None:
            # Gather index from codec label to LM vocabulary slot.
            self.lm_columns = np.array(
                [lm.index_of(lm.EOS)] + [lm.index_of(c) for c in codec.alphabet],
                dtype=np.intp,
            )

    def row(self, node: int) -> list[float]:
        cached = self.lm_row[node]
        if cached is None:
            assert self.lm is not None
            vector = self.lm.log_prob_vector(self.text[node])
            cached = vector[self.lm_columns].tolist()
            self.lm_row[node] = cached
        return cached

    def known(self, word: str) -> bool:
        found = self._known.get(word)
        if found is None:
            found = self.lexicon is None or self.lexicon.contains(word)
            self._known[word] = found
        return found

    def _extension(self, node: int, label: int) -> tuple[float, int]:
        """LM total and out-of-lexicon count of ``node`` extended by ``label``."""
        lm_total = self.lm_total[node]
        if self.lm is not None:
            lm_total += self.row(node)[label]
        oov = self.oov[node]
        if self.spaces[label] and not self.known(self.word[node]):
            oov += 1
        return lm_total, oov

    def _bonus(self, lm_total: float, length: int, oov: int) -> float:
        return self.lm_weight * lm_total + self.length_bonus * length - self.lexicon_weight * oov

    def extension_base(self, node: int) -> tuple[float, float]:
        """What every child of ``node`` shares in its bonus (all but the LM term),
        and the extra cost of a whitespace child (it closes the current word)."""
        base = self._bonus(self.lm_total[node], len(self.text[node]) + 1, self.oov[node])
        return base, (0.0 if self.known(self.word[node]) else self.lexicon_weight)

    def child(self, node: int, label: int) -> int:
        key = (node, label)
        found = self.children.get(key)
        if found is not None:
            return found
        char = self.codec.alphabet[label - 1]
        lm_total, oov = self._extension(node, label)
        new = len(self.parent)
        self.parent.append(node)
        self.label.append(label)
        self.text.append(self.text[node] + char)
        self.word.append("" if self.spaces[label] else self.word[node] + char)
        self.lm_total.append(lm_total)
        self.oov.append(oov)
        self.bonus.append(self._bonus(lm_total, len(self.text[new]), oov))
        self.lm_row.append(None)
        self.children[key] = new
        return new

    def labels(self, node: int) -> tuple[int, ...]:
        out: list[int] = []
        while node > 0:
            out.append(self.label[node])
            node = self.parent[node]
        return tuple(reversed(out))


def _candidates(lp: NDArray[np.float64], min_char_prob: float, max_candidates: int) -> list[list[tuple[int, float]]]:
    """Per frame, the (label, log prob) pairs worth extending with, best first."""
    chars = lp[:, 1:]
    k = min(max_candidates, chars.shape[1])
    if k <= 0:
        return [[] for _ in range(lp.shape[0])]
    if k < chars.shape[1]:
        top = np.argpartition(-chars, k - 1, axis=1)[:, :k]
        values = np.take_along_axis(chars, top, axis=1)
    else:
        top = np.broadcast_to(np.arange(chars.shape[1]), chars.shape)
        values = chars
    order = np.argsort(-values, axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1) + 1
    values = np.take_along_axis(values, order, axis=1)
    threshold = math.log(min_char_prob) if min_char_prob > 0 else _NEG_INF
    keep = values >= threshold
    labels = [row[row_keep].tolist() for row, row_keep in zip(top, keep, strict=True)]
    logps = [row[row_keep].tolist() for row, row_keep in zip(values, keep, strict=True)]
    return [list(zip(a, b, strict=True)) for a, b in zip(labels, logps, strict=True)]


def beam_search(
    log_probs: ArrayLike,
    codec: Codec,
    *,
    beam_width: int = 16,
    lm: CharNGramLM | None = None,
    lm_weight: float = 0.5,
    length_bonus: float = 0.0,
    lexicon: Lexicon | None = None,
    lexicon_weight: float = DEFAULT_LEXICON_WEIGHT,
    min_char_prob: float = DEFAULT_MIN_CHAR_PROB,
    max_candidates: int = DEFAULT_MAX_CANDIDATES,
) -> list[Hypothesis]:
    """CTC prefix beam search; returns up to ``beam_width`` hypotheses, best first.

    ``log_probs``: ``(T, C)``. For every prefix the search tracks, in log
    space, the probability of its alignments ending in a blank and ending in
    its last label, so a repeated label only becomes a new character after a
    blank, and alignments that collapse to the same text are summed.

    Hypotheses are ranked by ``score`` (see :class:`Hypothesis`):

    * ``lm``: a character LM; every character adds ``lm_weight`` times its
      ln-probability, and the end-of-line probability is added at the end.
    * ``length_bonus``: added per character; offsets the LM's bias towards
      short outputs.
    * ``lexicon``: a soft word constraint. Each completed word (at a
      whitespace character, and the last word at the end) that the lexicon
      does not contain costs ``lexicon_weight`` (natural log units, so the
      default 2.0 is a factor e^-2 ~ 0.14). It reorders close calls towards
      known words without forbidding numbers, names and other out-of-lexicon
      words the recogniser is sure of.

    Pruning: on each frame only characters with probability at least
    ``min_char_prob``, at most ``max_candidates`` of them, start new
    characters; continuing a prefix's own last character is always allowed,
    so pruning never cuts a run short.
    """
    if beam_width < 1:
        raise ValueError("beam_width must be at least 1")
    lp = _as_log_probs(log_probs, codec)
    trie = _Prefixes(
        codec,
        lm,
        lexicon,
        lm_weight=lm_weight,
        length_bonus=length_bonus,
        lexicon_weight=lexicon_weight,
    )
    children = trie.children
    bonuses = trie.bonus
    spaces = trie.spaces
    # Without LM, length bonus or lexicon every bonus is 0 and ranking is by
    # CTC probability alone, so the bonus bookkeeping can be skipped.
    plain = lm is None and lexicon is None and length_bonus == 0.0

    # Beam entries map a prefix to [log p(alignments ending in blank),
    # log p(alignments ending in its last label), score bonus]. A prefix is a
    # trie node id or, for an extension not yet in the trie, a (parent,
    # label) pair: most extensions are pruned at once, so nodes are only made
    # for survivors.
    beams: dict[int, list[float]] = {0: [0.0, _NEG_INF, 0.0]}
    candidates = _candidates(lp, min_char_prob, max_candidates)
    base, space_cost = 0.0, 0.0
    lm_row: list[float] = []
    for frame, row_candidates in zip(lp.tolist(), candidates, strict=True):
        blank_lp = frame[BLANK]
        step: dict[int | tuple[int, int], list[float]] = {}
        for node, (p_blank, p_label, node_bonus) in beams.items():
            p_total = _logaddexp(p_blank, p_label)
            entry = step.get(node)
            if entry is None:
                entry = step[node] = [_NEG_INF, _NEG_INF, node_bonus]
            entry[0] = _logaddexp(entry[0], p_total + blank_lp)
            last = trie.label[node]  # BLANK for the empty prefix
            if last != BLANK:
                # Staying on the last label extends its run, not the text.
                entry[1] = _logaddexp(entry[1], p_label + frame[last])
            if not row_candidates:
                continue
            if not plain:
                base, space_cost = trie.extension_base(node)
                if lm is not None:
                    lm_row = trie.row(node)
            for label, label_lp in row_candidates:
                # After the same label only a blank-separated alignment makes
                # a new character; otherwise any alignment of the prefix does.
                p = (p_blank if label == last else p_total) + label_lp
                if p == _NEG_INF:
                    continue
                key: int | tuple[int, int] = children.get((node, label), (node, label))
                target = step.get(key)
                if target is not None:
                    target[1] = _logaddexp(target[1], p)
                elif plain:
                    step[key] = [_NEG_INF, p, 0.0]
                elif isinstance(key, int):
                    step[key] = [_NEG_INF, p, bonuses[key]]
                else:
                    bonus = base - space_cost if spaces[label] else base
                    if lm is not None:
                        bonus += lm_weight * lm_row[label]
                    step[key] = [_NEG_INF, p, bonus]
        items = list(step.items())
        if len(items) > beam_width:
            ranked = [(_logaddexp(e[0], e[1]) + e[2], i) for i, (_, e) in enumerate(items)]
            items = [items[i] for _, i in heapq.nlargest(beam_width, ranked)]
        beams = {(key if isinstance(key, int) else trie.child(*key)): entry for key, entry in items}

    results: list[Hypothesis] = []
    for node, (p_blank, p_label, _) in beams.items():
        ctc = _logaddexp(p_blank, p_label)
        lm_total = trie.lm_total[node]
        if lm is not None:
            lm_total += lm.log_prob(trie.text[node], lm.EOS)
        oov = trie.oov[node]
        if lexicon is not None and not lexicon.contains(trie.word[node]):
            oov += 1
        labels = trie.labels(node)
        score = ctc + lm_weight * lm_total + length_bonus * len(labels) - lexicon_weight * oov
        results.append(Hypothesis(trie.text[node], labels, score, ctc, lm_total, oov))
    results.sort(key=lambda h: h.score, reverse=True)
    return results


class BeamOptions(TypedDict, total=False):
    """The keyword options of :func:`beam_search`, passed on unchanged by :func:`decode_with_beam`."""

    beam_width: int
    lm: CharNGramLM | None
    lm_weight: float
    length_bonus: float
    lexicon: Lexicon | None
    lexicon_weight: float
    min_char_prob: float
    max_candidates: int


def decode_with_beam(log_probs: ArrayLike, codec: Codec, **options: Unpack[BeamOptions]) -> Decoded:
    """The best :func:`beam_search` hypothesis (same ``options``) as a :class:`Decoded`.

    ``log_probs``: ``(T, C)``. Spans and character confidences come from the
    forced Viterbi alignment of the chosen labels; the line confidence is the
    exact ``p(labels | x)`` (not the LM-weighted score), as for
    :func:`greedy_decode`.
    """
    lp = _as_log_probs(log_probs, codec)
    if lp.shape[0] == 0:
        return Decoded("", (), (), (), 1.0)
    best = beam_search(lp, codec, **options)[0]
    spans, confidences = forced_align(lp, best.labels)
    return Decoded(
        text=best.text,
        labels=best.labels,
        char_confidences=confidences,
        spans=spans,
        confidence=math.exp(ctc_log_likelihood(lp, best.labels)),
    )
