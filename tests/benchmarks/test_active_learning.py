"""The active-learning simulation end to end on rendered lines, and its curve metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.active_learning import (
    TINY_MODEL,
    Curve,
    Data,
    Settings,
    labels_to_reach,
    markdown,
    normalised_auc,
    plot,
    simulate,
    summarise,
    table,
)
from recognition.checkpoint import load_checkpoint
from recognition.data import LineSample
from recognition.synthetic import random_text, render_line


def rendered(n: int, prefix: str, seed: int) -> list[LineSample]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        text = random_text(rng, min_words=1, max_words=2)
        out.append(LineSample(id=f"{prefix}{i}", text=text, image=render_line(text, rng=rng, height=32)))
    return out


def test_normalised_auc_is_the_mean_height_of_the_curve() -> None:
    assert normalised_auc([0, 10], [0.5, 0.5]) == pytest.approx(0.5)
    assert normalised_auc([100, 200, 400], [0.6, 0.4, 0.4]) == pytest.approx((50 + 80) / 300)


def test_labels_to_reach_interpolates_and_says_when_never() -> None:
    assert labels_to_reach([100, 200, 300], [0.6, 0.4, 0.3], 0.5) == pytest.approx(150)
    assert labels_to_reach([100, 200], [0.3, 0.2], 0.5) == 100
    assert labels_to_reach([100, 200], [0.6, 0.55], 0.5) is None


def test_summarise_targets_randoms_final_mean_cer() -> None:
    curves = [
        Curve("random", 0, [10, 20], [0.8, 0.6], 1.0, "", []),
        Curve("random", 1, [10, 20], [0.8, 0.4], 1.0, "", []),
        Curve("ctc_nll", 0, [10, 20], [0.8, 0.3], 1.0, "", []),
    ]
    summaries, target = summarise(curves, ["random", "ctc_nll"])
    assert target == pytest.approx(0.5)
    by_name = {s.strategy: s for s in summaries}
    assert by_name["random"].std_cer[-1] == pytest.approx(0.1)
    assert by_name["ctc_nll"].labels_to_reach == pytest.approx(10 + 10 * 0.3 / 0.5)


def test_simulation_runs_end_to_end_and_labels_grow_by_the_batch(tmp_path: Path) -> None:
    settings = Settings(
        strategies=("random", "ctc_nll", "diversity"),
        seeds=1,
        seed_labels=8,
        batch=4,
        rounds=2,
        candidates=12,
        first_steps=80,
        round_steps=4,
        test_lines=0,
        val_lines=0,
        model=dict(TINY_MODEL),
        batch_size=4,
        # Fast enough that the first model reads something: pseudo-labels need text.
        learning_rate=1e-2,
        warmup_steps=10,
        augment=False,
        self_training=("ctc_nll",),
        pseudo_lines=3,
    )
    data = Data(pool=rendered(30, "p", 0), val=rendered(4, "v", 1), test=rendered(6, "t", 2))
    report = simulate(settings, data, tmp_path / "work", workers=1)

    assert [c.strategy for c in report.curves] == ["random", "ctc_nll", "diversity", "ctc_nll+self"]
    pool_ids = {s.id for s in data.pool}
    for curve in report.curves:
        assert curve.labels == [8, 12, 16]
        assert len(curve.cer) == 3
        assert all(value >= 0 for value in curve.cer)
        assert len(set(curve.labeled_ids)) == 16
        assert set(curve.labeled_ids) <= pool_ids
        assert Path(curve.final_checkpoint).exists()
    # Every strategy starts from the same first model and seed set.
    assert len({c.cer[0] for c in report.curves}) == 1
    assert len({tuple(c.labeled_ids[:8]) for c in report.curves}) == 1
    assert {s.strategy for s in report.summaries} == {"random", "ctc_nll", "diversity", "ctc_nll+self"}
    assert report.target_cer == report.curves[0].cer[-1]
    assert report.calibration["strategy"] in settings.runs
    # Self-training picks what its strategy picks from the same first model
    # (pseudo-labels are never counted as labels) but trains on more.
    plain, selftrained = report.curves[1], report.curves[3]
    assert selftrained.labeled_ids[:12] == plain.labeled_ids[:12]
    weights = [load_checkpoint(Path(c.final_checkpoint)).model.state_dict() for c in (plain, selftrained)]
    assert any(not torch.equal(weights[0][key], weights[1][key]) for key in weights[0])
    assert report.calibration["test_lines"] == 6
    assert 0.0 <= report.calibration["test_coverage_at_target"] <= 1.0

    png = plot(report, tmp_path / "al.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    text = markdown(report, command="test", started=__import__("datetime").datetime.now(), plot_path=png)
    assert table(report) in text
    assert "| random |" in text
