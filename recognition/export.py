"""Export a checkpoint to TorchScript and ONNX.

Both exports take (B, 1, H, W) float32 images (ink high, as produced by
``images.to_network_input``) and return (T, B, C) log-probabilities, with the
batch size and width free. They run the LSTM over every column, as
``CRNN.forward`` does without ``widths``: export lines one at a time, or in
batches of equal width, to match the PyTorch model exactly. The codec and the
preprocessing height go into a JSON file beside them, so a consumer needs no
Lineproof code to decode.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
from torch import nn

from recognition.checkpoint import LoadedModel
from recognition.model import CRNN


class _Unpacked(nn.Module):
    """The model without packed sequences, which neither exporter supports."""

    def __init__(self, model: CRNN) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)


def _example(model: CRNN) -> torch.Tensor:
    return torch.zeros(1, 1, model.config.height, 64 * model.config.width_stride)


def export_torchscript(model: CRNN, path: Path | str) -> Path:
    path = Path(path)
    wrapper = _Unpacked(model.cpu().eval())
    with torch.no_grad():
        # Tracing is safe here: the forward pass has no data-dependent branches.
        traced = torch.jit.trace(wrapper, (_example(model),))
    traced.save(str(path))
    return path


def export_onnx(model: CRNN, path: Path | str, *, opset: int = 17) -> Path:
    path = Path(path)
    wrapper = _Unpacked(model.cpu().eval())
    with warnings.catch_warnings():
        # The TorchScript-based exporter is deprecated in favour of torch.export,
        # but torch.export cannot yet give the LSTM a free sequence length;
        # this one can, and onnxruntime checks its output in the tests.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            (_example(model),),
            str(path),
            input_names=["images"],
            output_names=["log_probs"],
            dynamic_axes={"images": {0: "batch", 3: "width"}, "log_probs": {0: "frames", 1: "batch"}},
            opset_version=opset,
            dynamo=False,
        )
    return path


def export_all(
    loaded: LoadedModel, out_dir: Path | str, formats: tuple[str, ...] = ("torchscript", "onnx")
) -> list[Path]:
    """Write the requested formats plus ``model.json`` (codec, height, stride) to ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in formats:
        if name == "torchscript":
            written.append(export_torchscript(loaded.model, out / "model.ts"))
        elif name == "onnx":
            written.append(export_onnx(loaded.model, out / "model.onnx"))
        else:
            raise ValueError(f"unknown export format {name!r} (torchscript, onnx)")
    info = {
        "alphabet": list(loaded.codec.alphabet),
        "blank": 0,
        "height": loaded.config.height,
        "width_stride": loaded.config.width_stride,
        "input": "float32 (B, 1, H, W), (255 - gray) / 255",
        "output": "float32 (T, B, C) log-probabilities, class 0 = blank, class i = alphabet[i - 1]",
        "metrics": loaded.metrics,
    }
    info_path = out / "model.json"
    info_path.write_text(json.dumps(info, ensure_ascii=False, indent=2), encoding="utf-8")
    written.append(info_path)
    return written
