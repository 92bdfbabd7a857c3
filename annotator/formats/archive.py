"""Reading uploaded zip archives without trusting them, and sorting out what they hold.

``read_zip`` checks the whole central directory before decompressing anything:
member count, path escapes (``..``, absolute paths, drive letters), links and
other special files, encrypted members, duplicate names, entries that share their
data (overlapping-entry bombs), declared sizes and declared compression ratios.
Decompression then goes through a capped stream, so a member that lies about its
size cannot produce more than the limits allow either.

``classify_archive`` pairs the members up (see its docstring); it works on any
list of ``ArchiveMember``, so loose uploaded files can be wrapped and classified
the same way.
"""

from __future__ import annotations

import io
import os
import re
import stat
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import BinaryIO, Literal

from annotator.formats.layout import FormatError, Rejected, image_basename
from annotator.formats.pairing import (
    basename,
    dirname,
    file_kind,
    is_junk,
    natural_key,
    pair_line_names,
    strip_suffix,
    unsupported_reason,
)
from annotator.formats.safe_xml import XmlFormat, child, detect_format, local_name, parse_xml
from annotator.formats.text import decode_text

ImportKind = Literal["auto", "pages", "xml", "lines"]
# The one list of import kinds, with what each takes (the API serves it to the UI).
IMPORT_KINDS: dict[ImportKind, str] = {
    "auto": "Detect from the files",
    "pages": "Page images (cut into lines)",
    "xml": "PAGE XML or ALTO zip with images",
    "lines": "Line folder: <id>.png + <id>.gt.txt",
}
_CHUNK = 256 * 1024


@dataclass(frozen=True)
class ArchiveLimits:
    """What an archive may hold. Sizes are uncompressed bytes.

    ``max_ratio`` is uncompressed / compressed size per member; members smaller than
    ``ratio_grace_bytes`` are not ratio-checked (tiny files compress oddly, and cannot
    make a bomb). Scanned pages rarely compress beyond 20:1; bombs reach 1000:1.
    """

    max_members: int = 20_000
    max_total_bytes: int = 1024 * 1024 * 1024
    max_member_bytes: int = 256 * 1024 * 1024
    max_ratio: float = 250.0
    ratio_grace_bytes: int = 1024 * 1024


@dataclass(frozen=True)
class ArchiveMember:
    """A regular file from the archive: ``name`` is its normalised relative POSIX path."""

    name: str
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.data)


def read_zip(
    source: bytes | str | os.PathLike[str] | BinaryIO,
    *,
    limits: ArchiveLimits = ArchiveLimits(),
    name: str | None = None,
) -> list[ArchiveMember]:
    """The regular files of a zip archive, in archive order, all checked against ``limits``.

    ``source`` is the archive's bytes, a path or a binary file object (seekable).
    Folders are skipped, and so are OS litter (``__MACOSX/``, ``._*``, ``.DS_Store``,
    ``Thumbs.db``). Any violation refuses the whole archive with a ``FormatError``
    naming the offending member: an archive someone crafted is not imported in part.
    """
    label = name or (os.fspath(source) if isinstance(source, str | os.PathLike) else "archive")
    stream: BinaryIO | str | os.PathLike[str] = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        raise FormatError(f"{label}: not a readable zip archive ({exc})") from exc
    except OSError as exc:
        raise FormatError(f"{label}: cannot read the archive ({exc.strerror or exc})") from exc
    with archive:
        archive_size = _archive_size(source)
        infos = archive.infolist()
        if len(infos) > limits.max_members:
            raise FormatError(f"{label}: {len(infos)} entries, more than the limit of {limits.max_members}")
        wanted = _check_directory(label, infos, limits, archive_size)
        members: list[ArchiveMember] = []
        total = 0
        for info, member_name in wanted:
            data = _read_member(label, archive, info, member_name, limits, total, archive_size)
            total += len(data)
            members.append(ArchiveMember(member_name, data))
    return members


def _archive_size(source: bytes | str | os.PathLike[str] | BinaryIO) -> int | None:
    try:
        if isinstance(source, bytes):
            return len(source)
        if isinstance(source, str | os.PathLike):
            return os.stat(source).st_size
        position = source.tell()
        size = source.seek(0, io.SEEK_END)
        source.seek(position)
        return size
    except (OSError, ValueError):
        return None


