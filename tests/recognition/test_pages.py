"""Tests for recognition.pages: page loading limits, binarisation, skew, and line segmentation.

Pages are built in code from rendered lines pasted at known places, so every
line's true ink box is known; the real-data tests use line images of
../shared/datasets (which holds no page-level images).
"""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from recognition.images import ImageError, load_line_image
from recognition.pages import (
    PageLimits,
    PageLine,
    SegmentConfig,
    binarize_page,
    deskew,
    estimate_skew,
    load_page_image,
    page_to_lines,
    read_page_header,
    segment_lines,
)
from recognition.synthetic import random_text, render_line
from tests.recognition.test_images import png_claiming_size

Box = tuple[float, float, float, float]

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"

# --- building pages ------------------------------------------------------------------------


def _paste_line(page: np.ndarray, line: np.ndarray, x: int, y: int) -> Box:
    """Darken ``page`` with ``line`` at (x, y); the pasted line's ink box on the page."""
    h, w = line.shape
    page[y : y + h, x : x + w] = np.minimum(page[y : y + h, x : x + w], line)
    ys, xs = np.nonzero(line < 150)
    return (x + xs.min(), y + ys.min(), x + xs.max() + 1, y + ys.max() + 1)


def _page(
    *,
    lines: int = 6,
    pitch: int = 60,
    height: int = 40,
    width: int = 1000,
    seed: int = 0,
    text: str | None = None,
) -> tuple[np.ndarray, list[Box]]:
    """A (H, W) uint8 page of rendered lines, one every ``pitch`` px, and their ink boxes top to bottom."""
    rng = np.random.default_rng(seed)
    page = rng.normal(232, 5, (120 + pitch * lines, width)).clip(0, 255)
    boxes = []
    for i in range(lines):
        line = render_line(text or random_text(rng, min_words=3, max_words=6), rng=rng, height=height)
        boxes.append(_paste_line(page, line[:, : width - 100], 60, 60 + i * pitch))
    return page.astype(np.uint8), boxes


def _rotate(page: np.ndarray, boxes: list[Box], angle: float) -> tuple[np.ndarray, list[Box]]:
    """``page`` turned ``angle`` degrees counter-clockwise (same size, paper fill) and the boxes' new bounds."""
    h, w = page.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    turned = cv2.warpAffine(page, matrix, (w, h), borderValue=232)
    out = []
    for x0, y0, x1, y1 in boxes:
        corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], float) @ matrix[:, :2].T + matrix[:, 2]
        out.append((corners[:, 0].min(), corners[:, 1].min(), corners[:, 0].max(), corners[:, 1].max()))
    return turned, out


def _iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _assert_matches(found: list[PageLine], truth: list[Box]) -> None:
    """One found line per true line, in the same order, each box overlapping its own (IoU > 0.5)."""
    assert len(found) == len(truth), [line.bbox for line in found]
    assert [line.reading_order for line in found] == list(range(len(found)))
    for line, box in zip(found, truth, strict=True):
        assert _iou(line.bbox, box) > 0.5, (line.bbox, box)


def _encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


# --- segmentation --------------------------------------------------------------------------


def test_lines_of_a_clean_page_are_found_top_to_bottom_with_their_boxes() -> None:
    page, truth = _page(lines=6)

    found = segment_lines(page)

    _assert_matches(found, truth)
    assert all(a.bbox[1] < b.bbox[1] for a, b in itertools.pairwise(found))


def test_crops_are_padded_grayscale_lines_holding_their_ink() -> None:
    page, truth = _page(lines=3)

    found = segment_lines(page, config=SegmentConfig(padding=5))

    for line, box in zip(found, truth, strict=True):
        x0, y0, x1, y1 = line.bbox
        assert line.image.dtype == np.uint8
        # A near-level page may still be turned by a fraction of a degree: a pixel either way.
        assert line.image.shape[0] == pytest.approx(y1 - y0 + 10, abs=2)
        assert line.image.shape[1] == pytest.approx(x1 - x0 + 10, abs=2)
        assert line.image.min() < 100  # ink
        assert np.median(line.image) > 200  # on paper
        # The polygon follows the ink inside the box, the baseline runs along the line's foot.
        assert len(line.polygon) >= 4
        assert all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in line.polygon)
        assert all(box[1] < y <= box[3] + 2 for _, y in line.baseline)
        # The crop is the page's own pixels: it reads back as a line image.
        assert load_line_image(_encode(Image.fromarray(line.image), "PNG")).shape == line.image.shape
        # The box holds the line's ink with a margin of a third of a letter height at most.
        ix0, iy0, ix1, iy1 = box
        assert (x0 <= ix0, y0 <= iy0, x1 >= ix1, y1 >= iy1) == (True, True, True, True)
        assert max(ix0 - x0, iy0 - y0, x1 - ix1, y1 - iy1) <= 12


