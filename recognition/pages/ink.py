"""The ink of a page: rules, borders and specks out, the text height, the columns."""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from recognition.pages.config import SegmentConfig


def remove_rules(ink: np.ndarray, fraction: float) -> np.ndarray:
    """(H, W) bool ink without long straight horizontal or vertical runs (grid lines, frames, page edges).

    A run at least ``fraction`` x the page's longer side long is found by an
    opening with a line-shaped kernel; it is taken out with a pixel of its rim.
    Letters have no straight stroke that long (on a line image too: its longer side
    is the line's length).
    """
    length = max(15, round(fraction * max(ink.shape)))
    mask = ink.astype(np.uint8)
    rules = np.zeros(ink.shape, dtype=bool)
    for size in ((length, 1), (1, length)):
        rules |= cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, size)) > 0
    if not rules.any():
        return ink
    wide: np.ndarray = cv2.dilate(rules.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    return ink & ~wide


def clean_ink(binary: np.ndarray, config: SegmentConfig) -> np.ndarray:
    """(H, W) bool ink mask without rules, specks and edge artefacts; ``binary`` has ink 0."""
    ink = remove_rules(binary == 0, config.rule_fraction).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    if n <= 1:
        return ink.astype(bool)
    h, w = ink.shape
    x, y, cw, ch, area = (stats[:, i] for i in range(5))
    touches = (x == 0) | (y == 0) | (x + cw >= w) | (y + ch >= h)
    long = (ch >= config.border_fraction * h) | (cw >= config.border_fraction * w)
    keep = area >= config.min_component_area
    keep[0] = False
    text_h = float(np.median(ch[1:][keep[1:]])) if keep.any() else 0.0
    # Nothing half the page and several letters tall is a letter: a frame, a shadow, a fold.
    keep &= (ch < 2 * config.border_fraction * h) | (ch < 4 * text_h)
    for c in np.flatnonzero(touches & long & keep):
        # Solid within its tightest rotated rectangle (a margin strip or shadow,
        # rotated with the page or not) or a thin straight edge (the page's own
        # edge, a fold): ink strokes are neither.
        ys, xs = np.nonzero(labels[y[c] : y[c] + ch[c], x[c] : x[c] + cw[c]] == c)
        (_, _), (rw, rh), _ = cv2.minAreaRect(np.column_stack([xs, ys]).astype(np.float32))
        if area[c] >= 0.5 * max(rw * rh, 1.0) or min(rw, rh) <= 0.5 * text_h:
            keep[c] = False
    return keep[labels]


def text_height(heights: np.ndarray, areas: np.ndarray, min_height: int) -> float:
    """Median height of the components that are not dots or commas, each counted by its ink.

    Counting by ink, a joined-up word weighs more than the loose dots and strokes
    around it, so handwriting gets the height of its words, not of its fragments.
    """
    if len(heights) == 0:
        return float(min_height)
    tall = heights >= 0.5 * np.percentile(heights, 75)
    order = np.argsort(heights[tall], kind="stable")
    weights = np.cumsum(areas[tall][order])
    median = heights[tall][order][int(np.searchsorted(weights, weights[-1] / 2))]
    return max(float(median), float(min_height) / 2)


def columns(ink: np.ndarray, text_h: float, config: SegmentConfig) -> list[tuple[int, int]]:
    """[x0, x1) ranges of the text columns, left to right."""
    w = ink.shape[1]
    cols = np.flatnonzero(ink.any(axis=0))
    rows = np.flatnonzero(ink.any(axis=1))
    if not config.columns or len(cols) == 0 or rows[-1] - rows[0] + 1 < config.min_column_lines * text_h:
        return [(0, w)]
    gaps = np.diff(cols)
    cut_at = np.flatnonzero(gaps - 1 >= config.min_gutter * text_h)
    bounds = [0] + [int(cols[i] + cols[i + 1] + 1) // 2 for i in cut_at] + [w]
    ranges = list(itertools.pairwise(bounds))
    # Every column must hold several lines' height of text, or this is a line
    # with a wide gap (a date far right, a gap in a handwritten line), not columns.
    for x0, x1 in ranges:
        part = np.flatnonzero(ink[:, x0:x1].any(axis=1))
        if part[-1] - part[0] + 1 < config.min_column_lines * text_h:
            return [(0, w)]
    return ranges


def sideways_text(ink: np.ndarray, text_h: float, config: SegmentConfig) -> np.ndarray:
    """(H, W) bool: the ink of notes written sideways down a side margin, which would otherwise widen
    every horizontal line they are near.

    Written sideways, joined-up words are ink components (blobs) much taller than wide
    (``sideways_aspect``, at least ``sideways_height`` text heights tall). Two or more such
    blobs stacked in one narrow band of columns, together ``sideways_span`` text heights
    tall, in the outer ``sideways_margin`` of the page width, with at least
    ``sideways_purity`` of the band's ink in blobs not wider than tall, are a note down the
    margin: every blob centred in the band is taken. Horizontal handwriting has tall
    loops and letters, but not a stack of them in a band without wide words.
    """
    picked = np.zeros(ink.shape, dtype=bool)
    if not config.sideways or not ink.any():
        return picked
    count, blobs, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    if count <= 1:
        return picked
    width = ink.shape[1]
    x, y, w, h = (stats[:, i].astype(np.float64) for i in range(4))
    upright = (h >= config.sideways_aspect * w) & (h >= config.sideways_height * text_h)
    upright[0] = False
    band_w = 1.5 * text_h
    margin = config.sideways_margin * width
    taken = np.zeros(count, dtype=bool)
    cx, cy = x + w / 2, y + h / 2
    for c in np.flatnonzero(upright):
        if margin <= cx[c] <= width - margin:
            continue
        # The upright blobs whose centres share this one's band of columns.
        near = upright & (np.abs(cx - cx[c]) <= band_w)
        if h[near].sum() < config.sideways_span * text_h or np.count_nonzero(near) < 2:
            continue
        bx0, bx1 = float(x[near].min()), float((x + w)[near].max())
        by0, by1 = float(y[near].min()), float((y + h)[near].max())
        inside = (cx >= bx0) & (cx <= bx1) & (cy >= by0 - text_h) & (cy <= by1 + text_h) & (w <= bx1 - bx0 + text_h)
        inside[0] = False
        # Hardly any wide (horizontal) words in the band: a column of tall letters
        # at the start of horizontal lines (l, d, h, k) stands among wide words.
        area = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
        wide = w >= 1.2 * h
        if area[inside & wide].sum() > (1 - config.sideways_purity) * area[inside].sum():
            continue
        taken |= inside
    if taken.any():
        picked = ink & taken[blobs]
    return picked


def without_facing_page(
    ranges: list[tuple[int, int]], stats: np.ndarray, text_h: float, width: int, config: SegmentConfig
) -> list[tuple[int, int]]:
    """The column ranges without a facing page's text: on a book spread scanned a little wide, the
    outermost column, narrower than ``facing_width`` of the page, whose lines are cut off by the
    image's side (letters of at least ``facing_lines`` different lines touch it)."""
    if len(ranges) < 2:
        return ranges
    x, y, w, h = (stats[1:, i] for i in range(4))
    letters = h >= config.min_letter * text_h
    kept = list(ranges)
    for index, touching in ((0, x <= 1), (len(ranges) - 1, x + w >= width - 1)):
        x0, x1 = ranges[index]
        if x1 - x0 > config.facing_width * width:
            continue
        tops = np.sort(y[letters & touching & (x < x1) & (x + w > x0)])
        # Letters of one line touch the side within a text height of each other.
        lines = int(np.count_nonzero(np.diff(tops) > text_h)) + 1 if len(tops) else 0
        if lines >= config.facing_lines and ranges[index] in kept:
            kept.remove(ranges[index])
    return kept or ranges
