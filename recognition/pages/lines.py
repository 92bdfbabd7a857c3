"""Text lines in a deskewed page's ink: centre lines, the ink of each line, its outline and baseline.

1. ``find_centres``: the ink is smeared along the lines (a Gaussian much wider than
   tall); in every column of samples the smear's ridges are line centres, and
   ridges of neighbouring columns at about the same height are joined into a centre
   line. A slanted or curved line is followed wherever it goes.
2. ``assign_ink``: every ink component goes whole to the centre line nearest its
   centre (a descender reaching into the next line stays with its own); components
   taller than ``giant_component`` text heights (touching lines, flourishes) are
   shared pixel by pixel. Ink far from every line (margin specks) goes nowhere.
3. ``split_lines``: a line's ink is cut where it leaves a wide horizontal gap
   (columns, table cells), and pieces that are no text (specks only, too little
   ink, too narrow) are dropped; ``split_insertions`` gives words written small
   above or below the line (an insertion, a correction) a line of their own.
4. ``outline`` / ``baseline``: the polygon follows the ink's top and bottom;
   the baseline runs along the centre line at the foot of the letters.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from recognition.pages.config import SegmentConfig


@dataclass(frozen=True)
class Centre:
    """A line's centre line: y at sample columns xs (increasing), deskewed page pixels."""

    xs: np.ndarray
    ys: np.ndarray

    def at(self, x: np.ndarray) -> np.ndarray:
        """The centre's y at ``x``; level beyond its ends."""
        return np.interp(x, self.xs, self.ys)

    def distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Vertical distance from the centre plus the horizontal distance beyond its ends."""
        outside = np.maximum(self.xs[0] - x, 0) + np.maximum(x - self.xs[-1], 0)
        return np.abs(y - self.at(x)) + outside


def _column_peaks(profile: np.ndarray, level: float, text_h: float, config: SegmentConfig) -> list[int]:
    """Rows of the ridges of one column of the smear, after merging ridges that are one line."""
    inner = (profile[1:-1] > profile[:-2]) & (profile[1:-1] >= profile[2:]) & (profile[1:-1] >= level)
    peaks = list(np.flatnonzero(inner) + 1)
    min_pitch = config.min_line_pitch * text_h
    merged = True
    while merged and len(peaks) > 1:
        merged = False
        for i in range(len(peaks) - 1):
            p, q = peaks[i], peaks[i + 1]
            valley = float(profile[p : q + 1].min())
            if q - p < min_pitch or valley > config.split_ratio * min(profile[p], profile[q]):
                peaks[i : i + 2] = [p if profile[p] >= profile[q] else q]
                merged = True
                break
    return [int(p) for p in peaks]


def find_centres(ink: np.ndarray, text_h: float, config: SegmentConfig) -> list[Centre]:
    """The centre lines of the text in a (H, W) bool ink mask, top to bottom."""
    smear = cv2.GaussianBlur(
        ink.astype(np.float32),
        (0, 0),
        sigmaX=max(1.0, config.smear_x * text_h),
        sigmaY=max(1.0, config.smear_y * text_h),
    )
    step = max(2, round(text_h / 2))
    columns = np.arange(step // 2, ink.shape[1], step)
    samples = smear[:, columns]
    tops = samples.max(axis=0)
    if not (tops > 0).any():
        return []
    level = max(config.ridge_level * float(np.percentile(tops[tops > 0], 75)), 1e-3)
    link = 0.5 * text_h
    max_skip = max(1, int(np.ceil(text_h / step)))
    # Open centre lines: (sample columns, rows), the last sample's column index.
    chains: list[tuple[list[int], list[int]]] = []
    last: list[int] = []
    for k in range(len(columns)):
        peaks = _column_peaks(samples[:, k], level, text_h, config)
        live = [i for i in range(len(chains)) if k - last[i] <= max_skip]
        gaps = ((abs(p - chains[i][1][-1]), j, i) for j, p in enumerate(peaks) for i in live)
        pairs = sorted(g for g in gaps if g[0] <= link)
        used_peaks: set[int] = set()
        used_chains: set[int] = set()
        for _, j, i in pairs:
            if j in used_peaks or i in used_chains:
                continue
            used_peaks.add(j)
            used_chains.add(i)
            chains[i][0].append(int(columns[k]))
            chains[i][1].append(peaks[j])
            last[i] = k
        for j, p in enumerate(peaks):
            if j not in used_peaks:
                chains.append(([int(columns[k])], [p]))
                last.append(k)
    centres = []
    for xs, ys in _join_chains(chains, text_h, step):
        y = np.asarray(ys, dtype=np.float64)
        if len(y) >= 3:
            y = np.convolve(np.pad(y, 1, mode="edge"), np.ones(3) / 3, mode="valid")
        centres.append(Centre(np.asarray(xs, dtype=np.float64), y))
    centres.sort(key=lambda c: float(c.at(np.array([c.xs.mean()]))[0]))
    return centres


def _join_chains(
    chains: list[tuple[list[int], list[int]]], text_h: float, step: int
) -> list[tuple[list[int], list[int]]]:
    """Chains that one line broke into (where its ridge jumped at a capital or a gap) joined end to start.

    A chain continues into the one that starts within two text heights after it ends,
    at a height within ``0.8`` text heights of its end; the nearest in height wins.
    """
    chains = sorted(chains, key=lambda c: c[0][0])
    joined = True
    while joined:
        joined = False
        for a in chains:
            best, best_cost = None, np.inf
            for b in chains:
                if b is a or b[0][0] <= a[0][-1] or b[0][0] - a[0][-1] > 2 * text_h + step:
                    continue
                rise = abs(b[1][0] - a[1][-1])
                if rise <= 0.8 * text_h and rise < best_cost:
                    best, best_cost = b, rise
            if best is not None:
                a[0].extend(best[0])
                a[1].extend(best[1])
                chains.remove(best)
                joined = True
                break
    return chains


def assign_ink(
    labels: np.ndarray,
    stats: np.ndarray,
    centroids: np.ndarray,
    members: np.ndarray,
    centres: list[Centre],
    text_h: float,
    config: SegmentConfig,
    owner: np.ndarray,
    first: int,
) -> None:
    """Write into ``owner`` ((H, W) int64, -1 = nobody) which centre (``first`` + index) each ink pixel of the
    components ``members`` belongs to."""
    if not centres or len(members) == 0:
        return
    reach = config.max_line_distance * text_h
    heights = stats[members, cv2.CC_STAT_HEIGHT]
    giant = heights > config.giant_component * text_h
    whole = members[~giant]
    if len(whole):
        cx, cy = centroids[whole, 0], centroids[whole, 1]
        distances = np.stack([c.distance(cx, cy) for c in centres])  # (C, N)
        best = distances.argmin(axis=0)
        near = distances[best, np.arange(len(whole))] <= reach
        line_of = np.full(labels.max() + 1 if labels.size else 1, -1, dtype=np.int64)
        line_of[whole[near]] = first + best[near]
        picked = np.isin(labels, whole[near])
        owner[picked] = line_of[labels[picked]]
    for c in members[giant]:
        x, y, w, h, _ = (int(v) for v in stats[c])
        ys, xs = np.nonzero(labels[y : y + h, x : x + w] == c)
        xs, ys = xs + x, ys + y
        distances = np.stack([centre.distance(xs.astype(np.float64), ys.astype(np.float64)) for centre in centres])
        best = distances.argmin(axis=0)
        near = distances[best, np.arange(len(xs))] <= reach
        owner[ys[near], xs[near]] = first + best[near]


@dataclass
class LineInk:
    """The ink pixels of one line (deskewed page coordinates) and the centre it grew on."""

    xs: np.ndarray
    ys: np.ndarray
    centre: Centre
    # (centre index, -1 above / 0 on / 1 below its centre line, left x): reading order within a column.
    order: tuple[int, int, int]

    @property
    def box(self) -> tuple[int, int, int, int]:
        return int(self.xs.min()), int(self.ys.min()), int(self.xs.max()) + 1, int(self.ys.max()) + 1


def split_lines(
    owner: np.ndarray,
    labels: np.ndarray,
    stats: np.ndarray,
    centres: list[Centre],
    first: int,
    text_h: float,
    config: SegmentConfig,
) -> list[LineInk]:
    """The lines of centres ``first``.. in ``owner``, cut at wide gaps, without pieces that are not text."""
    found: list[LineInk] = []
    ys, xs = np.nonzero((owner >= first) & (owner < first + len(centres)))
    if len(ys) == 0:
        return found
    who = owner[ys, xs] - first
    order = np.argsort(who, kind="stable")
    ys, xs, who = ys[order], xs[order], who[order]
    bounds = np.flatnonzero(np.diff(who)) + 1
    letter = config.min_letter * text_h
    pieces: list[LineInk] = []
    starts = np.r_[0, bounds]
    for start, part_ys, part_xs in zip(starts, np.split(ys, bounds), np.split(xs, bounds), strict=True):
        centre_index = int(who[start])
        part_xs, part_ys = _without_margin_ink(part_xs, part_ys, owner.shape[1], text_h, config)
        if len(part_xs) == 0:
            continue
        cols = np.unique(part_xs)
        gaps = np.flatnonzero(np.diff(cols) > config.gap_split * text_h)
        cuts = (cols[gaps] + cols[gaps + 1]) / 2
        piece = np.searchsorted(cuts, part_xs)
        for k in range(len(cuts) + 1):
            keep = piece == k
            px, py = part_xs[keep], part_ys[keep]
            if len(px) < config.min_short_line_ink * text_h * text_h:
                continue
            if py.max() - py.min() + 1 < config.min_line_height:
                continue
            heights = stats[labels[py, px], cv2.CC_STAT_HEIGHT]
            if heights.max() < letter:
                continue  # specks only: paper texture, dust, a smudge
            if np.count_nonzero(heights < letter) > config.max_speck_share * len(heights):
                continue  # mostly specks: dirt or texture around a stray mark
            pieces.append(LineInk(px, py, centres[centre_index], (centre_index, 0, int(px.min()))))
    lines: list[LineInk] = []
    for line in pieces:
        lines += split_insertions(line, labels, text_h, config)
    return _absorb_fragments(lines, text_h, config)


def split_insertions(line: LineInk, labels: np.ndarray, text_h: float, config: SegmentConfig) -> list[LineInk]:
    """``line`` without the words written small between it and its neighbour (an insertion above the line,
    a correction below it), which become lines of their own; ``[line]`` when it has none.

    An insertion is a run of ink components, none taller than ``insertion_height`` text
    heights, whose centres all sit at least ``insertion_offset`` text heights above (or
    below) the centre line, at most ``insertion_gap`` text heights apart along the line,
    together at least ``insertion_width`` text heights wide. The line's own letters sit
    on its centre line (ascenders and descenders are joined to them); loose dots and
    bars above it are too narrow to count.
    """
    if not config.insertions:
        return [line]
    comp = labels[line.ys, line.xs]
    order = np.argsort(comp, kind="stable")
    comp_sorted = comp[order]
    bounds = np.flatnonzero(np.diff(comp_sorted)) + 1
    groups = np.split(order, bounds)
    if len(groups) < 2:
        return [line]
    x0s = np.array([line.xs[g].min() for g in groups], dtype=np.float64)
    x1s = np.array([line.xs[g].max() for g in groups], dtype=np.float64)
    y0s = np.array([line.ys[g].min() for g in groups], dtype=np.float64)
    y1s = np.array([line.ys[g].max() for g in groups], dtype=np.float64)
    cy = (y0s + y1s) / 2
    offset = cy - line.centre.at((x0s + x1s) / 2)
    small = (y1s - y0s + 1) <= config.insertion_height * text_h
    taken = np.zeros(len(groups), dtype=bool)
    extra: list[LineInk] = []
    for side in (-1, 1):
        candidate = small & (side * offset >= config.insertion_offset * text_h)
        picks = np.flatnonzero(candidate)
        if len(picks) == 0:
            continue
        picks = picks[np.argsort(x0s[picks], kind="stable")]
        runs: list[list[int]] = [[int(picks[0])]]
        reach = x1s[picks[0]]
        for c in picks[1:]:
            # A component of the line itself standing between two candidates ends the run.
            between = ~candidate & (x0s < x0s[c]) & (x1s > reach) & (np.abs(offset) < config.insertion_offset * text_h)
            if x0s[c] - reach <= config.insertion_gap * text_h and not between.any():
                runs[-1].append(int(c))
            else:
                runs.append([int(c)])
            reach = max(reach, x1s[c])
        for run in runs:
            ids = np.array(run)
            if x1s[ids].max() - x0s[ids].min() + 1 < config.insertion_width * text_h:
                continue
            if (y1s[ids] - y0s[ids] + 1).max() < config.min_letter * text_h:
                continue
            taken[ids] = True
            members = np.concatenate([groups[i] for i in run])
            xs, ys = line.xs[members], line.ys[members]
            shift = float(np.median(offset[ids]))
            centre = Centre(line.centre.xs, line.centre.ys + shift)
            extra.append(LineInk(xs, ys, centre, (line.order[0], side, int(xs.min()))))
    if not extra:
        return [line]
    rest = np.concatenate([groups[i] for i in np.flatnonzero(~taken)]) if (~taken).any() else np.zeros(0, np.int64)
    if len(rest) == 0:
        return extra
    return [LineInk(line.xs[rest], line.ys[rest], line.centre, line.order), *extra]


def _without_margin_ink(
    xs: np.ndarray, ys: np.ndarray, width: int, text_h: float, config: SegmentConfig
) -> tuple[np.ndarray, np.ndarray]:
    """A line's ink without the pieces standing apart in the page's side margins (scan borders, a binding
    strip, a facing page's edge, punch holes, notes written down the margin)."""
    cols = np.unique(xs)
    gaps = np.flatnonzero(np.diff(cols) > config.margin_gap * text_h)
    starts, ends = np.r_[cols[0], cols[gaps + 1]], np.r_[cols[gaps], cols[-1]]
    margin = config.side_margin * width
    outside = (ends < margin) | (starts > width - margin)
    if not outside.any():
        return xs, ys
    piece = np.searchsorted(starts, xs, side="right") - 1
    keep = ~outside[piece]
    return xs[keep], ys[keep]


def _absorb_fragments(pieces: list[LineInk], text_h: float, config: SegmentConfig) -> list[LineInk]:
    """Without small or narrow pieces next to a line (a stray ridge, a flourish, a word squeezed in
    between the lines): alone they are short lines (a page number, a date) when wide enough."""

    def small(line: LineInk) -> bool:
        x0, _, x1, _ = line.box
        return len(line.xs) < config.min_line_ink * text_h * text_h or x1 - x0 < config.min_line_width * text_h

    big = [line for line in pieces if not small(line)]
    kept = list(big)
    for line in pieces:
        if not small(line):
            continue
        x0, y0, x1, y1 = line.box
        # Within a neighbour's band (not merely touching its ascenders or descenders, as
        # the last words of a paragraph under a long line do), it is part of that line.
        inside = False
        for other in big:
            ox0, oy0, ox1, oy1 = other.box
            if x1 < ox0 - text_h or x0 > ox1 + text_h:
                continue
            if min(y1, oy1) - max(y0, oy0) >= config.fragment_overlap * (y1 - y0):
                inside = True
                break
        if not inside and x1 - x0 >= config.min_short_line_width * text_h:
            kept.append(line)
    return kept


def outline(line: LineInk, text_h: float, config: SegmentConfig) -> np.ndarray:
    """(N, 2) float polygon around the line's ink (deskewed page), clockwise from its top left."""
    step = max(2, round(config.outline_step * text_h))
    # A line written smaller than the page's text gets a margin to its own size.
    pad = config.outline_pad * min(text_h, float(line.ys.max() - line.ys.min() + 1))
    x0 = int(line.xs.min())
    bins = (line.xs - x0) // step
    count = int(bins.max()) + 1
    top = np.full(count, np.inf)
    bottom = np.full(count, -np.inf)
    np.minimum.at(top, bins, line.ys)
    np.maximum.at(bottom, bins, line.ys)
    filled = np.flatnonzero(np.isfinite(top))
    top = np.interp(np.arange(count), filled, top[filled])
    bottom = np.interp(np.arange(count), filled, bottom[filled])
    if count >= 3:  # a letter's top or foot spreads to its neighbour steps: no narrow notches
        top = np.minimum(top, np.minimum(np.r_[top[1:], top[-1]], np.r_[top[0], top[:-1]]))
        bottom = np.maximum(bottom, np.maximum(np.r_[bottom[1:], bottom[-1]], np.r_[bottom[0], bottom[:-1]]))
    x1 = float(line.xs.max()) + 1
    centres = np.clip(x0 + (np.arange(count) + 0.5) * step, x0, x1)
    xs = np.r_[x0 - pad, centres, x1 + pad]
    upper = np.r_[top[0], top, top[-1]] - pad
    lower = np.r_[bottom[0], bottom, bottom[-1]] + pad + 1
    points = np.concatenate([np.column_stack([xs, upper]), np.column_stack([xs[::-1], lower[::-1]])])
    # Points on a straight stretch of the outline say nothing: within a pixel, left out.
    simple = cv2.approxPolyDP(points.astype(np.float32).reshape(-1, 1, 2), 1.0, True).reshape(-1, 2)
    return simple.astype(np.float64) if len(simple) >= 3 else points


def baseline(line: LineInk, text_h: float, config: SegmentConfig) -> np.ndarray:
    """(N, 2) float baseline, left to right: the centre line moved down to the foot of the letters."""
    offsets = np.round(line.ys - line.centre.at(line.xs.astype(np.float64))).astype(np.int64)
    low = int(offsets.min())
    histogram = np.bincount(offsets - low).astype(np.float64)
    peak = int(histogram.argmax())
    below = np.flatnonzero(histogram[peak:] < 0.3 * histogram[peak])
    foot = low + peak + (int(below[0]) if len(below) else len(histogram) - peak)
    step = max(2, round(config.outline_step * text_h))
    xs = np.r_[np.arange(float(line.xs.min()), float(line.xs.max()), step), float(line.xs.max())]
    return np.column_stack([xs, line.centre.at(xs) + foot])
