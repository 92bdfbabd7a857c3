"""Parsing XML from uploads without trusting it.

defusedxml's expat parser refuses every entity declaration (so neither billion
laughs nor external entities, XXE, can happen) and never fetches a DTD; a
DOCTYPE without an internal subset is harmless and tolerated. The document's size
is checked before parsing. Elements are matched by local name, so any namespace
version of PAGE or ALTO (or none) reads the same.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Literal

import defusedxml
import defusedxml.ElementTree as DefusedET

from annotator.formats.layout import FormatError

MAX_XML_BYTES = 50 * 1024 * 1024

XmlFormat = Literal["page", "alto"]


def parse_xml(data: bytes, *, name: str, max_bytes: int = MAX_XML_BYTES) -> ET.Element:
    """The document's root element, or ``FormatError`` saying why not."""
    if len(data) > max_bytes:
        raise FormatError(f"{name}: XML file is {len(data)} bytes, more than the limit of {max_bytes}")
    if not data.strip():
        raise FormatError(f"{name}: XML file is empty")
    try:
        root = DefusedET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except defusedxml.EntitiesForbidden as exc:
        raise FormatError(f"{name}: XML declares entities (entity {exc.name!r}), refused") from exc
    except defusedxml.ExternalReferenceForbidden as exc:
        raise FormatError(f"{name}: XML references an external resource ({exc.sysid!r}), refused") from exc
    except defusedxml.DTDForbidden as exc:
        raise FormatError(f"{name}: XML has a document type declaration, refused") from exc
    except defusedxml.DefusedXmlException as exc:
        raise FormatError(f"{name}: XML uses a refused feature ({exc})") from exc
    except ET.ParseError as exc:
        raise FormatError(f"{name}: not well-formed XML ({exc})") from exc
    except (ValueError, LookupError) as exc:  # e.g. an unknown encoding in the declaration
        raise FormatError(f"{name}: XML cannot be read ({exc})") from exc
    return root


def local_name(tag: str | object) -> str:
    """``{namespace}Name`` -> ``Name``; comments and processing instructions -> ""."""
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def children(element: ET.Element, name: str) -> list[ET.Element]:
    """Direct children with local name ``name``."""
    return [child for child in element if local_name(child.tag) == name]


def child(element: ET.Element, name: str) -> ET.Element | None:
    for sub in element:
        if local_name(sub.tag) == name:
            return sub
    return None


def descendants(element: ET.Element, name: str) -> Iterator[ET.Element]:
    """All descendants (not the element itself) with local name ``name``, in document order."""
    for sub in element.iter():
        if sub is not element and local_name(sub.tag) == name:
            yield sub


def detect_format(root: ET.Element) -> XmlFormat | None:
    """ "page" for a PAGE document (root PcGts), "alto" for ALTO (root alto), else None."""
    name = local_name(root.tag)
    if name == "PcGts":
        return "page"
    if name.lower() == "alto":
        return "alto"
    return None
