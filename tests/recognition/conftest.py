"""Shared worlds for recognizer tests: a few rendered lines and a tiny trained model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import ImageFile

from recognition.data import LineSample
from recognition.model import PRESETS, ModelConfig
from recognition.synthetic import render_line
from recognition.train import TrainConfig, TrainResult, train

TINY_TEXTS = ("kew gardens", "dear sir", "seeds 1851", "yours truly")


@pytest.fixture
def decoded_sizes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Every pixel decode PIL performs, by image size, to show limits act before decoding."""
    calls: list[tuple[int, int]] = []
    real_load = ImageFile.ImageFile.load

    def spy(self: ImageFile.ImageFile) -> object:
        calls.append(self.size)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return calls


def tiny_samples(texts: tuple[str, ...] = TINY_TEXTS, *, seed: int = 0, height: int = 32) -> list[LineSample]:
    rng = np.random.default_rng(seed)
    return [
        LineSample(id=f"line{i}", text=text, image=render_line(text, rng=rng, height=height))
        for i, text in enumerate(texts)
    ]


def tiny_model_config() -> ModelConfig:
    return ModelConfig(num_classes=2, **{**PRESETS["tiny"], "dropout": 0.0})


def tiny_train_config(**overrides: object) -> TrainConfig:
    values: dict[str, object] = {
        "batch_size": 4,
        "augment": False,
        "threads": 1,
        "warmup_steps": 10,
        "learning_rate": 1e-2,
        "max_steps": 250,
        "eval_every": 25,
        "patience": 100,
        "max_epochs": 1000,
    }
    values.update(overrides)
    return TrainConfig(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    """A tiny model overfit on four rendered lines (a few seconds on one core)."""
    samples = tiny_samples()
    out = tmp_path_factory.mktemp("tiny_run")
    return train(samples, samples, out_dir=out, config=tiny_train_config(), model_config=tiny_model_config())


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_run: TrainResult) -> Path:
    return tiny_run.best_checkpoint