def safe_member_name(raw: str) -> str:
    """``raw`` as a relative POSIX path inside the archive, or ``FormatError`` when it
    would escape it (``..``, absolute, a drive letter) or is otherwise unusable."""
    if "\x00" in raw or any(ord(c) < 32 for c in raw):
        raise FormatError(f"{raw!r}: control characters in the member name, refused")
    name = raw.replace("\\", "/")
    if name.startswith("/"):
        raise FormatError(f"{raw}: absolute path in the archive, refused")
    if re.match(r"^[A-Za-z]:", name):
        raise FormatError(f"{raw}: drive letter in the member name, refused")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise FormatError(f"{raw}: path escapes the archive ('..'), refused")
    if not parts:
        raise FormatError(f"{raw!r}: empty member name, refused")
    return "/".join(parts)


def _check_directory(
    label: str, infos: list[zipfile.ZipInfo], limits: ArchiveLimits, archive_size: int | None
) -> list[tuple[zipfile.ZipInfo, str]]:
    wanted: list[tuple[zipfile.ZipInfo, str]] = []
    names: set[str] = set()
    offsets: dict[int, str] = {}
    declared_total = 0
    for info in infos:
        try:
            member_name = safe_member_name(info.filename)
        except FormatError as exc:
            raise FormatError(f"{label}: {exc}") from None
        mode = info.external_attr >> 16
        if info.create_system == 3 and stat.S_ISLNK(mode):
            raise FormatError(f"{label}: {info.filename} is a symbolic link, refused")
        if info.is_dir():
            continue
        if info.create_system == 3 and stat.S_IFMT(mode) not in (0, stat.S_IFREG):
            raise FormatError(f"{label}: {info.filename} is not a regular file, refused")
        if info.flag_bits & 0x1:
            raise FormatError(f"{label}: {info.filename} is encrypted (password-protected), refused")
        if member_name in names:
            raise FormatError(f"{label}: {info.filename} appears twice in the archive, refused")
        names.add(member_name)
        if info.header_offset in offsets:
            raise FormatError(
                f"{label}: {info.filename} shares its data with {offsets[info.header_offset]} "
                "(overlapping entries, a zip bomb technique), refused"
            )
        offsets[info.header_offset] = info.filename
        if is_junk(member_name):
            continue
        if info.file_size > limits.max_member_bytes:
            raise FormatError(
                f"{label}: {info.filename} is {info.file_size} bytes uncompressed, "
                f"more than the limit of {limits.max_member_bytes}"
            )
        declared_total += info.file_size
        if declared_total > limits.max_total_bytes:
            raise FormatError(
                f"{label}: more than {limits.max_total_bytes} bytes uncompressed in all "
                f"(reached at {info.filename}), refused"
            )
        _check_ratio(label, info.filename, info.file_size, info.compress_size, limits, archive_size)
        wanted.append((info, member_name))
    return wanted


def _check_ratio(
    label: str, member: str, size: int, compressed: int, limits: ArchiveLimits, archive_size: int | None
) -> None:
    if size <= limits.ratio_grace_bytes:
        return
    # A member's compressed data cannot be larger than the archive, whatever it declares.
    if archive_size is not None:
        compressed = min(compressed, archive_size)
    ratio = size / max(1, compressed)
    if ratio > limits.max_ratio:
        raise FormatError(
            f"{label}: {member} expands {ratio:.0f}-fold ({compressed} to {size} bytes), "
            f"above the limit of {limits.max_ratio:g} (a zip bomb?), refused"
        )


def _read_member(
    label: str,
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    member_name: str,
    limits: ArchiveLimits,
    total_so_far: int,
    archive_size: int | None,
) -> bytes:
    cap = min(limits.max_member_bytes, limits.max_total_bytes - total_so_far)
    chunks: list[bytes] = []
    size = 0
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                if size > cap:
                    raise FormatError(
                        f"{label}: {info.filename} decompresses to more than its limit of {cap} bytes "
                        f"(it declared {info.file_size}), refused"
                    )
                _check_ratio(label, info.filename, size, info.compress_size, limits, archive_size)
                chunks.append(chunk)
    except FormatError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError) as exc:
        raise FormatError(f"{label}: {info.filename} is corrupt ({exc})") from exc
    except NotImplementedError as exc:
        raise FormatError(f"{label}: {info.filename} uses an unsupported compression method ({exc})") from exc
    except RuntimeError as exc:  # zipfile's word for "needs a password"
        raise FormatError(f"{label}: {info.filename} cannot be read ({exc})") from exc
    return b"".join(chunks)


