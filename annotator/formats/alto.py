"""ALTO XML in and out.

Reading accepts v2, v3 and v4 (and namespace-less files) by local name. Lines are
the ``TextLine`` elements of the first ``Page`` in document order (``IDNEXT`` is
not followed). A line's outline is its ``Shape/Polygon@POINTS`` when present, else
the ``HPOS/VPOS/WIDTH/HEIGHT`` rectangle.

Text: ``String@CONTENT`` in order, ``SP`` as a space, ``HYP`` as its ``CONTENT``
(default "-"); two ``String``s with no ``SP`` between them are also separated by a
space (some producers leave ``SP`` out); runs of spaces collapse to one. The line
confidence is the mean of the ``String@WC`` values, weighted by each string's
length (ALTO has no line confidence of its own).

Units: ``MeasurementUnit`` pixel (the default when absent), mm10 or inch1200.
Non-pixel coordinates need the image's pixel size to convert (scale = image size /
``Page@WIDTH,HEIGHT``): pass ``image_size``; without it they are taken as pixels,
with a warning.

Writing produces v4: ``Page`` > ``PrintSpace`` > one ``TextBlock`` > a ``TextLine``
per line (rectangle attributes plus ``Shape/Polygon``), words as ``String`` with
``SP`` between them, ``WC`` from the character confidences of the word (their mean)
or else the line confidence, and one ``Glyph`` with ``GC`` per character when
character confidences are given. ALTO cannot hold repeated spaces: "a  b" is
written, and read back, as "a b".
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from annotator.formats._build import (
    LineCollector,
    export_baseline,
    export_polygon,
    parse_dimension,
    root_element,
    xml_safe,
)
from annotator.formats.layout import (
    FormatError,
    LineExport,
    PageExport,
    ParsedPage,
    Point,
    bbox_of,
    fit_page,
    parse_confidence,
    parse_points,
    region_groups,
    unique_ids,
)
from annotator.formats.safe_xml import child, descendants, local_name, parse_xml

ALTO_NAMESPACE = "http://www.loc.gov/standards/alto/ns-v4#"
ALTO_SCHEMA = "http://www.loc.gov/standards/alto/v4/alto-4-2.xsd"
_UNITS = ("pixel", "mm10", "inch1200")
_SPACES = re.compile(" {2,}")


def parse_alto(data: bytes, *, name: str, image_size: tuple[int, int] | None = None) -> ParsedPage:
    """Read one ALTO document (its first page).

    ``image_size`` (width, height) of the actual image, when known, makes the result
    fit it (and is what converts mm10/inch1200). Raises ``FormatError`` for unsafe or
    unreadable XML, a document that is not ALTO, or absurd sizes; problems with
    single lines become warnings.
    """
    return alto_from_root(parse_xml(data, name=name), name=name, image_size=image_size)


def alto_from_root(root: ET.Element, *, name: str, image_size: tuple[int, int] | None = None) -> ParsedPage:
    """``parse_alto`` on an already (safely) parsed document."""
    if local_name(root.tag).lower() != "alto":
        raise FormatError(f"{name}: not an ALTO file (root element is {local_name(root.tag)!r}, not 'alto')")
    warnings: list[str] = []
    description = child(root, "Description")
    unit = "pixel"
    image_filename = ""
    if description is not None:
        unit_el = child(description, "MeasurementUnit")
        if unit_el is not None and (unit_el.text or "").strip():
            unit = (unit_el.text or "").strip().lower()
            if unit not in _UNITS:
                warnings.append(f"unknown MeasurementUnit {unit[:20]!r}; taken as pixel")
                unit = "pixel"
        info = child(description, "sourceImageInformation")
        file_el = child(info, "fileName") if info is not None else None
        if file_el is not None and file_el.text:
            image_filename = file_el.text

    pages = list(descendants(root, "Page"))
    if not pages:
        raise FormatError(f"{name}: ALTO without a Page element")
    if len(pages) > 1:
        warnings.append(f"{len(pages)} Page elements; only the first is read")
    page = pages[0]
    width = parse_dimension(page.get("WIDTH"), what="WIDTH", name=name, warnings=warnings)
    height = parse_dimension(page.get("HEIGHT"), what="HEIGHT", name=name, warnings=warnings)
    if unit != "pixel" and image_size is None:
        warnings.append(f"coordinates are in {unit} and no image size was given; taken as pixels")
    elif unit != "pixel" and (width == 0 or height == 0):
        warnings.append(f"coordinates are in {unit} but the Page has no WIDTH/HEIGHT to convert them; taken as pixels")

    collector = LineCollector(name=name, width=width, height=height, warnings=warnings)
    block_of = {id(line): block.get("ID") for block in descendants(page, "TextBlock") for line in block}
    for line in descendants(page, "TextLine"):
        points, problem = _outline(line)
        text, confidence = _line_text(line)
        collector.add(
            raw_id=line.get("ID"),
            points=points,
            problem=problem,
            text=text,
            confidence=confidence,
            region_id=block_of.get(id(line)),
            baseline=_baseline(line),
        )
    result = collector.page(image_filename, None)
    return fit_page(result, *image_size) if image_size is not None else result


def _number(element: ET.Element, attribute: str) -> float | None:
    try:
        return float(element.get(attribute, ""))
    except ValueError:
        return None


def _baseline(line: ET.Element) -> list[tuple[float, float]]:
    """``BASELINE``: points (ALTO 4.2, ``x,y x,y``) or one y across the line's width
    (earlier versions); [] without one or when it does not parse."""
    raw = line.get("BASELINE", "").strip()
    if not raw:
        return []
    try:
        if "," in raw or " " in raw:
            return parse_points(raw)
        y = float(raw)
    except ValueError:
        return []
    x, w = _number(line, "HPOS"), _number(line, "WIDTH")
    return [] if x is None or w is None else [(x, y), (x + w, y)]


def _outline(line: ET.Element) -> tuple[list[tuple[float, float]] | None, str | None]:
    shape = child(line, "Shape")
    polygon = child(shape, "Polygon") if shape is not None else None
    if polygon is not None and polygon.get("POINTS"):
        try:
            return parse_points(polygon.get("POINTS", "")), None
        except ValueError as exc:
            return None, f"Shape/Polygon POINTS {exc}"
    x, y = _number(line, "HPOS"), _number(line, "VPOS")
    w, h = _number(line, "WIDTH"), _number(line, "HEIGHT")
    if x is None or y is None or w is None or h is None:
        return None, "no Shape/Polygon and no numeric HPOS/VPOS/WIDTH/HEIGHT"
    return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)], None


def _line_text(line: ET.Element) -> tuple[str | None, float | None]:
    parts: list[str] = []
    weighted = 0.0
    weight = 0
    previous = ""
    for element in line:
        tag = local_name(element.tag)
        if tag == "String":
            if previous == "String":
                parts.append(" ")
            content = element.get("CONTENT", "")
            parts.append(content)
            confidence = parse_confidence(element.get("WC"))
            if confidence is not None and content.strip():
                weighted += confidence * len(content)
                weight += len(content)
        elif tag == "SP":
            parts.append(" ")
        elif tag == "HYP":
            parts.append(element.get("CONTENT", "-"))
        else:
            continue
        previous = tag
    text = _SPACES.sub(" ", "".join(parts)).strip()
    return (text or None), (weighted / weight if weight else None)


# Writing ----------------------------------------------------------------------------------------


def write_alto(page: PageExport, *, software: str = "Lineproof", created: datetime | None = None) -> bytes:
    """The page as an ALTO v4 document (UTF-8 bytes with an XML declaration), in pixels.

    Line ids are made valid XML ids (``unique_ids``); a line with fewer than three
    polygon points is written as its bbox rectangle; one with neither raises
    ``FormatError``. ``char_confidences`` whose length differs from the text's are
    ignored (the line confidence is used).
    """
    stamp = (created or datetime.now(UTC)).isoformat(timespec="seconds")
    root = root_element("alto", ALTO_NAMESPACE, ALTO_SCHEMA)
    description = ET.SubElement(root, "Description")
    ET.SubElement(description, "MeasurementUnit").text = "pixel"
    info = ET.SubElement(description, "sourceImageInformation")
    ET.SubElement(info, "fileName").text = xml_safe(page.image_filename)
    processing = ET.SubElement(description, "Processing", {"ID": "proc_1"})
    ET.SubElement(processing, "processingDateTime").text = stamp
    software_el = ET.SubElement(processing, "processingSoftware")
    ET.SubElement(software_el, "softwareName").text = xml_safe(software)

    # Flags (a labeler's "illegible", "not a text line"...): one OtherTag each,
    # named by its TextLine's TAGREFS; Tags comes before Layout in ALTO.
    flagged = [(n, line.flag) for n, line in enumerate(page.lines) if line.flag is not None]
    if flagged:
        tags = ET.SubElement(root, "Tags")
        for n, flag in flagged:
            attributes = {"ID": f"flag_{n + 1}", "TYPE": "flag", "LABEL": xml_safe(flag.kind)}
            if flag.comment:
                attributes["DESCRIPTION"] = xml_safe(flag.comment)
            ET.SubElement(tags, "OtherTag", attributes)
    layout = ET.SubElement(root, "Layout")
    page_el = ET.SubElement(
        layout,
        "Page",
        {"ID": "page_1", "PHYSICAL_IMG_NR": "1", "WIDTH": str(page.width), "HEIGHT": str(page.height)},
    )
    print_space = ET.SubElement(
        page_el, "PrintSpace", {"HPOS": "0", "VPOS": "0", "WIDTH": str(page.width), "HEIGHT": str(page.height)}
    )
    if not page.lines:
        return _serialize(root)
    polygons = [export_polygon(line.id, line.polygon, line.bbox) for line in page.lines]
    groups = region_groups([line.region_id for line in page.lines], default="block_1")
    flag_ids = tuple(f"flag_{n + 1}" for n, _ in flagged)
    block_ids = unique_ids((raw for raw, _members in groups), prefix="b_", reserved=("proc_1", "page_1", *flag_ids))
    line_ids = unique_ids((line.id for line in page.lines), reserved=("proc_1", "page_1", *flag_ids, *block_ids))
    for block_id, (_raw, members) in zip(block_ids, groups, strict=True):
        block_box = bbox_of([point for index in members for point in polygons[index]])
        block = ET.SubElement(print_space, "TextBlock", {"ID": block_id, **_box(block_box)})
        for index in members:
            line, line_id, polygon = page.lines[index], line_ids[index], polygons[index]
            _write_line(block, line, line_id, polygon, tag=f"flag_{index + 1}" if line.flag is not None else None)
    return _serialize(root)


def _write_line(
    block: ET.Element, line: LineExport, line_id: str, polygon: list[Point], *, tag: str | None = None
) -> None:
    attributes = {"ID": line_id, **_box(bbox_of(polygon))}
    baseline = export_baseline(line.baseline)
    if baseline:
        attributes["BASELINE"] = " ".join(f"{x},{y}" for x, y in baseline)  # ALTO 4.2 points
    if tag is not None:
        attributes["TAGREFS"] = tag  # the line's flag, an OtherTag in Tags
    line_el = ET.SubElement(block, "TextLine", attributes)
    shape = ET.SubElement(line_el, "Shape")
    ET.SubElement(shape, "Polygon", {"POINTS": " ".join(f"{x},{y}" for x, y in polygon)})
    _write_words(line_el, line, string_prefix=f"{line_id}_s")


def _write_words(line_el: ET.Element, line: LineExport, *, string_prefix: str) -> None:
    text = xml_safe(line.text or "")
    chars = line.char_confidences
    if chars is not None and len(chars) != len(text):
        chars = None
    words: list[tuple[int, str]] = []  # (offset in text, word)
    offset = 0
    for token in text.split(" "):
        if token:
            words.append((offset, token))
        offset += len(token) + 1
    if not words:
        # A TextLine must hold at least one String; an empty one reads back as "no text".
        ET.SubElement(line_el, "String", {"CONTENT": ""})
        return
    for n, (start, word) in enumerate(words):
        if n:
            ET.SubElement(line_el, "SP")
        attributes = {"ID": f"{string_prefix}{n + 1}", "CONTENT": word}
        if chars is not None:
            own = chars[start : start + len(word)]
            attributes["WC"] = _confidence(sum(own) / len(own))
        elif line.confidence is not None:
            attributes["WC"] = _confidence(line.confidence)
        string_el = ET.SubElement(line_el, "String", attributes)
        if chars is not None:
            for character, confidence in zip(word, chars[start : start + len(word)], strict=True):
                ET.SubElement(string_el, "Glyph", {"CONTENT": character, "GC": _confidence(confidence)})


def _box(bbox: tuple[int, int, int, int]) -> dict[str, str]:
    x0, y0, x1, y1 = bbox
    return {"HPOS": str(x0), "VPOS": str(y0), "WIDTH": str(x1 - x0), "HEIGHT": str(y1 - y0)}


def _confidence(value: float) -> str:
    return f"{min(1.0, max(0.0, value)):.6g}"


def _serialize(root: ET.Element) -> bytes:
    ET.indent(root)  # only elements with children get whitespace; CONTENT attributes stay as they are
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
