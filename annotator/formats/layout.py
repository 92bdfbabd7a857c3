"""The data the format layer hands out and takes in, and the geometry they share.

Coordinates are page pixels with the origin at the top left. A polygon's points
are corners on the pixel grid, so a polygon lies within ``[0, width] x [0, height]``
and ``bbox`` is ``(x0, y0, x1, y1)`` with ``x1``/``y1`` exclusive in pixel terms:
the same convention as ``recognition.pages.PageLine``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

Point = tuple[int, int]
BBox = tuple[int, int, int, int]

# Sanity bounds on what a file may declare; the real image limits apply later,
# when the caller decodes the image itself.
MAX_PAGE_SIDE = 100_000
MAX_LINES_PER_PAGE = 20_000
MAX_POINTS_PER_LINE = 10_000
MAX_LINE_CHARS = 10_000


class FormatError(ValueError):
    """A file that cannot be imported as it is, with the reason (and the file's name)."""


@dataclass(frozen=True)
class ParsedLine:
    """One text line read from a PAGE or ALTO file.

    ``text`` is None when the file has no (or only empty) text for the line: a line
    still to be transcribed. ``confidence`` is the producer's own score in [0, 1].
    ``reading_order`` is the 0-based position on the page; ``ParsedPage.lines`` is
    sorted by it.
    """

    id: str
    polygon: list[Point]
    bbox: BBox
    text: str | None
    confidence: float | None
    reading_order: int
    # The id of the region (PAGE TextRegion, ALTO TextBlock) the line is in; None outside one.
    region_id: str | None = None
    # The line's baseline (PAGE Baseline, ALTO BASELINE), left to right; empty when the file has none.
    baseline: list[Point] = field(default_factory=list)


@dataclass(frozen=True)
class ParsedPage:
    """A page read from a PAGE or ALTO file.

    ``width``/``height`` are the page size the coordinates refer to; 0 when the file
    does not say (then coordinates are only clipped at 0, and the caller should call
    ``fit_page`` with the image's real size). ``image_filename`` is the file's own
    reference (a bare name, a relative path or a URL), "" when absent.
    ``warnings`` says what was skipped or guessed, one sentence each.
    """

    image_filename: str
    width: int
    height: int
    lines: list[ParsedLine]
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LineFlagExport:
    """A labeler's flag on a line instead of a text (``kind``: illegible, not_a_line...)."""

    kind: str
    comment: str = ""


@dataclass(frozen=True)
class LineExport:
    """One line to write. ``polygon`` may be empty (the bbox rectangle is written then).

    ``char_confidences``, when given, has one value in [0, 1] per character of ``text``.
    ``region_id``: the region (PAGE TextRegion, ALTO TextBlock) to write the line in;
    consecutive lines of one region share it, lines without one share a default region.
    """

    id: str
    polygon: list[Point]
    bbox: BBox | None
    text: str | None
    confidence: float | None = None
    char_confidences: list[float] | None = None
    flag: LineFlagExport | None = None
    region_id: str | None = None
    # Written as PAGE Baseline and ALTO BASELINE when it has two points or more.
    baseline: list[Point] = field(default_factory=list)


@dataclass(frozen=True)
class PageExport:
    """One page to write, lines in reading order."""

    image_filename: str
    width: int
    height: int
    lines: list[LineExport]


def bbox_of(polygon: Sequence[Point]) -> BBox:
    xs = [x for x, _ in polygon]
    ys = [y for _, y in polygon]
    return (min(xs), min(ys), max(xs), max(ys))


def rectangle(bbox: BBox) -> list[Point]:
    """The four corners of a box, clockwise from the top left."""
    x0, y0, x1, y1 = bbox
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def polygon_area(polygon: Sequence[Point]) -> float:
    """Absolute shoelace area."""
    total = 0
    for (xa, ya), (xb, yb) in zip(polygon, [*polygon[1:], polygon[0]], strict=True):
        total += xa * yb - xb * ya
    return abs(total) / 2.0


def clip_polygon(polygon: Iterable[tuple[float, float]], width: int, height: int) -> list[Point]:
    """Round to the pixel grid, clip to the page (only at 0 where a side is unknown, i.e. 0)
    and drop consecutive duplicates that clipping creates."""
    out: list[Point] = []
    for x, y in polygon:
        px = max(0, round(x))
        py = max(0, round(y))
        if width > 0:
            px = min(px, width)
        if height > 0:
            py = min(py, height)
        if not out or out[-1] != (px, py):
            out.append((px, py))
    if len(out) > 1 and out[0] == out[-1]:
        out.pop()  # closed rings repeat the first point
    return out


def degenerate_reason(polygon: Sequence[Point]) -> str | None:
    """Why a polygon cannot outline a line (None when it can)."""
    if len(set(polygon)) < 3:
        return f"has {len(set(polygon))} distinct point(s), needs at least 3"
    x0, y0, x1, y1 = bbox_of(polygon)
    if x1 <= x0 or y1 <= y0:
        return f"is flat ({x1 - x0}x{y1 - y0} pixels)"
    if polygon_area(polygon) <= 0:
        return "has no area (its points are collinear)"
    return None


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def parse_points(text: str) -> list[tuple[float, float]]:
    """``"x1,y1 x2,y2 ..."`` (PAGE) or ``"x1 y1 x2 y2 ..."`` (some ALTO writers) to pairs.

    Raises ValueError (message without the file name) for odd counts, non-finite
    numbers or more points than ``MAX_POINTS_PER_LINE``.
    """
    tokens = text.replace(",", " ").split()
    if len(tokens) > 2 * MAX_POINTS_PER_LINE:
        raise ValueError(f"has {len(tokens) // 2} points, more than {MAX_POINTS_PER_LINE}")
    if len(tokens) % 2:
        raise ValueError(f"has an odd number of coordinates ({len(tokens)})")
    values: list[float] = []
    for token in tokens:
        if not _NUMBER.fullmatch(token):
            raise ValueError(f"has a coordinate that is not a number ({token[:20]!r})")
        value = float(token)
        if not math.isfinite(value) or abs(value) > 10 * MAX_PAGE_SIDE:
            raise ValueError(f"has an out-of-range coordinate ({token[:20]})")
        values.append(value)
    return list(zip(values[0::2], values[1::2], strict=True))


def parse_confidence(raw: str | None) -> float | None:
    """A confidence attribute in [0, 1]; None when absent or not a usable number."""
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0.0 or value > 1.0:
        return None
    return value


def fit_page(page: ParsedPage, width: int, height: int) -> ParsedPage:
    """The page in the pixels of its actual image (``width`` x ``height``).

    Files often describe a differently sized rendering of the image (ALTO in mm10 or
    inch1200, PAGE made on a downscaled copy): coordinates are scaled by
    image size / declared size, per axis, and clipped to the image; when the file
    declared no size they are only clipped. Lines that become degenerate are dropped
    with a warning.
    """
    if width <= 0 or height <= 0:
        raise FormatError(f"image size must be positive, got {width}x{height}")
    if (page.width, page.height) == (width, height):
        return page
    warnings = list(page.warnings)
    sx = width / page.width if page.width > 0 else 1.0
    sy = height / page.height if page.height > 0 else 1.0
    if page.width > 0 and page.height > 0:
        warnings.append(
            f"coordinates scaled from the declared {page.width}x{page.height} to the image's {width}x{height}"
        )
    lines: list[ParsedLine] = []
    for line in page.lines:
        polygon = clip_polygon(((x * sx, y * sy) for x, y in line.polygon), width, height)
        reason = degenerate_reason(polygon)
        if reason is not None:
            warnings.append(f"line {line.id} skipped: outside the image once fitted (polygon {reason})")
            continue
        baseline = clip_polygon(((x * sx, y * sy) for x, y in line.baseline), width, height)
        lines.append(
            replace(
                line,
                polygon=polygon,
                bbox=bbox_of(polygon),
                reading_order=len(lines),
                baseline=baseline if len(baseline) >= 2 else [],
            )
        )
    return ParsedPage(page.image_filename, width, height, lines, warnings)


_NCNAME_BAD = re.compile(r"[^A-Za-z0-9_.\-]")


def xml_id(raw: str, *, prefix: str = "l_") -> str:
    """``raw`` made into a valid xsd:ID (NCName): other characters become "_", and a
    name not starting with a letter or "_" gets ``prefix``. Callers that need unique
    ids keep their own set; the writers do."""
    cleaned = _NCNAME_BAD.sub("_", raw)
    if not cleaned or not (cleaned[0].isascii() and (cleaned[0].isalpha() or cleaned[0] == "_")):
        cleaned = prefix + cleaned
    return cleaned


def unique_ids(raw_ids: Iterable[str], *, prefix: str = "l_", reserved: Iterable[str] = ()) -> list[str]:
    """``xml_id`` of each, with "_2", "_3"... appended where two collide (or hit ``reserved``)."""
    seen: set[str] = set(reserved)
    out: list[str] = []
    for raw in raw_ids:
        base = xml_id(raw, prefix=prefix)
        candidate, n = base, 1
        while candidate in seen:
            n += 1
            candidate = f"{base}_{n}"
        seen.add(candidate)
        out.append(candidate)
    return out


def region_groups(region_ids: Sequence[str | None], *, default: str) -> list[tuple[str, list[int]]]:
    """Lines (by index, in reading order) grouped into the regions to write: runs of
    consecutive lines with the same region id, ``default`` for lines without one.
    A region the reading order leaves and comes back to is written once per run
    (the later runs' ids made unique by the writer)."""
    groups: list[tuple[str, list[int]]] = []
    for index, raw in enumerate(region_ids):
        region = raw or default
        if groups and groups[-1][0] == region:
            groups[-1][1].append(index)
        else:
            groups.append((region, [index]))
    return groups


def image_basename(reference: str) -> str:
    """The file name a PAGE/ALTO image reference points at: last path segment of a
    relative path, Windows path or URL (query and fragment dropped)."""
    ref = reference.strip().split("?", 1)[0].split("#", 1)[0]
    return re.split(r"[/\\]", ref)[-1]


@dataclass(frozen=True)
class Rejected:
    """A file an import leaves out, and why (a sentence without the name)."""

    name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}"