# Classification ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class XmlPage:
    """A PAGE or ALTO file and the page image it describes.

    ``image_reference`` is what the XML names (may be a path or URL, "" when absent);
    parse ``xml.data`` with ``parse_layout`` (or ``parse_page_xml``/``parse_alto``)
    passing the image's pixel size.
    """

    xml: ArchiveMember
    format: XmlFormat
    image: ArchiveMember
    image_reference: str
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LinePair:
    """A line image with its transcription. ``id`` is the image's path in the archive
    without suffix ("book/0001"); ``text`` None: no ``.gt.txt`` (a line to transcribe),
    "" an empty one."""

    id: str
    image: ArchiveMember
    text: str | None
    text_name: str | None


@dataclass(frozen=True)
class ArchiveContents:
    """What an archive holds, all lists in natural name order (page2 before page10)."""

    kind: ImportKind
    xml_pages: list[XmlPage]
    line_pairs: list[LinePair]
    page_images: list[ArchiveMember]
    rejected: list[Rejected]
    warnings: list[str]


def classify_archive(members: Sequence[ArchiveMember], *, kind: ImportKind = "auto") -> ArchiveContents:
    """Sorts members into XML pages, line pairs and bare page images; the rest is rejected.

    - XML (kinds "xml", "auto"): each ``.xml`` whose root is PAGE (``PcGts``) or ALTO
      (``alto``) is paired with the image it names (``Page@imageFilename`` or
      ``sourceImageInformation/fileName``), matched by file name, case-insensitively,
      in any folder; with several such images, the one in the XML's folder or its
      parent wins. When the named image is absent (ALTO often names the producer's
      own path), an image with the XML's own stem is used, with a warning. Unsafe or
      unreadable XML, other XML (METS...) and XML without an image are rejected.
    - Lines (kinds "lines", "auto"): ``<id>.gt.txt`` + ``<id>.<image>`` in one folder.
      A ``.gt.txt`` without image, or one that cannot be decoded (its image with it),
      is rejected. An image without ``.gt.txt`` is a line with no text, to transcribe.
    - Pages (kinds "pages", "auto"): images left over are pages to segment.
    - "auto" decides the leftover images: lines without text when the archive has any
      ``.gt.txt``, pages otherwise (so a zip of untranscribed line crops needs "lines").
      With "xml", images no XML names are rejected.
    """
    if kind not in IMPORT_KINDS:
        raise FormatError(f"unknown import kind {kind!r}; expected one of {', '.join(IMPORT_KINDS)}")
    rejected: list[Rejected] = []
    warnings: list[str] = []
    images: dict[str, ArchiveMember] = {}
    gt_files: dict[str, ArchiveMember] = {}
    xml_files: list[ArchiveMember] = []
    seen: set[str] = set()
    for member in members:
        if is_junk(member.name):
            continue
        if member.name in seen:
            rejected.append(Rejected(member.name, "a second file with this name; only the first is read"))
            continue
        seen.add(member.name)
        category = file_kind(member.name)
        if category == "image":
            images[member.name] = member
        elif category == "gt" and kind in ("auto", "lines"):
            gt_files[member.name] = member
        elif category == "xml" and kind in ("auto", "xml"):
            xml_files.append(member)
        else:
            rejected.append(Rejected(member.name, unsupported_reason(member.name, kind)))

    xml_pages = _pair_xml(xml_files, images, rejected, warnings)
    used = {page.image.name for page in xml_pages}
    free_images = [name for name in images if name not in used]

    line_pairs: list[LinePair] = []
    page_images: list[ArchiveMember] = []
    leftover = free_images
    if kind in ("auto", "lines"):
        pairing = pair_line_names(free_images, gt_files)
        rejected.extend(pairing.rejected)
        for pair in pairing.pairs:
            gt = gt_files[pair.text]
            try:
                text = decode_text(gt.data, name=gt.name)
            except FormatError as exc:
                rejected.append(Rejected(gt.name, str(exc).removeprefix(f"{gt.name}: ")))
                rejected.append(Rejected(pair.image, f"its transcription {gt.name} cannot be read"))
                continue
            line_pairs.append(LinePair(pair.id, images[pair.image], text, gt.name))
        leftover = pairing.unpaired_images

    as_lines = kind == "lines" or (kind == "auto" and bool(gt_files))
    for name in leftover:
        if as_lines:
            line_pairs.append(LinePair(strip_suffix(name), images[name], None, None))
        elif kind == "xml":
            rejected.append(Rejected(name, "no XML file in the archive names this image"))
        else:
            page_images.append(images[name])

    xml_pages.sort(key=lambda p: natural_key(p.xml.name))
    line_pairs.sort(key=lambda p: natural_key(p.id))
    page_images.sort(key=lambda m: natural_key(m.name))
    rejected.sort(key=lambda r: natural_key(r.name))
    return ArchiveContents(kind, xml_pages, line_pairs, page_images, rejected, warnings)


