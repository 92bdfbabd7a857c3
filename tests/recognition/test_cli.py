from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from recognition.__main__ import main

from .conftest import tiny_samples


def _write_folder(folder: Path, texts: tuple[str, ...] | None = None) -> Path:
    folder.mkdir(parents=True)
    for sample in tiny_samples(texts) if texts else tiny_samples():
        assert sample.image is not None
        cv2.imwrite(str(folder / f"{sample.id}.png"), sample.image)
        (folder / f"{sample.id}.gt.txt").write_text(sample.text + "\n", encoding="utf-8")
    return folder


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, object]:
    code = main(list(argv))
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


def test_cli_trains_evaluates_predicts_and_exports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = _write_folder(tmp_path / "lines")
    run = tmp_path / "run"
    code, trained = _run(
        capsys,
        "train", "--train", str(lines), "--val", str(lines), "--out", str(run), "--preset", "tiny",
        "--max-steps", "30", "--batch-size", "4", "--threads", "1", "--no-augment", "--quiet", "--patience", "100",
    )  # fmt: skip
    assert code == 0
    assert isinstance(trained, dict)
    assert trained["steps"] == 30
    assert Path(trained["best_checkpoint"]).exists()

    code, evaluated = _run(capsys, "eval", "--model", str(run / "best.pt"), "--lines", str(lines), "--threads", "1")
    assert code == 0
    assert isinstance(evaluated, dict)
    assert evaluated["lines"] == 4
    assert 0.0 <= evaluated["cer"] <= 1.5

    image = str(lines / "line0.png")
    code, predicted = _run(capsys, "predict", "--model", str(run / "best.pt"), image, "--threads", "1")
    assert code == 0
    assert isinstance(predicted, list)
    assert predicted[0]["path"] == image
    assert {"text", "confidence", "char_confidences", "spans", "uncertainty"} <= set(predicted[0])

    code, exported = _run(capsys, "export", "--model", str(run / "best.pt"), "--out", str(tmp_path / "export"))
    assert code == 0
    assert {Path(p).name for p in exported["written"]} == {"model.ts", "model.onnx", "model.json"}  # type: ignore[index]


def test_cli_predict_reports_a_corrupt_image_and_still_reads_the_rest(
    tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _write_folder(tmp_path / "lines") / "line1.png"
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    code, predicted = _run(capsys, "predict", "--model", str(tiny_checkpoint), str(bad), str(good), "--threads", "1")
    assert code == 1
    assert isinstance(predicted, list)
    assert "not a readable image" in predicted[0]["error"]
    assert "text" in predicted[1]


def test_cli_explains_missing_data_instead_of_crashing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--train", str(tmp_path / "nowhere"), "--val", str(tmp_path), "--out", str(tmp_path / "r")])
    assert code == 2
    assert "not a folder" in capsys.readouterr().err
