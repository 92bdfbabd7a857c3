"""Batched inference for re-scoring thousands of lines.

Lines are sorted by width and batched so padding is small, run under
``torch.inference_mode`` and decoded on the CPU while the next batch is
prepared. Each prediction carries the text, per-character confidences and
pixel spans (for highlighting in the UI) and the uncertainty scores the
queue ranks by.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recognition.checkpoint import LoadedModel, load_checkpoint
from recognition.data import collate, width_sorted_batches
from recognition.decoding import Decoded, decode_with_beam, greedy_decode
from recognition.images import prepare_line, to_network_input
from recognition.train import pick_device, set_threads
from recognition.uncertainty import UncertaintyScores, line_uncertainty


@dataclass(frozen=True)
class Prediction:
    text: str
    confidence: float
    char_confidences: tuple[float, ...]
    # Per character, [x_start, x_end) in pixels of the height-normalised line
    # and, below, of the original image the caller passed in.
    spans: tuple[tuple[int, int], ...]
    uncertainty: UncertaintyScores

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "confidence": self.confidence,
            "char_confidences": list(self.char_confidences),
            "spans": [list(span) for span in self.spans],
            "uncertainty": self.uncertainty.to_dict(),
        }


class Recognizer:
    """A loaded model ready to read lines."""

    def __init__(self, loaded: LoadedModel, *, device: torch.device | None = None) -> None:
        self.device = device or pick_device()
        self.loaded = loaded
        self.model = loaded.model.to(self.device).eval()
        self.codec = loaded.codec
        self.lm = loaded.lm

    @classmethod
    def load(cls, path: Path | str, *, device: str | None = None, threads: int | None = None) -> Recognizer:
        set_threads(threads)
        target = pick_device(device)
        return cls(load_checkpoint(path, device=target), device=target)

    @torch.inference_mode()
    def log_probs(self, images: Sequence[np.ndarray], *, batch_size: int = 32) -> list[np.ndarray]:
        """Per line a (T_i, C) float32 log-probability matrix, in input order.

        ``images`` are (H, W) uint8 grayscale lines of any size.
        """
        config = self.model.config
        prepared = [prepare_line(image, config.height, binarize_input=config.binarize) for image in images]
        widths = [image.shape[1] for image in prepared]
        out: list[np.ndarray] = [np.empty(0)] * len(prepared)
        for indices in width_sorted_batches(widths, batch_size):
            items: list[tuple[torch.Tensor, list[int], int]] = [
                (torch.from_numpy(to_network_input(prepared[i])).unsqueeze(0), [], i) for i in indices
            ]
            batch = collate(items).to(self.device)
            frames = self.model(batch.images, batch.widths).float().cpu().numpy()  # (T, B, C)
            lengths = self.model.output_lengths(batch.widths).cpu().tolist()
            for row, index in enumerate(batch.indices):
                out[index] = np.ascontiguousarray(frames[: lengths[row], row])
        return out

    def predict(
        self,
        images: Sequence[np.ndarray],
        *,
        batch_size: int = 32,
        beam_width: int = 0,
        lm_weight: float = 0.3,
    ) -> list[Prediction]:
        """Read each (H, W) uint8 line; ``beam_width`` > 0 uses beam search (and the LM)."""
        stride = self.model.config.width_stride
        height = self.model.config.height
        predictions = []
        for image, frames in zip(images, self.log_probs(images, batch_size=batch_size), strict=True):
            decoded: Decoded
            if beam_width > 0:
                decoded = decode_with_beam(frames, self.codec, beam_width=beam_width, lm=self.lm, lm_weight=lm_weight)
            else:
                decoded = greedy_decode(frames, self.codec)
            # Frames -> pixels of the original image: one frame is `stride`
            # columns of the height-normalised line.
            scale = image.shape[1] / max(1, round(image.shape[1] * height / image.shape[0]))
            spans = tuple(
                (int(start * stride * scale), min(image.shape[1], round(end * stride * scale)))
                for start, end in decoded.spans
            )
            predictions.append(
                Prediction(
                    text=decoded.text,
                    confidence=decoded.confidence,
                    char_confidences=decoded.char_confidences,
                    spans=spans,
                    uncertainty=line_uncertainty(frames, self.codec),
                )
            )
        return predictions
