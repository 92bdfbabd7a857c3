"""The shipped base model: found by name, loaded by the one loader, and it reads."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from recognition.__main__ import main
from recognition.base import DEFAULT_BASE, MODELS_DIR, base_names, base_path, resolve_checkpoint
from recognition.base.render import FontFace, installed_fonts
from recognition.checkpoint import CheckpointError, load_checkpoint
from recognition.infer import Recognizer
from recognition.metrics import cer

from ..conftest import tiny_samples

LINES = ("Dear Sir, I received your letter", "the seeds arrived at Kew in June", "Yours very truly")


def _clean_line(text: str, face: FontFace) -> np.ndarray:
    """``text`` drawn plainly in ``face``: dark ink on white, 40 px tall, no ageing."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(face.path, 32)
    left, top, right, bottom = font.getbbox(text)
    canvas = Image.new("L", (int(right - left) + 16, int(bottom - top) + 12), 255)
    ImageDraw.Draw(canvas).text((8 - left, 6 - top), text, font=font, fill=20)
    return np.asarray(canvas)


def test_base_names_the_default_and_base_colon_a_given_one() -> None:
    assert DEFAULT_BASE in base_names()
    assert resolve_checkpoint("base") == base_path() == MODELS_DIR / f"{DEFAULT_BASE}.pt"
    assert resolve_checkpoint(f"base:{DEFAULT_BASE}") == base_path()
    assert resolve_checkpoint("runs/x/best.pt") == Path("runs/x/best.pt")


def test_an_unknown_base_is_a_checkpoint_error_naming_the_shipped_ones() -> None:
    with pytest.raises(CheckpointError, match=DEFAULT_BASE):
        load_checkpoint("base:no-such-base")


def test_the_shipped_base_is_small_fp16_with_a_card() -> None:
    path = base_path()
    assert path.stat().st_size < 12 * 1024 * 1024
    data = torch.load(path, map_location="cpu", weights_only=True)
    floats = [v for v in data["state_dict"].values() if v.is_floating_point()]
    assert floats
    assert all(v.dtype == torch.float16 for v in floats)
    assert data["training"] is None
    card = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert card["validation_cer_by_source"]
    assert card["commit"]
    assert card["made_by"]
    assert path.with_suffix(".md").read_text(encoding="utf-8").startswith(f"# Base model `{DEFAULT_BASE}`")


def test_the_shipped_base_loads_in_float32_and_reads_a_printed_line() -> None:
    loaded = load_checkpoint("base")
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters())
    face = next(f for f in installed_fonts() if Path(f.path).name == "DejaVuSerif.ttf")
    reader = Recognizer.load("base")
    readings = [p.text for p in reader.predict([_clean_line(text, face) for text in LINES])]
    assert cer(list(LINES), readings) < 0.05, readings


def test_the_shipped_base_reads_the_demo_s_rendered_lines() -> None:
    samples = tiny_samples(("the garden at kew", "dear sir", "seeds from india"), height=48)
    readings = [p.text for p in Recognizer.load("base").predict([s.load() for s in samples])]
    assert cer([s.text for s in samples], readings) < 0.15, readings


def test_the_cli_takes_base_wherever_a_checkpoint_is_expected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    face = next(f for f in installed_fonts() if Path(f.path).name == "DejaVuSerif.ttf")
    image = tmp_path / "line.png"
    cv2.imwrite(str(image), _clean_line(LINES[2], face))
    assert main(["predict", "--model", "base", str(image)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert cer([LINES[2]], [printed[0]["text"]]) < 0.1
