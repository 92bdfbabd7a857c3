"""Selection strategies on hand-made scores, and MC dropout / embeddings on tiny real models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from recognition.checkpoint import LoadedModel, load_checkpoint
from recognition.infer import Recognizer
from recognition.model import CRNN
from recognition.selection import (
    DEFERRED_WEIGHT,
    DIVERSITY_BASE,
    STRATEGIES,
    PoolScores,
    diversity_order,
    line_priorities,
    mc_disagreement,
    near_duplicate_order,
    pool_scores,
    select_batch,
    strategy_needs,
)

from .conftest import tiny_samples


def scores_for(uncertainty: list[float], *, embeddings: np.ndarray | None = None) -> PoolScores:
    """Every uncertainty score set to ``uncertainty`` (so each strategy ranks by it)."""
    return PoolScores.from_arrays(
        mean_log_prob=uncertainty,
        min_char_prob=uncertainty,
        ctc_nll=uncertainty,
        beam_margin=uncertainty,
        expected_errors=uncertainty,
        expected_edits=uncertainty,
        disagreement=uncertainty,
        embeddings=embeddings,
    )


def random_scores(n: int, seed: int) -> PoolScores:
    rng = np.random.default_rng(seed)
    return PoolScores.from_arrays(
        mean_log_prob=rng.random(n) * 3,
        min_char_prob=rng.random(n),
        ctc_nll=rng.random(n) * 2,
        beam_margin=rng.random(n),
        expected_errors=rng.random(n) * 5,
        expected_edits=rng.random(n) * 6,
        disagreement=rng.integers(0, 3, n) / 4,  # coarse, many ties
        embeddings=rng.normal(size=(n, 8)),
    )


@pytest.mark.parametrize(
    "strategy",
    ["mean_log_prob", "min_char_prob", "ctc_nll", "beam_margin", "expected_errors", "expected_edits", "disagreement"],
)
def test_uncertainty_strategies_pick_the_most_uncertain_first(strategy: str) -> None:
    scores = scores_for([0.1, 0.9, 0.5, 0.7])
    assert select_batch(strategy, scores, 3).tolist() == [1, 3, 2]


def test_equal_priorities_go_to_the_lower_index() -> None:
    scores = scores_for([0.5, 0.9, 0.5, 0.9, 0.5])
    assert select_batch("ctc_nll", scores, 5).tolist() == [1, 3, 0, 2, 4]


def test_disagreement_ties_are_broken_by_confidence() -> None:
    scores = PoolScores.from_arrays(
        mean_log_prob=[0.1, 2.0, 0.5],
        min_char_prob=[0, 0, 0],
        ctc_nll=[0, 0, 0],
        beam_margin=[0, 0, 0],
        expected_errors=[0, 0, 0],
        disagreement=[0.0, 0.0, 0.01],
    )
    assert select_batch("disagreement", scores, 3).tolist() == [2, 1, 0]


def test_random_is_reproducible_with_a_seed_and_a_permutation() -> None:
    scores = scores_for([0.0] * 50)
    first = select_batch("random", scores, 50, rng=np.random.default_rng(7))
    again = select_batch("random", scores, 50, rng=np.random.default_rng(7))
    other = select_batch("random", scores, 50, rng=np.random.default_rng(8))
    assert first.tolist() == again.tolist()
    assert first.tolist() != other.tolist()
    assert sorted(first.tolist()) == list(range(50))


def two_tight_clusters() -> tuple[PoolScores, set[int], set[int]]:
    """Five near-duplicates that are very uncertain, five other near-duplicates a bit less so."""
    rng = np.random.default_rng(0)
    centre_a, centre_b = np.eye(16)[0], np.eye(16)[1]
    embeddings = np.concatenate(
        [centre_a + 0.01 * rng.normal(size=(5, 16)), centre_b + 0.01 * rng.normal(size=(5, 16))]
    )
    uncertainty = [1.0, 0.99, 0.98, 0.97, 0.96, 0.8, 0.79, 0.78, 0.77, 0.76]
    return scores_for(uncertainty, embeddings=embeddings), set(range(5)), set(range(5, 10))


def test_diversity_spreads_a_batch_over_clusters_where_uncertainty_takes_near_duplicates() -> None:
    scores, cluster_a, cluster_b = two_tight_clusters()
    diverse = set(select_batch("diversity", scores, 2).tolist())
    plain = set(select_batch("ctc_nll", scores, 2).tolist())
    assert len(diverse & cluster_a) == 1
    assert len(diverse & cluster_b) == 1
    assert plain <= cluster_a


def test_near_duplicate_cap_keeps_the_order_until_a_cluster_has_cap_lines() -> None:
    scores, _, _ = two_tight_clusters()
    capped = select_batch("near_duplicate_cap", scores, 4).tolist()
    # Two of the five near-identical, most uncertain lines, then the next cluster's best two.
    assert capped == [0, 1, 5, 6]
    assert select_batch("expected_errors", scores, 4).tolist() == [0, 1, 2, 3]
    priorities = line_priorities("near_duplicate_cap", scores)
    assert priorities[0] == pytest.approx(1.0)
    assert priorities[2] == pytest.approx(0.98 * DEFERRED_WEIGHT)


def test_near_duplicate_cap_leaves_distinct_lines_in_uncertainty_order() -> None:
    embeddings = np.eye(6)  # every line as far from every other as the median pair
    uncertainty = [0.3, 0.9, 0.1, 0.5, 0.7, 0.2]
    assert near_duplicate_order(uncertainty, embeddings).tolist() == pytest.approx(uncertainty)
    # cap 1: of two exact twins only the more uncertain one stays in front.
    twins = np.asarray([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert near_duplicate_order([0.4, 0.6, 0.5], twins, cap=1).tolist() == pytest.approx(
        [0.4 * DEFERRED_WEIGHT, 0.6, 0.5]
    )


def test_diversity_gains_never_rise_along_the_greedy_order() -> None:
    scores = random_scores(200, seed=3)
    assert scores.embeddings is not None
    order, gains = diversity_order(scores.score(DIVERSITY_BASE), scores.embeddings)
    assert sorted(order.tolist()) == list(range(200))
    assert np.all(np.diff(gains) <= 1e-12)
    assert gains[0] == pytest.approx(scores.score(DIVERSITY_BASE).max())


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_descending_priorities_agree_with_select_batch(strategy: str) -> None:
    scores = random_scores(120, seed=1)
    priorities = line_priorities(strategy, scores, rng=np.random.default_rng(0))
    batch = select_batch(strategy, scores, 30, rng=np.random.default_rng(0))
    assert priorities.shape == (120,)
    assert np.all(np.isfinite(priorities))
    assert batch.tolist() == np.argsort(-priorities, kind="stable")[:30].tolist()
    if strategy == "diversity":
        assert scores.embeddings is not None
        greedy, _ = diversity_order(scores.score(DIVERSITY_BASE), scores.embeddings, k=30)
        assert batch.tolist() == greedy.tolist()


def test_priorities_work_on_any_subset_of_lines() -> None:
    scores = random_scores(40, seed=2)
    part = scores.subset(np.arange(10, 25))
    assert len(part) == 15
    assert np.array_equal(line_priorities("ctc_nll", part), scores.ctc_nll[10:25])
    assert line_priorities("diversity", part).shape == (15,)


def test_missing_inputs_and_unknown_strategies_are_clear_errors() -> None:
    scores = scores_for([0.1, 0.2])
    with pytest.raises(ValueError, match="unknown selection strategy"):
        line_priorities("most_fun", scores)
    without = PoolScores.from_arrays(
        mean_log_prob=[0.1], min_char_prob=[0.1], ctc_nll=[0.1], beam_margin=[0.1], expected_errors=[0.1]
    )
    with pytest.raises(ValueError, match="embeddings"):
        line_priorities("diversity", without)
    with pytest.raises(ValueError, match="disagreement"):
        line_priorities("disagreement", without)
    with pytest.raises(ValueError, match="embeddings"):
        line_priorities("near_duplicate_cap", without)
    with pytest.raises(ValueError, match="expected_edits was not computed"):
        line_priorities("expected_edits", without)
    assert strategy_needs("diversity") == {"embeddings"}
    assert strategy_needs("near_duplicate_cap") == {"embeddings"}
    assert strategy_needs("ctc_nll") == frozenset()


def test_non_finite_scores_rank_as_most_uncertain() -> None:
    scores = scores_for([0.2, float("inf"), 0.5])
    assert select_batch("ctc_nll", scores, 1).tolist() == [1]
    assert np.all(np.isfinite(line_priorities("ctc_nll", scores)))


def test_mc_disagreement_is_the_mean_normalised_edit_distance() -> None:
    values = mc_disagreement(["abc", "", "ab"], [["abc", "abd"], ["", ""], ["xy", "ab"]])
    assert values.tolist() == pytest.approx([(0 + 1 / 3) / 2, 0.0, (1.0 + 0.0) / 2])


def with_dropout(loaded: LoadedModel, p: float) -> Recognizer:
    loaded.model.dropout.p = p
    return Recognizer(loaded, device=torch.device("cpu"))


def test_mc_disagreement_is_zero_without_dropout(tiny_checkpoint: Path) -> None:
    recognizer = Recognizer.load(tiny_checkpoint, device="cpu", threads=1)
    assert recognizer.model.config.dropout == 0.0
    images = [s.image for s in tiny_samples() if s.image is not None]
    _, scores = pool_scores(recognizer, images, strategy="disagreement", mc_samples=4)
    assert scores.disagreement is not None
    assert scores.disagreement.tolist() == [0.0] * len(images)


def test_mc_disagreement_is_higher_for_an_untrained_model(tiny_checkpoint: Path) -> None:
    images = [s.image for s in tiny_samples() if s.image is not None]
    trained = with_dropout(load_checkpoint(tiny_checkpoint), 0.3)
    torch.manual_seed(0)
    fresh_model = CRNN(trained.model.config).eval()
    untrained = with_dropout(LoadedModel(fresh_model, trained.codec, fresh_model.config), 0.3)
    _, trained_scores = pool_scores(trained, images, strategy="disagreement", mc_samples=8)
    _, untrained_scores = pool_scores(untrained, images, strategy="disagreement", mc_samples=8)
    assert trained_scores.disagreement is not None
    assert untrained_scores.disagreement is not None
    assert untrained_scores.disagreement.mean() > trained_scores.disagreement.mean() + 0.05


def test_pool_scores_returns_what_each_strategy_needs(tiny_checkpoint: Path) -> None:
    recognizer = Recognizer.load(tiny_checkpoint, device="cpu", threads=1)
    images = [s.image for s in tiny_samples() if s.image is not None]
    predictions, plain = pool_scores(recognizer, images, strategy="ctc_nll")
    assert [p.text for p in predictions] == [p.text for p in recognizer.predict(images)]
    assert plain.embeddings is None
    assert plain.disagreement is None
    assert plain.calibrated is not None  # train() stored a calibration in the checkpoint
    assert plain.ctc_nll.tolist() == pytest.approx([p.uncertainty.ctc_nll for p in predictions])
    _, diverse = pool_scores(recognizer, images, strategy="diversity")
    assert diverse.embeddings is not None
    assert diverse.embeddings.shape == (len(images), 2 * recognizer.model.config.lstm_hidden)
    assert set(plain.line_scores(0)) >= {"ctc_nll", "expected_edits", "confidence", "calibrated"}
    assert plain.score("expected_edits").tolist() == pytest.approx([p.uncertainty.expected_edits for p in predictions])
    assert np.all(plain.score("expected_edits") >= plain.score("expected_errors") - 1e-9)
    _, capped = pool_scores(recognizer, images, strategy="near_duplicate_cap")
    assert capped.embeddings is not None


def test_line_embeddings_barely_depend_on_batch_neighbours(tiny_checkpoint: Path) -> None:
    recognizer = Recognizer.load(tiny_checkpoint, device="cpu", threads=1)
    images = [s.image for s in tiny_samples() if s.image is not None]
    together = recognizer.outputs(images, batch_size=4, embeddings=True).embeddings
    alone = [recognizer.outputs([image], embeddings=True).embeddings for image in images]
    assert together is not None
    for row, single in zip(together, alone, strict=True):
        assert single is not None
        # Not exactly equal: the CNN's last frames see BatchNorm-shifted padding.
        cosine = float(row @ single[0] / (np.linalg.norm(row) * np.linalg.norm(single[0])))
        assert cosine > 0.98


def test_pooling_averages_only_each_lines_valid_frames(tiny_checkpoint: Path) -> None:
    model = load_checkpoint(tiny_checkpoint).model
    stride = model.config.width_stride
    hidden = torch.arange(12, dtype=torch.float32).reshape(6, 2, 1)  # (T=6, B=2, D=1)
    pooled = model.pool(hidden, torch.tensor([6 * stride, 2 * stride]))
    assert pooled[:, 0].tolist() == pytest.approx([np.mean([0, 2, 4, 6, 8, 10]), np.mean([1, 3])])


def test_diversity_treats_twins_read_with_float_noise_as_a_tie_for_the_lower_index() -> None:
    embeddings = np.asarray([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    # The copy at index 2 reads a hair more uncertain, as a different thread count can make it.
    order, gains = diversity_order([0.5, 0.3, 0.5 * (1 + 1e-9)], embeddings)
    assert order.tolist()[0] == 0
    assert gains[-1] == pytest.approx(0.0, abs=1e-6), "the second twin adds nothing"
