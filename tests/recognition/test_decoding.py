"""Decoding on small hand-made probability matrices with known answers."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from recognition.codec import Codec
from recognition.decoding import (
    Decoded,
    beam_search,
    ctc_log_likelihood,
    decode_with_beam,
    forced_align,
    greedy_decode,
)
from recognition.lm import CharNGramLM, Lexicon

BLANK_CHAR = "-"


def matrix(codec: Codec, frames: list[dict[str, float]]) -> np.ndarray:
    """(T, C) log-probs from per-frame {char: prob}; '-' is the blank.

    Unlisted classes share the leftover mass equally, so rows stay normalised.
    """
    rows = []
    for frame in frames:
        row = np.zeros(codec.num_classes)
        for char, prob in frame.items():
            index = 0 if char == BLANK_CHAR else codec.alphabet.index(char) + 1
            row[index] = prob
        rest = 1.0 - row.sum()
        assert rest > -1e-9
        free = row == 0
        if free.any():
            row[free] = max(rest, 0.0) / free.sum()
        rows.append(np.log(np.maximum(row, 1e-30)))
    return np.array(rows)


def peaky(codec: Codec, path: str, peak: float = 0.9) -> np.ndarray:
    """One frame per path symbol, each putting ``peak`` on that symbol."""
    return matrix(codec, [{c: peak} for c in path])


@pytest.fixture
def codec() -> Codec:
    return Codec(tuple("abcot "))


def test_greedy_collapses_repeats_and_drops_blanks(codec: Codec) -> None:
    decoded = greedy_decode(peaky(codec, "aa-a"), codec)
    assert decoded.text == "aa"
    assert decoded.labels == (1, 1)


def test_greedy_spans_cover_each_characters_run(codec: Codec) -> None:
    decoded = greedy_decode(peaky(codec, "-bb--c-cc"), codec)
    assert decoded.text == "bcc"
    assert decoded.spans == ((1, 3), (5, 6), (7, 9))


def test_greedy_char_confidence_is_peak_probability_in_run(codec: Codec) -> None:
    log_probs = matrix(codec, [{"a": 0.6}, {"a": 0.95}, {"-": 0.9}, {"b": 0.7}])
    decoded = greedy_decode(log_probs, codec)
    assert decoded.text == "ab"
    assert decoded.char_confidences == pytest.approx((0.95, 0.7))


def test_greedy_line_confidence_is_labelling_probability(codec: Codec) -> None:
    log_probs = peaky(codec, "-ab-", peak=0.8)
    decoded = greedy_decode(log_probs, codec)
    assert decoded.confidence == pytest.approx(math.exp(ctc_log_likelihood(log_probs, [1, 2])))
    best_path = 0.8**4
    assert best_path < decoded.confidence <= 1.0


def test_greedy_of_empty_matrix_is_empty_and_certain(codec: Codec) -> None:
    decoded = greedy_decode(np.zeros((0, codec.num_classes)), codec)
    assert decoded == Decoded("", (), (), (), 1.0)


def test_greedy_rejects_wrong_class_count(codec: Codec) -> None:
    with pytest.raises(ValueError, match="classes"):
        greedy_decode(np.zeros((3, codec.num_classes + 1)), codec)


def test_beam_beats_best_path_when_mass_spreads_over_alignments() -> None:
    # Classic example: best path is "--" (0.36), but "a" collects a-, -a and
    # aa for 0.24 + 0.24 + 0.16 = 0.64.
    codec = Codec(("a",))
    log_probs = np.log(np.array([[0.6, 0.4], [0.6, 0.4]]))
    assert greedy_decode(log_probs, codec).text == ""
    hypotheses = beam_search(log_probs, codec, beam_width=4, min_char_prob=0.0)
    assert [h.text for h in hypotheses] == ["a", ""]
    assert math.exp(hypotheses[0].ctc_log_prob) == pytest.approx(0.64)
    assert math.exp(hypotheses[1].ctc_log_prob) == pytest.approx(0.36)
    assert decode_with_beam(log_probs, codec, beam_width=4).text == "a"


def test_beam_needs_blank_between_repeated_characters(codec: Codec) -> None:
    assert beam_search(peaky(codec, "aaa"), codec)[0].text == "a"
    assert beam_search(peaky(codec, "a-a"), codec)[0].text == "aa"
    assert beam_search(peaky(codec, "aa-aa"), codec)[0].text == "aa"


def test_beam_without_pruning_gives_exact_ctc_probabilities() -> None:
    # 5 frames over {a, b}: at most 63 prefixes, so a beam of 100 keeps them
    # all and each hypothesis sums every one of its alignments.
    codec = Codec(("a", "b"))
    rng = np.random.default_rng(0)
    log_probs = torch.log_softmax(torch.tensor(rng.normal(size=(5, 3))), 1).numpy()
    hypotheses = beam_search(log_probs, codec, beam_width=100, min_char_prob=0.0)
    scores = [h.score for h in hypotheses]
    assert scores == sorted(scores, reverse=True)
    for h in hypotheses:
        assert h.ctc_log_prob == pytest.approx(ctc_log_likelihood(log_probs, h.labels))
    total = sum(math.exp(h.ctc_log_prob) for h in hypotheses)
    assert total == pytest.approx(1.0)


def test_beam_with_lm_flips_close_call_to_in_domain_word(codec: Codec) -> None:
    # Middle frame slightly prefers "o": "cot" without the LM.
    log_probs = matrix(codec, [{"c": 0.9}, {"-": 0.9}, {"o": 0.5, "a": 0.45}, {"-": 0.9}, {"t": 0.9}])
    assert beam_search(log_probs, codec)[0].text == "cot"
    lm = CharNGramLM.fit(["cat", "a cat", "the cat", "cat cat"] * 5, order=3)
    best = beam_search(log_probs, codec, lm=lm, lm_weight=0.5)[0]
    assert best.text == "cat"
    assert best.lm_log_prob == pytest.approx(lm.score("cat"))


def test_lexicon_penalty_prefers_known_word_in_close_call(codec: Codec) -> None:
    log_probs = matrix(codec, [{"c": 0.9}, {"o": 0.5, "a": 0.45}, {"t": 0.9}, {" ": 0.9}])
    lexicon = Lexicon.from_words(["cat"])
    plain = beam_search(log_probs, codec)[0]
    assert plain.text == "cot "
    best = beam_search(log_probs, codec, lexicon=lexicon, lexicon_weight=1.0)[0]
    assert best.text == "cat "
    assert best.oov_words == 0


def test_lexicon_penalty_is_soft_for_confident_unknown_words(codec: Codec) -> None:
    log_probs = peaky(codec, "-b-o-b-", peak=0.99)
    best = beam_search(log_probs, codec, lexicon=Lexicon.from_words(["cat"]))[0]
    assert best.text == "bob"
    assert best.oov_words == 1
    assert best.score == pytest.approx(best.ctc_log_prob - 2.0)


def test_decode_with_beam_aligns_spans_and_confidences(codec: Codec) -> None:
    log_probs = matrix(codec, [{"-": 0.9}, {"b": 0.8}, {"b": 0.95}, {"-": 0.9}, {"b": 0.7}, {"-": 0.9}])
    decoded = decode_with_beam(log_probs, codec)
    assert decoded.text == "bb"
    assert decoded.spans == ((1, 3), (4, 5))
    assert decoded.char_confidences == pytest.approx((0.95, 0.7))
    assert decoded.confidence == pytest.approx(greedy_decode(log_probs, codec).confidence)


def test_forced_align_places_repeats_on_separate_runs(codec: Codec) -> None:
    log_probs = peaky(codec, "aa-a")
    spans, confidences = forced_align(log_probs, [1, 1])
    assert spans == ((0, 2), (3, 4))
    assert confidences == pytest.approx((0.9, 0.9))


def test_forced_align_rejects_labels_longer_than_frames(codec: Codec) -> None:
    with pytest.raises(ValueError, match="cannot be aligned"):
        forced_align(peaky(codec, "aa"), [1, 1])


def test_ctc_log_likelihood_matches_torch_ctc_loss() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        n_frames = int(rng.integers(1, 30))
        n_classes = int(rng.integers(2, 7))
        length = int(rng.integers(0, n_frames + 1))
        labels = rng.integers(1, n_classes, size=length)
        log_probs = torch.log_softmax(torch.tensor(rng.normal(size=(n_frames, n_classes)) * 3), 1)
        expected = torch.nn.functional.ctc_loss(
            log_probs[:, None],
            torch.tensor(labels)[None],
            torch.tensor([n_frames]),
            torch.tensor([length]),
            reduction="sum",
        ).item()
        actual = -ctc_log_likelihood(log_probs.numpy(), labels)
        if math.isinf(expected):
            assert math.isinf(actual)
        else:
            assert actual == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_wide_beam_finds_best_scoring_labelling_with_lm_lexicon_and_length_bonus() -> None:
    # Exhaustive check: with no pruning the search must return the labelling
    # that maximises ctc + w_lm * lm + bonus * length - w_lex * oov.
    codec = Codec(("a", "b", " "))
    lm = CharNGramLM.fit(["ab ba", "aa b", "b a b"], order=3)
    lexicon = Lexicon.from_words(["ab", "b"])
    rng = np.random.default_rng(5)
    for _ in range(5):
        log_probs = torch.log_softmax(torch.tensor(rng.normal(size=(5, 4)) * 2), 1).numpy()
        best = beam_search(
            log_probs,
            codec,
            beam_width=1000,
            lm=lm,
            lm_weight=0.7,
            length_bonus=0.3,
            lexicon=lexicon,
            lexicon_weight=2.0,
            min_char_prob=0.0,
        )[0]
        expected = max(
            (
                ctc_log_likelihood(log_probs, labels)
                + 0.7 * lm.score(codec.decode(labels))
                + 0.3 * len(labels)
                - 2.0 * sum(1 for w in codec.decode(labels).split() if not lexicon.contains(w)),
                codec.decode(labels),
            )
            for length in range(6)
            for labels in itertools.product((1, 2, 3), repeat=length)
        )
        assert best.score == pytest.approx(expected[0])
        assert best.text == expected[1]
