"""Synthetic lines for pretraining: real text in real fonts on degraded paper.

The text is public-domain prose (``text_sources`` in ``sources.json``) and
the real corpus's own training transcriptions, cut into line-length pieces.
The fonts come from Debian's font packages (``fonts`` in ``sources.json``):
handwriting-like, old-style roman, blackletter and typewriter faces. Each
line is drawn with Pillow, then aged the way scans are: uneven paper with
stains, faded or heavy ink, slant and baseline drift, pieces of the lines
above and below, blur, sensor noise, JPEG artefacts, and sometimes
binarisation. A font is only given text it has glyphs for, so no ``.notdef``
boxes are learned as letters.
"""

from __future__ import annotations

import json
import re
import subprocess
import unicodedata
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from recognition.base.corpus import STORE_HEIGHT, Snapshot, ensure_snapshot, load_sources
from recognition.synthetic import ALPHABET as HERSHEY_ALPHABET
from recognition.synthetic import render_line as render_hershey

FONT_SUFFIXES = (".ttf", ".otf")
# Junicode alone ships dozens of widths and weights; a few stand for the rest.
MAX_FONTS_PER_PACKAGE = 4
HERSHEY_SHARE = 0.05


@dataclass(frozen=True)
class FontFace:
    path: str
    package: str
    style: str


def installed_fonts() -> list[FontFace]:
    """The font files of the packages ``sources.json`` names; raises if one is missing."""
    faces: list[FontFace] = []
    missing = []
    for entry in load_sources()["fonts"]:
        done = subprocess.run(["dpkg", "-L", entry["package"]], capture_output=True, text=True)
        files = (
            sorted(p for p in done.stdout.split() if p.lower().endswith(FONT_SUFFIXES)) if done.returncode == 0 else []
        )
        if not files:
            missing.append(entry["package"])
            continue
        # Regular faces first, then the rest, so the cap keeps the plain ones.
        files.sort(key=lambda p: ("regular" not in p.lower() and "-" in Path(p).stem, p))
        faces += [FontFace(p, entry["package"], entry["style"]) for p in files[:MAX_FONTS_PER_PACKAGE]]
    if missing:
        raise RuntimeError("font packages missing; install them: apt-get install " + " ".join(missing))
    return faces


@lru_cache(maxsize=64)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


@lru_cache(maxsize=64)
def glyph_coverage(path: str, alphabet: str) -> frozenset[str]:
    """The characters of ``alphabet`` that ``path`` draws with a glyph of their own (not .notdef)."""
    font = _font(path, 32)
    notdef = bytes(font.getmask("\U0010fffd"))
    covered = {" "}
    for char in alphabet:
        if char == " ":
            continue
        mask = font.getmask(char)
        if mask.size[0] > 0 and bytes(mask) != notdef:
            covered.add(char)
    return frozenset(covered)


# --- text -----------------------------------------------------------------------


def _gutenberg_body(raw: str) -> str:
    start = re.search(r"\*\*\* ?START OF.*?\*\*\*", raw)
    end = re.search(r"\*\*\* ?END OF", raw)
    return raw[start.end() if start else 0 : end.start() if end else len(raw)]


def book_lines(text: str, rng: np.random.Generator, *, min_chars: int = 12, max_chars: int = 70) -> list[str]:
    """Running text cut at word boundaries into lines of a random length."""
    words = unicodedata.normalize("NFC", text).replace("_", "").split()
    lines, current = [], ""
    target = int(rng.integers(min_chars, max_chars))
    for word in words:
        if current and len(current) + 1 + len(word) > target:
            lines.append(current)
            current, target = word, int(rng.integers(min_chars, max_chars))
        else:
            current = f"{current} {word}" if current else word
    if current:
        lines.append(current)
    return lines


def text_pool(snapshots: Path, corpus_texts: Sequence[str], seed: int = 0) -> list[str]:
    """Line texts to render: every book of ``text_sources`` cut into lines, and the corpus's own lines."""
    rng = np.random.default_rng(seed)
    pool: list[str] = []
    for source in load_sources()["text_sources"]:
        git_dir = ensure_snapshot(snapshots, source["repo"], source["commit"])
        data = Snapshot(git_dir, source["commit"]).read(source["file"])
        if data is None:
            raise RuntimeError(f"{source['repo']}: {source['file']} is not in the snapshot")
        pool += book_lines(_gutenberg_body(data.decode(source["encoding"], errors="replace")), rng)
    pool += [t for t in corpus_texts if len(t) >= 3]
    return pool


