"""Segmentation of rendered pages with the layouts that break naive line finding.

Each page is built in code from rendered lines at known places (see test_pages.py):
two columns, a table, a dark scan border with a binding strip, squared paper, a
slanted block, and a blank textured page that must give no lines.
"""

from __future__ import annotations

import cv2
import numpy as np

from recognition.pages import SegmentConfig, segment_lines
from recognition.pages.lines import Centre, LineInk, split_insertions
from recognition.segmentation_metrics import score_page
from recognition.synthetic import random_text, render_line
from tests.recognition.test_pages import Box, _assert_matches, _iou, _page, _paste_line


def _box_polygon(box: Box) -> np.ndarray:
    x0, y0, x1, y1 = box
    return np.array([[x0, y0], [x1 - 1, y0], [x1 - 1, y1 - 1], [x0, y1 - 1]], dtype=np.float64)


def test_table_cells_are_lines_of_their_own() -> None:
    rng = np.random.default_rng(5)
    page = rng.normal(232, 5, (420, 1200)).clip(0, 255)
    cells = []
    for row in range(5):
        for col, x in enumerate((60, 460, 860)):
            words = random_text(rng, min_words=1, max_words=2)
            line = render_line(words, rng=rng, height=36)[:, :280]
            cells.append((row, col, _paste_line(page, line, x, 50 + 64 * row)))

    found = segment_lines(page.astype(np.uint8))

    assert len(found) == len(cells), [line.bbox for line in found]
    for _, _, box in cells:
        assert max(_iou(line.bbox, box) for line in found) > 0.5, box
    # No box reaches across a gap between two columns of the table.
    assert all(line.bbox[2] - line.bbox[0] < 330 for line in found)


def test_dark_border_binding_strip_and_facing_page_edge_stay_out_of_the_lines() -> None:
    page, truth = _page(lines=6, width=1000)
    scan = page.copy()
    h, w = scan.shape
    scan[:, :30] = 25  # the scanner's black border
    scan[:, 30:34] = 200
    scan[:, 34:60] = np.linspace(70, 200, 26)[None, :].astype(np.uint8)  # the binding's shadow
    scan[:, w - 20 :] = 40  # the edge of the facing page
    cv2.rectangle(scan, (8, 8), (w - 9, h - 9), 30, 3)  # a frame drawn round the page
    for y in range(90, h - 60, 140):  # punch holes in the margin
        cv2.circle(scan, (w - 50, y), 9, 20, -1)

    found = segment_lines(scan)

    _assert_matches(found, truth)
    for line, (x0, _, x1, _) in zip(found, truth, strict=True):
        assert line.bbox[0] >= x0 - 12
        assert line.bbox[2] <= x1 + 12


def test_squared_paper_rules_add_no_lines() -> None:
    page, truth = _page(lines=5, pitch=70, height=40, width=900, seed=2)
    grid = page.copy()
    grid[::32, :] = np.minimum(grid[::32, :], 160)
    grid[:, ::32] = np.minimum(grid[:, ::32], 160)

    found = segment_lines(grid)

    _assert_matches(found, truth)


def _slanted_line(page: np.ndarray, text: str, x: int, y: int, angle: float, rng: np.random.Generator) -> np.ndarray:
    """Paste a rendered line turned by ``angle`` degrees at (x, y); the convex hull of its ink on the page."""
    line = render_line(text, rng=rng, height=38)[:, :700]
    h, w = line.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    size = (int(w * cos + h * sin) + 2, int(w * sin + h * cos) + 2)
    matrix[0, 2] += size[0] / 2 - w / 2
    matrix[1, 2] += size[1] / 2 - h / 2
    turned = cv2.warpAffine(line, matrix, size, borderValue=255)
    th, tw = turned.shape
    page[y : y + th, x : x + tw] = np.minimum(page[y : y + th, x : x + tw], turned)
    ys, xs = np.nonzero(turned < 150)
    hull = cv2.convexHull(np.column_stack([xs + x, ys + y]).astype(np.int32))
    return hull.reshape(-1, 2).astype(np.float64)


def test_a_slanted_block_gets_polygons_that_follow_its_lines() -> None:
    rng = np.random.default_rng(7)
    page = rng.normal(232, 5, (900, 1000)).clip(0, 255)
    truth = []
    for i in range(4):  # a level block
        line = render_line(random_text(rng, min_words=4, max_words=6), rng=rng, height=38)[:, :800]
        truth.append(_box_polygon(_paste_line(page, line, 60, 40 + 62 * i)))
    for i in range(5):  # and one rising 5 degrees to the right, as handwriting drifts
        text = random_text(rng, min_words=4, max_words=6)
        truth.append(_slanted_line(page, text, 60, 330 + 95 * i, 5.0, rng))

    found = segment_lines(page.astype(np.uint8))

    polygons = [np.asarray(line.polygon, dtype=np.float64) for line in found]
    score = score_page(truth, polygons)
    assert (score.matched, score.predicted_lines) == (len(truth), len(truth))
    # A rectangle round a slanted line would take in much of its neighbours; the polygons do not.
    assert min(score.ious) > 0.5
    # The baselines of the slanted block rise with it (tan 5 degrees = 0.087).
    for found_line in found[4:]:
        baseline = np.asarray(found_line.baseline, dtype=np.float64)
        rise = (baseline[0, 1] - baseline[-1, 1]) / (baseline[-1, 0] - baseline[0, 0])
        assert 0.03 < rise < 0.15, rise


