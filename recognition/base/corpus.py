"""The pretraining corpus: real line ground truth cut from public page datasets.

Every source in ``sources.json`` is a public Git repository of page images
with ALTO or PAGE XML, pinned to one commit. :func:`build_corpus` reads each
snapshot straight from its Git object store (no checkout), cuts every text
line out of its page along the line polygon, and writes a dataset folder in
the layout ``recognition.data.load_split`` reads::

    <out>/lines/<source>/<page>_<n>.png      grayscale, at most STORE_HEIGHT px tall
    <out>/lines/<source>/<page>_<n>.gt.txt   the line's text, NFC
    <out>/split.json                         train / val ids (val: whole pages)
    <out>/manifest.json                      per source: commit, licence, pages, lines, characters

How a line is cut: the bounding box of its polygon (ALTO ``Shape/Polygon``,
PAGE ``Coords``; an ALTO line without a polygon uses HPOS/VPOS/WIDTH/HEIGHT),
with everything outside the polygon painted the page's paper tone, so the
neighbouring lines' ascenders and descenders do not leak in. Lines whose text
is empty, or whose box is too small or taller than wide, are left out.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import unicodedata
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from defusedxml import ElementTree

SOURCES_FILE = Path(__file__).with_name("sources.json")
STORE_HEIGHT = 64
# One page in VAL_EVERY goes to validation (chosen by a hash of its path, so a
# rebuild makes the same split).
VAL_EVERY = 25
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")


@dataclass(frozen=True)
class PageLine:
    polygon: np.ndarray  # (N, 2) float32, page pixels
    text: str


@dataclass(frozen=True)
class PageLayout:
    image_name: str
    width: int | None
    height: int | None
    lines: list[PageLine]


def load_sources(path: Path = SOURCES_FILE) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


# --- reading a snapshot -----------------------------------------------------


class Snapshot:
    """Files of one commit, read from a (bare) Git directory without a checkout."""

    def __init__(self, git_dir: Path, commit: str) -> None:
        self.git_dir, self.commit = git_dir, commit
        listing = self._git("ls-tree", "-r", "-z", commit).decode("utf-8")
        self.blobs: dict[str, str] = {}
        for entry in listing.split("\0"):
            if not entry:
                continue
            meta, path = entry.split("\t", 1)
            _, kind, sha = meta.split()
            if kind == "blob":
                self.blobs[path] = sha

    def _git(self, *args: str) -> bytes:
        return subprocess.run(["git", f"--git-dir={self.git_dir}", *args], check=True, capture_output=True).stdout

    def read(self, path: str) -> bytes | None:
        """The file's bytes, or None when the snapshot lacks the object (large files)."""
        sha = self.blobs.get(path)
        if sha is None:
            return None
        done = subprocess.run(["git", f"--git-dir={self.git_dir}", "cat-file", "blob", sha], capture_output=True)
        return done.stdout if done.returncode == 0 else None


def snapshot_dir(snapshots: Path, repo: str) -> Path:
    """Where a snapshot of ``repo`` lives: ``<snapshots>/<owner>+<name>/repo`` (the search tool's layout)."""
    root = snapshots / repo.replace("/", "+") / "repo"
    return root / ".git" if (root / ".git").is_dir() else root


def ensure_snapshot(snapshots: Path, repo: str, commit: str) -> Path:
    """The snapshot's Git directory, cloned (bare) from GitHub when it is not there yet."""
    git_dir = snapshot_dir(snapshots, repo)
    if not git_dir.exists():
        git_dir.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "clone", "--bare", f"https://github.com/{repo}.git", str(git_dir)], check=True)
    check = subprocess.run(["git", f"--git-dir={git_dir}", "cat-file", "-e", f"{commit}^{{commit}}"])
    if check.returncode != 0:
        raise RuntimeError(f"{git_dir}: commit {commit} of {repo} is not in this snapshot")
    return git_dir


# --- layout XML ---------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _points(text: str) -> np.ndarray:
    """ALTO ``x y x y`` or PAGE ``x,y x,y`` to an (N, 2) array."""
    numbers = [float(v) for v in text.replace(",", " ").split()]
    if len(numbers) < 6 or len(numbers) % 2:
        return np.zeros((0, 2), dtype=np.float32)
    return np.asarray(numbers, dtype=np.float32).reshape(-1, 2)


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", " ".join(text.split()))


