"""Line uncertainty scores: values on known matrices and their direction."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from recognition.codec import Codec
from recognition.decoding import Decoded, Hypothesis, beam_search, greedy_decode
from recognition.uncertainty import (
    PROB_FLOOR,
    UNCERTAINTY_SCORES,
    UncertaintyScores,
    beam_margin,
    ctc_nll,
    expected_edits,
    expected_errors,
    line_uncertainty,
    mean_log_prob,
    min_char_prob,
)


@pytest.fixture
def codec() -> Codec:
    return Codec(("a", "b"))


def frames(probs: list[list[float]]) -> np.ndarray:
    """(T, C) log-probs from rows of probabilities (blank, a, b)."""
    log_probs: np.ndarray = np.log(np.array(probs))
    return log_probs


def decoded_with(confidences: tuple[float, ...]) -> Decoded:
    n = len(confidences)
    return Decoded("a" * n, (1,) * n, confidences, tuple((i, i + 1) for i in range(n)), 0.5)


def test_mean_log_prob_is_negative_mean_log_confidence() -> None:
    assert mean_log_prob(decoded_with((0.5, 0.25))) == pytest.approx(-(math.log(0.5) + math.log(0.25)) / 2)
    assert mean_log_prob(decoded_with((1.0, 1.0))) == pytest.approx(0.0)


def test_min_char_prob_is_one_minus_weakest_character() -> None:
    assert min_char_prob(decoded_with((0.9, 0.6, 0.99))) == pytest.approx(0.4)


def test_empty_output_is_maximally_uncertain_for_character_scores() -> None:
    empty = decoded_with(())
    assert min_char_prob(empty) == 1.0
    assert mean_log_prob(empty) == pytest.approx(-math.log(PROB_FLOOR))


def test_expected_errors_sums_doubt_so_a_long_line_outranks_a_short_one_of_equal_doubt() -> None:
    unused = frames([[0.5, 0.25, 0.25]])
    assert expected_errors(decoded_with((0.9, 0.6, 1.0)), unused) == pytest.approx(0.5)
    short = decoded_with((0.8,) * 5)
    long = decoded_with((0.8,) * 40)
    assert mean_log_prob(short) == pytest.approx(mean_log_prob(long))
    assert expected_errors(long, unused) == pytest.approx(8 * expected_errors(short, unused))


def test_expected_errors_of_an_empty_reading_is_the_ink_it_dropped() -> None:
    faint = frames([[0.6, 0.3, 0.1], [0.7, 0.1, 0.2], [0.99, 0.005, 0.005]])
    assert expected_errors(decoded_with(()), faint) == pytest.approx(0.4 + 0.3 + 0.01)
    blank = frames([[1.0 - 2e-9, 1e-9, 1e-9]] * 3)
    assert expected_errors(decoded_with(()), blank) == pytest.approx(0.0, abs=1e-6)


def test_expected_edits_adds_the_characters_a_blank_reading_dropped(codec: Codec) -> None:
    # Frames: "a" sure, then two blank frames of which the second may hide a "b".
    log_probs = frames([[0.02, 0.96, 0.02], [0.98, 0.01, 0.01], [0.6, 0.0 + 1e-9, 0.4]])
    decoded = greedy_decode(log_probs, codec)
    assert decoded.text == "a"
    wrong = 1 - 0.96
    dropped = (1 - 0.98) * 0.02 + (1 - 0.6) * 0.98  # (1 - p_blank(t)) * p_blank(t - 1) over blank frames
    assert expected_edits(decoded, log_probs) == pytest.approx(wrong + dropped, rel=1e-6)
    assert expected_errors(decoded, log_probs) == pytest.approx(wrong, rel=1e-6)


def test_expected_edits_does_not_count_a_kept_characters_tail_again(codec: Codec) -> None:
    # "a" over two frames, then a blank frame still holding some of that "a": its mass follows a
    # non-blank frame, so it is not a new character.
    log_probs = frames([[0.02, 0.96, 0.02], [0.55, 0.44, 0.01]])
    decoded = greedy_decode(log_probs, codec)
    assert expected_edits(decoded, log_probs) == pytest.approx((1 - 0.96) + 0.45 * 0.02, rel=1e-6)


def test_ctc_nll_matches_torch_and_is_length_normalised() -> None:
    rng = np.random.default_rng(3)
    for length in (0, 1, 4):
        log_probs = torch.log_softmax(torch.tensor(rng.normal(size=(12, 5))), 1)
        labels = rng.integers(1, 5, size=length)
        expected = torch.nn.functional.ctc_loss(
            log_probs[:, None],
            torch.tensor(labels)[None],
            torch.tensor([12]),
            torch.tensor([length]),
            reduction="sum",
        ).item()
        actual = ctc_nll(log_probs.numpy(), labels.tolist())
        assert actual == pytest.approx(expected / max(1, length), rel=1e-9)


def test_beam_margin_is_runner_up_probability_ratio() -> None:
    hypotheses = [
        Hypothesis("a", (1,), math.log(0.6), 0.0),
        Hypothesis("", (), math.log(0.3), 0.0),
    ]
    assert beam_margin(hypotheses) == pytest.approx(0.5)
    assert beam_margin(hypotheses[:1]) == 0.0
    assert beam_margin([]) == 0.0


def test_all_scores_rise_from_confident_to_ambiguous_line(codec: Codec) -> None:
    confident = frames([[0.02, 0.96, 0.02], [0.96, 0.02, 0.02], [0.02, 0.02, 0.96]])
    ambiguous = frames([[0.1, 0.5, 0.4], [0.8, 0.1, 0.1], [0.1, 0.4, 0.5]])
    low = line_uncertainty(confident, codec)
    high = line_uncertainty(ambiguous, codec)
    for name in UNCERTAINTY_SCORES:
        assert high.get(name) > low.get(name), name


def test_line_uncertainty_on_classic_example_flags_best_path_disagreement(
    codec: Codec,
) -> None:
    # Best path says "" while most mass is on "a": a close beam, a costly
    # labelling, and an empty output that must go to review.
    log_probs = frames([[0.6, 0.4, 0.0 + 1e-12], [0.6, 0.4, 1e-12]])
    scores = line_uncertainty(log_probs, codec)
    assert scores.min_char_prob == 1.0
    assert scores.ctc_nll == pytest.approx(-math.log(0.36))
    assert scores.beam_margin == pytest.approx(0.36 / 0.64, rel=1e-6)


def test_line_uncertainty_reuses_given_decoding_and_hypotheses(codec: Codec) -> None:
    log_probs = frames([[0.1, 0.8, 0.1], [0.7, 0.2, 0.1]])
    decoded = greedy_decode(log_probs, codec)
    hypotheses = beam_search(log_probs, codec)
    assert line_uncertainty(log_probs, codec, decoded=decoded, hypotheses=hypotheses) == line_uncertainty(
        log_probs, codec
    )


def test_registry_names_are_fields_and_to_dict_keys(codec: Codec) -> None:
    scores = line_uncertainty(frames([[0.1, 0.8, 0.1]]), codec)
    assert set(scores.to_dict()) == set(UNCERTAINTY_SCORES)
    assert set(UNCERTAINTY_SCORES) == set(UncertaintyScores.__dataclass_fields__)
    for name in UNCERTAINTY_SCORES:
        assert scores.get(name) == scores.to_dict()[name]
    with pytest.raises(KeyError):
        scores.get("entropy")