def test_a_blank_textured_page_with_a_crease_has_no_lines() -> None:
    rng = np.random.default_rng(11)
    h, w = 1100, 800
    paper = rng.normal(225, 7, (h, w))
    # Mottled, fibrous paper: blurred noise at two scales and short dark fibres.
    paper += cv2.GaussianBlur(rng.normal(0, 25, (h, w)), (0, 0), 6)
    paper += cv2.resize(rng.normal(0, 12, (h // 50, w // 50)), (w, h), interpolation=cv2.INTER_CUBIC)
    for x, y in rng.integers(0, min(h, w), size=(300, 2)):
        length, angle = rng.integers(3, 9), rng.uniform(0, np.pi)
        x1, y1 = int(x + length * np.cos(angle)), int(y + length * np.sin(angle))
        cv2.line(paper, (int(x), int(y)), (x1, y1), float(rng.uniform(150, 190)), 1)
    # A crease across the page: a soft dark fold with a light edge.
    for x in range(w):
        y = int(400 + 0.15 * x)
        paper[max(0, y - 6) : y + 6, x] -= np.hanning(12)[: min(y + 6, h) - max(0, y - 6)] * 70
        paper[y + 6 : y + 9, x] += 15

    found = segment_lines(paper.clip(0, 255).astype(np.uint8))

    assert found == []


def test_a_note_written_sideways_down_the_margin_does_not_widen_the_lines() -> None:
    text, truth = _page(lines=8, width=900, seed=3)
    page = np.full((text.shape[0], 1000), 232, dtype=np.uint8)
    page[:, :900] = text
    rng = np.random.default_rng(8)
    note = render_line(random_text(rng, min_words=4, max_words=5), rng=rng, height=40)[:, :420]
    # Joined up like handwriting (each word one stroke), read bottom to top up the right margin.
    joined = cv2.erode(note, np.ones((3, 7), np.uint8))
    _paste_line(page, np.rot90(joined).copy(), 930, 90)

    found = segment_lines(page)

    _assert_matches(found, truth)
    for line, (x0, _, x1, _) in zip(found, truth, strict=True):
        # No box reaches out to the note: wider than its own ink by at most a few pixels.
        assert line.bbox[0] >= x0 - 12
        assert line.bbox[2] <= x1 + 12


def test_the_edge_of_the_facing_page_beyond_the_binding_is_not_read_as_lines() -> None:
    page, truth = _page(lines=7, width=1000, seed=4)
    rng = np.random.default_rng(9)
    spread = np.full((page.shape[0], 1260), 232, dtype=np.uint8)
    spread[:, 260:] = page
    # The facing page's lines, cut off by the image's left edge, then the binding's shadow.
    for i in range(7):
        words = render_line(random_text(rng, min_words=4, max_words=6), rng=rng, height=40)
        cut = words[:, max(0, words.shape[1] - 200) :]
        spread[60 + i * 60 : 60 + i * 60 + cut.shape[0], : cut.shape[1]] = np.minimum(
            spread[60 + i * 60 : 60 + i * 60 + cut.shape[0], : cut.shape[1]], cut
        )
    spread[:, 215:245] = np.linspace(120, 225, 30)[None, :].astype(np.uint8)
    shifted = [(x0 + 260, y0, x1 + 260, y1) for x0, y0, x1, y1 in truth]

    found = segment_lines(spread)

    _assert_matches(found, shifted)
    assert all(line.bbox[0] >= 250 for line in found)


def _line_of(mask: np.ndarray) -> tuple[LineInk, np.ndarray]:
    """All ink of ``mask`` as one line on a level centre line at y = 100, and its component labels."""
    _, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    ys, xs = np.nonzero(mask)
    centre = Centre(np.array([0.0, float(mask.shape[1])]), np.array([100.0, 100.0]))
    return LineInk(xs, ys, centre, (3, 0, int(xs.min()))), labels


def test_a_word_written_small_above_a_line_becomes_a_line_of_its_own_and_its_i_dots_stay() -> None:
    mask = np.zeros((200, 900), dtype=bool)
    for x in range(40, 840, 160):  # the line's words, a text height (30 px) tall
        mask[85:115, x : x + 120] = True
    mask[62:74, 300:410] = True  # an insertion: a small joined-up word above the line
    for x in (60, 700):  # dots over the line's letters
        mask[72:76, x : x + 4] = True
    line, labels = _line_of(mask)

    parts = split_insertions(line, labels, 30.0, SegmentConfig())

    assert len(parts) == 2
    main, inserted = parts
    assert main.box == (40, 72, 800, 115)  # the dots stay with their letters' line
    assert inserted.box == (300, 62, 410, 74)
    assert inserted.order == (3, -1, 300)  # read just before the line it was written above
    assert split_insertions(line, labels, 30.0, SegmentConfig(insertions=False)) == [line]
