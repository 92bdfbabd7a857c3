"""The file formats Lineproof imports and exports, free of Django.

PAGE XML and ALTO XML (``pagexml``, ``alto``), safe XML parsing (``safe_xml``),
zip archives and their classification (``archive``), ``.gt.txt`` line
transcriptions, line folders and plain text (``text``). Every refusal is a
``FormatError`` (a ``ValueError``) whose message names the file; per-line problems
in an otherwise usable file are warnings on the ``ParsedPage``.
"""

from __future__ import annotations

from annotator.formats.alto import alto_from_root, parse_alto, write_alto
from annotator.formats.archive import (
    IMPORT_KINDS,
    ArchiveContents,
    ArchiveLimits,
    ArchiveMember,
    ImportKind,
    LinePair,
    XmlPage,
    classify_archive,
    read_zip,
)
from annotator.formats.layout import (
    FormatError,
    LineExport,
    LineFlagExport,
    PageExport,
    ParsedLine,
    ParsedPage,
    Rejected,
    fit_page,
    unique_ids,
    xml_id,
)
from annotator.formats.pagexml import page_from_root, parse_page_xml, write_page_xml
from annotator.formats.safe_xml import XmlFormat, detect_format, local_name, parse_xml
from annotator.formats.text import (
    FolderLinePair,
    FolderLines,
    decode_text,
    encode_text,
    folder_line_pairs,
    page_text,
    write_text,
)


def parse_layout(data: bytes, *, name: str, image_size: tuple[int, int] | None = None) -> ParsedPage:
    """A PAGE or ALTO document, whichever it is (by its root element).

    ``image_size`` (width, height in pixels) of the page image, when known, makes the
    coordinates fit it (scaling from the declared size, converting ALTO mm10/inch1200).
    """
    root = parse_xml(data, name=name)
    fmt = detect_format(root)
    if fmt == "page":
        return page_from_root(root, name=name, image_size=image_size)
    if fmt == "alto":
        return alto_from_root(root, name=name, image_size=image_size)
    raise FormatError(f"{name}: not a PAGE or ALTO file (root element is {local_name(root.tag)!r})")


__all__ = [
    "IMPORT_KINDS",
    "ArchiveContents",
    "ArchiveLimits",
    "ArchiveMember",
    "FolderLinePair",
    "FolderLines",
    "FormatError",
    "ImportKind",
    "LineExport",
    "LineFlagExport",
    "LinePair",
    "PageExport",
    "ParsedLine",
    "ParsedPage",
    "Rejected",
    "XmlFormat",
    "XmlPage",
    "classify_archive",
    "decode_text",
    "encode_text",
    "fit_page",
    "folder_line_pairs",
    "page_text",
    "parse_alto",
    "parse_layout",
    "parse_page_xml",
    "read_zip",
    "unique_ids",
    "write_alto",
    "write_page_xml",
    "write_text",
    "xml_id",
]
