"""What the PAGE and ALTO readers share: turning raw lines into checked ``ParsedLine``s."""

from __future__ import annotations

import math
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from annotator.formats.layout import (
    MAX_LINE_CHARS,
    MAX_LINES_PER_PAGE,
    MAX_PAGE_SIDE,
    FormatError,
    ParsedLine,
    ParsedPage,
    Point,
    bbox_of,
    clip_polygon,
    degenerate_reason,
    fit_page,
    rectangle,
)

_LINE_BREAKS = re.compile(r"\s*[\r\n\u2028\u2029\x85]+\s*")
# Characters XML 1.0 cannot carry at all; writers replace them rather than emit a broken file.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def parse_dimension(raw: str | None, *, what: str, name: str, warnings: list[str]) -> int:
    """A declared page side in its unit; 0 (unknown) when absent or unusable."""
    if raw is None or not raw.strip():
        return 0
    try:
        value = float(raw)
    except ValueError:
        warnings.append(f"page {what} {raw[:20]!r} is not a number; ignored")
        return 0
    if not math.isfinite(value) or value <= 0:
        warnings.append(f"page {what} {raw[:20]!r} is not positive; ignored")
        return 0
    if value > MAX_PAGE_SIDE:
        raise FormatError(f"{name}: page {what} {value:g} is beyond the limit of {MAX_PAGE_SIDE}")
    return round(value)


def clean_text(raw: str | None, *, line_id: str, warnings: list[str]) -> str | None:
    """NFC, trimmed, one line; None for no or blank text (a line still to transcribe)."""
    if raw is None:
        return None
    text = unicodedata.normalize("NFC", raw).strip()
    if not text:
        return None
    if _LINE_BREAKS.search(text):
        text = _LINE_BREAKS.sub(" ", text)
        warnings.append(f"line {line_id}: text had line breaks, joined with spaces")
    if len(text) > MAX_LINE_CHARS:
        warnings.append(f"line {line_id}: text of {len(text)} characters is beyond {MAX_LINE_CHARS}; dropped")
        return None
    return text


def xml_safe(text: str) -> str:
    """Text with characters that XML 1.0 cannot hold replaced by U+FFFD."""
    return _XML_INVALID.sub("\ufffd", text)


class LineCollector:
    """Checks and gathers the lines of one page in reading order."""

    def __init__(self, *, name: str, width: int, height: int, warnings: list[str]) -> None:
        self.name = name
        self.width = width
        self.height = height
        self.warnings = warnings
        self.lines: list[ParsedLine] = []
        self._ids: set[str] = set()
        self._seen = 0

    def add(
        self,
        *,
        raw_id: str | None,
        points: Sequence[tuple[float, float]] | None,
        problem: str | None,
        text: str | None,
        confidence: float | None,
        region_id: str | None = None,
        baseline: Sequence[tuple[float, float]] | None = None,
    ) -> None:
        """One line in reading order; ``problem`` (or no points) skips it with a warning.
        ``baseline``: its points when the file has them (fewer than two: none)."""
        self._seen += 1
        if self._seen > MAX_LINES_PER_PAGE:
            raise FormatError(f"{self.name}: more than {MAX_LINES_PER_PAGE} lines on one page, refused")
        line_id = (raw_id or "").strip() or f"line_{self._seen}"
        if line_id in self._ids:
            unique, n = line_id, 1
            while unique in self._ids:
                n += 1
                unique = f"{line_id}_{n}"
            self.warnings.append(f"line id {line_id} is used twice; the second is read as {unique}")
            line_id = unique
        polygon: list[Point] = []
        if problem is None and not points:
            problem = "has no coordinates"
        if problem is None and points:
            polygon = clip_polygon(points, self.width, self.height)
            reason = degenerate_reason(polygon)
            if reason is not None:
                problem = f"polygon {reason}"
        if problem is not None:
            self.warnings.append(f"line {line_id} skipped: {problem}")
            return
        self._ids.add(line_id)
        cleaned = clean_text(text, line_id=line_id, warnings=self.warnings)
        self.lines.append(
            ParsedLine(
                id=line_id,
                polygon=polygon,
                bbox=bbox_of(polygon),
                text=cleaned,
                confidence=confidence if cleaned is not None else None,
                reading_order=len(self.lines),
                region_id=(region_id or "").strip() or None,
                baseline=_baseline(baseline or [], self.width, self.height),
            )
        )

    def page(self, image_filename: str, image_size: tuple[int, int] | None) -> ParsedPage:
        page = ParsedPage(image_filename.strip(), self.width, self.height, self.lines, self.warnings)
        if image_size is not None:
            page = fit_page(page, *image_size)
        return page


def _baseline(points: Sequence[tuple[float, float]], width: int, height: int) -> list[Point]:
    """A baseline on the pixel grid inside the page, left to right; [] unless it has two points."""
    clipped = clip_polygon(points, width, height)
    return sorted(clipped) if len(clipped) >= 2 else []


def export_baseline(baseline: Sequence[Point]) -> list[Point]:
    """The baseline to write (negatives clipped): [] unless it has two distinct points."""
    points = [(max(0, x), max(0, y)) for x, y in baseline]
    return points if len(set(points)) >= 2 else []


def export_polygon(line_id: str, polygon: list[Point], bbox: tuple[int, int, int, int] | None) -> list[Point]:
    """The polygon to write: its points (negatives clipped), else the bbox rectangle."""
    points = [(max(0, x), max(0, y)) for x, y in polygon]
    if len(set(points)) >= 3:
        return points
    if bbox is not None:
        return rectangle(bbox)
    raise FormatError(f"line {line_id}: neither a polygon nor a bbox to write")


_XSI = "http://www.w3.org/2001/XMLSchema-instance"


def root_element(tag: str, namespace: str, schema_location: str) -> ET.Element:
    """A document root whose unqualified descendants are in ``namespace``.

    Tags stay unqualified and the default namespace is an explicit ``xmlns``:
    ElementTree's own ``default_namespace`` option refuses unqualified attributes.
    """
    return ET.Element(tag, {"xmlns": namespace, f"{{{_XSI}}}schemaLocation": f"{namespace} {schema_location}"})


def custom_value(text: str) -> str:
    """``text`` as a value of a PAGE ``custom`` attribute (``key {name:value;}``):
    the characters that structure it (and the backslash) as ``\\uXXXX``, the
    way Transkribus escapes them."""
    return "".join(f"\\u{ord(char):04x}" if char in "\\{}:;" else char for char in xml_safe(text))
