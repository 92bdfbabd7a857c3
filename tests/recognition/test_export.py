from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch

from recognition.checkpoint import load_checkpoint
from recognition.export import export_all
from recognition.images import normalize_height, to_network_input

from .conftest import tiny_samples


@pytest.fixture(scope="module")
def exported(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export")
    export_all(load_checkpoint(tiny_checkpoint), out)
    return out


def _inputs(height: int) -> list[torch.Tensor]:
    """Real rendered lines of different widths, as (1, 1, H, W) network inputs."""
    return [
        torch.from_numpy(to_network_input(normalize_height(sample.load(), height)))[None, None]
        for sample in tiny_samples()
    ]


def test_torchscript_export_gives_the_same_output_as_pytorch(tiny_checkpoint: Path, exported: Path) -> None:
    loaded = load_checkpoint(tiny_checkpoint)
    scripted = torch.jit.load(str(exported / "model.ts"))
    for images in _inputs(loaded.config.height):
        with torch.no_grad():
            expected = loaded.model(images)
            actual = scripted(images)
        assert actual.shape == expected.shape
        torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)


def test_onnx_export_gives_the_same_output_as_pytorch(tiny_checkpoint: Path, exported: Path) -> None:
    loaded = load_checkpoint(tiny_checkpoint)
    session = onnxruntime.InferenceSession(str(exported / "model.onnx"), providers=["CPUExecutionProvider"])
    widths = set()
    for images in _inputs(loaded.config.height):
        widths.add(images.shape[-1])
        with torch.no_grad():
            expected = loaded.model(images).numpy()
        [actual] = session.run(None, {"images": images.numpy()})
        assert actual.shape == expected.shape
        np.testing.assert_allclose(actual, expected, atol=1e-4, rtol=1e-4)
        # Same decision at every frame, not just close numbers.
        assert (actual.argmax(-1) == expected.argmax(-1)).all()
    assert len(widths) > 1, "parity must hold for more than one line width"


def test_export_writes_the_codec_and_preprocessing_beside_the_model(tiny_checkpoint: Path, exported: Path) -> None:
    info = json.loads((exported / "model.json").read_text(encoding="utf-8"))
    loaded = load_checkpoint(tiny_checkpoint)
    assert info["alphabet"] == list(loaded.codec.alphabet)
    assert info["blank"] == 0
    assert info["height"] == loaded.config.height
    assert info["width_stride"] == loaded.config.width_stride


def test_unknown_export_format_is_refused(tiny_checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown export format"):
        export_all(load_checkpoint(tiny_checkpoint), tmp_path, ("tflite",))