# --- drawing and ageing ---------------------------------------------------------------


def _paper(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Uneven paper: a base tone with low-frequency blotches and fine grain, float32."""
    h, w = shape
    base = rng.uniform(170, 250)
    coarse = rng.normal(0, rng.uniform(2, 14), size=(max(2, h // 24), max(2, w // 24))).astype(np.float32)
    paper = base + cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    if rng.random() < 0.2:  # a stain
        cy, cx = rng.integers(0, h), rng.integers(0, w)
        yy, xx = np.ogrid[:h, :w]
        radius = rng.uniform(h * 0.5, h * 3)
        paper -= rng.uniform(10, 45) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * radius**2))
    return paper + rng.normal(0, rng.uniform(1, 6), size=(h, w)).astype(np.float32)


def _draw(text: str, font_path: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """Ink coverage (0..1) of ``text``, cropped as a segmenter would, with bits of the neighbouring lines.

    Everything is measured on the drawn ink, not on the font's metrics:
    swash and script faces declare line heights far from what they draw.
    """
    font = _font(font_path, size)
    left, top, right, bottom = font.getbbox(text)
    x_height = max(4, int(bottom - top))
    pad_x = int(rng.integers(2, size // 2 + 3))
    width = int(right - left) + 2 * pad_x
    y = 2 * x_height - int(top)  # the text's top at 2 * x_height
    canvas = Image.new("L", (width, 5 * x_height), 0)
    draw = ImageDraw.Draw(canvas)
    draw.text((pad_x - left, y), text, font=font, fill=255)
    ink = np.asarray(canvas, dtype=np.float32) / 255.0
    rows = np.flatnonzero(ink.max(axis=1) > 0.2)
    if len(rows) == 0:
        return ink[2 * x_height : 3 * x_height]
    text_top, text_bottom = int(rows[0]), int(rows[-1]) + 1
    text_height = text_bottom - text_top
    if rng.random() < 0.35:  # descenders of the line above, ascenders of the line below
        other = "".join(rng.choice(list("gjpqyfhklbdt ")) for _ in range(max(4, len(text))))
        gap = int(text_height * rng.uniform(1.0, 1.2))
        draw.text((pad_x - left, y - gap), other, font=font, fill=255)
        draw.text((pad_x - left, y + gap), other, font=font, fill=255)
        ink = np.asarray(canvas, dtype=np.float32) / 255.0
    margin = text_height // 5 + 2
    top_row = max(0, text_top - int(rng.integers(1, margin)))
    bottom_row = min(ink.shape[0], text_bottom + int(rng.integers(1, margin)))
    return ink[top_row:bottom_row]


def age_line(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ink coverage (H, W) in 0..1 to a scanned-looking (H, W) uint8 line."""
    h, w = ink.shape
    if rng.random() < 0.5:  # slant, as handwriting and italic type lean
        shear = rng.uniform(-0.25, 0.25)
        matrix = np.asarray([[1, shear, -shear * h / 2], [0, 1, 0]], dtype=np.float32)
        ink = cv2.warpAffine(ink, matrix, (w, h), borderValue=0)
    if rng.random() < 0.4:  # baseline drift: a slow vertical wave
        amplitude, period = rng.uniform(0.5, h * 0.06), rng.uniform(w * 0.5, w * 2 + 1)
        xs = np.arange(w, dtype=np.float32)
        map_x = np.tile(xs, (h, 1))
        map_y = np.arange(h, dtype=np.float32)[:, None] + amplitude * np.sin(2 * np.pi * xs / period)[None, :]
        ink = cv2.remap(ink, map_x, map_y.astype(np.float32), cv2.INTER_LINEAR, borderValue=0)
    stroke = rng.random()
    if stroke < 0.2:
        ink = cv2.dilate(ink, np.ones((2, 2), np.uint8))
    elif stroke < 0.35:
        ink = cv2.erode(ink, np.ones((2, 2), np.uint8))
    if rng.random() < 0.3:  # faded, patchy ink
        patches = cv2.resize(rng.uniform(0.4, 1.0, size=(max(2, h // 8), max(2, w // 8))).astype(np.float32), (w, h))
        ink = ink * patches
    ink_tone = rng.uniform(0, 110)
    # Stains darken the paper, but never to the ink's tone: binarisation would make them blots.
    paper = np.maximum(_paper((h, w), rng), ink_tone + 60)
    image = paper * (1 - ink) + ink_tone * ink
    if rng.random() < 0.6:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 1.3))
    image = np.clip(image + rng.normal(0, rng.uniform(0, 8), size=image.shape), 0, 255).astype(np.uint8)
    if rng.random() < 0.15:  # bilevel scans, as in binarised collections
        _, image = cv2.threshold(image, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    elif rng.random() < 0.4:
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 90))])
        if ok:
            image = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
    return image


