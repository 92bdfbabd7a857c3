"""Line segmentation metrics: predicted line polygons against true ones, on one page at a time.

Polygons are (N, 2) arrays of page pixel coordinates (x, y); a polygon covers the
pixels ``cv2.fillPoly`` paints for its rounded vertices (its outline included), so
areas and overlaps are pixel counts and two engines' outputs are compared on the
same footing whatever their vertex count.

``score_page`` compares one page's lines:

* matches: true and predicted lines are paired one-to-one, greedily by highest IoU
  (ties by index), a pair counting when its IoU is at least ``threshold`` (0.5);
  done on the polygons and again on their bounding boxes;
* merged: predicted lines covering at least half of each of two or more true lines;
* split: true lines holding at least half of each of two or more predicted lines;
* baselines: a true baseline is found when at least ``baseline_share`` of its
  length lies inside one predicted line;
* width ratios: predicted box width / true box width of each polygon match.

``Totals`` adds pages up (micro averages: F1 = 2 matches / (true + predicted lines)).
``box_excess`` measures how much wider than its ink each predicted box is.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

Polygon = np.ndarray


@dataclass(frozen=True)
class _Shape:
    """A rasterised polygon: its (h, w) bool mask with top-left corner (x0, y0)."""

    x0: int
    y0: int
    mask: np.ndarray

    @property
    def x1(self) -> int:
        return self.x0 + self.mask.shape[1]

    @property
    def y1(self) -> int:
        return self.y0 + self.mask.shape[0]

    @property
    def area(self) -> int:
        return int(np.count_nonzero(self.mask))

    def contains(self, points: np.ndarray) -> np.ndarray:
        """(N,) bool: whether each rounded (x, y) point of the (N, 2) array lies on the shape."""
        xs = np.round(points[:, 0]).astype(np.int64) - self.x0
        ys = np.round(points[:, 1]).astype(np.int64) - self.y0
        inside = (xs >= 0) & (ys >= 0) & (xs < self.mask.shape[1]) & (ys < self.mask.shape[0])
        out = np.zeros(len(points), dtype=bool)
        out[inside] = self.mask[ys[inside], xs[inside]]
        return out


def _as_points(polygon: Polygon | Sequence[Sequence[float]]) -> np.ndarray:
    points = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    if len(points) == 0:
        raise ValueError("a polygon needs at least one point")
    return points


def rasterize(polygon: Polygon | Sequence[Sequence[float]]) -> _Shape:
    """The pixels of ``polygon`` (outline included) as a mask in its bounding box."""
    points = np.round(_as_points(polygon)).astype(np.int32)
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0) + 1
    mask = np.zeros((int(y1 - y0), int(x1 - x0)), dtype=np.uint8)
    cv2.fillPoly(mask, [points - np.array([x0, y0], dtype=np.int32)], 1)
    # fillPoly paints nothing for a degenerate (collinear) outline; its line still has pixels.
    cv2.polylines(mask, [points - np.array([x0, y0], dtype=np.int32)], True, 1)
    return _Shape(int(x0), int(y0), mask.astype(bool))


def bounding_box(polygon: Polygon | Sequence[Sequence[float]]) -> np.ndarray:
    """The (4, 2) corners of ``polygon``'s axis-aligned bounding box, clockwise from top left."""
    points = _as_points(polygon)
    (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def _intersection(a: _Shape, b: _Shape) -> int:
    x0, y0, x1, y1 = max(a.x0, b.x0), max(a.y0, b.y0), min(a.x1, b.x1), min(a.y1, b.y1)
    if x0 >= x1 or y0 >= y1:
        return 0
    part_a = a.mask[y0 - a.y0 : y1 - a.y0, x0 - a.x0 : x1 - a.x0]
    part_b = b.mask[y0 - b.y0 : y1 - b.y0, x0 - b.x0 : x1 - b.x0]
    return int(np.count_nonzero(part_a & part_b))


def overlaps(truth: Sequence[_Shape], predicted: Sequence[_Shape]) -> np.ndarray:
    """(T, P) int64 matrix of shared pixels."""
    out = np.zeros((len(truth), len(predicted)), dtype=np.int64)
    for i, t in enumerate(truth):
        for j, p in enumerate(predicted):
            out[i, j] = _intersection(t, p)
    return out


def _ious(inter: np.ndarray, truth: Sequence[_Shape], predicted: Sequence[_Shape]) -> np.ndarray:
    true_area = np.array([s.area for s in truth], dtype=np.float64)[:, None]
    pred_area = np.array([s.area for s in predicted], dtype=np.float64)[None, :]
    union = true_area + pred_area - inter
    return np.where(union > 0, inter / np.maximum(union, 1.0), 0.0)


def match(iou: np.ndarray, threshold: float = 0.5) -> list[tuple[int, int]]:
    """One-to-one (true, predicted) pairs with IoU >= ``threshold``, greedily from the highest IoU.

    Ties go to the lower true index, then the lower predicted index.
    """
    candidates = [(-float(iou[i, j]), i, j) for i, j in zip(*np.nonzero(iou >= threshold), strict=True)]
    used_t: set[int] = set()
    used_p: set[int] = set()
    pairs = []
    for _, i, j in sorted(candidates):
        if i not in used_t and j not in used_p:
            used_t.add(int(i))
            used_p.add(int(j))
            pairs.append((int(i), int(j)))
    return sorted(pairs)


def _baseline_points(baseline: np.ndarray) -> np.ndarray:
    """Points every pixel or so along a polyline."""
    points = [baseline[:1]]
    for a, b in itertools.pairwise(baseline):
        steps = max(1, int(np.ceil(np.hypot(*(b - a)))))
        t = np.arange(1, steps + 1, dtype=np.float64)[:, None] / steps
        points.append(a + (b - a) * t)
    return np.concatenate(points)


@dataclass(frozen=True)
class PageScore:
    """One page's counts; see the module docstring."""

    true_lines: int
    predicted_lines: int
    matched: int
    matched_boxes: int
    ious: tuple[float, ...]
    merged: int
    split: int
    baselines: int
    baselines_found: int
    width_ratios: tuple[float, ...]


def score_page(
    truth: Sequence[Polygon],
    predicted: Sequence[Polygon],
    *,
    baselines: Sequence[Polygon] = (),
    threshold: float = 0.5,
    baseline_share: float = 0.75,
) -> PageScore:
    """Score one page's ``predicted`` line polygons against the ``truth`` polygons (and true ``baselines``)."""
    true_shapes = [rasterize(p) for p in truth]
    pred_shapes = [rasterize(p) for p in predicted]
    inter = overlaps(true_shapes, pred_shapes)
    ious = _ious(inter, true_shapes, pred_shapes)
    pairs = match(ious, threshold)

    true_boxes = [rasterize(bounding_box(p)) for p in truth]
    pred_boxes = [rasterize(bounding_box(p)) for p in predicted]
    box_pairs = match(_ious(overlaps(true_boxes, pred_boxes), true_boxes, pred_boxes), threshold)

    true_area = np.array([s.area for s in true_shapes], dtype=np.float64)
    pred_area = np.array([s.area for s in pred_shapes], dtype=np.float64)
    covers = inter >= 0.5 * true_area[:, None] if len(truth) else np.zeros((0, len(predicted)), bool)
    holds = inter >= 0.5 * pred_area[None, :] if len(predicted) else np.zeros((len(truth), 0), bool)
    merged = int(np.count_nonzero(covers.sum(axis=0) >= 2)) if covers.size else 0
    split = int(np.count_nonzero(holds.sum(axis=1) >= 2)) if holds.size else 0

    found = 0
    for baseline in baselines:
        points = _baseline_points(_as_points(baseline))
        if any(shape.contains(points).mean() >= baseline_share for shape in pred_shapes):
            found += 1

    widths = []
    for i, j in pairs:
        true_w = float(np.ptp(_as_points(truth[i])[:, 0])) + 1
        pred_w = float(np.ptp(_as_points(predicted[j])[:, 0])) + 1
        widths.append(pred_w / true_w)
    return PageScore(
        true_lines=len(truth),
        predicted_lines=len(predicted),
        matched=len(pairs),
        matched_boxes=len(box_pairs),
        ious=tuple(float(ious[i, j]) for i, j in pairs),
        merged=merged,
        split=split,
        baselines=len(baselines),
        baselines_found=found,
        width_ratios=tuple(widths),
    )


def box_excess(predicted: Sequence[Polygon], truth: Sequence[Polygon], ink: np.ndarray) -> list[float]:
    """Per predicted line, how much wider its box is than the text ink inside it, as a share of the page width.

    ``ink`` is the page's (H, W) bool ink mask. The text ink of a predicted line
    is the ink inside both its polygon and some true line; a line holding no text
    ink is all excess (its whole box width).
    """
    height, width = ink.shape
    text = np.zeros_like(ink, dtype=bool)
    for polygon in truth:
        shape = rasterize(polygon)
        x0, y0 = max(shape.x0, 0), max(shape.y0, 0)
        x1, y1 = min(shape.x1, width), min(shape.y1, height)
        if x0 < x1 and y0 < y1:
            text[y0:y1, x0:x1] |= shape.mask[y0 - shape.y0 : y1 - shape.y0, x0 - shape.x0 : x1 - shape.x0]
    text &= ink
    out = []
    for polygon in predicted:
        shape = rasterize(polygon)
        x0, y0 = max(shape.x0, 0), max(shape.y0, 0)
        x1, y1 = min(shape.x1, width), min(shape.y1, height)
        box_w = float(np.ptp(_as_points(polygon)[:, 0])) + 1
        if x0 >= x1 or y0 >= y1:
            out.append(box_w / width)
            continue
        mine = text[y0:y1, x0:x1] & shape.mask[y0 - shape.y0 : y1 - shape.y0, x0 - shape.x0 : x1 - shape.x0]
        cols = np.flatnonzero(mine.any(axis=0))
        ink_w = float(cols[-1] - cols[0] + 1) if len(cols) else 0.0
        out.append(max(0.0, box_w - ink_w) / width)
    return out


@dataclass
class Totals:
    """Page scores added up over a set of pages."""

    pages: list[PageScore] = field(default_factory=list)

    def add(self, score: PageScore) -> None:
        self.pages.append(score)

    def _sum(self, name: str) -> int:
        return sum(int(getattr(p, name)) for p in self.pages)

    def _f1(self, matched: int) -> float:
        total = self._sum("true_lines") + self._sum("predicted_lines")
        return 2 * matched / total if total else 1.0

    @property
    def f1(self) -> float:
        return self._f1(self._sum("matched"))

    @property
    def f1_boxes(self) -> float:
        return self._f1(self._sum("matched_boxes"))

    @property
    def mean_iou(self) -> float:
        ious = [v for p in self.pages for v in p.ious]
        return float(np.mean(ious)) if ious else 0.0

    @property
    def merged(self) -> int:
        return self._sum("merged")

    @property
    def split(self) -> int:
        return self._sum("split")

    @property
    def baseline_recall(self) -> float:
        total = self._sum("baselines")
        return self._sum("baselines_found") / total if total else 0.0

    @property
    def median_width_ratio(self) -> float:
        ratios = [v for p in self.pages for v in p.width_ratios]
        return statistics.median(ratios) if ratios else 0.0
