"""Which files of an upload (zip or folder) go together, decided from their names alone.

Names are relative POSIX paths ("book/0001.png"). A line pair is ``<id>.gt.txt``
with an image ``<id>.<png|jpg|jpeg|tif|tiff|bmp|webp>`` in the same folder (the
kraken/tesstrain convention; ocropus' ``<id>.bin.png`` and ``<id>.nrm.png`` count
as ``<id>`` too). Suffixes match case-insensitively, ids exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from annotator.formats.layout import Rejected

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
GT_SUFFIX = ".gt.txt"
XML_SUFFIX = ".xml"
_OCROPUS_VARIANTS = (".bin", ".nrm")
# Files operating systems add to archives and folders behind the user's back.
_JUNK_NAMES = {".ds_store", "thumbs.db", "desktop.ini"}

FileKind = Literal["image", "gt", "xml", "other"]


def is_junk(name: str) -> bool:
    """macOS resource forks and folder metadata: skipped without a word."""
    parts = name.split("/")
    base = parts[-1]
    return "__MACOSX" in parts[:-1] or base.startswith("._") or base.lower() in _JUNK_NAMES


def file_kind(name: str) -> FileKind:
    lower = name.lower()
    if lower.endswith(GT_SUFFIX):
        return "gt"
    if lower.endswith(XML_SUFFIX):
        return "xml"
    if lower.endswith(IMAGE_SUFFIXES):
        return "image"
    return "other"


def basename(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def dirname(name: str) -> str:
    return name.rsplit("/", 1)[0] if "/" in name else ""


def strip_suffix(name: str) -> str:
    """The name without its last suffix ("a/b.c.png" -> "a/b.c")."""
    base = basename(name)
    if "." not in base.lstrip("."):
        return name
    return name[: len(name) - (len(base) - base.rindex("."))]


def line_ids_of_image(name: str) -> list[str]:
    """Line ids an image can pair with, preferred first ("a/1.bin.png" -> ["a/1.bin", "a/1"])."""
    stem = strip_suffix(name)
    ids = [stem]
    for variant in _OCROPUS_VARIANTS:
        if stem.lower().endswith(variant):
            ids.append(stem[: -len(variant)])
    return ids


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that puts page2 before page10."""
    return tuple((0, int(part)) if part.isdigit() else (1, part.lower()) for part in re.split(r"(\d+)", name) if part)


@dataclass(frozen=True)
class NamePair:
    """A line: its id, its image and its transcription file."""

    id: str
    image: str
    text: str


@dataclass(frozen=True)
class LinePairing:
    pairs: list[NamePair]
    unpaired_images: list[str]
    rejected: list[Rejected]


def pair_line_names(images: Iterable[str], gt_files: Iterable[str]) -> LinePairing:
    """Pairs each ``.gt.txt`` with its image; images left over are returned for the caller.

    A ``.gt.txt`` without an image is rejected ("has no image"); one whose id matches
    several images (``1.png`` and ``1.jpg``) is rejected together with those images.
    """
    by_id: dict[str, list[str]] = {}
    for image in images:
        for line_id in line_ids_of_image(image):
            by_id.setdefault(line_id, []).append(image)
    pairs: list[NamePair] = []
    rejected: list[Rejected] = []
    used: set[str] = set()
    for gt in sorted(gt_files, key=natural_key):
        line_id = gt[: -len(GT_SUFFIX)]
        candidates = [image for image in by_id.get(line_id, []) if image not in used]
        # An exact stem beats an ocropus variant: "1.png" over "1.bin.png" for "1.gt.txt".
        exact = [image for image in candidates if strip_suffix(image) == line_id]
        if len(exact) == 1:
            candidates = exact
        if not candidates:
            expected = ", ".join(basename(line_id) + suffix for suffix in IMAGE_SUFFIXES[:3])
            rejected.append(Rejected(gt, f"has no image (expected {expected}... next to it)"))
            continue
        if len(candidates) > 1:
            names = ", ".join(sorted(basename(c) for c in candidates))
            rejected.append(Rejected(gt, f"matches several images ({names}); keep one"))
            for image in candidates:
                used.add(image)
                rejected.append(Rejected(image, f"ambiguous: {basename(gt)} matches several images"))
            continue
        used.add(candidates[0])
        pairs.append(NamePair(line_id, candidates[0], gt))
    leftover = sorted({image for ids in by_id.values() for image in ids} - used, key=natural_key)
    return LinePairing(pairs, leftover, rejected)


def unsupported_reason(name: str, kind: str) -> str:
    """Why a file is left out of an import of ``kind`` ("auto", "pages", "xml", "lines")."""
    lower = name.lower()
    if lower.endswith(GT_SUFFIX):
        return f".gt.txt transcriptions are not read in a {kind!r} import"
    if lower.endswith(XML_SUFFIX):
        return f"XML files are not read in a {kind!r} import"
    if lower.endswith(".txt"):
        return "a .txt file that is not <id>.gt.txt; line transcriptions are named like their image plus .gt.txt"
    return "unsupported file type (expected .png/.jpg/.tif images, .gt.txt transcriptions or PAGE/ALTO .xml)"
