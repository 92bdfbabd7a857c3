"""Page images to text lines: loading, binarisation, deskew and line segmentation.

A page goes ``load_page_image`` (file or bytes to a (H, W) uint8 grayscale array,
paper light) and then ``segment_lines``, which returns one ``PageLine`` per text
line in reading order, each with its box and polygon in the page's own pixel
coordinates and a deskewed grayscale crop ready for ``recognition.images``.

The segmentation is classical and cheap (no model):

1. ``binarize_page``: divide by an estimated paper background (removes uneven
   illumination and shading), then Otsu, never calling anything ink that is
   less than ``min_contrast`` darker than the paper (so a blank noisy page stays blank).
2. Dark scan margins are painted over with paper before binarising; small
   specks and solid dark blobs touching the page edge are dropped.
3. ``estimate_skew``: projection-profile search over angles, ``deskew`` rotates.
4. Columns: a wide all-white vertical gutter splits the page; columns are read
   left to right.
5. Lines: the smoothed horizontal ink profile of each column has one peak per
   line; neighbouring peaks whose valley is not deep enough are merged, and
   lines are cut at the profile minimum between peaks. Ink components are given
   to the line holding their centre, so a descender that reaches into the next
   line's band stays with its own line (and is painted out of the neighbour's crop).

Coordinates: ``bbox`` is ``(x0, y0, x1, y1)`` with ``x1``/``y1`` exclusive, in
the pixels of the image passed in (before deskew); ``polygon`` is the line's
rectangle in the deskewed page mapped back to those pixels (four corners,
clockwise from top left).

Multi-page TIFFs: ``read_page_header`` lists every page's size from the header
alone (no pixel decoded) and ``load_page_image(..., frame=n)`` decodes page n. EXIF
orientation is applied. A JPEG beyond the pixel limit is decoded at a reduced size.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from recognition.images import ImageError, ImageLimits, check_size, jpeg_scale, load_line_image, open_image

# A 600 dpi A3 scan is about 7000 x 9900 px (70 M pixels). PIL refuses to open
# anything above 2 x Image.MAX_IMAGE_PIXELS (about 179 M) on its own, so the
# pixel limit stays below that to keep one clear error message.
MAX_PAGE_SIDE = 30_000
MAX_PAGE_PIXELS = 150_000_000
MAX_PAGE_FILE_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class PageLimits:
    max_width: int = MAX_PAGE_SIDE
    max_height: int = MAX_PAGE_SIDE
    max_pixels: int = MAX_PAGE_PIXELS
    max_file_bytes: int = MAX_PAGE_FILE_BYTES


@dataclass(frozen=True)
class SegmentConfig:
    """Knobs of ``segment_lines``; sizes relative to ``text height`` scale with the scan.

    ``text height`` is the median height of the ink components (letters in print,
    letters or words in handwriting), measured on each page.
    """

    # Binarisation: ink must be this many gray levels darker than the paper.
    min_contrast: int = 35
    # Specks with fewer ink pixels than this are scan noise.
    min_component_area: int = 6
    # A solid (fill >= 0.5) component touching the page edge and longer than this
    # fraction of the page side is a scan margin or a shadow, not text.
    border_fraction: float = 0.25
    # Edge rows/columns darker than the paper by this much are a dark scan margin.
    margin_contrast: int = 60
    # Deskew: search range and the smallest angle worth rotating for (degrees).
    deskew: bool = True
    max_skew: float = 10.0
    min_skew: float = 0.1
    # Profile smoothing (Gaussian sigma, in text heights) and valley depth: two
    # peaks stay separate lines when the valley between them is below
    # ``split_ratio`` x the lower peak.
    smoothing: float = 0.15
    split_ratio: float = 0.5
    # Peaks closer than this (in text heights) are one line.
    min_line_pitch: float = 0.6
    # Lines thinner than this (px) or with less ink than ``min_line_ink`` x text
    # height^2 are merged into the nearest line within ``merge_gap`` text heights, else dropped.
    min_line_height: int = 8
    min_line_ink: float = 0.3
    merge_gap: float = 1.0
    # A line touching the page's top or bottom edge and shorter than this
    # fraction of the tallest line is a cut-off sliver of a neighbour line.
    edge_sliver: float = 0.6
    # Neighbouring lines sharing this fraction of the shorter one's rows are one line.
    same_line_overlap: float = 0.5
    # Components taller than this many text heights (long flourishes, rules) are
    # shared between lines by rows instead of given to one line whole.
    giant_component: float = 1.8
    # Columns: split at an all-white vertical gutter at least this many text heights
    # wide, when the text on each side is at least ``min_column_lines`` text heights tall.
    columns: bool = True
    min_gutter: float = 3.0
    min_column_lines: float = 4.0
    # Crops: padding (px) around the line in the deskewed page, and whether ink
    # of neighbouring lines inside the crop is painted over with paper.
    padding: int = 4
    mask_neighbours: bool = True


@dataclass(frozen=True)
class PageLine:
    """One text line of a page.

    ``bbox`` (x0, y0, x1, y1; x1/y1 exclusive) and ``polygon`` are in the
    coordinates of the page as passed in; ``image`` is the (h, w) uint8 crop of
    the deskewed page with ``SegmentConfig.padding`` around the ink.
    """

    bbox: tuple[int, int, int, int]
    polygon: list[tuple[int, int]]
    image: np.ndarray = field(repr=False, compare=False)
    reading_order: int


# --- loading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageHeader:
    """What a page file's header says: its format and, for each page it holds
    (several in a multi-page TIFF), the size it decodes to (a JPEG beyond the
    pixel limit at its reduced size)."""

    format: str
    sizes: list[tuple[int, int]]

    @property
    def pixels(self) -> int:
        return sum(width * height for width, height in self.sizes)


def _image_limits(limits: PageLimits) -> ImageLimits:
    return ImageLimits(
        max_width=limits.max_width,
        max_height=limits.max_height,
        max_pixels=limits.max_pixels,
        max_file_bytes=limits.max_file_bytes,
    )


def read_page_header(data: bytes, *, limits: PageLimits = PageLimits(), max_pages: int = 1000) -> PageHeader:
    """The sizes of the pages in ``data``, read from the header alone: no pixel is
    decoded, so this costs the same for a 20 KB PNG that declares 12000 x 12000
    pixels as for a real scan. Raises ``ImageError`` for an unreadable file, a
    page beyond ``limits`` or a file of more than ``max_pages`` pages."""
    if not data:
        raise ImageError("<bytes>: file is empty")
    if len(data) > limits.max_file_bytes:
        raise ImageError(f"<bytes>: file is {len(data)} bytes, more than {limits.max_file_bytes}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = open_image(data)
        sizes: list[tuple[int, int]] = []
        try:
            for frame in itertools.count():
                if frame >= max_pages:
                    raise ImageError(f"<bytes>: more than {max_pages} pages in one file")
                if frame and image.format != "TIFF":
                    break  # pages are TIFF's; an animated PNG or WebP is read as its first frame
                if frame:
                    image.seek(frame)  # a TIFF's next directory: a header, not pixels
                width, height = image.size
                if image.format == "JPEG":
                    scale = jpeg_scale(width, height, limits.max_pixels)
                    width, height = -(-width // scale), -(-height // scale)
                check_size("<bytes>", width, height, _image_limits(limits), "page")
                sizes.append((width, height))
        except EOFError:
            pass  # no more pages
        except ImageError:
            raise
        except Exception as exc:
            raise ImageError(f"<bytes>: image header is corrupt ({exc.__class__.__name__})") from exc
    return PageHeader(format=str(image.format), sizes=sizes)


def load_page_image(source: Path | str | bytes, *, limits: PageLimits = PageLimits(), frame: int = 0) -> np.ndarray:
    """Decode a page scan (PNG, JPEG, TIFF, BMP, WebP) to a (H, W) uint8 array, 255 = paper.

    File size and the header's pixel size are checked against ``limits`` before
    any pixel is decoded; a JPEG beyond the pixel limit is decoded at 1/2, 1/4 or
    1/8 of its size instead (``PIL.Image.draft``). ``frame``: the page of a
    multi-page TIFF (0: the first). Raises ``ImageError``.
    """
    # One loader for lines and pages: file and header checks, then the decoding
    # (alpha on white, 16-bit, EXIF, corrupt data).
    return load_line_image(source, limits=_image_limits(limits), what="page", frame=frame, reduce=True)


def page_to_lines(
    source: Path | str | bytes,
    *,
    config: SegmentConfig = SegmentConfig(),
    limits: PageLimits = PageLimits(),
) -> list[PageLine]:
    """``load_page_image`` then ``segment_lines``: the lines of a page file in reading order."""
    return segment_lines(load_page_image(source, limits=limits), config=config)


# --- binarisation and skew -----------------------------------------------------------------


def _check_gray(gray: np.ndarray) -> None:
    if not isinstance(gray, np.ndarray) or gray.ndim != 2 or gray.size == 0 or gray.dtype != np.uint8:
        shape = getattr(gray, "shape", None)
        dtype = getattr(gray, "dtype", None)
        raise ImageError(f"expected a non-empty 2-D uint8 grayscale page, got shape {shape} dtype {dtype}")


def _background(gray: np.ndarray) -> np.ndarray:
    """(H, W) float32 estimate of the paper brightness under every pixel.

    Worked out at most 600 px a side: a grey dilation (max filter) wipes out
    strokes, a median smooths what is left, and the result is scaled back up.
    """
    h, w = gray.shape
    scale = min(1.0, 600.0 / max(h, w))
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    small = cv2.resize(gray, (sw, sh), interpolation=cv2.INTER_AREA) if scale < 1.0 else gray
    k = max(7, (min(sh, sw) // 40) | 1)
    paper = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    m = min(3 * k, (min(sh, sw) - 1) | 1 if min(sh, sw) > 2 else 1) | 1
    if m >= 3:
        paper = cv2.medianBlur(paper, m)
    return cv2.resize(paper, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)


def binarize_page(gray: np.ndarray, *, min_contrast: int = 35) -> np.ndarray:
    """(H, W) uint8 page -> (H, W) uint8 in {0, 255}: ink 0, paper 255.

    The page is divided by its estimated background first, so shading and
    uneven light do not become ink; then Otsu, but nothing within
    ``min_contrast`` gray levels of the paper counts as ink (a blank page stays blank).
    """
    _check_gray(gray)
    background = np.maximum(_background(gray), 1.0)
    flat = np.clip(gray.astype(np.float32) * (255.0 / background), 0, 255).astype(np.uint8)
    otsu, _ = cv2.threshold(flat, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    paper = float(np.median(flat))
    threshold = min(otsu, paper - min_contrast)
    return np.where(flat <= threshold, 0, 255).astype(np.uint8)


def estimate_skew(binary: np.ndarray, *, max_angle: float = 10.0) -> float:
    """Angle (degrees, counter-clockwise as shown) by which the text lines of ``binary`` are rotated.

    ``binary`` is (H, W) with ink 0. The angle is the one whose rotation makes
    the horizontal ink profile sharpest (sum of squared row counts): a coarse
    search over +-``max_angle`` in 0.25 degree steps, refined to 0.02 degrees.
    ``deskew(gray, estimate_skew(binary))`` levels the lines. 0.0 for a page without ink.
    """
    if binary.ndim != 2:
        raise ImageError(f"expected a 2-D binary page, got shape {binary.shape}")
    ys, xs = np.nonzero(binary == 0)
    if len(ys) < 20:
        return 0.0
    if len(ys) > 150_000:  # plenty for a sharp profile; keeps the search fast
        pick = np.random.default_rng(0).choice(len(ys), 150_000, replace=False)
        ys, xs = ys[pick], xs[pick]
    x = xs.astype(np.float64) - binary.shape[1] / 2
    y = ys.astype(np.float64) - binary.shape[0] / 2
    offset = float(np.hypot(binary.shape[0], binary.shape[1]))
    # Profiles are taken in four vertical strips and their sharpness summed, so
    # that two columns whose lines sit half a line apart cannot make a wrong
    # angle look sharp by lining up line k of one with line k + 1 of the other.
    strip = np.minimum(xs * 4 // binary.shape[1], 3).astype(np.int64)
    stride = int(2 * offset) + 2

    def sharpness(angle: float) -> float:
        theta = np.deg2rad(angle)
        # Row of each ink pixel once the page is rotated back by ``angle``.
        rows = (x * np.sin(theta) + y * np.cos(theta) + offset).astype(np.int64)
        counts = np.bincount(strip * stride + rows).astype(np.float64)
        return float(np.dot(counts, counts))

    coarse = np.arange(-max_angle, max_angle + 1e-9, 0.25)
    best = float(coarse[int(np.argmax([sharpness(a) for a in coarse]))])
    fine = np.arange(best - 0.3, best + 0.3 + 1e-9, 0.02)
    return float(fine[int(np.argmax([sharpness(a) for a in fine]))])


def _rotation(shape: tuple[int, int], angle: float) -> tuple[np.ndarray, tuple[int, int]]:
    """(2, 3) affine matrix rotating a (H, W) page by -``angle`` onto a canvas holding all of it; its (W', H')."""
    h, w = shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), -angle, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w = int(np.ceil(w * cos + h * sin))
    new_h = int(np.ceil(w * sin + h * cos))
    matrix[0, 2] += new_w / 2 - w / 2
    matrix[1, 2] += new_h / 2 - h / 2
    return matrix, (new_w, new_h)


def deskew(gray: np.ndarray, angle: float) -> np.ndarray:
    """Rotate a (H, W) uint8 page by -``angle`` degrees (undoing ``estimate_skew``'s angle).

    The canvas grows to hold the whole rotated page; uncovered corners are white (255).
    """
    _check_gray(gray)
    matrix, size = _rotation(gray.shape[:2], angle)
    return cv2.warpAffine(gray, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=255)


# --- segmentation --------------------------------------------------------------------------


def _paint_dark_margins(gray: np.ndarray, contrast: int) -> np.ndarray:
    """Copy of ``gray`` with dark scan margins painted over with the paper next to them.

    A margin is a run of edge rows/columns whose median is far darker than the
    page's paper and than the paper just inside the run (so a page darkening
    gradually towards one side, uneven light, is not a margin).
    """
    limit = float(np.percentile(gray, 75)) - contrast
    out = gray
    for axis in (0, 1):
        medians = np.median(gray, axis=axis)  # one value per column (axis 0) or row (axis 1)
        n = len(medians)
        dark = medians < limit
        if dark.all():
            continue  # a dark page, or a photo of one: leave it alone
        for from_end in (False, True):
            run = int(np.argmin(dark[::-1] if from_end else dark))
            # A margin is at most a quarter of the page; more is a dark page, left alone.
            if run == 0 or run > n // 4:
                continue
            ordered = medians[::-1] if from_end else medians
            inside = float(np.median(ordered[run : run + max(5, n // 20)]))
            if inside - float(np.median(ordered[:run])) < contrast:
                continue
            if out is gray:
                out = gray.copy()
            width = run + 3  # a few extra pixels cover the margin's blurred edge
            span = slice(n - width, n) if from_end else slice(0, width)
            if axis == 0:
                out[:, span] = round(inside)
            else:
                out[span, :] = round(inside)
    return out


def _clean_ink(binary: np.ndarray, config: SegmentConfig) -> np.ndarray:
    """(H, W) bool ink mask without specks and edge artefacts."""
    ink = (binary == 0).astype(np.uint8)
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
    for c in np.flatnonzero(touches & long):
        if c == 0:
            continue
        # Solid within its tightest rotated rectangle (a margin strip or shadow,
        # rotated with the page or not) or a thin straight edge (the page's own
        # edge, a fold): ink strokes are neither.
        ys, xs = np.nonzero(labels[y[c] : y[c] + ch[c], x[c] : x[c] + cw[c]] == c)
        (_, _), (rw, rh), _ = cv2.minAreaRect(np.column_stack([xs, ys]).astype(np.float32))
        if area[c] >= 0.5 * max(rw * rh, 1.0) or min(rw, rh) <= 0.5 * text_h:
            keep[c] = False
    return keep[labels]


def _text_height(heights: np.ndarray, min_height: int) -> float:
    """Median height of the components that are not dots or commas."""
    if len(heights) == 0:
        return float(min_height)
    tall = heights[heights >= 0.5 * np.percentile(heights, 75)]
    return max(float(np.median(tall)), float(min_height) / 2)


def _gaussian(profile: np.ndarray, sigma: float) -> np.ndarray:
    radius = max(1, int(3 * sigma))
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (t / sigma) ** 2)
    return np.convolve(profile, kernel / kernel.sum(), mode="same")


def _columns(ink: np.ndarray, text_h: float, config: SegmentConfig) -> list[tuple[int, int]]:
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


def _line_cuts(profile: np.ndarray, text_h: float, config: SegmentConfig) -> list[int]:
    """Rows where one line ends and the next begins (inner cuts only), from a (H,) ink-per-row profile.

    Every white gap between rows of ink is a cut (in its middle). Inside a block
    of rows without a gap, lines that touch (descenders meeting ascenders) are
    separate peaks of the smoothed profile; they are cut at the profile minimum
    between two peaks when the valley is deep enough.
    """
    smooth = _gaussian(profile, max(1.0, config.smoothing * text_h))
    light = _gaussian(profile, 1.0)
    inked = np.flatnonzero(profile > 0)
    if len(inked) == 0:
        return []
    breaks = np.flatnonzero(np.diff(inked) > 1)
    blocks = list(zip(inked[np.r_[0, breaks + 1]], inked[np.r_[breaks, len(inked) - 1]] + 1, strict=True))
    cuts = [int(end + start) // 2 for (_, end), (start, _) in itertools.pairwise(blocks)]
    for top, bottom in blocks:
        cuts += _touching_line_cuts(smooth[top:bottom], light[top:bottom], text_h, config, top)
    return sorted(cuts)


def _touching_line_cuts(
    smooth: np.ndarray, light: np.ndarray, text_h: float, config: SegmentConfig, offset: int
) -> list[int]:
    """Cuts between the lines of one block of rows that has ink in every row."""
    if len(smooth) < 3:
        return []
    inner = (smooth[1:-1] > smooth[:-2]) & (smooth[1:-1] >= smooth[2:])
    peaks = list(np.flatnonzero(inner) + 1)
    min_pitch = config.min_line_pitch * text_h
    merged = True
    while merged and len(peaks) > 1:
        merged = False
        for i in range(len(peaks) - 1):
            p, q = peaks[i], peaks[i + 1]
            valley = float(smooth[p : q + 1].min())
            if q - p < min_pitch or valley > config.split_ratio * min(smooth[p], smooth[q]):
                peaks[i : i + 2] = [p if smooth[p] >= smooth[q] else q]
                merged = True
                break
    cuts = []
    for p, q in itertools.pairwise(peaks):
        segment = light[p : q + 1]
        low = np.flatnonzero(segment <= segment.min() + 1e-6)
        # The middle of the longest run of minimal rows.
        runs = np.split(low, np.flatnonzero(np.diff(low) > 1) + 1)
        run = max(runs, key=len)
        cuts.append(offset + int(p + run[len(run) // 2]))
    return cuts


@dataclass
class _Line:
    comps: list[int]
    giants: list[int]
    top: int
    bottom: int
    box: tuple[int, int, int, int] = (0, 0, 0, 0)
    ink: int = 0


def _line_boxes(lines: list[_Line], labels: np.ndarray, stats: np.ndarray) -> None:
    """Fill ``box``/``ink`` of ``lines`` (deskewed page coordinates); stats is cv2's (n, 5) component table."""
    for line in lines:
        x0, y0, x1, y1, ink = 1 << 30, 1 << 30, -1, -1, 0
        for c in line.comps:
            cx, cy, cw, ch, area = (int(v) for v in stats[c])
            x0, y0, x1, y1 = min(x0, cx), min(y0, cy), max(x1, cx + cw), max(y1, cy + ch)
            ink += area
        for c in line.giants:
            cx, cy, cw, ch, _ = (int(v) for v in stats[c])
            rows = slice(max(cy, line.top), min(cy + ch, line.bottom))
            mask = labels[rows, cx : cx + cw] == c
            if not mask.any():
                continue
            ry, rx = np.nonzero(mask)
            x0, x1 = min(x0, cx + int(rx.min())), max(x1, cx + int(rx.max()) + 1)
            y0, y1 = min(y0, rows.start + int(ry.min())), max(y1, rows.start + int(ry.max()) + 1)
            ink += int(mask.sum())
        line.box = (x0, y0, x1, y1) if x1 > 0 else (0, 0, 0, 0)
        line.ink = ink


