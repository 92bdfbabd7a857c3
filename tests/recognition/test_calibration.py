"""Reliability, ECE, calibration fits and the auto-accept threshold on synthetic confidences."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from recognition.calibration import (
    Calibration,
    auto_accept_threshold,
    expected_calibration_error,
    fit_calibration,
    reliability_table,
)
from recognition.checkpoint import checkpoint_dict, load_checkpoint, save_atomic
from recognition.infer import Recognizer


def calibrated_set(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Confidences that are exactly the probability of being right."""
    rng = np.random.default_rng(seed)
    conf = rng.random(n)
    return conf, rng.random(n) < conf


def overconfident_set(n: int, seed: int, *, easy: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Confidences near 1 for lines that are right far less often (like a CTC model's).

    ``easy`` > 2 makes lines that are probably right more common.
    """
    rng = np.random.default_rng(seed)
    truth = rng.beta(easy, 2, n)
    conf = truth**0.25
    return conf, rng.random(n) < truth


def test_reliability_table_bins_count_every_line() -> None:
    table = reliability_table([0.05, 0.15, 0.95, 1.0], [0, 1, 1, 1], bins=10)
    assert len(table) == 10
    assert sum(b.count for b in table) == 4
    assert table[9].count == 2  # 1.0 falls in the last, closed bin
    assert table[9].accuracy == 1.0
    assert table[0].mean_confidence == pytest.approx(0.05)
    assert math.isnan(table[5].accuracy)


def test_ece_of_a_perfectly_calibrated_set_is_near_zero() -> None:
    conf, correct = calibrated_set(20000, seed=0)
    assert expected_calibration_error(conf, correct) < 0.02


def test_ece_of_a_known_table() -> None:
    # Two lines at 0.9, one right: |0.5 - 0.9| over all lines.
    assert expected_calibration_error([0.9, 0.9], [1, 0]) == pytest.approx(0.4)
    assert expected_calibration_error([], []) == 0.0


@pytest.mark.parametrize("method", ["platt", "isotonic", "auto"])
def test_fitting_reduces_ece_on_held_out_lines(method: str) -> None:
    conf, correct = overconfident_set(4000, seed=1)
    held_conf, held_correct = overconfident_set(4000, seed=2)
    calibration = fit_calibration(conf, correct, method=method)
    before = expected_calibration_error(held_conf, held_correct)
    after = expected_calibration_error(calibration.apply(held_conf), held_correct)
    assert before > 0.1
    assert after < before / 3
    assert calibration.ece_after < calibration.ece_before
    assert calibration.fitted_lines == 4000


def test_calibrated_confidence_is_monotone_in_the_raw_one() -> None:
    conf, correct = overconfident_set(2000, seed=3)
    grid = np.linspace(0, 1, 101)
    for method in ("platt", "isotonic"):
        mapped = fit_calibration(conf, correct, method=method).apply(grid)
        assert np.all(np.diff(mapped) >= -1e-12)
        assert np.all((mapped >= 0) & (mapped <= 1))


@pytest.mark.parametrize("method", ["platt", "isotonic", "identity"])
def test_calibration_round_trips_through_a_json_dict(method: str) -> None:
    conf, correct = overconfident_set(500, seed=4)
    calibration = fit_calibration(conf, correct, method=method)
    again = Calibration.from_dict(json.loads(json.dumps(calibration.to_dict())))
    assert again.method == method
    np.testing.assert_allclose(again.apply(conf), calibration.apply(conf))
    assert isinstance(again.apply(0.7), float)


def test_calibration_round_trips_through_a_checkpoint(tiny_checkpoint: Path, tmp_path: Path) -> None:
    loaded = load_checkpoint(tiny_checkpoint)
    calibration = fit_calibration(*overconfident_set(300, seed=5), method="platt")
    path = save_atomic(
        checkpoint_dict(loaded.model, loaded.codec, calibration=calibration.to_dict()), tmp_path / "c.pt"
    )
    again = Recognizer.load(path, device="cpu", threads=1).calibration
    assert again is not None
    assert again.apply(0.5) == pytest.approx(calibration.apply(0.5))


def test_train_stores_a_calibration_fitted_on_the_validation_lines(tiny_checkpoint: Path) -> None:
    stored = load_checkpoint(tiny_checkpoint).calibration
    assert stored is not None
    calibration = Calibration.from_dict(stored)
    assert calibration.fitted_lines == 4  # the tiny run validates on its four lines
    assert 0.0 <= calibration.apply(0.9) <= 1.0


def test_auto_accept_threshold_on_a_known_table() -> None:
    conf = [0.99, 0.98, 0.97, 0.96, 0.5]
    correct = [1, 1, 1, 0, 0]
    assert auto_accept_threshold(conf, correct, max_line_error=0.0) == (0.97, 0.6)
    assert auto_accept_threshold(conf, correct, max_line_error=0.25) == (0.96, 0.8)  # one wrong in four
    assert auto_accept_threshold(conf, correct, max_line_error=0.4) == (0.5, 1.0)


def test_auto_accept_threshold_accepts_nothing_when_no_threshold_qualifies() -> None:
    assert auto_accept_threshold([0.9, 0.8], [0, 0]) == (math.inf, 0.0)
    assert auto_accept_threshold([], []) == (math.inf, 0.0)


def test_auto_accept_threshold_keeps_the_error_under_target_on_held_out_lines() -> None:
    fit_conf, fit_correct = overconfident_set(20000, seed=6, easy=20)
    held_conf, held_correct = overconfident_set(20000, seed=7, easy=20)
    calibration = fit_calibration(fit_conf, fit_correct)
    target = 0.05
    threshold, coverage = auto_accept_threshold(calibration.apply(fit_conf), fit_correct, max_line_error=target)
    accepted = calibration.apply(held_conf) >= threshold
    assert 0.05 < coverage < 0.95
    assert accepted.mean() == pytest.approx(coverage, abs=0.02)
    # Chosen at exactly the target on the fit set; sampling noise on fresh lines is small.
    assert 1 - held_correct[accepted].mean() <= target + 0.01
