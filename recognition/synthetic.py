"""Rendered text lines for tests and the demo project.

OpenCV's built-in Hershey fonts need no font files, so these lines render the
same on any machine. They are no substitute for real data (the benchmarks use
``../shared/datasets``), but they give tests and the demo real pixels with a
known transcription.
"""

from __future__ import annotations

import cv2
import numpy as np

FONTS = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_COMPLEX_SMALL,
)

# Hershey fonts draw ASCII only; a wider alphabet would render as '?'.
ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:'-!?"

WORDS = (
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "was",
    "for",
    "on",
    "that",
    "with",
    "by",
    "as",
    "at",
    "from",
    "his",
    "her",
    "letter",
    "plant",
    "seeds",
    "garden",
    "kew",
    "botanical",
    "specimens",
    "received",
    "thank",
    "you",
    "dear",
    "sir",
    "friend",
    "yours",
    "truly",
    "india",
    "flora",
    "collection",
    "species",
    "genus",
    "paper",
    "sent",
    "wrote",
    "week",
    "june",
    "july",
    "august",
    "herbarium",
    "report",
    "society",
)


def render_line(
    text: str,
    *,
    rng: np.random.Generator | None = None,
    height: int = 48,
    font: int | None = None,
) -> np.ndarray:
    """``text`` drawn dark on light, as a (H, W) uint8 line about ``height`` px tall."""
    rng = rng or np.random.default_rng(0)
    font = FONTS[int(rng.integers(len(FONTS)))] if font is None else font
    scale = 1.0
    thickness = int(rng.integers(1, 3))
    (w, h), baseline = cv2.getTextSize(text, font, scale, thickness)
    pad = 8
    canvas = np.full((h + baseline + 2 * pad, w + 2 * pad), 255, dtype=np.uint8)
    ink = int(rng.integers(0, 80))
    cv2.putText(canvas, text, (pad, pad + h), font, scale, ink, thickness, cv2.LINE_AA)
    paper = rng.normal(235, 6, size=canvas.shape).clip(0, 255)
    image = np.minimum(canvas.astype(np.float32), paper).astype(np.uint8)
    new_w = max(1, round(image.shape[1] * height / image.shape[0]))
    return cv2.resize(image, (new_w, height), interpolation=cv2.INTER_AREA)


def random_text(rng: np.random.Generator, *, min_words: int = 2, max_words: int = 6) -> str:
    words = [str(rng.choice(WORDS)) for _ in range(int(rng.integers(min_words, max_words + 1)))]
    if rng.random() < 0.3:
        words.append(str(int(rng.integers(1, 1999))))
    text = " ".join(words)
    if rng.random() < 0.5:
        text = text[0].upper() + text[1:]
    if rng.random() < 0.4:
        text += str(rng.choice([".", ",", ";", "!"]))
    return text