def _at_page_edge(box: tuple[int, int, int, int], inverse: np.ndarray, height: int) -> bool:
    """Whether a deskewed-page box reaches the top or bottom edge of the original page."""
    x0, y0, x1, y1 = box
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)
    ys = corners @ inverse[1, :2] + inverse[1, 2]
    return bool(ys.min() <= 1 or ys.max() >= height - 1)


def segment_lines(gray: np.ndarray, *, config: SegmentConfig = SegmentConfig()) -> list[PageLine]:
    """The text lines of a (H, W) uint8 page, in reading order (columns left to right, then top to bottom).

    An empty page gives []. See the module docstring for the method and the coordinates.
    """
    _check_gray(gray)
    page = _paint_dark_margins(gray, config.margin_contrast)
    ink = _clean_ink(binarize_page(page, min_contrast=config.min_contrast), config)
    if not ink.any():
        return []

    angle = 0.0
    if config.deskew:
        angle = estimate_skew(np.where(ink, 0, 255).astype(np.uint8), max_angle=config.max_skew)
    if abs(angle) >= config.min_skew:
        matrix, size = _rotation(gray.shape, angle)
        straight = cv2.warpAffine(
            page, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=255
        )
        ink = cv2.warpAffine(ink.astype(np.uint8), matrix, size, flags=cv2.INTER_NEAREST, borderValue=0) > 0
    else:
        matrix = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        straight = page
    inverse = cv2.invertAffineTransform(matrix)

    n, labels, stats, centroids = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    heights = stats[1:, cv2.CC_STAT_HEIGHT]
    text_h = _text_height(heights, config.min_line_height)

    # line_of[c]: index into all_lines for components given whole; -2 for giants shared by rows.
    line_of = np.full(n, -1, dtype=np.int64)
    all_lines: list[_Line] = []
    row_owner: list[np.ndarray] = []  # per column, (H',) line index of each row
    for x0, x1 in _columns(ink, text_h, config):
        members = np.flatnonzero((centroids[:, 0] >= x0) & (centroids[:, 0] < x1))
        members = members[members > 0]
        if len(members) == 0:
            continue
        profile = ink[:, x0:x1].sum(axis=1).astype(np.float64)
        cuts = _line_cuts(profile, text_h, config)
        edges = [0, *cuts, ink.shape[0]]
        base = len(all_lines)
        lines = [_Line([], [], top, bottom) for top, bottom in itertools.pairwise(edges)]
        band = np.searchsorted(np.asarray(cuts), centroids[members, 1], side="right")
        for c, b in zip(members, band, strict=True):
            if stats[c, cv2.CC_STAT_HEIGHT] > config.giant_component * text_h:
                line_of[c] = -2
                for line in lines:
                    top, bottom = stats[c, cv2.CC_STAT_TOP], stats[c, cv2.CC_STAT_TOP] + stats[c, cv2.CC_STAT_HEIGHT]
                    if top < line.bottom and bottom > line.top:
                        line.giants.append(int(c))
            else:
                lines[int(b)].comps.append(int(c))
        _line_boxes(lines, labels, stats)

        # Too little ink or too thin: dots above a line, an underline; joined to the nearest line.
        def small(line: _Line) -> bool:
            return (
                line.ink < config.min_line_ink * text_h * text_h or line.box[3] - line.box[1] < config.min_line_height
            )

        big = [line for line in lines if line.ink > 0 and not small(line)]
        kept = list(big)
        for line in lines:
            if line.ink == 0 or not small(line):
                continue
            gaps = [max(k.box[1] - line.box[3], line.box[1] - k.box[3], 0) for k in big]
            nearest = int(np.argmin(gaps)) if gaps else -1
            if nearest >= 0 and gaps[nearest] <= config.merge_gap * text_h:
                big[nearest].comps += line.comps
                big[nearest].giants += [g for g in line.giants if g not in big[nearest].giants]
            elif line.box[3] - line.box[1] >= max(config.min_line_height, 0.5 * text_h):
                # Alone and as tall as text: a short line ("11", a page number), not debris.
                kept.append(line)
        kept.sort(key=lambda line: line.top)
        # A "line" lying mostly within the rows of its neighbour is one tall
        # letter (a swash capital) whose centre fell below the cut: one line.
        i = 0
        while i + 1 < len(kept):
            a, b = kept[i].box, kept[i + 1].box
            shared = min(a[3], b[3]) - max(a[1], b[1])
            if shared >= config.same_line_overlap * min(a[3] - a[1], b[3] - b[1]):
                kept[i].comps += kept[i + 1].comps
                kept[i].giants += [g for g in kept[i + 1].giants if g not in kept[i].giants]
                kept[i].bottom = kept[i + 1].bottom
                del kept[i + 1]
                _line_boxes([kept[i]], labels, stats)
            else:
                i += 1
        if len(kept) > 1:
            # A sliver cut by the top or bottom edge (the neighbour line caught in a
            # line crop, a page scanned a line too far) cannot be read: dropped.
            tallest = max(line.box[3] - line.box[1] for line in kept)
            kept = [
                line
                for line in kept
                if not (
                    _at_page_edge(line.box, inverse, gray.shape[0])
                    and line.box[3] - line.box[1] < config.edge_sliver * tallest
                )
            ]
        _line_boxes(kept, labels, stats)
        owner = np.full(ink.shape[0], -1, dtype=np.int64)
        for k, line in enumerate(kept):
            line_of[line.comps] = base + k
            owner[line.top : line.bottom] = base + k
        all_lines += kept
        row_owner += [owner] * len(kept)

    result: list[PageLine] = []
    height, width = gray.shape
    sh, sw = straight.shape
    for index, line in enumerate(all_lines):
        x0, y0, x1, y1 = line.box
        corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)
        mapped = corners @ inverse[:, :2].T + inverse[:, 2]
        polygon = [
            (int(np.clip(round(px), 0, width)), int(np.clip(round(py), 0, height))) for px, py in mapped.tolist()
        ]
        xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
        bbox = (min(xs), min(ys), max(xs), max(ys))

        pad = config.padding
        cx0, cy0, cx1, cy1 = max(0, x0 - pad), max(0, y0 - pad), min(sw, x1 + pad), min(sh, y1 + pad)
        crop = straight[cy0:cy1, cx0:cx1].copy()
        if config.mask_neighbours:
            crop_labels = labels[cy0:cy1, cx0:cx1]
            owners = line_of[crop_labels]
            # Giants belong, row by row, to the line whose band the row is in.
            giant = owners == -2
            if giant.any():
                owners = np.where(giant, row_owner[index][cy0:cy1, None], owners)
            mine = owners == index
            foreign = (crop_labels > 0) & ~mine
            if foreign.any():
                # One pixel wider: the anti-aliased rim of a stroke is lighter than the binarisation cut.
                foreign = cv2.dilate(foreign.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
                foreign &= ~mine
                paper_pixels = crop[crop_labels == 0]
                paper = int(np.median(paper_pixels)) if paper_pixels.size else 255
                crop[foreign] = paper
        result.append(PageLine(bbox=bbox, polygon=polygon, image=crop, reading_order=index))
    return result
