"""Line transcriptions as text files: reading ``.gt.txt``, server-side line folders, text export.

A ``.gt.txt`` holds one line: UTF-8 with or without a BOM (UTF-16 and UTF-32 only
with their BOM), surrounding whitespace and blank lines ignored, NFC. The same
rules as ``recognition.data.read_ground_truth``, with clearer refusals.
"""

from __future__ import annotations

import codecs
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from annotator.formats.layout import FormatError, PageExport, Rejected
from annotator.formats.pairing import file_kind, is_junk, natural_key, pair_line_names, strip_suffix, unsupported_reason

MAX_TEXT_BYTES = 64 * 1024
MAX_FOLDER_FILES = 200_000
# str.splitlines() breaks at all of these; a line transcription may contain none of them.
_BREAKS = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: its BOM starts the same way
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (codecs.BOM_UTF8, "utf-8-sig"),
)


def decode_text(data: bytes, *, name: str) -> str:
    """The one line of text in a ``.gt.txt`` file's bytes ("" for an empty file).

    Raises ``FormatError`` naming the file for: more than ``MAX_TEXT_BYTES``, bytes that
    are not UTF-8 (without a UTF-16/32 BOM), NUL characters, or more than one line.
    """
    if len(data) > MAX_TEXT_BYTES:
        raise FormatError(f"{name}: {len(data)} bytes, more than {MAX_TEXT_BYTES} for one line of text")
    encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), "utf-8")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        if encoding != "utf-8":
            raise FormatError(f"{name}: has a {encoding.upper()} byte order mark but is not {encoding}") from exc
        bad = data[exc.start : exc.start + 1]
        raise FormatError(
            f"{name}: not valid UTF-8 (byte 0x{bad.hex()} at offset {exc.start}); "
            "save the file as UTF-8 (it may be Latin-1 or Windows-1252)"
        ) from exc
    if "\x00" in text:
        raise FormatError(f"{name}: contains NUL characters, not a text file")
    text = text.lstrip("\ufeff")  # a second BOM left by a careless converter
    lines = [line for line in _BREAKS.split(text) if line.strip()]
    if len(lines) > 1:
        raise FormatError(f"{name}: has {len(lines)} lines of text; a line transcription must be a single line")
    return unicodedata.normalize("NFC", lines[0]).strip() if lines else ""


def encode_text(text: str, *, name: str = "text") -> bytes:
    """A transcription as ``.gt.txt`` bytes: NFC, UTF-8 without BOM, one trailing newline."""
    if _BREAKS.search(text):
        raise FormatError(f"{name}: a line transcription cannot contain line breaks")
    return (unicodedata.normalize("NFC", text) + "\n").encode("utf-8")


def page_text(page: PageExport) -> str:
    """Plain text of a page: one line per text line in reading order, a line without
    text as an empty line (so line n of the file is line n of the page), each ending
    in a newline."""
    return "".join(_BREAKS.sub(" ", line.text or "") + "\n" for line in page.lines)


def write_text(page: PageExport) -> bytes:
    """``page_text`` as UTF-8 bytes (the plain-text export of one page)."""
    return page_text(page).encode("utf-8")


@dataclass(frozen=True)
class FolderLinePair:
    """One line of a server-side folder: ``id`` is its path relative to the folder,
    without suffix ("book/0001"); ``text`` None means it has no ``.gt.txt`` yet
    ("" is an empty transcription)."""

    id: str
    image_path: Path
    text: str | None
    text_path: Path | None


@dataclass(frozen=True)
class FolderLines:
    pairs: list[FolderLinePair]
    rejected: list[Rejected]


def folder_line_pairs(path: Path, *, max_files: int = MAX_FOLDER_FILES) -> FolderLines:
    """The line pairs under ``path`` (searched recursively), paired like a "lines" zip.

    Images without a ``.gt.txt`` are lines without text; ``.gt.txt`` files without an
    image, unreadable transcriptions (with their image), symbolic links (never
    followed) and other files are rejected with reasons. Image files are not opened
    here: decode them with ``recognition.images.load_line_image``, which checks them.
    Raises ``FormatError`` when ``path`` is not a folder or holds more than ``max_files`` files.
    """
    root = Path(path)
    if not root.is_dir():
        raise FormatError(f"{root}: not a folder")
    images: list[str] = []
    gt_files: list[str] = []
    rejected: list[Rejected] = []
    count = 0
    for folder, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(folder)
        for dirname in list(dirnames):
            if (base / dirname).is_symlink():
                dirnames.remove(dirname)
                rejected.append(Rejected(_relative(base / dirname, root), "symbolic link, not followed"))
        for filename in filenames:
            count += 1
            if count > max_files:
                raise FormatError(f"{root}: more than {max_files} files, refused")
            full = base / filename
            name = _relative(full, root)
            if is_junk(name):
                continue
            if full.is_symlink():
                rejected.append(Rejected(name, "symbolic link, not followed"))
                continue
            kind = file_kind(name)
            if kind == "image":
                images.append(name)
            elif kind == "gt":
                gt_files.append(name)
            else:
                rejected.append(Rejected(name, unsupported_reason(name, "lines")))
    pairing = pair_line_names(images, gt_files)
    rejected.extend(pairing.rejected)
    pairs: list[FolderLinePair] = []
    for pair in pairing.pairs:
        try:
            text = decode_text(_read_capped(root / pair.text, name=pair.text), name=pair.text)
        except FormatError as exc:
            rejected.append(Rejected(pair.text, str(exc).removeprefix(f"{pair.text}: ")))
            rejected.append(Rejected(pair.image, f"its transcription {pair.text} cannot be read"))
            continue
        pairs.append(FolderLinePair(pair.id, root / pair.image, text, root / pair.text))
    for image in pairing.unpaired_images:
        pairs.append(FolderLinePair(strip_suffix(image), root / image, None, None))
    pairs.sort(key=lambda p: natural_key(p.id))
    rejected.sort(key=lambda r: natural_key(r.name))
    return FolderLines(pairs, rejected)


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _read_capped(path: Path, *, name: str) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_TEXT_BYTES + 1)
    except OSError as exc:
        raise FormatError(f"{name}: cannot read file ({exc.strerror})") from exc
    return data
