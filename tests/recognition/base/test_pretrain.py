"""Pretraining continued from a shipped base: its weights are the start, and the card adds up the compute."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from recognition.base import base_path, pretrain
from recognition.base.pretrain import PretrainConfig, ship_base
from recognition.checkpoint import load_checkpoint
from recognition.synthetic import render_line

TEXTS = ("dear sir", "seeds from kew", "yours truly", "in june", "truly yours")


def _corpus(corpus: Path) -> None:
    """A corpus folder as ``prepare_corpus`` leaves it: real lines of one source, synthetic lines, the split."""
    rng = np.random.default_rng(0)
    ids: dict[str, list[str]] = {"train": [], "val": [], "synthetic": []}
    for n, text in enumerate(TEXTS * 2):
        group = "val" if n % 5 == 4 else "synthetic" if n % 5 == 3 else "train"
        line_id = f"{'synthetic' if group == 'synthetic' else 'letters'}/{n:04d}"
        (corpus / "lines" / line_id).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(corpus / "lines" / f"{line_id}.png"), render_line(text, rng=rng, height=40))
        (corpus / "lines" / f"{line_id}.gt.txt").write_text(text, encoding="utf-8")
        ids[group].append(line_id)
    (corpus / "split.json").write_text(json.dumps({"train": ids["train"], "val": ids["val"], "test": []}))
    (corpus / "synthetic.json").write_text(
        json.dumps({"ids": ids["synthetic"], "lines": len(ids["synthetic"]), "characters": 40, "fonts": 1})
    )
    (corpus / "manifest.json").write_text(json.dumps({"line_sources": []}))


def test_a_run_continued_from_the_base_starts_from_its_weights_and_its_card_keeps_both_stages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = PretrainConfig(
        work_dir=tmp_path / "work",
        snapshots=tmp_path / "snapshots",
        init="base",
        seed=1,
        learning_rate=1e-4,
        warmup_steps=1,
        max_steps=2,
        eval_every=2,
        batch_size=2,
        min_char_count=1,
        threads=1,
    )
    _corpus(config.corpus_dir)
    summary = pretrain.pretrain(config)
    assert summary["steps"] == 2
    continued = load_checkpoint(config.run_dir / "best.pt")
    assert continued.meta["lineage"]["parent"] == "base"
    base = load_checkpoint("base")
    assert continued.codec.alphabet[: len(base.codec.alphabet)] == base.codec.alphabet

    monkeypatch.setattr(pretrain, "MODELS_DIR", tmp_path / "models")
    shipped = ship_base(config, "continued", command=["python", "-m", "recognition", "ship-base"])
    card = json.loads(shipped.with_suffix(".json").read_text(encoding="utf-8"))
    base_card = json.loads(base_path().with_suffix(".json").read_text(encoding="utf-8"))
    base_steps = sum(stage["steps"] for stage in base_card.get("stages", [base_card["training"]]))
    assert [stage["steps"] for stage in card["stages"]][-1] == 2
    assert card["training"]["steps"] == base_steps + 2
    assert "--init base" in card["pretrained_by"]
    assert f"stage {len(card['stages'])}:" in shipped.with_suffix(".md").read_text(encoding="utf-8")