def render_font_line(text: str, face: FontFace, rng: np.random.Generator) -> np.ndarray:
    """``text`` in ``face``, aged, as a (H, W) uint8 line at most STORE_HEIGHT px tall."""
    size = int(rng.integers(28, 52))
    image = age_line(_draw(text, face.path, size, rng), rng)
    if image.shape[0] > STORE_HEIGHT:
        new_w = max(1, round(image.shape[1] * STORE_HEIGHT / image.shape[0]))
        image = cv2.resize(image, (new_w, STORE_HEIGHT), interpolation=cv2.INTER_AREA)
    return image


@dataclass(frozen=True)
class _RenderJob:
    start: int
    count: int
    seed: int
    out_dir: str
    texts: tuple[str, ...]
    faces: tuple[FontFace, ...]


def _render_chunk(job: _RenderJob) -> list[tuple[str, str, str]]:
    """Render ``count`` lines; returns (line id, text, font package) for each."""
    rng = np.random.default_rng([job.seed, job.start])
    out = Path(job.out_dir) / "lines" / "synthetic"
    out.mkdir(parents=True, exist_ok=True)
    alphabet = "".join(sorted(set("".join(job.texts))))
    coverage = {face.path: glyph_coverage(face.path, alphabet) for face in job.faces}
    made = []
    for n in range(job.start, job.start + job.count):
        for _ in range(20):
            text = job.texts[int(rng.integers(len(job.texts)))]
            if rng.random() < HERSHEY_SHARE:
                if set(text) <= set(HERSHEY_ALPHABET):
                    image, package = render_hershey(text, rng=rng, height=int(rng.integers(32, 64))), "hershey"
                    break
                continue
            face = job.faces[int(rng.integers(len(job.faces)))]
            if set(text) <= coverage[face.path]:
                image, package = render_font_line(text, face, rng), face.package
                break
        else:
            continue
        line_id = f"{n:06d}"
        cv2.imwrite(str(out / f"{line_id}.png"), image)
        (out / f"{line_id}.gt.txt").write_text(text + "\n", encoding="utf-8")
        made.append((f"synthetic/{line_id}", text, package))
    return made


def render_corpus(
    out_dir: Path, snapshots: Path, *, count: int, corpus_texts: Sequence[str], seed: int = 0, workers: int = 2
) -> dict[str, object]:
    """Render ``count`` synthetic training lines into ``out_dir/lines/synthetic``; returns their statistics."""
    faces = tuple(installed_fonts())
    texts = tuple(text_pool(snapshots, corpus_texts, seed))
    chunk = 500
    jobs = [
        _RenderJob(start, min(chunk, count - start), seed, str(out_dir), texts, faces)
        for start in range(0, count, chunk)
    ]
    ids: list[str] = []
    chars = 0
    per_package: dict[str, int] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for made in pool.map(_render_chunk, jobs):
            for line_id, text, package in made:
                ids.append(line_id)
                chars += len(text)
                per_package[package] = per_package.get(package, 0) + 1
    stats = {"lines": len(ids), "characters": chars, "fonts": len(faces), "lines_per_font_package": per_package}
    (out_dir / "synthetic.json").write_text(json.dumps({"ids": ids, **stats}, ensure_ascii=False), encoding="utf-8")
    return stats
