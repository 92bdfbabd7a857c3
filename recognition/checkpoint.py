"""Checkpoints: plain dicts that rebuild the model and codec through one loader.

A checkpoint holds only tensors and plain Python values (``weights_only``
loading works), so it can be read without trusting pickled code::

    {
        "format": "lineproof-ctc",
        "version": 1,
        "model_config": {...},         # ModelConfig.to_dict()
        "codec": {"alphabet": [...]},
        "state_dict": {...},            # model weights
        "metrics": {"cer": ..., ...},   # on the validation data
        "lm": {...} | None,             # CharNGramLM.to_dict()
        "meta": {...},                  # step, lines trained, timings, parent
        "training": {...} | None,       # optimizer etc., only in resumable ``last.pt``
        "calibration": {...} | None,    # Calibration.to_dict(), fitted on validation lines
    }

``calibration`` is optional (older checkpoints lack it).

Writes are atomic: a temporary file in the same folder, fsync, then rename,
so a worker killed mid-write never leaves a truncated ``best.pt``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from recognition.base import UnknownBaseError, resolve_checkpoint
from recognition.codec import Codec
from recognition.lm import CharNGramLM
from recognition.model import CRNN, ModelConfig

FORMAT = "lineproof-ctc"
VERSION = 1


class CheckpointError(ValueError):
    """A file that is not a usable Lineproof checkpoint."""


@dataclass
class LoadedModel:
    model: CRNN
    codec: Codec
    config: ModelConfig
    metrics: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    lm: CharNGramLM | None = None
    training: dict[str, Any] | None = None
    # Calibration.to_dict() (recognition.calibration); a plain dict here so
    # the loader stays independent of how confidences are calibrated.
    calibration: dict[str, Any] | None = None


def checkpoint_dict(
    model: CRNN,
    codec: Codec,
    *,
    metrics: dict[str, float] | None = None,
    meta: dict[str, Any] | None = None,
    lm: CharNGramLM | None = None,
    training: dict[str, Any] | None = None,
    calibration: dict[str, Any] | None = None,
) -> dict[str, Any]:
    if model.config.num_classes != codec.num_classes:
        raise ValueError(f"model has {model.config.num_classes} classes, codec {codec.num_classes}")
    return {
        "format": FORMAT,
        "version": VERSION,
        "model_config": model.config.to_dict(),
        "codec": codec.to_dict(),
        # Cloned to CPU so the saved dict does not alias live training tensors.
        "state_dict": {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()},
        "metrics": dict(metrics or {}),
        "lm": lm.to_dict() if lm is not None else None,
        "meta": dict(meta or {}),
        "training": training,
        "calibration": calibration,
    }


def save_atomic(checkpoint: dict[str, Any], path: Path | str) -> Path:
    """Write ``checkpoint`` to ``path`` so readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(checkpoint, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: Path | str, *, device: torch.device | str = "cpu") -> LoadedModel:
    """The one loader: a checkpoint file to a ready (eval-mode) model and its codec.

    ``base`` and ``base:<name>`` name a shipped base model (``recognition.base``).
    """
    try:
        path = resolve_checkpoint(path)
    except UnknownBaseError as exc:
        raise CheckpointError(str(exc)) from None
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint ({exc.__class__.__name__})") from exc
    return from_dict(data, device=device, name=str(path))


def from_dict(data: Any, *, device: torch.device | str = "cpu", name: str = "<checkpoint>") -> LoadedModel:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{name}: not a Lineproof checkpoint")
    if data.get("version") != VERSION:
        raise CheckpointError(f"{name}: checkpoint version {data.get('version')} is not supported")
    codec = Codec.from_dict(data["codec"])
    config = ModelConfig.from_dict(data["model_config"])
    if config.num_classes != codec.num_classes:
        raise CheckpointError(f"{name}: model has {config.num_classes} classes but codec {codec.num_classes}")
    model = CRNN(config)
    model.load_state_dict(data["state_dict"])
    model.to(device).eval()
    lm = CharNGramLM.from_dict(data["lm"]) if data.get("lm") else None
    return LoadedModel(
        model=model,
        codec=codec,
        config=config,
        metrics=dict(data.get("metrics") or {}),
        meta=dict(data.get("meta") or {}),
        lm=lm,
        training=data.get("training"),
        calibration=data.get("calibration"),
    )
