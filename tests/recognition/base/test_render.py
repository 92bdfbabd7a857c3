"""Synthetic lines: real fonts, only text a font can draw, scanned-looking pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recognition.base.corpus import STORE_HEIGHT
from recognition.base.render import FontFace, age_line, book_lines, glyph_coverage, installed_fonts, render_font_line


def _face(name: str) -> FontFace:
    return next(face for face in installed_fonts() if Path(face.path).name == name)


def test_every_font_package_of_the_sources_is_installed_and_used() -> None:
    faces = installed_fonts()
    styles = {face.style for face in faces}
    assert {"handwriting", "old-style roman", "blackletter"} <= styles
    assert all(Path(face.path).is_file() for face in faces)


def test_glyph_coverage_leaves_out_characters_a_font_draws_as_notdef() -> None:
    # Kristi is a handwriting face with Latin letters and no Greek.
    coverage = glyph_coverage(_face("Kristi.ttf").path, "abcαβ")
    assert {"a", "b", "c"} <= coverage
    assert not {"α", "β"} & coverage


def test_a_rendered_line_is_dark_ink_on_light_paper_at_most_the_store_height() -> None:
    rng = np.random.default_rng(3)
    for name in ("DejaVuSerif.ttf", "Kristi.ttf", "Blankenburg_UNZ1A.ttf"):
        image = render_font_line("the seeds arrived", _face(name), rng)
        assert image.dtype == np.uint8
        assert image.ndim == 2
        assert 16 <= image.shape[0] <= STORE_HEIGHT
        assert image.shape[1] > 2 * image.shape[0]
        assert np.median(image) > 120
        assert image.min() < 100


def test_ageing_keeps_the_paper_lighter_than_the_ink() -> None:
    ink = np.zeros((40, 200), dtype=np.float32)
    ink[15:25, 20:180] = 1.0
    for seed in range(20):
        image = age_line(ink, np.random.default_rng(seed))
        assert image[15:25, 40:160].mean() < image[:5].mean(), seed


def test_book_text_is_cut_at_word_boundaries_into_line_lengths() -> None:
    text = " ".join(f"word{i}" for i in range(300))
    lines = book_lines(text, np.random.default_rng(0), min_chars=12, max_chars=40)
    assert " ".join(lines) == text
    assert all(len(line) <= 40 + 8 for line in lines)