def test_lines_whose_descenders_and_ascenders_overlap_are_cut_between_them() -> None:
    # Ink about 22 px tall every 20 px: descenders reach below the next line's ascenders' tops.
    page, truth = _page(lines=6, pitch=20, text="Judy kept hopping quirky bold flights, yelp")
    rows = [set(range(int(b[1]), int(b[3]))) for b in truth]
    assert any(a & b for a, b in itertools.pairwise(rows)), "the page should have touching lines"

    found = segment_lines(page)

    _assert_matches(found, truth)
    for line in found:
        assert (line.image < 100).any()


def test_neighbouring_ink_is_painted_out_of_a_crop_only_when_asked() -> None:
    page, _ = _page(lines=4, pitch=22, text="Judy kept hopping quirky bold flights, yelp")

    masked = segment_lines(page, config=SegmentConfig(padding=8))
    unmasked = segment_lines(page, config=SegmentConfig(padding=8, mask_neighbours=False))

    # With 8 px of padding the crops reach into the neighbours' descenders/ascenders.
    dark_masked = [int((line.image < 120).sum()) for line in masked]
    dark_unmasked = [int((line.image < 120).sum()) for line in unmasked]
    assert all(m <= u for m, u in zip(dark_masked, dark_unmasked, strict=True))
    assert sum(dark_masked) < sum(dark_unmasked)


@pytest.mark.parametrize("angle", [-5.0, -2.5, 1.0, 4.0])
def test_skew_of_a_rotated_page_is_recovered_within_half_a_degree(angle: float) -> None:
    page, truth = _page(lines=6)
    turned, turned_truth = _rotate(page, truth, angle)

    estimate = estimate_skew(binarize_page(turned))
    found = segment_lines(turned)

    assert estimate == pytest.approx(angle, abs=0.5)
    _assert_matches(found, turned_truth)
    for line in found:
        x0, y0, x1, y1 = line.bbox
        xs, ys = zip(*line.polygon, strict=True)
        assert (min(xs), min(ys), max(xs), max(ys)) == (x0, y0, x1, y1)
        # The crop is level: its dark rows are about one line tall, not a slanted band.
        ink_rows = np.flatnonzero((line.image < 120).any(axis=1))
        assert ink_rows[-1] - ink_rows[0] < 1.4 * 40


def test_deskew_levels_a_rotated_page_on_a_white_grown_canvas() -> None:
    page, truth = _page(lines=4)
    turned, _ = _rotate(page, truth, 3.0)

    straight = deskew(turned, 3.0)

    assert straight.shape[0] > turned.shape[0]
    assert straight.shape[1] > turned.shape[1]
    assert straight[0, 0] == 255
    assert straight[-1, -1] == 255
    assert estimate_skew(binarize_page(straight)) == pytest.approx(0.0, abs=0.3)


def test_uneven_light_and_dark_scan_margins_add_no_lines() -> None:
    page, truth = _page(lines=5)
    turned, truth = _rotate(page, truth, -2.0)
    h, w = turned.shape
    shade = np.linspace(1.0, 0.55, w)[None, :] * np.linspace(1.0, 0.8, h)[:, None]
    scan = (turned * shade).astype(np.uint8)
    scan[:, :35] = 30  # the scanner lid's shadow at the left
    scan[-25:, :] = 45  # and at the bottom

    found = segment_lines(scan)

    _assert_matches(found, truth)
    assert estimate_skew(binarize_page(page)) == pytest.approx(0.0, abs=0.3)


def test_two_columns_are_read_column_by_column() -> None:
    rng = np.random.default_rng(3)
    page = rng.normal(232, 5, (560, 1100)).clip(0, 255)
    left = [
        _paste_line(page, render_line(random_text(rng), rng=rng, height=36)[:, :420], 50, 50 + 60 * i) for i in range(7)
    ]
    # Right column lines sit half a line lower: one band across both columns would mix them.
    right = [
        _paste_line(page, render_line(random_text(rng), rng=rng, height=36)[:, :420], 600, 80 + 60 * i)
        for i in range(7)
    ]

    found = segment_lines(page.astype(np.uint8))

    _assert_matches(found, left + right)


