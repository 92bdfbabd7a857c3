"""Character n-gram language model and word lexicon for CTC beam search.

``CharNGramLM`` is an interpolated, modified Kneser-Ney model (Chen & Goodman
1998) over characters, trained on verified line transcriptions. Each line is
padded with ``order - 1`` start symbols and closed by an end symbol, so the
model knows which characters begin and end lines and the beam search can add
the probability of ending the line where the image ends.

The predicted vocabulary is the training characters plus ``EOS`` (end of line)
plus ``UNK`` (any character never seen in training). For every context the
probabilities over that vocabulary sum to one; an unseen character takes the
``UNK`` probability (so several distinct unseen characters share one bucket's
mass each, the usual open-vocabulary approximation).

``Lexicon`` is a plain word set used as a soft constraint by the beam search.

Both serialise to plain ``dict``/``list``/``str``/``int``/``float`` structures
so that they can live inside a torch checkpoint dict.
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from recognition.codec import normalize_text

BOS = "\x02"
EOS = "\x03"
UNK = "\x1a"
_SPECIAL = frozenset((BOS, EOS, UNK))

_FORMAT = "char_ngram_mkn"
_VERSION = 1
# Fallback discounts for orders whose count-of-counts are too sparse for the
# closed-form estimate (tiny corpora); 0.75 is the customary single discount.
_FALLBACK_DISCOUNTS = (0.75, 0.75, 0.75)
# A zero discount would leave no mass for lower orders, giving unseen
# characters probability 0 and letting the LM veto the recogniser outright.
_MIN_DISCOUNT = 0.1
_DEFAULT_CACHE_SIZE = 200_000


def _clean(text: str, *, strip: bool = True) -> str:
    # Training lines are normalised like labels (NFC, stripped); scored text is
    # only NFC-normalised, so a hypothesis is scored exactly as the beam saw it.
    text = normalize_text(text) if strip else unicodedata.normalize("NFC", text)
    return "".join(c for c in text if c not in _SPECIAL)


def _estimate_discounts(counts: Iterable[int]) -> tuple[float, float, float]:
    """Modified Kneser-Ney discounts D1, D2, D3+ from the count-of-counts n1..n4."""
    histogram = Counter(c for c in counts if c <= 4)
    n1, n2, n3, n4 = (histogram.get(k, 0) for k in (1, 2, 3, 4))
    if min(n1, n2, n3, n4) == 0:
        return _FALLBACK_DISCOUNTS
    y = n1 / (n1 + 2 * n2)
    raw = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    d1, d2, d3 = (min(max(d, _MIN_DISCOUNT), float(k)) for k, d in enumerate(raw, start=1))
    return (d1, d2, d3)


@dataclass
class _Context:
    """Follower statistics of one context at one order, as arrays over the vocabulary."""

    indices: NDArray[np.intp]
    discounted: NDArray[np.float64]  # (count - D(count)) / total, per follower
    backoff: float  # sum of D(count) / total: the mass handed to the lower order


class CharNGramLM:
    """Interpolated modified Kneser-Ney character n-gram model.

    ``log_prob(context, char)`` is the natural log of P(char | last
    ``order - 1`` characters of the line start padded with start symbols).
    ``char`` may be ``EOS`` (``CharNGramLM.EOS``) for the end of the line.

    Build with :meth:`fit`; restore with :meth:`from_dict`.
    """

    BOS = BOS
    EOS = EOS
    UNK = UNK

    def __init__(
        self,
        order: int,
        counts: list[dict[str, dict[str, int]]],
        discounts: list[tuple[float, float, float]],
        vocabulary: tuple[str, ...],
        *,
        cache_size: int = _DEFAULT_CACHE_SIZE,
    ) -> None:
        """Low-level constructor; prefer :meth:`fit` or :meth:`from_dict`.

        ``counts[k - 1]`` maps each context of length ``k - 1`` to its
        followers' (raw or continuation) counts at order ``k``.
        """
        if order < 1:
            raise ValueError("order must be at least 1")
        if len(counts) != order or len(discounts) != order:
            raise ValueError("need one count table and one discount triple per order")
        if EOS not in vocabulary or UNK not in vocabulary:
            raise ValueError("vocabulary must contain EOS and UNK")
        for triple in discounts:
            # D(c) <= c keeps every discounted count non-negative; D > 0 keeps
            # mass for the lower orders, so no character gets probability 0.
            if not all(0.0 < d <= k for k, d in enumerate(triple, start=1)):
                raise ValueError(f"discounts must satisfy 0 < D_k <= k, got {triple}")
        self.order = order
        self.vocabulary = vocabulary
        self._counts = counts
        self._discounts = discounts
        self._index = {c: i for i, c in enumerate(vocabulary)}
        self._unk = self._index[UNK]
        self._contexts: list[dict[str, _Context]] = [{} for _ in range(order)]
        self._cache: dict[str, NDArray[np.float64]] = {}
        self._cache_size = cache_size
        self._uniform = np.full(len(vocabulary), 1.0 / len(vocabulary))

    # ------------------------------------------------------------------ build

    @classmethod
    def fit(
        cls,
        texts: Iterable[str],
        order: int = 5,
        *,
        discounts: Iterable[tuple[float, float, float]] | None = None,
        cache_size: int = _DEFAULT_CACHE_SIZE,
    ) -> CharNGramLM:
        """Train on lines of verified text (NFC-normalised, stripped like labels).

        ``discounts`` overrides the per-order (D1, D2, D3+) estimates, lowest
        order first; by default they come from the count-of-counts.
        """
        if order < 1:
            raise ValueError("order must be at least 1")
        raw: list[Counter[str]] = [Counter() for _ in range(order)]
        chars: set[str] = set()
        pad = BOS * (order - 1)
        for text in texts:
            line = _clean(text)
            chars.update(line)
            padded = pad + line + EOS
            for i in range(order - 1, len(padded)):
                for k in range(1, order + 1):
                    raw[k - 1][padded[i - k + 1 : i + 1]] += 1

        # Kneser-Ney: below the top order a history's follower counts are the
        # number of distinct left extensions, because a lower order is only
        # consulted for contexts the higher one has not seen. N-grams that
        # begin with BOS cannot be extended to the left, so they keep raw
        # counts (as in KenLM); the choice is per context, so each context's
        # distribution still sums to one.
        adjusted: list[Counter[str]] = [Counter() for _ in range(order)]
        adjusted[order - 1] = raw[order - 1]
        for k in range(order - 1, 0, -1):
            table = adjusted[k - 1]
            for gram in raw[k]:
                if not gram[1:].startswith(BOS):
                    table[gram[1:]] += 1
            for gram, count in raw[k - 1].items():
                if gram.startswith(BOS):
                    table[gram] = count

        counts: list[dict[str, dict[str, int]]] = []
        for table in adjusted:
            by_context: dict[str, dict[str, int]] = defaultdict(dict)
            for gram, count in table.items():
                by_context[gram[:-1]][gram[-1]] = count
            counts.append(dict(by_context))

        if discounts is None:
            estimated = [_estimate_discounts(table.values()) for table in adjusted]
        else:
            estimated = [(float(a), float(b), float(c)) for a, b, c in discounts]
            if len(estimated) != order:
                raise ValueError("need one discount triple per order")
        vocabulary = (*sorted(chars), EOS, UNK)
        return cls(order, counts, estimated, vocabulary, cache_size=cache_size)

    # ----------------------------------------------------------------- query

    def index_of(self, char: str) -> int:
        """Position of ``char`` in :attr:`vocabulary` (the ``UNK`` slot if unseen)."""
        return self._index.get(char, self._unk)

    def _context(self, k: int, history: str) -> _Context | None:
        table = self._contexts[k - 1]
        found = table.get(history)
        if found is not None:
            return found
        followers = self._counts[k - 1].get(history)
        if not followers:
            return None
        d1, d2, d3 = self._discounts[k - 1]
        counts = np.fromiter(followers.values(), dtype=np.float64, count=len(followers))
        discount = np.where(counts >= 3, d3, np.where(counts >= 2, d2, d1))
        total = float(counts.sum())
        found = _Context(
            indices=np.fromiter(
                (self.index_of(c) for c in followers),
                dtype=np.intp,
                count=len(followers),
            ),
            discounted=(counts - discount) / total,
            backoff=float(discount.sum()) / total,
        )
        table[history] = found
        return found

    def log_prob_vector(self, context: str) -> NDArray[np.float64]:
        """Natural-log probabilities of every :attr:`vocabulary` entry after ``context``.

        ``context`` is the line so far (no start symbols); shape ``(V,)``.
        The returned array is cached and shared: do not modify it.
        """
        width = self.order - 1
        history = (BOS * width + context[max(0, len(context) - width) :])[-width:] if width else ""
        cached = self._cache.get(history)
        if cached is not None:
            return cached
        probs = self._uniform
        for k in range(1, self.order + 1):
            stats = self._context(k, history[len(history) - k + 1 :])
            if stats is None:
                # An unseen history carries no evidence at this order or above
                # (its extensions are unseen too), so the lower order stands.
                break
            probs = probs * stats.backoff
            probs[stats.indices] += stats.discounted
        # Every entry is positive: discounts are positive, so the uniform
        # base always gets a share of the backoff mass.
        result: NDArray[np.float64] = np.log(probs)
        result.flags.writeable = False
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[history] = result
        return result

    def log_prob(self, context: str, char: str) -> float:
        """ln P(char | context); ``char`` is one character or ``EOS``."""
        return float(self.log_prob_vector(context)[self.index_of(char)])

    def score(self, text: str, *, eos: bool = True) -> float:
        """ln P(text) as a whole line, including the end symbol when ``eos``.

        ``text`` is NFC-normalised but not stripped: leading or trailing
        spaces are scored, as the beam search scores them.
        """
        line = _clean(text, strip=False)
        total = sum(self.log_prob(line[:i], c) for i, c in enumerate(line))
        if eos:
            total += self.log_prob(line, EOS)
        return total

    def perplexity(self, texts: Iterable[str]) -> float:
        """Per-symbol perplexity (characters plus one end symbol per line)."""
        total = 0.0
        symbols = 0
        for text in texts:
            line = _clean(text)  # held-out lines are normalised like training lines
            total += self.score(line)
            symbols += len(line) + 1
        if symbols == 0:
            raise ValueError("perplexity of no text")
        return math.exp(-total / symbols)

    # --------------------------------------------------------- serialisation

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (str/int/float/list/dict only) for checkpoints."""
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "order": self.order,
            "vocabulary": list(self.vocabulary),
            "discounts": [list(d) for d in self._discounts],
            "counts": [{h: dict(f) for h, f in table.items()} for table in self._counts],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CharNGramLM:
        if data.get("format") != _FORMAT:
            raise ValueError(f"not a {_FORMAT} dict: format={data.get('format')!r}")
        if data.get("version") != _VERSION:
            raise ValueError(f"unsupported {_FORMAT} version {data.get('version')!r}")
        discounts = [(float(a), float(b), float(c)) for a, b, c in data["discounts"]]
        counts = [
            {str(h): {str(c): int(n) for c, n in f.items()} for h, f in table.items()} for table in data["counts"]
        ]
        return cls(int(data["order"]), counts, discounts, tuple(data["vocabulary"]))


