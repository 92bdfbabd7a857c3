"""Page segmentation benchmark: Lineproof vs kraken vs Tesseract on the hooker-pages test scans.

    python -m benchmarks.segmentation                 # all 37 test pages (kraken ~20 CPU-s a page)
    python -m benchmarks.segmentation --pages 20      # a seeded sample of 20 test pages
    python -m benchmarks.segmentation --quick         # 5 pages
    python -m benchmarks.segmentation --no-kraken     # Lineproof and Tesseract only

Every engine segments the same page images in the same run:

* **Lineproof**: ``recognition.pages.segment_lines`` in this process;
* **kraken 7.1.1** ``blla`` baseline segmenter with the default model shipped in
  its wheel (``kraken -i page out.json segment -bl``), all pages in one process of
  the benchmark's own kraken venv (``benchmarks.baselines.ensure_kraken``);
* **Tesseract 5** layout analysis (``--psm 3``, ``tsv``): its text-line boxes.

Scores come from ``recognition.segmentation_metrics`` against the PAGE XML lines
(coordinates scaled to the downscaled images): line F1 at IoU >= 0.5 on polygons and
on boxes, mean IoU of matches, merges and splits, baseline recall, the median of
predicted / true width of matches, the widest box excess (box width minus the
width of the text ink in it, as a share of the page width, worst page) and the
share of lines touching the left or right page edge. CPU-s per page is user + system
time (all threads), image decoding and model loading included.

Page CER: each engine's lines are cut out (Lineproof: its own masked crops; the
others: ``recognition.base.corpus.cut_line`` along their polygons), read by the
shipped base model (greedy), joined with newlines in the engine's reading order and
aligned with the page's true text (its lines in PAGE order, newline-joined):
total edits / total true characters. The true polygons, cut the same way, give
the CER the recognizer reaches with a perfect segmentation.

Writes ``benchmarks/SEGMENTATION.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from defusedxml import ElementTree

from benchmarks.baselines import KRAKEN_VERSION, ensure_kraken, ensure_tesseract, run_measured, split_ids
from benchmarks.recognition import DATASETS, KRAKEN_VENV, ROOT, WORK, _commit, _machine
from recognition.base.corpus import cut_line, parse_page
from recognition.metrics import character_errors
from recognition.pages import PageLine, binarize_page, load_page_image, segment_lines
from recognition.segmentation_metrics import Totals, box_excess, score_page

PAGES = DATASETS / "hooker-pages"
RESULTS = ROOT / "benchmarks" / "SEGMENTATION.md"


@dataclass
class Page:
    """One test page: the image and its true lines scaled to the image's pixels."""

    stem: str
    image: Path
    gray: np.ndarray
    polygons: list[np.ndarray]
    baselines: list[np.ndarray]
    texts: list[str]


@dataclass
class Segmented:
    """One engine's lines on one page, in its reading order."""

    polygons: list[np.ndarray]
    crops: list[np.ndarray | None] = field(default_factory=list)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _baselines(data: bytes) -> list[np.ndarray]:
    """Each TextLine's baseline (an empty array when it has none), in document order like ``parse_page``."""
    out = []
    for element in ElementTree.fromstring(data).iter():
        if _local(element.tag) != "TextLine":
            continue
        points = np.zeros((0, 2), dtype=np.float64)
        for child in element:
            if _local(child.tag) == "Baseline" and child.get("points"):
                values = [float(v) for v in child.get("points", "").replace(",", " ").split()]
                points = np.asarray(values, dtype=np.float64).reshape(-1, 2)
        out.append(points)
    return out


def load_pages(stems: list[str]) -> list[Page]:
    pages = []
    for stem in stems:
        image = PAGES / "pages" / f"{stem}.jpg"
        data = (PAGES / "pages" / f"{stem}.xml").read_bytes()
        layout = parse_page(data)
        gray = load_page_image(image)
        height, width = gray.shape
        scale = np.array([width / (layout.width or width), height / (layout.height or height)])
        polygons, baselines, texts = [], [], []
        for line, baseline in zip(layout.lines, _baselines(data), strict=True):
            if len(line.polygon) < 3:
                continue
            polygons.append(line.polygon.astype(np.float64) * scale)
            baselines.append(baseline * scale)
            texts.append(line.text)
        pages.append(Page(stem, image, gray, polygons, baselines, texts))
    return pages


