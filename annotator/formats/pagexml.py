"""PAGE XML (PRImA page content) in and out.

Reading accepts every namespace version (2009-03-16 to 2019-07-15) by matching
local names. Lines are the ``TextLine`` elements under any ``TextRegion`` (nested
regions and table cells included). Coordinates come from ``Coords@points`` or,
in the 2009/2010 schemas, ``Coords/Point@x,y``; a ``Baseline`` is kept when present.

Text: of several ``TextEquiv``, the one with the lowest ``@index`` (0 or 1 by
convention), else the first; its ``Unicode`` (``PlainText`` when that is empty).
A line without its own ``TextEquiv`` takes its ``Word``s' text joined by spaces.
Empty text reads as None (Transkribus writes ``<Unicode/>`` for untranscribed lines).

Reading order: regions by the ``ReadingOrder`` element when there is one (ordered
groups by ``@index``, unordered ones in document order, nested groups in place;
unlisted regions after, in document order; a nested region without its own entry
goes with its nearest listed ancestor); without it, by Transkribus'
``custom="readingOrder {index:N;}"`` on the regions. Lines within a region by their
own Transkribus index when they carry one, else in document order.

Writing produces the 2019-07-15 schema: a ``TextRegion`` per run of lines with the
same ``LineExport.region_id`` (its id kept; one default region for lines without),
``TextEquiv@conf`` for the line confidence, Transkribus-style reading order
attributes as well as the ``ReadingOrder`` element.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from annotator.formats._build import (
    LineCollector,
    custom_value,
    export_baseline,
    export_polygon,
    parse_dimension,
    root_element,
    xml_safe,
)
from annotator.formats.layout import (
    FormatError,
    PageExport,
    ParsedPage,
    Point,
    bbox_of,
    parse_confidence,
    parse_points,
    rectangle,
    region_groups,
    unique_ids,
)
from annotator.formats.safe_xml import child, children, descendants, local_name, parse_xml

PAGE_NAMESPACE = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
PAGE_SCHEMA = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15/pagecontent.xsd"
_TRANSKRIBUS_INDEX = re.compile(r"readingOrder\s*\{[^}]*?\bindex\s*:\s*(\d+)")
_INF = float("inf")


def parse_page_xml(data: bytes, *, name: str, image_size: tuple[int, int] | None = None) -> ParsedPage:
    """Read one PAGE XML document.

    ``image_size`` (width, height) of the actual image, when known, makes the
    result fit it (see ``fit_page``). Raises ``FormatError`` for unsafe or
    unreadable XML, a document that is not PAGE, or absurd sizes; problems with
    single lines become warnings.
    """
    return page_from_root(parse_xml(data, name=name), name=name, image_size=image_size)


def page_from_root(root: ET.Element, *, name: str, image_size: tuple[int, int] | None = None) -> ParsedPage:
    """``parse_page_xml`` on an already (safely) parsed document."""
    if local_name(root.tag) != "PcGts":
        raise FormatError(f"{name}: not a PAGE XML file (root element is {local_name(root.tag)!r}, not 'PcGts')")
    pages = children(root, "Page")
    if not pages:
        raise FormatError(f"{name}: PAGE XML without a Page element")
    warnings: list[str] = []
    if len(pages) > 1:
        warnings.append(f"{len(pages)} Page elements; only the first is read")
    page = pages[0]
    width = parse_dimension(page.get("imageWidth"), what="imageWidth", name=name, warnings=warnings)
    height = parse_dimension(page.get("imageHeight"), what="imageHeight", name=name, warnings=warnings)

    collector = LineCollector(name=name, width=width, height=height, warnings=warnings)
    region_of = {id(line): region.get("id") for region in descendants(page, "TextRegion") for line in region}
    for line in _lines_in_reading_order(page):
        points, problem = _coords(line)
        text, confidence = _line_text(line)
        collector.add(
            raw_id=line.get("id"),
            points=points,
            problem=problem,
            text=text,
            confidence=confidence,
            region_id=region_of.get(id(line)),
            baseline=_baseline(line),
        )
    return collector.page(page.get("imageFilename", ""), image_size)


def _lines_in_reading_order(page: ET.Element) -> list[ET.Element]:
    position: dict[int, int] = {}
    parent: dict[int, ET.Element] = {}
    for n, element in enumerate(page.iter()):
        position[id(element)] = n
        for sub in element:
            parent[id(sub)] = element

    regions = list(descendants(page, "TextRegion"))
    rank = _reading_order_ranks(page)
    if not rank:
        rank = {
            region.get("id", ""): index
            for region in regions
            if (index := _transkribus_index(region)) is not None and region.get("id")
        }

    def region_rank(region: ET.Element) -> float:
        node: ET.Element | None = region
        while node is not None and node is not page:
            node_id = node.get("id")
            if node_id is not None and node_id in rank:
                return rank[node_id]
            node = parent.get(id(node))
        return _INF

    def nearest_region(line: ET.Element) -> ET.Element | None:
        node = parent.get(id(line))
        while node is not None and local_name(node.tag) != "TextRegion":
            node = parent.get(id(node))
        return node

    def key(line: ET.Element) -> tuple[float, int, float, int]:
        region = nearest_region(line)
        line_index = _transkribus_index(line)
        own = float(line_index) if line_index is not None else _INF
        if region is None:  # not valid PAGE, but keep the line, after the regions
            return (_INF, position[id(line)], own, position[id(line)])
        return (region_rank(region), position[id(region)], own, position[id(line)])

    return sorted(descendants(page, "TextLine"), key=key)


def _reading_order_ranks(page: ET.Element) -> dict[str, int]:
    """Region id -> position in the ``ReadingOrder`` element (empty when there is none)."""
    reading_order = child(page, "ReadingOrder")
    ranks: dict[str, int] = {}
    if reading_order is None:
        return ranks

    def index_of(element: ET.Element) -> float:
        try:
            return float(element.get("index", ""))
        except ValueError:
            return _INF

    def walk(group: ET.Element) -> None:
        ref = group.get("regionRef")
        if ref and ref not in ranks:
            ranks[ref] = len(ranks)
        members = [sub for sub in group if local_name(sub.tag) != ""]
        if local_name(group.tag).startswith("OrderedGroup"):
            members = [m for _, m in sorted(enumerate(members), key=lambda p: (index_of(p[1]), p[0]))]
        for member in members:
            tag = local_name(member.tag)
            if tag in ("RegionRefIndexed", "RegionRef"):
                ref = member.get("regionRef")
                if ref and ref not in ranks:
                    ranks[ref] = len(ranks)
            elif tag.startswith(("OrderedGroup", "UnorderedGroup")):
                walk(member)

    for group in reading_order:
        if local_name(group.tag).startswith(("OrderedGroup", "UnorderedGroup")):
            walk(group)
    return ranks


def _transkribus_index(element: ET.Element) -> int | None:
    match = _TRANSKRIBUS_INDEX.search(element.get("custom", ""))
    return int(match.group(1)) if match else None


def _coords(line: ET.Element) -> tuple[list[tuple[float, float]] | None, str | None]:
    coords = child(line, "Coords")
    if coords is None:
        return None, "no Coords element"
    raw = coords.get("points")
    if raw is not None:
        try:
            return parse_points(raw), None
        except ValueError as exc:
            return None, f"Coords points {exc}"
    points: list[tuple[float, float]] = []
    for point in children(coords, "Point"):  # the 2009/2010 schemas
        try:
            points.append((float(point.get("x", "")), float(point.get("y", ""))))
        except ValueError:
            return None, "a Coords/Point without numeric x and y"
    if not points:
        return None, "Coords without points"
    return points, None


def _baseline(line: ET.Element) -> list[tuple[float, float]]:
    """The line's ``Baseline`` points (``@points``, or ``Point`` children in the 2009/2010
    schemas); [] without one or with points that do not parse (the line is read without it)."""
    baseline = child(line, "Baseline")
    if baseline is None:
        return []
    raw = baseline.get("points")
    try:
        if raw is not None:
            return parse_points(raw)
        return [(float(point.get("x", "")), float(point.get("y", ""))) for point in children(baseline, "Point")]
    except ValueError:
        return []


def _text_equiv(element: ET.Element) -> tuple[str | None, float | None] | None:
    """(text, confidence) of the element's preferred TextEquiv; None when it has none."""
    equivs = children(element, "TextEquiv")
    if not equivs:
        return None

    def preference(item: tuple[int, ET.Element]) -> tuple[bool, int, int]:
        try:
            index = int(item[1].get("index", ""))
        except ValueError:
            return (True, 0, item[0])
        return (False, index, item[0])

    chosen = min(enumerate(equivs), key=preference)[1]
    text: str | None = None
    unicode = child(chosen, "Unicode")
    if unicode is not None:
        text = "".join(unicode.itertext())
    if not (text or "").strip():
        plain = child(chosen, "PlainText")
        if plain is not None:
            text = "".join(plain.itertext())
    return text, parse_confidence(chosen.get("conf"))


