"""Tests for recognition.segmentation_metrics on hand-made polygons (pixel counts known exactly)."""

from __future__ import annotations

import numpy as np
import pytest

from recognition.segmentation_metrics import (
    Totals,
    bounding_box,
    box_excess,
    match,
    rasterize,
    score_page,
)


def _rect(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """A rectangle covering pixels x0..x1-1, y0..y1-1 (fillPoly paints the outline's own pixels)."""
    return np.array([[x0, y0], [x1 - 1, y0], [x1 - 1, y1 - 1], [x0, y1 - 1]], dtype=np.float64)


def test_a_polygon_covers_its_pixels_outline_included() -> None:
    assert rasterize(_rect(10, 20, 40, 30)).area == 300
    triangle = rasterize(np.array([[0, 0], [9, 0], [0, 9]]))
    assert 45 <= triangle.area <= 55  # about half of the 10 x 10 square


def test_identical_lines_match_with_iou_one_and_disjoint_ones_do_not() -> None:
    truth = [_rect(0, 0, 100, 20), _rect(0, 30, 100, 50)]

    same = score_page(truth, truth)
    apart = score_page(truth, [_rect(200, 0, 300, 20)])

    assert (same.matched, same.matched_boxes, same.ious) == (2, 2, (1.0, 1.0))
    assert (apart.matched, apart.predicted_lines, apart.true_lines) == (0, 1, 2)


def test_a_match_needs_iou_of_one_half() -> None:
    truth = [_rect(0, 0, 100, 20)]

    # Shares 60 of 100 columns: IoU 1200 / 2800 = 0.43; shares 80: 1600 / 2400 = 0.67.
    assert score_page(truth, [_rect(40, 0, 140, 20)]).matched == 0
    assert score_page(truth, [_rect(20, 0, 120, 20)]).matched == 1
    assert score_page(truth, [_rect(20, 0, 120, 20)]).ious == pytest.approx((1600 / 2400,))


def test_a_slanted_polygon_matches_on_its_polygon_but_not_on_its_box() -> None:
    # A thin band rising 40 px over 200 px: its box is mostly empty.
    band = np.array([[0, 40], [199, 0], [199, 12], [0, 52]], dtype=np.float64)

    score = score_page([band], [band.copy()])
    box_only = score_page([band], [bounding_box(band)])

    assert (score.matched, score.matched_boxes) == (1, 1)
    assert (box_only.matched, box_only.matched_boxes) == (0, 1)


def test_matching_is_one_to_one_from_the_highest_iou() -> None:
    iou = np.array([[0.9, 0.6], [0.7, 0.55]])

    assert match(iou) == [(0, 0), (1, 1)]
    assert match(np.array([[0.6, 0.6]])) == [(0, 0)]
    assert match(np.zeros((0, 3))) == []


def test_one_box_over_two_lines_is_a_merge_and_two_halves_of_a_line_are_a_split() -> None:
    truth = [_rect(0, 0, 100, 20), _rect(0, 24, 100, 44)]
    merged = score_page(truth, [_rect(0, 0, 100, 44)])
    halves = score_page(truth[:1], [_rect(0, 0, 48, 20), _rect(52, 0, 100, 20)])

    assert (merged.merged, merged.split, merged.matched) == (1, 0, 0)
    assert (halves.merged, halves.split, halves.matched) == (0, 1, 0)


def test_a_baseline_is_found_when_mostly_inside_one_predicted_line() -> None:
    baselines = [np.array([[0, 15], [99, 15]]), np.array([[0, 40], [99, 40]])]
    truth = [_rect(0, 0, 100, 20), _rect(0, 25, 100, 45)]
    # The first line found whole; the second only over its left 40 px.
    predicted = [_rect(0, 2, 100, 18), _rect(0, 30, 40, 45)]

    score = score_page(truth, predicted, baselines=baselines)

    assert (score.baselines, score.baselines_found) == (2, 1)


def test_width_ratio_and_box_excess_measure_boxes_wider_than_their_ink() -> None:
    ink = np.zeros((100, 400), dtype=bool)
    ink[10:20, 100:200] = True  # the line's text
    ink[10:20, 0:20] = True  # a dark scan border at the left, on the same rows
    truth = [_rect(95, 5, 205, 25)]
    wide = _rect(0, 5, 205, 25)

    score = score_page(truth, [wide])
    excess = box_excess([wide, _rect(95, 5, 205, 25), _rect(300, 50, 340, 60)], truth, ink)

    assert score.width_ratios == pytest.approx((205 / 110,))
    assert excess == pytest.approx([105 / 400, 10 / 400, 40 / 400])


def test_totals_are_micro_averages_over_pages() -> None:
    truth = [_rect(0, 0, 100, 20), _rect(0, 30, 100, 50)]
    totals = Totals()
    totals.add(score_page(truth, truth))  # 2 of 2
    totals.add(score_page(truth, [_rect(0, 0, 100, 50)]))  # 0 of 2, one merge

    assert totals.f1 == pytest.approx(2 * 2 / (4 + 3))
    assert totals.mean_iou == 1.0
    assert (totals.merged, totals.split) == (1, 0)
    assert Totals().f1 == 1.0
