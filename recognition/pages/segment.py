"""``segment_lines``: a page's text lines in reading order, with polygons, baselines and masked crops."""

from __future__ import annotations

import cv2
import numpy as np

from recognition.pages.config import PageLine, SegmentConfig
from recognition.pages.imaging import binarize_page, check_gray, estimate_skew, paint_dark_margins, rotation
from recognition.pages.ink import clean_ink, columns, sideways_text, text_height, without_facing_page
from recognition.pages.lines import LineInk, assign_ink, baseline, find_centres, outline, split_lines


def _to_page(points: np.ndarray, inverse: np.ndarray, width: int, height: int) -> list[tuple[int, int]]:
    """Deskewed-page points mapped back to the page's pixels (clipped to it)."""
    mapped = points @ inverse[:, :2].T + inverse[:, 2]
    xs = np.clip(np.round(mapped[:, 0]), 0, width - 1).astype(int)
    ys = np.clip(np.round(mapped[:, 1]), 0, height - 1).astype(int)
    return list(zip(xs.tolist(), ys.tolist(), strict=True))


def _crop(
    straight: np.ndarray,
    polygon: np.ndarray,
    mine: int,
    owner: np.ndarray,
    labels: np.ndarray,
    config: SegmentConfig,
) -> np.ndarray:
    """The deskewed page under ``polygon`` plus padding; outside the polygon and other lines' ink painted paper."""
    sh, sw = straight.shape
    pad = config.padding
    x0, y0 = np.floor(polygon.min(axis=0)).astype(int) - pad
    x1, y1 = np.ceil(polygon.max(axis=0)).astype(int) + pad + 1
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(sw, x1), min(sh, y1)
    crop = straight[y0:y1, x0:x1].copy()
    if not config.mask_neighbours:
        return crop
    area = np.zeros(crop.shape, dtype=np.uint8)
    cv2.fillPoly(area, [np.round(polygon - [x0, y0]).astype(np.int32)], 1)
    inside: np.ndarray = cv2.dilate(area, np.ones((3, 3), np.uint8), iterations=max(1, pad // 2)) > 0
    crop_labels = labels[y0:y1, x0:x1]
    crop_owner = owner[y0:y1, x0:x1]
    paper_pixels = crop[crop_labels == 0]
    paper = int(np.median(paper_pixels)) if paper_pixels.size else 255
    foreign = (crop_labels > 0) & (crop_owner != mine)
    if foreign.any():
        # One pixel wider: the anti-aliased rim of a stroke is lighter than the binarisation cut.
        foreign = cv2.dilate(foreign.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        foreign &= crop_owner != mine
    crop[foreign | ~inside] = paper
    return crop


def segment_lines(gray: np.ndarray, *, config: SegmentConfig = SegmentConfig()) -> list[PageLine]:
    """The text lines of a (H, W) uint8 page, in reading order (columns left to right, then top to bottom).

    An empty page gives []. See ``recognition.pages`` for the method and the coordinates.
    """
    check_gray(gray)
    page = paint_dark_margins(gray, config.margin_contrast)
    ink = clean_ink(binarize_page(page, min_contrast=config.min_contrast), config)
    if not ink.any():
        return []

    angle = 0.0
    if config.deskew:
        angle = estimate_skew(np.where(ink, 0, 255).astype(np.uint8), max_angle=config.max_skew)
    if abs(angle) >= config.min_skew:
        matrix, size = rotation(gray.shape, angle)
        straight = cv2.warpAffine(
            page, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=255
        )
        ink = cv2.warpAffine(ink.astype(np.uint8), matrix, size, flags=cv2.INTER_NEAREST, borderValue=0) > 0
    else:
        matrix = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        straight = page
    inverse = cv2.invertAffineTransform(matrix)

    _, labels, stats, centroids = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    text_h = text_height(stats[1:, cv2.CC_STAT_HEIGHT], stats[1:, cv2.CC_STAT_AREA], config.min_line_height)
    if text_h < config.min_text_height:
        return []
    sideways = sideways_text(ink, text_h, config)
    if sideways.any():
        ink = ink & ~sideways
        _, labels, stats, centroids = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    owner = np.full(ink.shape, -1, dtype=np.int64)
    found: list[LineInk] = []
    first = 0
    ranges = without_facing_page(columns(ink, text_h, config), stats, text_h, ink.shape[1], config)
    for x0, x1 in ranges:
        members = np.flatnonzero((centroids[:, 0] >= x0) & (centroids[:, 0] < x1))
        members = members[members > 0]
        if len(members) == 0:
            continue
        part = ink.copy() if x0 > 0 or x1 < ink.shape[1] else ink
        if part is not ink:
            part[:, :x0] = False
            part[:, x1:] = False
        centres = find_centres(part, text_h, config)
        assign_ink(labels, stats, centroids, members, centres, text_h, config, owner, first)
        lines = split_lines(owner, labels, stats, centres, first, text_h, config)
        found += sorted(lines, key=lambda line: line.order)
        first += len(centres)
    found = _drop_edge_slivers(found, inverse, gray.shape[0], text_h, config)

    # Owner by line (not by centre) for the crops.
    line_owner = np.full(ink.shape, -1, dtype=np.int64)
    for index, line in enumerate(found):
        line_owner[line.ys, line.xs] = index
    height, width = gray.shape
    result = []
    for index, line in enumerate(found):
        polygon = outline(line, text_h, config)
        mapped = _to_page(polygon, inverse, width, height)
        xs, ys = [p[0] for p in mapped], [p[1] for p in mapped]
        bbox = (min(xs), min(ys), max(xs), max(ys))
        crop = _crop(straight, polygon, index, line_owner, labels, config)
        result.append(
            PageLine(
                bbox=bbox,
                polygon=mapped,
                image=crop,
                reading_order=index,
                baseline=_to_page(baseline(line, text_h, config), inverse, width, height),
            )
        )
    return result


def _drop_edge_slivers(
    lines: list[LineInk], inverse: np.ndarray, height: int, text_h: float, config: SegmentConfig
) -> list[LineInk]:
    """Without thin lines at the page's top or bottom edge (the neighbour line caught in a line crop, the
    shadow of the page's own edge)."""
    if len(lines) < 2:
        return lines
    heights = [line.box[3] - line.box[1] for line in lines]
    typical = float(np.median(heights))
    kept = []
    for line, h in zip(lines, heights, strict=True):
        x0, y0, x1, y1 = line.box
        corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)
        ys = corners @ inverse[1, :2] + inverse[1, 2]
        near = config.edge_band * text_h
        if (ys.min() <= near or ys.max() >= height - 1 - near) and h < config.edge_sliver * typical:
            continue
        kept.append(line)
    return kept