def _line_text(line: ET.Element) -> tuple[str | None, float | None]:
    own = _text_equiv(line)
    if own is not None:
        return own
    words = [equiv for word in children(line, "Word") if (equiv := _text_equiv(word)) is not None]
    texts = [text.strip() for text, _ in words if text and text.strip()]
    if not texts:
        return None, None
    confidences = [conf for _, conf in words if conf is not None]
    confidence = sum(confidences) / len(confidences) if confidences and len(confidences) == len(words) else None
    return " ".join(texts), confidence


# Writing ----------------------------------------------------------------------------------------


def write_page_xml(page: PageExport, *, creator: str = "Lineproof", created: datetime | None = None) -> bytes:
    """The page as a PAGE 2019-07-15 document (UTF-8 bytes with an XML declaration).

    Line ids are made valid XML ids (``unique_ids``). A line with fewer than three
    polygon points is written as its bbox rectangle; one with neither raises
    ``FormatError``. Characters XML cannot hold are written as U+FFFD.
    """
    stamp = (created or datetime.now(UTC)).isoformat(timespec="seconds")
    root = root_element("PcGts", PAGE_NAMESPACE, PAGE_SCHEMA)
    metadata = ET.SubElement(root, "Metadata")
    ET.SubElement(metadata, "Creator").text = xml_safe(creator)
    ET.SubElement(metadata, "Created").text = stamp
    ET.SubElement(metadata, "LastChange").text = stamp
    size = {"imageWidth": str(page.width), "imageHeight": str(page.height)}
    page_el = ET.SubElement(root, "Page", {"imageFilename": xml_safe(page.image_filename), **size})
    polygons = [export_polygon(line.id, line.polygon, line.bbox) for line in page.lines]
    if page.lines:
        reading_order = ET.SubElement(page_el, "ReadingOrder")
        group = ET.SubElement(reading_order, "OrderedGroup", {"id": "ro_1", "caption": "Regions reading order"})
        groups = region_groups([line.region_id for line in page.lines], default="region_1")
        region_ids = unique_ids((raw for raw, _members in groups), prefix="r_", reserved=("ro_1",))
        line_ids = unique_ids((line.id for line in page.lines), reserved=("ro_1", *region_ids))
        for rank, (region_id, (_raw, members)) in enumerate(zip(region_ids, groups, strict=True)):
            ET.SubElement(group, "RegionRefIndexed", {"index": str(rank), "regionRef": region_id})
            region = ET.SubElement(
                page_el,
                "TextRegion",
                {"id": region_id, "type": "paragraph", "custom": f"readingOrder {{index:{rank};}}"},
            )
            x0, y0, x1, y1 = bbox_of([point for index in members for point in polygons[index]])
            ET.SubElement(region, "Coords", {"points": _points(rectangle((x0, y0, x1, y1)))})
            for order, index in enumerate(members):
                line, line_id = page.lines[index], line_ids[index]
                custom = f"readingOrder {{index:{order};}}"
                if line.flag is not None:
                    comment = f"comment:{custom_value(line.flag.comment)};" if line.flag.comment else ""
                    custom += f" flag {{kind:{custom_value(line.flag.kind)};{comment}}}"
                line_el = ET.SubElement(region, "TextLine", {"id": line_id, "custom": custom})
                ET.SubElement(line_el, "Coords", {"points": _points(polygons[index])})
                baseline = export_baseline(line.baseline)
                if baseline:
                    ET.SubElement(line_el, "Baseline", {"points": _points(baseline)})
                if line.text is not None:
                    attributes = {} if line.confidence is None else {"conf": _confidence(line.confidence)}
                    equiv = ET.SubElement(line_el, "TextEquiv", attributes)
                    ET.SubElement(equiv, "Unicode").text = xml_safe(line.text)
    ET.indent(root)  # only elements with children get whitespace; Unicode text stays as is
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _points(polygon: list[Point]) -> str:
    return " ".join(f"{max(0, x)},{max(0, y)}" for x, y in polygon)


def _confidence(value: float) -> str:
    return f"{min(1.0, max(0.0, value)):.6g}"
