"""The corpus builder reads a real Git snapshot and cuts lines along their polygons."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from recognition.base import corpus
from recognition.base.corpus import PageLayout, Snapshot, build_corpus, cut_line, parse_alto, parse_page
from recognition.data import load_split
from recognition.synthetic import render_line

ALTO = """<?xml version="1.0" encoding="UTF-8"?>
<alto xmlns="http://www.loc.gov/standards/alto/ns-v4#">
  <Description><MeasurementUnit>pixel</MeasurementUnit>
    <sourceImageInformation><fileName>page1.jpg</fileName></sourceImageInformation></Description>
  <Layout><Page WIDTH="{w}" HEIGHT="{h}"><PrintSpace><TextBlock>
    {lines}
  </TextBlock></PrintSpace></Page></Layout>
</alto>"""
ALTO_LINE = (
    '<TextLine ID="l{n}"><Shape><Polygon POINTS="{x0} {y0} {x1} {y0} {x1} {y1} {x0} {y1}"/></Shape>'
    '<String CONTENT="{text}"/></TextLine>'
)
PAGE = """<?xml version="1.0" encoding="UTF-8"?>
<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15">
  <Page imageFilename="page1.jpg" imageWidth="{w}" imageHeight="{h}"><TextRegion id="r1">
    <TextLine id="l1"><Coords points="10,10 200,10 200,50 10,50"/>
      <Word id="w1"><Coords points="10,10 50,10 50,50 10,50"/><TextEquiv><Unicode>word</Unicode></TextEquiv></Word>
      <TextEquiv><Unicode>the  whole line</Unicode></TextEquiv></TextLine>
  </TextRegion></Page>
</PcGts>"""
TEXTS = ("dear sir", "seeds from kew", "yours truly")


def _page_image(texts: tuple[str, ...]) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A page of rendered lines, 60 px apart, and each line's box."""
    rng = np.random.default_rng(0)
    lines = [render_line(t, rng=rng, height=40) for t in texts]
    width = max(line.shape[1] for line in lines) + 40
    page = np.full((60 * len(lines) + 40, width), 235, dtype=np.uint8)
    boxes = []
    for i, line in enumerate(lines):
        y = 20 + 60 * i
        page[y : y + 40, 20 : 20 + line.shape[1]] = line
        boxes.append((20, y, 20 + line.shape[1], y + 40))
    return page, boxes


def _git_repo(root: Path, files: dict[str, bytes]) -> tuple[Path, str]:
    """A real repository with ``files`` committed; returns its Git dir and the commit."""
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    env = ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "."], check=True)
    subprocess.run(["git", "-C", str(root), *env, "commit", "-qm", "data"], check=True)
    commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    return root / ".git", commit.stdout.strip()


def _alto(page: np.ndarray, boxes: list[tuple[int, int, int, int]], texts: tuple[str, ...]) -> bytes:
    lines = "".join(
        ALTO_LINE.format(n=n, x0=x0, y0=y0, x1=x1, y1=y1, text=text)
        for n, ((x0, y0, x1, y1), text) in enumerate(zip(boxes, texts, strict=True))
    )
    return ALTO.format(w=page.shape[1], h=page.shape[0], lines=lines).encode()


def test_alto_lines_come_with_their_polygons_and_text() -> None:
    page, boxes = _page_image(TEXTS)
    layout = parse_alto(_alto(page, boxes, TEXTS))
    assert layout.image_name == "page1.jpg"
    assert (layout.width, layout.height) == (page.shape[1], page.shape[0])
    assert [line.text for line in layout.lines] == list(TEXTS)
    assert layout.lines[1].polygon.tolist()[0] == [boxes[1][0], boxes[1][1]]


def test_page_xml_takes_the_line_text_not_the_words() -> None:
    layout = parse_page(PAGE.format(w=300, h=100).encode())
    assert layout.image_name == "page1.jpg"
    assert [line.text for line in layout.lines] == ["the whole line"]


def test_a_cut_line_is_paper_outside_its_polygon() -> None:
    page = np.full((100, 300), 240, dtype=np.uint8)
    page[40:60, :] = 0  # a bar of ink across the page, inside and outside the polygon
    triangle = np.asarray([[0, 0], [299, 0], [0, 99]], dtype=np.float32)
    crop = cut_line(page, triangle)
    assert crop is not None
    assert crop.shape[0] == corpus.STORE_HEIGHT
    bar = crop[int(50 * 64 / 100)]
    assert bar[5] == 0  # inside the triangle: the ink stays
    assert bar[-5] == 240  # outside: painted the paper's tone


def test_a_box_taller_than_wide_is_not_a_line() -> None:
    page = np.zeros((400, 400), dtype=np.uint8)
    tall = np.asarray([[10, 10], [30, 10], [30, 300], [10, 300]], dtype=np.float32)
    assert cut_line(page, tall) is None


def test_snapshot_reads_files_of_a_commit_without_a_checkout(tmp_path: Path) -> None:
    git_dir, commit = _git_repo(tmp_path / "repo", {"a/b.txt": b"hello"})
    (tmp_path / "repo" / "a" / "b.txt").write_bytes(b"changed in the work tree")
    snapshot = Snapshot(git_dir, commit)
    assert snapshot.read("a/b.txt") == b"hello"
    assert snapshot.read("missing.txt") is None


def test_build_corpus_cuts_every_line_once_per_page_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page, boxes = _page_image(TEXTS)
    ok, jpeg = cv2.imencode(".jpg", page)
    assert ok
    alto = _alto(page, boxes, TEXTS)
    # The same page as ALTO and as PAGE XML, as many datasets ship it: cut once.
    page_xml = PAGE.format(w=page.shape[1], h=page.shape[0]).encode()
    snapshots = tmp_path / "snapshots"
    _git_dir, commit = _git_repo(
        snapshots / "owner+data" / "repo",
        {"data/alto/page1.xml": alto, "data/page/page1.xml": page_xml, "data/page1.jpg": jpeg.tobytes()},
    )
    sources = {
        "line_sources": [
            {"name": "toy", "repo": "owner/data", "commit": commit, "licence": "CC BY 4.0", "attribution": "toy"}
        ],
        "text_sources": [],
        "fonts": [],
    }
    sources_file = tmp_path / "sources.json"
    sources_file.write_text(json.dumps(sources), encoding="utf-8")
    monkeypatch.setattr(corpus, "SOURCES_FILE", sources_file)
    monkeypatch.setattr(corpus, "load_sources", lambda path=sources_file: json.loads(path.read_text()))

    manifest = build_corpus(tmp_path / "out", snapshots, workers=1)

    assert manifest["line_sources"][0]["lines"] == len(TEXTS)
    assert manifest["line_sources"][0]["pages"] == 1
    assert manifest["line_sources"][0]["characters"] == sum(len(t) for t in TEXTS)
    samples = [s for split in load_split(tmp_path / "out").values() for s in split]
    assert sorted(s.text for s in samples) == sorted(TEXTS)
    for sample in samples:
        image = sample.load()
        assert image.shape[0] <= corpus.STORE_HEIGHT
        assert image.min() < 100


def test_layout_without_lines_is_recognised_but_empty() -> None:
    layout = parse_alto(ALTO.format(w=10, h=10, lines="").encode())
    assert layout == PageLayout("page1.jpg", 10, 10, [])
