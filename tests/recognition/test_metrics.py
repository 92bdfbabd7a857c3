"""Tests for recognition.metrics: known answers for edit distance, CER, WER and SER."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import pytest

from recognition.metrics import cer, character_errors, edit_distance, ser, wer, word_errors

DECOMPOSED = "cafe\u0301"
PRECOMPOSED = "caf\u00e9"

Metric = Callable[[Sequence[str], Sequence[str]], float]


@pytest.mark.parametrize(
    ("reference", "hypothesis", "expected"),
    [
        ("kitten", "sitting", 3),
        ("sitting", "kitten", 3),
        ("flaw", "lawn", 2),
        ("", "", 0),
        ("abc", "", 3),
        ("", "abc", 3),
        ("abc", "abc", 0),
        ("abc", "abd", 1),
        ("abc", "xabc", 1),
        ("intention", "execution", 5),
        (["the", "cat"], ["the", "hat"], 1),
        ((1, 2, 3), (3, 2, 1), 2),
    ],
)
def test_edit_distance_known_answers(
    reference: Sequence[Hashable], hypothesis: Sequence[Hashable], expected: int
) -> None:
    assert edit_distance(reference, hypothesis) == expected


@pytest.mark.parametrize(
    ("references", "hypotheses", "expected"),
    [
        (["kitten"], ["sitting"], 3 / 6),
        (["abc"], ["abc"], 0.0),
        (["abc"], [""], 1.0),
        (["ab"], ["abcd"], 1.0),
        (["a"], ["bcd"], 3.0),
        (["Hello"], ["hello"], 1 / 5),
        (["Hello, world"], ["Hello world"], 1 / 12),
        (["a b"], ["a  b"], 1 / 3),
        ([], [], 0.0),
    ],
)
def test_cer_known_answers(references: list[str], hypotheses: list[str], expected: float) -> None:
    assert cer(references, hypotheses) == pytest.approx(expected)


def test_cer_on_a_corpus_is_total_edits_over_total_reference_characters() -> None:
    references = ["ab", "abcdefghij"]  # 2 and 10 characters
    hypotheses = ["xb", "abcdefghij"]  # 1 edit and 0 edits

    rate = cer(references, hypotheses)

    assert rate == pytest.approx(1 / 12)
    mean_of_line_rates = (1 / 2 + 0 / 10) / 2
    assert rate != pytest.approx(mean_of_line_rates)


@pytest.mark.parametrize(
    ("hypothesis", "expected"),
    [("", 0.0), ("x", 1.0), ("xyz", 1.0)],
)
def test_cer_with_an_empty_reference_is_zero_when_right_and_one_when_wrong(hypothesis: str, expected: float) -> None:
    assert cer([""], [hypothesis]) == expected


def test_cer_counts_an_empty_reference_line_in_a_corpus_by_its_edits() -> None:
    assert cer(["", "abcd"], ["xy", "abcd"]) == pytest.approx(2 / 4)


@pytest.mark.parametrize(
    ("references", "hypotheses", "expected"),
    [
        (["the cat sat"], ["the cat sat"], 0.0),
        (["the cat sat"], ["the hat sat"], 1 / 3),
        (["the cat sat"], ["the cat"], 1 / 3),
        (["the cat sat"], ["the cat sat down"], 1 / 3),
        (["The cat"], ["the cat"], 1 / 2),
        (["the cat."], ["the cat"], 1 / 2),
        (["the  cat "], ["the cat"], 0.0),
        (["a b", "c d e f"], ["a x", "c d e f"], 1 / 6),
        ([""], [""], 0.0),
        ([""], ["word"], 1.0),
    ],
)
def test_wer_known_answers(references: list[str], hypotheses: list[str], expected: float) -> None:
    assert wer(references, hypotheses) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("references", "hypotheses", "expected"),
    [
        (["a", "b", "c", "d"], ["a", "b", "c", "d"], 0.0),
        (["a", "b", "c", "d"], ["a", "x", "c", "d"], 1 / 4),
        (["a", "b"], ["A", "b."], 1.0),
        (["long line here", "x"], ["long line here!", "x"], 1 / 2),
        ([], [], 0.0),
    ],
)
def test_ser_known_answers(references: list[str], hypotheses: list[str], expected: float) -> None:
    assert ser(references, hypotheses) == pytest.approx(expected)


@pytest.mark.parametrize("metric", [cer, wer, ser])
def test_composed_and_decomposed_accents_are_equal(metric: Metric) -> None:
    assert metric([DECOMPOSED], [PRECOMPOSED]) == 0.0
    assert metric([PRECOMPOSED + " x"], [DECOMPOSED + " x"]) == 0.0


def test_line_error_counts_use_nfc() -> None:
    assert character_errors(DECOMPOSED, PRECOMPOSED) == 0
    assert word_errors(f"{DECOMPOSED} au lait", f"{PRECOMPOSED} au lait") == 0
    # A decomposed reference still counts as four characters, not five.
    assert cer([DECOMPOSED], ["cafe"]) == pytest.approx(1 / 4)


@pytest.mark.parametrize("metric", [cer, wer, ser])
def test_mismatched_lengths_raise_value_error(metric: Metric) -> None:
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        metric(["a", "b"], ["a"])