def test_blank_pages_have_no_lines() -> None:
    noisy = np.random.default_rng(0).normal(230, 6, (800, 600)).clip(0, 255).astype(np.uint8)
    shaded = (noisy * np.linspace(1.0, 0.6, 600)[None, :]).astype(np.uint8)

    assert segment_lines(np.full((800, 600), 255, np.uint8)) == []
    assert segment_lines(noisy) == []
    assert segment_lines(shaded) == []
    assert (binarize_page(shaded) == 255).all()


def test_binarized_page_is_dark_ink_on_white() -> None:
    page, truth = _page(lines=2)

    binary = binarize_page(page)

    assert set(np.unique(binary)) == {0, 255}
    x0, y0, x1, y1 = (int(v) for v in truth[0])
    assert (binary[y0:y1, x0:x1] == 0).mean() > 0.05
    assert (binary[:40] == 255).all()


def test_specks_alone_are_not_lines() -> None:
    page = np.full((400, 400), 235, np.uint8)
    rng = np.random.default_rng(1)
    for y, x in rng.integers(10, 390, size=(40, 2)):
        page[y : y + 2, x : x + 2] = 20  # 4-pixel dust

    assert segment_lines(page) == []


@pytest.mark.parametrize(
    "bad",
    [np.zeros((0, 10), np.uint8), np.zeros((10, 10, 3), np.uint8), np.zeros((10, 10), np.float32)],
    ids=["empty", "color", "float"],
)
def test_segment_lines_refuses_what_is_not_a_grayscale_page(bad: np.ndarray) -> None:
    with pytest.raises(ImageError, match="2-D uint8"):
        segment_lines(bad)


# --- loading -------------------------------------------------------------------------------


def test_page_beyond_the_line_limits_loads_from_path_and_bytes(tmp_path: Path) -> None:
    page, truth = _page(lines=3, pitch=800, width=2400)  # 2520 px tall: more than a line may be
    path = tmp_path / "page.png"
    path.write_bytes(_encode(Image.fromarray(page), "PNG"))

    with pytest.raises(ImageError, match="line limit"):
        load_line_image(path)
    assert np.array_equal(load_page_image(path), page)
    assert np.array_equal(load_page_image(path.read_bytes()), page)
    _assert_matches(page_to_lines(path), truth)


def test_multipage_tiff_gives_its_first_page() -> None:
    first = Image.fromarray(np.full((30, 40), 10, np.uint8))
    second = Image.fromarray(np.full((30, 40), 200, np.uint8))
    data = _encode(first, "TIFF", save_all=True, append_images=[second])

    assert (load_page_image(data) == 10).all()


def test_exif_orientation_is_applied() -> None:
    pixels = np.full((20, 60), 230, np.uint8)
    image = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    data = _encode(image, "JPEG", exif=exif.tobytes())

    assert load_page_image(data).shape == (60, 20)


def test_decompression_bomb_header_is_refused_before_decoding(decoded_sizes: list[tuple[int, int]]) -> None:
    with pytest.raises(ImageError, match=r"too large|page limit"):
        load_page_image(png_claiming_size(100_000, 100_000))
    # Under PIL's own bomb limit but past a page side.
    with pytest.raises(ImageError, match="40000x1000 pixels, beyond the page limit"):
        load_page_image(png_claiming_size(40_000, 1_000))

    assert decoded_sizes == []


