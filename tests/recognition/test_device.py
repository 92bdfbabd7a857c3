"""Device choice, shared by training and inference."""

from __future__ import annotations

import pytest
import torch

from recognition.device import pick_device


def test_cuda_is_chosen_when_present_and_cpu_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device().type == "cpu"
    assert pick_device("cpu").type == "cpu"


def test_inference_does_not_import_the_training_loop() -> None:
    import ast
    from pathlib import Path

    import recognition.infer

    tree = ast.parse(Path(recognition.infer.__file__).read_text(encoding="utf-8"))
    modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "recognition.train" not in modules
