"""Batched inference for re-scoring thousands of lines.

Lines are sorted by width and batched so padding is small, run under
``torch.inference_mode`` and decoded on the CPU while the next batch is
prepared. Each prediction carries the text, per-character confidences and
pixel spans (for highlighting in the UI) and the uncertainty scores the
queue ranks by.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from recognition.calibration import Calibration
from recognition.checkpoint import LoadedModel, load_checkpoint
from recognition.codec import BLANK
from recognition.data import collate, width_sorted_batches
from recognition.decoding import Decoded, decode_with_beam, greedy_decode
from recognition.device import pick_device, set_threads
from recognition.images import prepare_line, to_network_input
from recognition.uncertainty import UncertaintyScores, line_uncertainty


@dataclass(frozen=True)
class LineReading:
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


@dataclass(frozen=True)
class LineOutputs:
    """What one batched pass over N lines gives, in input order.

    ``log_probs``: per line a (T_i, C) float32 matrix. ``embeddings``: (N, 2 *
    lstm_hidden) float32 mean-pooled BiLSTM outputs, when asked for.
    ``mc_texts``: per line the K greedy readings under MC dropout, when asked for.
    """

    log_probs: list[np.ndarray]
    embeddings: np.ndarray | None = None
    mc_texts: list[list[str]] | None = None


@contextmanager
def mc_dropout(model: nn.Module) -> Iterator[None]:
    """Dropout (and the LSTM's inter-layer dropout) on, BatchNorm still in eval mode."""
    stochastic = [m for m in model.modules() if isinstance(m, nn.Dropout | nn.LSTM)]
    before = [m.training for m in stochastic]
    try:
        for module in stochastic:
            module.train()
        yield
    finally:
        for module, was_training in zip(stochastic, before, strict=True):
            module.train(was_training)


def best_path_labels(frames: np.ndarray) -> list[int]:
    """(T, C) scores -> the collapsed best-path labels, blanks removed (text only, no confidences)."""
    best = frames.argmax(axis=1)
    keep = np.ones(len(best), dtype=bool)
    keep[1:] = best[1:] != best[:-1]
    return [int(label) for label in best[keep] if label != BLANK]


class Recognizer:
    """A loaded model ready to read lines."""

    def __init__(self, loaded: LoadedModel, *, device: torch.device | None = None) -> None:
        self.device = device or pick_device()
        self.loaded = loaded
        self.model = loaded.model.to(self.device).eval()
        self.codec = loaded.codec
        self.lm = loaded.lm
        # Fitted on the validation split by train(); None for older checkpoints.
        self.calibration: Calibration | None = Calibration.from_dict(loaded.calibration) if loaded.calibration else None

    @classmethod
    def load(cls, path: Path | str, *, device: str | None = None, threads: int | None = None) -> Recognizer:
        set_threads(threads)
        target = pick_device(device)
        return cls(load_checkpoint(path, device=target), device=target)

    def log_probs(self, images: Sequence[np.ndarray], *, batch_size: int = 32) -> list[np.ndarray]:
        """Per line a (T_i, C) float32 log-probability matrix, in input order.

        ``images`` are (H, W) uint8 grayscale lines of any size.
        """
        return self.outputs(images, batch_size=batch_size).log_probs

    @torch.inference_mode()
    def outputs(
        self,
        images: Sequence[np.ndarray],
        *,
        batch_size: int = 32,
        embeddings: bool = False,
        mc_samples: int = 0,
        seed: int = 0,
    ) -> LineOutputs:
        """One batched pass: log-probs, optionally line embeddings and ``mc_samples`` MC-dropout readings.

        The MC passes reuse each batch's CNN features and rerun only dropout,
        LSTM and head, with torch's RNG forked and seeded by ``seed`` so the
        readings are reproducible and the caller's RNG state is untouched.
        """
        config = self.model.config
        prepared = [prepare_line(image, config.height, binarize_input=config.binarize) for image in images]
        widths = [image.shape[1] for image in prepared]
        out: list[np.ndarray] = [np.empty(0)] * len(prepared)
        pooled = np.zeros((len(prepared), 2 * config.lstm_hidden), dtype=np.float32) if embeddings else None
        mc: list[list[str]] | None = [[] for _ in prepared] if mc_samples > 0 else None
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            for indices in width_sorted_batches(widths, batch_size):
                items: list[tuple[torch.Tensor, list[int], int]] = [
                    (torch.from_numpy(to_network_input(prepared[i])).unsqueeze(0), [], i) for i in indices
                ]
                batch = collate(items).to(self.device)
                features = self.model.features(batch.images)  # (T, B, F)
                log_probs, hidden = self.model.sequence(features, batch.widths)  # (T, B, C), (T, B, 2H)
                frames = log_probs.float().cpu().numpy()
                lengths = self.model.output_lengths(batch.widths).cpu().tolist()
                for row, index in enumerate(batch.indices):
                    out[index] = np.ascontiguousarray(frames[: lengths[row], row])
                if pooled is not None:
                    vectors = self.model.pool(hidden, batch.widths).float().cpu().numpy()  # (B, 2H)
                    pooled[batch.indices] = vectors
                if mc is not None:
                    with mc_dropout(self.model):
                        for _ in range(mc_samples):
                            sample = self.model.sequence(features, batch.widths)[0].float().cpu().numpy()
                            for row, index in enumerate(batch.indices):
                                mc[index].append(self.codec.decode(best_path_labels(sample[: lengths[row], row])))
        return LineOutputs(log_probs=out, embeddings=pooled, mc_texts=mc)

    def predict(
        self,
        images: Sequence[np.ndarray],
        *,
        batch_size: int = 32,
        beam_width: int = 0,
        lm_weight: float = 0.3,
    ) -> list[LineReading]:
        """Read each (H, W) uint8 line; ``beam_width`` > 0 uses beam search (and the LM)."""
        return self.predictions(
            images, self.log_probs(images, batch_size=batch_size), beam_width=beam_width, lm_weight=lm_weight
        )

    def predictions(
        self,
        images: Sequence[np.ndarray],
        log_probs: Sequence[np.ndarray],
        *,
        beam_width: int = 0,
        lm_weight: float = 0.3,
    ) -> list[LineReading]:
        """Decode already computed (T_i, C) ``log_probs`` of ``images`` into predictions."""
        stride = self.model.config.width_stride
        height = self.model.config.height
        predictions = []
        for image, frames in zip(images, log_probs, strict=True):
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
                LineReading(
                    text=decoded.text,
                    confidence=decoded.confidence,
                    char_confidences=decoded.char_confidences,
                    spans=spans,
                    uncertainty=line_uncertainty(frames, self.codec),
                )
            )
        return predictions
