"""Shipped base models: recognizers that already read, for every project to start from.

A base is a small fp16 checkpoint in ``recognition/base/models/<name>.pt``
with its model card ``<name>.md`` beside it, loaded through the one loader
(``recognition.checkpoint.load_checkpoint``). Wherever a checkpoint path is
expected, ``base`` names the default base and ``base:<name>`` a given one
(:func:`resolve_checkpoint`). How a base is made: ``corpus.py`` (real line
ground truth), ``render.py`` (synthetic lines), ``pretrain.py`` (the recipe).
"""

from __future__ import annotations

from pathlib import Path

MODELS_DIR = Path(__file__).with_name("models")
DEFAULT_BASE = "latin-cpu"
BASE_PREFIX = "base"


class UnknownBaseError(ValueError):
    """A ``base:<name>`` that names no shipped base model."""


def base_names() -> list[str]:
    """The shipped bases, by name."""
    return sorted(p.stem for p in MODELS_DIR.glob("*.pt"))


def base_path(name: str = DEFAULT_BASE) -> Path:
    path = MODELS_DIR / f"{name}.pt"
    if not path.is_file():
        raise UnknownBaseError(f"no base model {name!r}; shipped: {', '.join(base_names()) or 'none'}")
    return path


def is_base_spec(spec: str | Path) -> bool:
    text = str(spec)
    return text == BASE_PREFIX or text.startswith(f"{BASE_PREFIX}:")


def resolve_checkpoint(spec: str | Path) -> Path:
    """``base`` -> the default base, ``base:<name>`` -> that base, anything else -> a path."""
    text = str(spec)
    if text == BASE_PREFIX:
        return base_path()
    if text.startswith(f"{BASE_PREFIX}:"):
        return base_path(text.split(":", 1)[1])
    return Path(spec)
