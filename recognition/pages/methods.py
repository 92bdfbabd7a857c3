"""Segmentation methods: the classical segmenter (``segment_lines``, always there) and
kraken's baseline segmenter as an optional backend.

kraken is not a dependency: it pins its own torch and lightning, so it lives in a
venv (or an install) of its own and is run as its command line,
``kraken -i page.png out.json segment -bl`` (its default model ships in its wheel).
``kraken_command`` finds it (a configured path, else ``kraken`` on the PATH);
``segment_page`` raises ``SegmentMethodUnavailableError`` when kraken is chosen and not there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np

from recognition.pages.config import PageLine, SegmentConfig
from recognition.pages.imaging import check_gray
from recognition.pages.segment import segment_lines

CLASSICAL = "classical"
KRAKEN = "kraken"
# Each method and what it is (the project settings list them).
SEGMENT_METHODS: dict[str, str] = {
    CLASSICAL: "Lineproof's own segmenter: ink profiles and components, no model; a fraction of a CPU-second a page.",
    KRAKEN: "kraken's baseline segmenter (blla, its default model), when kraken is installed on the server; "
    "about 20-40 CPU-seconds a page.",
}
# kraken on one page: loading its model included, a minute is plenty on a CPU.
KRAKEN_TIMEOUT_S = 600


class SegmentMethodUnavailableError(RuntimeError):
    """The chosen segmentation method cannot run here (kraken not installed)."""


def kraken_command(configured: str = "") -> str | None:
    """The kraken executable: ``configured`` when it is an executable file, else ``kraken`` on the PATH; None."""
    if configured:
        path = Path(configured)
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    return shutil.which("kraken")


def method_unavailable(method: str, *, kraken: str = "") -> str:
    """Why ``method`` cannot run here ("" when it can); ``kraken``: the configured kraken command."""
    if method not in SEGMENT_METHODS:
        return f"Unknown segmentation method {method!r}; use one of {', '.join(SEGMENT_METHODS)}."
    if method == KRAKEN and kraken_command(kraken) is None:
        where = f"at {kraken!r}" if kraken else "on the PATH"
        return (
            f"kraken is not installed on this server (no kraken command {where}); install kraken "
            "or set LINEPROOF_KRAKEN_CLI, or choose the classical method."
        )
    return ""


def _polygon_crop(gray: np.ndarray, polygon: np.ndarray, padding: int) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """The page's box around ``polygon`` (plus padding), outside the polygon painted paper: (bbox, crop)."""
    height, width = gray.shape
    points = np.round(polygon).astype(np.int32)
    x0, y0 = np.maximum(points.min(axis=0) - padding, 0)
    x1, y1 = np.minimum(points.max(axis=0) + padding + 1, [width, height])
    crop = gray[y0:y1, x0:x1].copy()
    mask = np.zeros(crop.shape, dtype=np.uint8)
    cv2.fillPoly(mask, [points - np.array([x0, y0], dtype=np.int32)], 1)
    grown = cv2.dilate(mask, np.ones((3, 3), np.uint8), iterations=max(1, padding // 2))
    crop[grown == 0] = int(np.percentile(gray, 90))
    return (int(x0), int(y0), int(x1), int(y1)), crop


def kraken_lines(record: dict[str, object], gray: np.ndarray, config: SegmentConfig) -> list[PageLine]:
    """The lines of kraken's JSON output (``segment -bl``) on page ``gray``, in kraken's order."""
    height, width = gray.shape
    lines: list[PageLine] = []
    raw = record.get("lines", [])
    for entry in raw if isinstance(raw, list) else []:
        boundary = np.asarray(entry.get("boundary") or [], dtype=np.float64).reshape(-1, 2)
        if len(boundary) < 3:
            continue
        boundary[:, 0] = np.clip(boundary[:, 0], 0, width - 1)
        boundary[:, 1] = np.clip(boundary[:, 1], 0, height - 1)
        bbox, crop = _polygon_crop(gray, boundary, config.padding)
        if crop.size == 0:
            continue
        baseline = np.asarray(entry.get("baseline") or [], dtype=np.float64).reshape(-1, 2)
        lines.append(
            PageLine(
                bbox=bbox,
                polygon=[(round(float(x)), round(float(y))) for x, y in boundary],
                image=crop,
                reading_order=len(lines),
                baseline=[(round(float(x)), round(float(y))) for x, y in baseline],
            )
        )
    return lines


def kraken_segment(gray: np.ndarray, *, command: str, config: SegmentConfig = SegmentConfig()) -> list[PageLine]:
    """kraken's baseline segmenter on a (H, W) uint8 page, run as ``command``; its lines in its reading order."""
    check_gray(gray)
    with tempfile.TemporaryDirectory(prefix="lineproof-kraken-") as work:
        image, output = Path(work) / "page.png", Path(work) / "page.json"
        cv2.imwrite(str(image), gray)
        result = subprocess.run(
            [command, "-i", str(image), str(output), "segment", "-bl"],
            capture_output=True,
            text=True,
            timeout=KRAKEN_TIMEOUT_S,
            check=False,
            env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")},
        )
        if result.returncode != 0 or not output.is_file():
            tail = (result.stderr or result.stdout)[-500:]
            raise RuntimeError(f"kraken segment failed ({result.returncode}): {tail}")
        record = json.loads(output.read_text(encoding="utf-8"))
    return kraken_lines(record, gray, config)


def segment_page(
    gray: np.ndarray, *, method: str = CLASSICAL, config: SegmentConfig = SegmentConfig(), kraken: str = ""
) -> list[PageLine]:
    """The lines of a page by ``method`` (one of ``SEGMENT_METHODS``); ``kraken``: the configured kraken command.

    Raises ``SegmentMethodUnavailableError`` for an unknown method or kraken not installed."""
    reason = method_unavailable(method, kraken=kraken)
    if reason:
        raise SegmentMethodUnavailableError(reason)
    if method == KRAKEN:
        command = kraken_command(kraken)
        assert command is not None
        return kraken_segment(gray, command=command, config=config)
    return segment_lines(gray, config=config)
