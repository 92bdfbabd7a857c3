"""Where the recognizer runs: the device and the CPU thread count, shared by
training and inference (so inference never imports the training loop)."""

from __future__ import annotations

import os

import torch


def pick_device(name: str | None = None) -> torch.device:
    """CUDA when there is one (or when asked), the CPU otherwise."""
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def set_threads(threads: int | None) -> None:
    # Oversubscribing two cores with data-loading and BLAS threads is slower
    # than using exactly the cores we have.
    torch.set_num_threads(threads or len(os.sched_getaffinity(0)))
