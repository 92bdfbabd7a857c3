"""Tests of the engine-independent parts of benchmarks.baselines (no kraken or Tesseract needed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from benchmarks.baselines import (
    _clean_tesseract,
    prepare_split,
    read_references,
    run_measured,
    split_ids,
)


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "toy"
    lines = root / "lines"
    lines.mkdir(parents=True)
    ids = [f"l{i:02d}" for i in range(10)]
    for line_id in ids:
        (lines / f"{line_id}.png").write_bytes(b"png")
        (lines / f"{line_id}.gt.txt").write_text(f"text {line_id} \n", encoding="utf-8")
    (root / "split.json").write_text(json.dumps({"train": ids[:8], "val": ids[8:], "test": ids[8:]}))
    return root


def test_split_ids_limit_is_deterministic_and_ordered(dataset: Path) -> None:
    full = split_ids(dataset, "train")
    sample = split_ids(dataset, "train", limit=3)
    assert sample == split_ids(dataset, "train", limit=3)
    assert len(sample) == 3
    assert sample == [i for i in full if i in sample]  # split.json order kept
    assert split_ids(dataset, "train", limit=100) == full


def test_prepare_split_makes_symlinks_and_references(dataset: Path, tmp_path: Path) -> None:
    out = prepare_split(dataset, "train", tmp_path / "work", limit=4)
    images = sorted(out.glob("*.png"))
    assert len(images) == 4
    assert all(p.is_symlink() for p in out.iterdir() if p.suffix != ".json")
    refs = read_references(out)
    assert list(refs) == split_ids(dataset, "train", limit=4)
    assert all(text.endswith(" ") for text in refs.values())  # only the newline is stripped
    # Rebuilding is idempotent (the folder is recreated, not appended to).
    again = prepare_split(dataset, "train", tmp_path / "work", limit=4)
    assert again == out
    assert len(list(again.glob("*.png"))) == 4


def test_unknown_split_raises(dataset: Path) -> None:
    with pytest.raises(KeyError):
        split_ids(dataset, "nope")


def test_run_measured_reports_peak_and_exit_code(tmp_path: Path) -> None:
    code = "b = bytearray(50 * 1024 * 1024); import sys; sys.exit(3)"
    stats = run_measured([sys.executable, "-c", code], log_path=tmp_path / "log")
    assert stats.returncode == 3
    assert stats.peak_rss_kib > 50 * 1024
    assert stats.wall_s > 0


def test_run_measured_timeout_interrupts(tmp_path: Path) -> None:
    stats = run_measured([sys.executable, "-c", "import time; time.sleep(30)"], timeout_s=0.5)
    assert stats.returncode != 0
    assert stats.wall_s < 10


def test_clean_tesseract_joins_lines() -> None:
    assert _clean_tesseract("Decr 15/96\n\n") == "Decr 15/96"
    assert _clean_tesseract("a b\nc\n") == "a b c"
    assert _clean_tesseract("") == ""
