"""The knobs of ``segment_lines`` and what it returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class SegmentConfig:
    """Knobs of ``segment_lines``; sizes in ``text height`` scale with the scan.

    ``text height`` is the median height of the ink components (letters in print,
    letters or words in handwriting), measured on each page.
    """

    # Binarisation: ink must be this many gray levels darker than the paper.
    min_contrast: int = 35
    # Specks with fewer ink pixels than this are scan noise.
    min_component_area: int = 6
    # A page whose ink is mostly smaller than this (text height, px) holds no
    # readable text, only texture: fibres, dust, grain.
    min_text_height: int = 10
    # A solid (fill >= 0.5) component touching the page edge and longer than this
    # fraction of the page side is a scan margin or a shadow, not text.
    border_fraction: float = 0.25
    # Edge rows/columns darker than the paper by this much are a dark scan margin.
    margin_contrast: int = 60
    # Rules (grid lines, frames, page edges): straight ink runs at least this
    # fraction of the page's longer side long are taken out before anything else.
    rule_fraction: float = 0.08
    # Deskew: search range and the smallest angle worth rotating for (degrees).
    deskew: bool = True
    max_skew: float = 10.0
    min_skew: float = 0.1
    # Line centres: the ink is smeared along the line (Gaussian sigmas in text
    # heights, across x and y); ridges of the smear, followed from column to
    # column, are the lines' centre lines. A ridge must reach ``ridge_level`` x the
    # page's typical ridge height; two ridges of one column stay separate lines when
    # the smear between them drops below ``split_ratio`` x the lower one.
    smear_x: float = 2.5
    smear_y: float = 0.25
    ridge_level: float = 0.2
    split_ratio: float = 0.9
    # Ridges closer than this (in text heights) are one line.
    min_line_pitch: float = 0.6
    # Components taller than this many text heights (flourishes, touching lines)
    # are shared between lines pixel by pixel; the others go whole to the line
    # nearest their centre, unless it is further than ``max_line_distance``.
    giant_component: float = 1.8
    max_line_distance: float = 1.2
    # A line is cut where its ink leaves a horizontal gap this wide (columns, table
    # cells, a note in the margin).
    gap_split: float = 5.0
    # Ink standing ``margin_gap`` text heights apart from the rest of its line within
    # the outer ``side_margin`` of the page width is not text of the line.
    margin_gap: float = 1.5
    side_margin: float = 0.06
    # A line needs a letter at least ``min_letter`` text heights tall (paper
    # texture and dust are only specks). A piece with less ink than ``min_line_ink``
    # (x text height^2) or narrower than ``min_line_width`` text heights is dropped
    # when at least ``fragment_overlap`` of its height lies within a line's band; alone it is a short line
    # (a page number) when it has ``min_short_line_ink`` and ``min_short_line_width``.
    min_letter: float = 0.4
    min_line_ink: float = 0.6
    min_line_width: float = 2.0
    fragment_overlap: float = 0.5
    min_short_line_ink: float = 0.2
    min_short_line_width: float = 1.5
    min_line_height: int = 12
    # Insertions: words written small between two lines are lines of their own
    # (``lines.split_insertions``).
    insertions: bool = True
    insertion_height: float = 0.9
    insertion_offset: float = 0.5
    insertion_gap: float = 1.0
    insertion_width: float = 2.0
    # A line within ``edge_band`` text heights of the page's top or bottom edge and
    # shorter than ``edge_sliver`` x the median line is a cut-off sliver of a
    # neighbour line or the shadow of the page's edge.
    edge_sliver: float = 0.6
    edge_band: float = 0.5
    # A line whose ink is mostly (``max_speck_share``) specks under ``min_letter``
    # text heights tall is paper texture or dirt, not writing.
    max_speck_share: float = 0.9
    # Notes written sideways down a side margin (``ink.sideways_text``) are left out
    # of the horizontal lines.
    sideways: bool = True
    sideways_aspect: float = 1.6
    sideways_height: float = 2.5
    sideways_span: float = 6.0
    sideways_margin: float = 0.3
    sideways_purity: float = 0.7
    # Columns: split at an all-white vertical gutter at least this many text heights
    # wide, when the text on each side is at least ``min_column_lines`` text heights tall.
    columns: bool = True
    min_gutter: float = 3.0
    min_column_lines: float = 4.0
    # A facing page (``ink.without_facing_page``): an outer column narrower than
    # ``facing_width`` of the page whose lines (``facing_lines`` or more) run off the
    # image's side is the next page of a book spread, not text of this one.
    facing_width: float = 0.35
    facing_lines: int = 3
    # Polygons: the ink's upper and lower outline in steps of ``outline_step`` text
    # heights, grown by ``outline_pad`` text heights.
    outline_step: float = 0.5
    outline_pad: float = 0.2
    # Crops: padding (px) around the line in the deskewed page, and whether ink
    # of neighbouring lines inside the crop is painted over with paper.
    padding: int = 4
    mask_neighbours: bool = True


@dataclass(frozen=True)
class PageLine:
    """One text line of a page.

    ``bbox`` (x0, y0, x1, y1; x1/y1 exclusive), ``polygon`` (the outline of the
    line's ink, clockwise from its top left) and ``baseline`` (left to right) are in
    the coordinates of the page as passed in; ``image`` is the (h, w) uint8 crop of
    the deskewed page with ``SegmentConfig.padding`` around the polygon, everything
    outside the polygon and the ink of other lines painted paper.
    """

    bbox: tuple[int, int, int, int]
    polygon: list[tuple[int, int]]
    image: np.ndarray = field(repr=False, compare=False)
    reading_order: int
    baseline: list[tuple[int, int]] = field(default_factory=list)