def _pair_xml(
    xml_files: list[ArchiveMember],
    images: dict[str, ArchiveMember],
    rejected: list[Rejected],
    warnings: list[str],
) -> list[XmlPage]:
    by_basename: dict[str, list[str]] = {}
    by_stem: dict[str, list[str]] = {}
    for name in images:
        by_basename.setdefault(basename(name).lower(), []).append(name)
        by_stem.setdefault(basename(strip_suffix(name)).lower(), []).append(name)
    claimed: dict[str, str] = {}
    pages: list[XmlPage] = []
    for xml in sorted(xml_files, key=lambda m: natural_key(m.name)):
        try:
            root = parse_xml(xml.data, name=xml.name)
        except FormatError as exc:
            rejected.append(Rejected(xml.name, str(exc).removeprefix(f"{xml.name}: ")))
            continue
        fmt = detect_format(root)
        if fmt is None:
            rejected.append(
                Rejected(xml.name, f"not a PAGE or ALTO file (root element {local_name(root.tag)!r}), ignored")
            )
            continue
        reference = _image_reference(root, fmt)
        own_warnings: list[str] = []
        wanted = image_basename(reference)
        candidates = by_basename.get(wanted.lower(), []) if wanted else []
        if not candidates:
            candidates = by_stem.get(basename(strip_suffix(xml.name)).lower(), [])
            if candidates and wanted:
                own_warnings.append(
                    f"{xml.name} names {wanted}, not in the archive; paired with {basename(candidates[0])} by name"
                )
        chosen = _closest(xml.name, candidates)
        if chosen is None:
            if len(candidates) > 1:
                names = ", ".join(sorted(candidates))
                rejected.append(Rejected(xml.name, f"names {wanted or 'no image'}, which is ambiguous here ({names})"))
            elif wanted:
                rejected.append(Rejected(xml.name, f"references {wanted}, not in the archive"))
            else:
                rejected.append(Rejected(xml.name, "names no image file, and no image has its name"))
            continue
        if chosen in claimed:
            rejected.append(Rejected(xml.name, f"describes {chosen}, already paired with {claimed[chosen]}"))
            continue
        claimed[chosen] = xml.name
        warnings.extend(own_warnings)
        pages.append(XmlPage(xml, fmt, images[chosen], reference, own_warnings))
    return pages


def _closest(xml_name: str, candidates: list[str]) -> str | None:
    """The one candidate, or the one in the XML's folder, or in its parent (Transkribus
    puts ``page/x.xml`` under the images' folder); None when that does not decide."""
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    folder = dirname(xml_name)
    for place in (folder, dirname(folder) if folder else None):
        if place is None:
            continue
        here = [c for c in candidates if dirname(c) == place]
        if len(here) == 1:
            return here[0]
    return None


def _image_reference(root: ET.Element, fmt: XmlFormat) -> str:
    if fmt == "page":
        page = child(root, "Page")
        return (page.get("imageFilename") or "").strip() if page is not None else ""
    description = child(root, "Description")
    info = child(description, "sourceImageInformation") if description is not None else None
    file_name = child(info, "fileName") if info is not None else None
    return (file_name.text or "").strip() if file_name is not None else ""