def _strip_punctuation(word: str) -> str:
    start, end = 0, len(word)
    while start < end and unicodedata.category(word[start])[0] in "PS":
        start += 1
    while end > start and unicodedata.category(word[end - 1])[0] in "PS":
        end -= 1
    return word[start:end]


@dataclass(frozen=True)
class Lexicon:
    """A set of known words, matched after stripping edge punctuation.

    Words are compared case-insensitively (``casefold``) unless
    ``case_sensitive``, so a capitalised sentence start is not out of
    lexicon. Leading/trailing punctuation and symbols are ignored
    (``"word,"`` matches ``word``); a token that is nothing but punctuation
    counts as known, since it is not a word to check.
    """

    words: frozenset[str]
    case_sensitive: bool = False
    _keys: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = frozenset(k for k in (self._key(w) for w in self.words) if k)
        object.__setattr__(self, "_keys", keys)

    def _key(self, word: str) -> str:
        word = _strip_punctuation(unicodedata.normalize("NFC", word))
        return word if self.case_sensitive else word.casefold()

    @classmethod
    def from_words(cls, words: Iterable[str], *, case_sensitive: bool = False) -> Lexicon:
        return cls(frozenset(w for w in words if w.strip()), case_sensitive)

    @classmethod
    def from_texts(cls, texts: Iterable[str], *, min_count: int = 1, case_sensitive: bool = False) -> Lexicon:
        """Words (whitespace-separated) that occur at least ``min_count`` times."""
        counter: Counter[str] = Counter()
        for text in texts:
            counter.update(normalize_text(text).split())
        return cls.from_words(
            (w for w, n in counter.items() if n >= min_count),
            case_sensitive=case_sensitive,
        )

    @classmethod
    def from_file(cls, path: str | Path, *, encoding: str = "utf-8", case_sensitive: bool = False) -> Lexicon:
        """One word (or several, whitespace-separated) per line."""
        text = Path(path).read_text(encoding=encoding)
        return cls.from_words(text.split(), case_sensitive=case_sensitive)

    def contains(self, word: str) -> bool:
        key = self._key(word)
        return not key or key in self._keys

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self.contains(word)

    def __len__(self) -> int:
        return len(self._keys)

    def to_dict(self) -> dict[str, Any]:
        return {"words": sorted(self.words), "case_sensitive": self.case_sensitive}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Lexicon:
        return cls(frozenset(data["words"]), bool(data.get("case_sensitive", False)))
