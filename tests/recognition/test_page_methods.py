"""Segmentation methods: the classical segmenter always, kraken's baseline segmenter
where it is installed (``LINEPROOF_KRAKEN_CLI`` or ``kraken`` on the PATH), and a clear
refusal where it is not."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from recognition.pages import (
    CLASSICAL,
    KRAKEN,
    SegmentConfig,
    SegmentMethodUnavailableError,
    kraken_command,
    kraken_lines,
    method_unavailable,
    segment_lines,
    segment_page,
)
from tests.recognition.test_pages import _assert_matches, _page

KRAKEN_CLI = os.environ.get("LINEPROOF_KRAKEN_CLI", "")


def test_the_classical_method_is_the_segmenter_itself() -> None:
    page, truth = _page(lines=4)

    found = segment_page(page, method=CLASSICAL)

    _assert_matches(found, truth)
    assert [line.bbox for line in found] == [line.bbox for line in segment_lines(page)]


def test_kraken_where_it_is_not_installed_and_an_unknown_method_are_refused_with_the_reason(tmp_path: Path) -> None:
    missing = str(tmp_path / "kraken")
    page, _truth = _page(lines=2)

    assert kraken_command(missing) is None
    assert "kraken is not installed" in method_unavailable(KRAKEN, kraken=missing)
    assert "Unknown segmentation method" in method_unavailable("ocropus")
    assert method_unavailable(CLASSICAL, kraken=missing) == ""
    with pytest.raises(SegmentMethodUnavailableError, match="kraken is not installed"):
        segment_page(page, method=KRAKEN, kraken=missing)


def test_krakens_json_becomes_lines_with_polygons_baselines_and_masked_crops() -> None:
    page = np.full((100, 300), 230, dtype=np.uint8)
    page[30:50, 20:280] = 20
    page[60:62, 20:280] = 20  # the next line's ink, outside the first line's polygon
    record: dict[str, object] = {
        "lines": [
            {"boundary": [[20, 28], [280, 28], [280, 52], [20, 52]], "baseline": [[20, 49], [280, 49]]},
            {"boundary": [[5, 5], [6, 6]], "baseline": []},  # no area: left out
        ]
    }

    (line,) = kraken_lines(record, page, SegmentConfig(padding=4))

    assert line.bbox == (16, 24, 285, 57)
    assert line.polygon[0] == (20, 28)
    assert line.baseline == [(20, 49), (280, 49)]
    assert line.reading_order == 0
    assert line.image.shape == (33, 269)
    assert line.image[10, 100] == 20  # the line's own ink
    assert (line.image[30:, :] > 200).all()  # below the polygon (and its padding): paper


@pytest.mark.skipif(kraken_command(KRAKEN_CLI) is None, reason="kraken is not installed here")
def test_kraken_segments_a_rendered_page_into_its_lines() -> None:
    page, truth = _page(lines=4, pitch=80)

    found = segment_page(page, method=KRAKEN, kraken=KRAKEN_CLI)

    # kraken may cut a synthetic line into pieces; every true line is under one of them.
    assert len(found) >= len(truth)
    for x0, y0, x1, y1 in truth:
        middle = ((x0 + x1) / 2, (y0 + y1) / 2)
        assert any(b[0] <= middle[0] <= b[2] and b[1] <= middle[1] <= b[3] for b in (line.bbox for line in found))
    for line in found:
        assert line.image.size > 0
        assert len(line.polygon) >= 3
        assert len(line.baseline) >= 2
