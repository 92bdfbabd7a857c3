"""Recognition metrics as pure functions on raw text.

CER is the character edit distance over the number of reference characters,
WER the same over whitespace-separated words, and line error rate (SER) the
share of lines that are not exactly right. Texts are NFC-normalised first so
that composed and decomposed accents compare equal; nothing else is changed
(case, punctuation and spacing all count).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Hashable, Sequence


def edit_distance(reference: Sequence[Hashable], hypothesis: Sequence[Hashable]) -> int:
    """Levenshtein distance (unit costs) between two sequences."""
    if len(reference) < len(hypothesis):
        reference, hypothesis = hypothesis, reference
    previous = list(range(len(hypothesis) + 1))
    for i, ref_item in enumerate(reference, start=1):
        current = [i]
        for j, hyp_item in enumerate(hypothesis, start=1):
            current.append(
                min(
                    previous[j] + 1,
                    current[j - 1] + 1,
                    previous[j - 1] + (ref_item != hyp_item),
                )
            )
        previous = current
    return previous[-1]


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _check_pairs(references: Sequence[str], hypotheses: Sequence[str]) -> None:
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")


def character_errors(reference: str, hypothesis: str) -> int:
    return edit_distance(_nfc(reference), _nfc(hypothesis))


def word_errors(reference: str, hypothesis: str) -> int:
    return edit_distance(_nfc(reference).split(), _nfc(hypothesis).split())


def cer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Character error rate over a corpus: total edits / total reference characters."""
    _check_pairs(references, hypotheses)
    errors = sum(character_errors(r, h) for r, h in zip(references, hypotheses, strict=True))
    total = sum(len(_nfc(r)) for r in references)
    return errors / total if total else float(errors > 0)


def wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Word error rate over a corpus: total word edits / total reference words."""
    _check_pairs(references, hypotheses)
    errors = sum(word_errors(r, h) for r, h in zip(references, hypotheses, strict=True))
    total = sum(len(_nfc(r).split()) for r in references)
    return errors / total if total else float(errors > 0)


def ser(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Line (sequence) error rate: share of lines with at least one error."""
    _check_pairs(references, hypotheses)
    if not references:
        return 0.0
    wrong = sum(_nfc(r) != _nfc(h) for r, h in zip(references, hypotheses, strict=True))
    return wrong / len(references)
