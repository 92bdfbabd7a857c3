"""The learning-curve benchmark: a project-like split of each subset, and its table and plot."""

from __future__ import annotations

from pathlib import Path

from benchmarks.learning_curve import Point, labeled_subset, plot, table
from recognition.data import LineSample


def _lines(n: int) -> list[LineSample]:
    return [LineSample(id=f"l{i}", text=f"line {i}", path=Path(f"l{i}.png")) for i in range(n)]


def test_a_subset_is_seeded_and_a_tenth_of_it_at_least_five_are_evaluation_lines() -> None:
    pool = _lines(1000)
    train_a, eval_a = labeled_subset(pool, 200, seed=0)
    train_b, eval_b = labeled_subset(pool, 200, seed=0)
    train_c, _ = labeled_subset(pool, 200, seed=1)
    assert [s.id for s in train_a] == [s.id for s in train_b]
    assert [s.id for s in train_a] != [s.id for s in train_c]
    assert (len(train_a), len(eval_a)) == (180, 20)
    assert not {s.id for s in train_a} & {s.id for s in eval_b}
    _, few_eval = labeled_subset(pool, 30, seed=0)
    assert len(few_eval) == 5


def test_all_lines_means_the_whole_pool() -> None:
    pool = _lines(120)
    train, evaluation = labeled_subset(pool, 10**6, seed=0)
    assert len(train) + len(evaluation) == 120


def test_the_table_puts_base_and_scratch_side_by_side_with_the_seed_spread(tmp_path: Path) -> None:
    points = [
        Point("hooker", "base", 0, cers=[0.4], seconds=[0.0], steps=[0]),
        Point("hooker", "base", 50, cers=[0.3, 0.2], seconds=[60.0, 62.0], steps=[260, 260]),
        Point("hooker", "scratch", 50, cers=[0.9, 0.95], seconds=[61.0, 60.0], steps=[260, 260]),
    ]
    text = table(points, {"hooker": [("Tesseract 5 -l eng", None, 0.765, "off the shelf")]})
    assert "| 0 | 40.00% | — |" in text
    assert "| 50 | 25.00% ± 5.00% | 92.50% ± 2.50% | 260 | 61 |" in text
    assert "Tesseract 5 -l eng: 76.50%" in text
    plot(points, tmp_path / "curve.png")
    assert (tmp_path / "curve.png").stat().st_size > 1000