# --- engines ---------------------------------------------------------------------------------


def run_lineproof(pages: list[Page]) -> tuple[list[Segmented], float]:
    """Segment every page in this process; (lines per page, CPU seconds in all)."""
    out = []
    start = time.process_time()
    for page in pages:
        lines: list[PageLine] = segment_lines(load_page_image(page.image))
        out.append(
            Segmented([np.asarray(line.polygon, dtype=np.float64) for line in lines], [line.image for line in lines])
        )
    return out, time.process_time() - start


def run_kraken(pages: list[Page], work: Path, threads: int) -> tuple[list[Segmented], float]:
    """kraken's default baseline segmenter on every page, in one process."""
    venv = ensure_kraken(KRAKEN_VENV)
    work.mkdir(parents=True, exist_ok=True)
    args: list[str | Path] = [venv / "bin" / "kraken", "--threads", str(threads)]
    outputs = []
    for page in pages:
        outputs.append(work / f"{page.stem}.json")
        args += ["-i", page.image.absolute(), outputs[-1]]
    args += ["segment", "-bl"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    stats = run_measured(args, env=env, log_path=work / "kraken.log")
    if stats.returncode != 0:
        tail = (work / "kraken.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"kraken segment failed ({stats.returncode}):\n{tail}")
    out = []
    for path in outputs:
        record = json.loads(path.read_text(encoding="utf-8"))
        polygons = [
            np.asarray(line["boundary"], dtype=np.float64) for line in record["lines"] if len(line["boundary"]) >= 3
        ]
        out.append(Segmented(polygons))
    return out, stats.cpu_s


def _tesseract_lines(tsv: str) -> list[np.ndarray]:
    """Text-line boxes (level 4 rows) of Tesseract's TSV output, as 4-corner polygons."""
    out = []
    for row in tsv.splitlines()[1:]:
        cells = row.split("\t")
        if len(cells) < 10 or cells[0] != "4":
            continue
        x, y, w, h = (float(v) for v in cells[6:10])
        out.append(np.array([[x, y], [x + w - 1, y], [x + w - 1, y + h - 1], [x, y + h - 1]]))
    return out


def run_tesseract(pages: list[Page], work: Path) -> tuple[list[Segmented], float]:
    """Tesseract's page layout analysis (``--psm 3``), one process per page."""
    ensure_tesseract(("eng",))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    out, cpu = [], 0.0
    for page in pages:
        base = work / page.stem
        stats = run_measured(
            ["tesseract", page.image, base, "-l", "eng", "--psm", "3", "tsv"], env=env, log_path=work / "tess.log"
        )
        if stats.returncode != 0:
            raise RuntimeError(f"tesseract failed on {page.image}, see {work / 'tess.log'}")
        cpu += stats.cpu_s
        out.append(Segmented(_tesseract_lines(base.with_suffix(".tsv").read_text(encoding="utf-8"))))
    return out, cpu


# --- scoring ---------------------------------------------------------------------------------


@dataclass
class Row:
    engine: str
    totals: Totals
    cpu_per_page: float
    widest_excess: float
    at_edge: float
    page_cer: float | None = None


def _at_edge(polygons: list[np.ndarray], width: int) -> list[bool]:
    return [bool(p[:, 0].min() <= 1 or p[:, 0].max() >= width - 2) for p in polygons]


def score(engine: str, pages: list[Page], found: list[Segmented], cpu_s: float) -> Row:
    totals = Totals()
    excess: list[float] = []
    edge: list[bool] = []
    for page, seg in zip(pages, found, strict=True):
        totals.add(score_page(page.polygons, seg.polygons, baselines=[b for b in page.baselines if len(b)]))
        ink = binarize_page(page.gray) == 0
        excess += box_excess(seg.polygons, page.polygons, ink)
        edge += _at_edge(seg.polygons, page.gray.shape[1])
    return Row(
        engine,
        totals,
        cpu_s / max(1, len(pages)),
        max(excess, default=0.0),
        float(np.mean(edge)) if edge else 0.0,
    )


def page_cer(pages: list[Page], found: list[Segmented], read: Callable[[list[np.ndarray]], list[str]]) -> float:
    errors = total = 0
    for page, seg in zip(pages, found, strict=True):
        crops = seg.crops or [cut_line(page.gray, p.astype(np.float32), store_height=1 << 16) for p in seg.polygons]
        kept = [c for c in crops if c is not None and c.size]
        hypothesis = "\n".join(t for t in read(kept) if t.strip())
        reference = "\n".join(page.texts)
        errors += character_errors(reference, hypothesis)
        total += len(reference)
    return errors / max(1, total)


def _table(rows: list[Row], truth_cer: float | None) -> str:
    head = (
        "| engine | line F1 (polygons) | line F1 (boxes) | mean IoU | merged | split | baseline recall "
        "| width / true (median) | widest box excess | lines at page edge | CPU-s / page | page CER |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        t = r.totals
        cer = f"{r.page_cer:.1%}" if r.page_cer is not None else "-"
        lines.append(
            f"| {r.engine} | {t.f1:.3f} | {t.f1_boxes:.3f} | {t.mean_iou:.3f} | {t.merged} | {t.split} "
            f"| {t.baseline_recall:.1%} | {t.median_width_ratio:.2f}x | {r.widest_excess:.1%} | {r.at_edge:.0%} "
            f"| {r.cpu_per_page:.2f} | {cer} |"
        )
    if truth_cer is not None:
        lines.append(
            f"| true polygons (reading only) | 1 | 1 | 1 | 0 | 0 | 100% | 1.00x | - | - | - | {truth_cer:.1%} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=None, help="a seeded sample of N test pages (default: all)")
    parser.add_argument("--split", default="test", help="which split of hooker-pages (default test)")
    parser.add_argument("--quick", action="store_true", help="5 pages")
    parser.add_argument("--no-kraken", action="store_true", help="leave kraken out")
    parser.add_argument("--no-tesseract", action="store_true", help="leave Tesseract out")
    parser.add_argument("--no-cer", action="store_true", help="skip reading the pages (no page CER)")
    parser.add_argument("--threads", type=int, default=2, help="threads for kraken and the recognizer")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write the markdown")
    args = parser.parse_args(argv)
    if not (PAGES / "split.json").is_file():
        print(f"{PAGES} is not available", file=sys.stderr)
        return 1
    count = 5 if args.quick and args.pages is None else args.pages
    stems = split_ids(PAGES, args.split, count)
    pages = load_pages(stems)
    work = WORK / f"segmentation-{args.split}"
    if work.exists():
        shutil.rmtree(work)
    print(f"{len(pages)} {args.split} pages, {sum(len(p.polygons) for p in pages)} true lines", flush=True)

    engines: list[tuple[str, list[Segmented], float]] = []
    engines.append(("Lineproof", *run_lineproof(pages)))
    if not args.no_kraken:
        engines.append((f"kraken {KRAKEN_VERSION} blla (default model)", *run_kraken(pages, work / "kraken", 2)))
    if not args.no_tesseract:
        engines.append(("Tesseract 5 (--psm 3)", *run_tesseract(pages, work / "tesseract")))
    rows = [score(name, pages, found, cpu) for name, found, cpu in engines]

    truth_cer = None
    if not args.no_cer:
        from recognition.infer import Recognizer

        recognizer = Recognizer.load("base", device="cpu", threads=args.threads)

        def read(images: list[np.ndarray]) -> list[str]:
            return [r.text for r in recognizer.predict(images)] if images else []

        for row, (_, found, _) in zip(rows, engines, strict=True):
            row.page_cer = page_cer(pages, found, read)
        truth = [Segmented(p.polygons) for p in pages]
        truth_cer = page_cer(pages, truth, read)

    table = _table(rows, truth_cer)
    print(table)
    command = "python -m benchmarks.segmentation " + " ".join(argv if argv is not None else sys.argv[1:])
    args.results.write_text(
        "# Page segmentation: hooker-pages\n\n"
        f"{len(pages)} `{args.split}` pages ({', '.join(stems)}), "
        f"{sum(len(p.polygons) for p in pages)} true lines. Line F1: predicted and true lines matched "
        "one-to-one at IoU >= 0.5. Widest box excess: the most any line box is wider than the text ink in it, "
        "as a share of the page width. Page CER: lines read by the shipped base model (greedy) in each "
        "engine's reading order, against the page's text. See `benchmarks/segmentation.py` for every definition.\n\n"
        f"{table}\n\n"
        f"Command: `{command.strip()}`; commit {_commit()}; {_machine()}.\n",
        encoding="utf-8",
    )
    print(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