def _alto_line(element: Any) -> PageLine:
    words = [s.get("CONTENT", "") for s in element if _local(s.tag) == "String"]
    polygon = np.zeros((0, 2), dtype=np.float32)
    for child in element.iter():
        if _local(child.tag) == "Polygon" and child.get("POINTS"):
            polygon = _points(child.get("POINTS", ""))
            break
    if len(polygon) == 0 and element.get("WIDTH"):
        x, y = float(element.get("HPOS", 0)), float(element.get("VPOS", 0))
        w, h = float(element.get("WIDTH", 0)), float(element.get("HEIGHT", 0))
        polygon = np.asarray([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float32)
    return PageLine(polygon, _nfc(" ".join(words)))


def _page_line(element: Any) -> PageLine:
    polygon, text = np.zeros((0, 2), dtype=np.float32), ""
    for child in element:
        if _local(child.tag) == "Coords":
            polygon = _points(child.get("points", ""))
        elif _local(child.tag) == "TextEquiv" and not text:
            # The line's own TextEquiv, a direct child; the words' TextEquivs are deeper.
            unicode = next((u for u in child if _local(u.tag) == "Unicode"), None)
            text = unicode.text or "" if unicode is not None else ""
    return PageLine(polygon, _nfc(text))


def _parse(data: bytes, *, alto: bool) -> PageLayout:
    """ALTO and PAGE alike: the image's name and size, and every TextLine."""
    image_name, width, height = "", None, None
    lines: list[PageLine] = []
    for element in ElementTree.fromstring(data).iter():
        tag = _local(element.tag)
        if alto and tag == "fileName" and element.text:
            image_name = element.text.strip()
        elif tag == "Page" and alto:
            width = int(float(element.get("WIDTH", 0))) or None
            height = int(float(element.get("HEIGHT", 0))) or None
        elif tag == "Page":
            image_name = element.get("imageFilename", "")
            width = int(element.get("imageWidth", 0)) or None
            height = int(element.get("imageHeight", 0)) or None
        elif tag == "TextLine":
            lines.append(_alto_line(element) if alto else _page_line(element))
    return PageLayout(image_name, width, height, lines)


def parse_alto(data: bytes) -> PageLayout:
    return _parse(data, alto=True)


def parse_page(data: bytes) -> PageLayout:
    return _parse(data, alto=False)


def parse_layout(data: bytes) -> PageLayout | None:
    head = data[:2000]
    if b"alto" in head.lower():
        return parse_alto(data)
    if b"PcGts" in head:
        return parse_page(data)
    return None


# --- cutting lines ------------------------------------------------------------


def cut_line(page: np.ndarray, polygon: np.ndarray, *, store_height: int = STORE_HEIGHT) -> np.ndarray | None:
    """The line under ``polygon`` (page pixels) as a (H, W) uint8 crop, H <= ``store_height``."""
    if len(polygon) < 3:
        return None
    x0, y0 = np.floor(polygon.min(axis=0)).astype(int)
    x1, y1 = np.ceil(polygon.max(axis=0)).astype(int)
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(page.shape[1], x1), min(page.shape[0], y1)
    w, h = x1 - x0, y1 - y0
    if w < 8 or h < 8 or h > 1.5 * w:
        return None
    crop = page[y0:y1, x0:x1].copy()
    mask = np.zeros((h, w), dtype=np.uint8)
    cv2.fillPoly(mask, [np.round(polygon - [x0, y0]).astype(np.int32)], 255)
    # A few pixels of slack: polygons drawn by segmenters hug the ink tightly.
    mask = cv2.dilate(mask, np.ones((3, 3), np.uint8), iterations=2)
    paper = int(np.percentile(crop, 90))
    crop[mask == 0] = paper
    if h > store_height:
        new_w = max(1, round(w * store_height / h))
        crop = cv2.resize(crop, (new_w, store_height), interpolation=cv2.INTER_AREA)
    return crop


def _decode_gray(data: bytes) -> np.ndarray | None:
    array = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(array, cv2.IMREAD_GRAYSCALE)
    return image


def _find_image(snapshot: Snapshot, xml_path: str, image_name: str) -> str | None:
    """The snapshot path of the page image an XML file names (same folder, a sibling folder, or by stem)."""
    folder = xml_path.rsplit("/", 1)[0] if "/" in xml_path else ""
    base = image_name.replace("\\", "/").rsplit("/", 1)[-1]
    stem = (base.rsplit(".", 1)[0] if base else xml_path.rsplit("/", 1)[-1].rsplit(".", 1)[0]).lower()
    candidates = [p for p in snapshot.blobs if p.lower().endswith(IMAGE_SUFFIXES)]
    exact = [p for p in candidates if p.rsplit("/", 1)[-1] == base]
    if exact:
        exact.sort(key=lambda p: (not p.startswith(folder), len(p)))
        return exact[0]
    by_stem = [p for p in candidates if p.rsplit("/", 1)[-1].rsplit(".", 1)[0].lower() == stem]
    by_stem.sort(key=lambda p: (not p.startswith(folder.rsplit("/", 1)[0]), len(p)))
    return by_stem[0] if by_stem else None


def _is_val(source: str, xml_path: str) -> bool:
    digest = hashlib.sha1(f"{source}/{xml_path}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % VAL_EVERY == 0


def _page_id(xml_path: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in xml_path.rsplit(".", 1)[0])
    return safe.strip("_")[-120:]


@dataclass(frozen=True)
class _PageJob:
    source: str
    git_dir: str
    commit: str
    xml_path: str
    # Resolved once, by _one_layout_per_image; None when the snapshot has no such image.
    image_path: str | None
    out_dir: str


def _cut_page(job: _PageJob) -> tuple[str, list[tuple[str, str]], str]:
    """Cut one page's lines to files: (xml path, [(line id, text)], why nothing was cut)."""
    snapshot = _SNAPSHOT_CACHE.get(job.git_dir)
    if snapshot is None:
        snapshot = _SNAPSHOT_CACHE[job.git_dir] = Snapshot(Path(job.git_dir), job.commit)
    data = snapshot.read(job.xml_path)
    if data is None:
        return job.xml_path, [], "xml absent"
    try:
        layout = parse_layout(data)
    except Exception:
        return job.xml_path, [], "xml unreadable"
    if layout is None or not layout.lines:
        return job.xml_path, [], "no text lines"
    image_bytes = snapshot.read(job.image_path) if job.image_path else None
    page = _decode_gray(image_bytes) if image_bytes else None
    if page is None:
        return job.xml_path, [], "image absent"
    scale_x = page.shape[1] / layout.width if layout.width else 1.0
    scale_y = page.shape[0] / layout.height if layout.height else 1.0
    out = Path(job.out_dir) / "lines" / job.source
    out.mkdir(parents=True, exist_ok=True)
    page_id = _page_id(job.xml_path)
    made: list[tuple[str, str]] = []
    for n, line in enumerate(layout.lines):
        if not line.text or len(line.polygon) < 3:
            continue
        crop = cut_line(page, line.polygon * np.asarray([scale_x, scale_y], dtype=np.float32))
        if crop is None:
            continue
        line_id = f"{job.source}/{page_id}_{n:04d}"
        cv2.imwrite(str(out / f"{page_id}_{n:04d}.png"), crop)
        (out / f"{page_id}_{n:04d}.gt.txt").write_text(line.text + "\n", encoding="utf-8")
        made.append((line_id, line.text))
    return job.xml_path, made, "" if made else "no usable lines"


_SNAPSHOT_CACHE: dict[str, Snapshot] = {}


def _layout_files(snapshot: Snapshot) -> Iterator[str]:
    for path in sorted(snapshot.blobs):
        name = path.rsplit("/", 1)[-1].lower()
        if name.endswith(".xml") and "mets" not in name and not name.startswith("."):
            yield path


_IMAGE_NAME = re.compile(rb"<(?:\w+:)?fileName>([^<]+)<|imageFilename=\"([^\"]+)\"")


def _one_layout_per_image(snapshot: Snapshot) -> list[tuple[str, str | None]]:
    """(layout file, its page image) pairs, one per image: many datasets ship a page as both ALTO and PAGE."""
    chosen: dict[str, tuple[str, str | None]] = {}
    for path in _layout_files(snapshot):
        data = snapshot.read(path) or b""
        match = _IMAGE_NAME.search(data[:5000])
        name = (match.group(1) or match.group(2)).decode("utf-8", "replace").strip() if match else ""
        image = _find_image(snapshot, path, name)
        chosen.setdefault(image or path, (path, image))
    return sorted(chosen.values())


def build_corpus(out_dir: Path, snapshots: Path, *, workers: int = 2, only: list[str] | None = None) -> dict[str, Any]:
    """Cut every line source of ``sources.json`` into ``out_dir``; returns (and writes) the manifest."""
    sources = load_sources()
    out_dir.mkdir(parents=True, exist_ok=True)
    split: dict[str, list[str]] = {"train": [], "val": []}
    manifest_sources = []
    for source in sources["line_sources"]:
        if only and source["name"] not in only:
            continue
        git_dir = ensure_snapshot(snapshots, source["repo"], source["commit"])
        snapshot = Snapshot(git_dir, source["commit"])
        jobs = [
            _PageJob(source["name"], str(git_dir), source["commit"], path, image, str(out_dir))
            for path, image in _one_layout_per_image(snapshot)
        ]
        pages, lines, chars = 0, 0, 0
        skipped: dict[str, int] = {}
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for xml_path, made, why in pool.map(_cut_page, jobs, chunksize=4):
                if why:
                    skipped[why] = skipped.get(why, 0) + 1
                    continue
                pages += 1
                lines += len(made)
                chars += sum(len(text) for _, text in made)
                split["val" if _is_val(source["name"], xml_path) else "train"].extend(i for i, _ in made)
        manifest_sources.append(
            {
                **source,
                "pages": pages,
                "lines": lines,
                "characters": chars,
                "skipped_xml_files": skipped,
                "cut": "polygon bounding box, outside the polygon painted the paper tone, "
                f"scaled down to at most {STORE_HEIGHT} px high",
            }
        )
        print(f"{source['name']}: {pages} pages, {lines} lines, {chars} characters, skipped {skipped}", flush=True)
    (out_dir / "split.json").write_text(json.dumps(split), encoding="utf-8")
    manifest = {"line_sources": manifest_sources, "train_lines": len(split["train"]), "val_lines": len(split["val"])}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
    return manifest