def test_page_limits_are_configurable(tmp_path: Path, decoded_sizes: list[tuple[int, int]]) -> None:
    data = _encode(Image.fromarray(np.full((300, 200), 240, np.uint8)), "PNG")
    path = tmp_path / "page.png"
    path.write_bytes(data)

    with pytest.raises(ImageError, match="beyond the page limit"):
        load_page_image(data, limits=PageLimits(max_pixels=50_000))
    with pytest.raises(ImageError, match=f"{len(data)} bytes, more than 100"):
        load_page_image(path, limits=PageLimits(max_file_bytes=100))
    assert decoded_sizes == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"this is not an image at all", "not a readable image"),
        (png_claiming_size(0, 10), "not a readable image|no pixels"),
    ],
    ids=["empty", "garbage", "zero-width"],
)
def test_bad_bytes_raise_image_error(data: bytes, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        load_page_image(data)


def test_truncated_and_missing_files_raise_image_error_naming_the_file(tmp_path: Path) -> None:
    page, _ = _page(lines=2)
    data = _encode(Image.fromarray(page), "PNG")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(data[: len(data) // 2])
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")

    with pytest.raises(ImageError, match=r"truncated\.png: image data is corrupt"):
        load_page_image(truncated)
    with pytest.raises(ImageError, match=r"empty\.png: file is empty"):
        load_page_image(empty)
    with pytest.raises(ImageError, match=r"missing\.png: cannot read file"):
        load_page_image(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="cannot read file"):
        page_to_lines(tmp_path)


# --- real data -----------------------------------------------------------------------------


def _real_lines(name: str, count: int) -> list[Path]:
    folder = DATASETS / name
    if not (folder / "split.json").exists():
        pytest.skip(f"{folder} is not available")
    ids = json.loads((folder / "split.json").read_text())["test"][:count]
    return [folder / "lines" / f"{i}.png" for i in ids]


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["hooker", "fraktur19"])
def test_a_real_line_image_is_one_line(name: str) -> None:
    for path in _real_lines(name, 10):
        found = page_to_lines(path)

        assert len(found) == 1, path.name
        assert found[0].image.size > 0


@pytest.mark.realdata
def test_real_handwritten_lines_stacked_into_a_page_are_found_one_by_one() -> None:
    # The datasets hold no page images; consecutive lines of one Hooker letter,
    # pasted one under another at known places, stand in for a page.
    paths = _real_lines("hooker", 8)
    lines = [load_page_image(path) for path in paths]
    width = max(line.shape[1] for line in lines) + 80
    page = np.full((sum(line.shape[0] for line in lines) + 80, width), 255, np.uint8)
    page[:] = int(np.median(lines[0]))
    truth, y = [], 40
    for line in lines:
        binary = binarize_page(line)
        ys, xs = np.nonzero(binary == 0)
        page[y : y + line.shape[0], 40 : 40 + line.shape[1]] = line
        truth.append((40 + xs.min(), y + ys.min(), 40 + xs.max() + 1, y + ys.max() + 1))
        y += line.shape[0]

    found = segment_lines(page)

    _assert_matches(found, truth)


# --- headers, multi-page TIFF, reduced JPEG ---------------------------------------------


def test_read_page_header_lists_every_tiff_page_without_decoding_one(monkeypatch: pytest.MonkeyPatch) -> None:
    pages = [Image.new("L", (300 + 10 * n, 200), 255) for n in range(3)]
    buffer = io.BytesIO()
    pages[0].save(buffer, format="TIFF", save_all=True, append_images=pages[1:])
    bomb = png_claiming_size(12_000, 12_000)

    def no_decoding(*_args: object) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    header = read_page_header(buffer.getvalue())

    assert (header.format, header.sizes) == ("TIFF", [(300, 200), (310, 200), (320, 200)])
    assert header.pixels == 200 * (300 + 310 + 320)
    with pytest.raises(ImageError, match="more than 2 pages"):
        read_page_header(buffer.getvalue(), max_pages=2)
    with pytest.raises(ImageError, match="12000x12000 pixels, beyond the page limit"):
        read_page_header(bomb, limits=PageLimits(max_pixels=100_000_000))


def test_load_page_image_decodes_each_tiff_page() -> None:
    pages = [np.full((50, 80), 40 * n, np.uint8) for n in range(1, 4)]
    buffer = io.BytesIO()
    images = [Image.fromarray(page) for page in pages]
    images[0].save(buffer, format="TIFF", save_all=True, append_images=images[1:])

    decoded = [load_page_image(buffer.getvalue(), frame=n) for n in range(3)]

    assert [int(page.mean()) for page in decoded] == [40, 80, 120]
    with pytest.raises(ImageError, match="no page 4"):
        load_page_image(buffer.getvalue(), frame=3)


def test_a_jpeg_beyond_the_pixel_limit_is_decoded_at_the_reduction_that_fits() -> None:
    ok, jpeg = cv2.imencode(".jpg", np.full((800, 1200), 200, np.uint8))
    assert ok
    limits = PageLimits(max_pixels=800 * 1200 // 10)

    gray = load_page_image(jpeg.tobytes(), limits=limits)

    assert gray.shape == (200, 300), "1/4 is the first reduction within a tenth of the pixels"
    assert read_page_header(jpeg.tobytes(), limits=limits).sizes == [(300, 200)]
    with pytest.raises(ImageError, match="beyond the page limit"):
        load_page_image(png_of(np.full((800, 1200), 200, np.uint8)), limits=limits)


def png_of(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    return encoded.tobytes()
