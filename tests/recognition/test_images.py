"""Tests for recognition.images: clear errors for bad input, and every good format read as (H, W) uint8."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from recognition.images import (
    MAX_LINE_HEIGHT,
    MAX_LINE_PIXELS,
    MAX_LINE_WIDTH,
    ImageError,
    ImageLimits,
    binarize,
    load_line_image,
    normalize_height,
    prepare_line,
    to_network_input,
)

# --- building images in memory -------------------------------------------------------------


def _encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _line_pixels(height: int = 12, width: int = 40) -> np.ndarray:
    """A light (H, W) uint8 line with a dark bar through the middle."""
    pixels = np.full((height, width), 240, np.uint8)
    pixels[height // 3 : 2 * height // 3, 4 : width - 4] = 20
    return pixels


def png_claiming_size(width: int, height: int) -> bytes:
    """A tiny real PNG whose IHDR says ``width`` x ``height``, with a valid CRC.

    Only the header lies: the file stays a few dozen bytes, so nothing large is
    ever allocated unless the decoder believes the header.
    """
    data = bytearray(_encode(Image.new("L", (4, 3), 255), "PNG"))
    # Signature (8) then the IHDR chunk: length (4), type (4), data (13), CRC (4).
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


# --- bad input -----------------------------------------------------------------------------


def test_truncated_png_raises_image_error_naming_corrupt_data() -> None:
    data = _encode(Image.fromarray(_line_pixels(40, 300)), "PNG")

    with pytest.raises(ImageError, match="corrupt"):
        load_line_image(data[: len(data) // 2])


def test_png_cut_inside_its_header_raises_image_error_naming_unreadable_image() -> None:
    data = _encode(Image.fromarray(_line_pixels()), "PNG")

    with pytest.raises(ImageError, match="not a readable image"):
        load_line_image(data[:20])


def test_random_garbage_raises_image_error_naming_unreadable_image() -> None:
    garbage = np.random.default_rng(0).integers(0, 256, 1000, dtype=np.uint8).tobytes()

    with pytest.raises(ImageError, match="not a readable image"):
        load_line_image(garbage)


def test_empty_bytes_raise_image_error_naming_an_empty_file() -> None:
    with pytest.raises(ImageError, match="<bytes>: file is empty"):
        load_line_image(b"")


def test_zero_size_file_raises_image_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")

    with pytest.raises(ImageError, match=r"empty\.png: file is empty"):
        load_line_image(path)


def test_missing_file_raises_image_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.png"

    with pytest.raises(ImageError, match=r"nowhere\.png: cannot read file"):
        load_line_image(path)


def test_folder_instead_of_a_file_raises_image_error(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="cannot read file"):
        load_line_image(tmp_path)


def test_file_over_the_byte_limit_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(_encode(Image.fromarray(_line_pixels()), "PNG"))
    limits = ImageLimits(max_file_bytes=10)

    with pytest.raises(ImageError, match="bytes, more than 10"):
        load_line_image(path, limits=limits)
    with pytest.raises(ImageError, match="bytes, more than 10"):
        load_line_image(path.read_bytes(), limits=limits)


def test_the_decode_spy_sees_an_ordinary_decode(decoded_sizes: list[tuple[int, int]]) -> None:
    load_line_image(png_claiming_size(4, 3))

    assert (4, 3) in decoded_sizes


def test_decompression_bomb_header_is_refused_without_decoding(decoded_sizes: list[tuple[int, int]]) -> None:
    bomb = png_claiming_size(100_000, 100_000)
    assert len(bomb) < 200

    with pytest.raises(ImageError, match=r"too large|beyond the line limit"):
        load_line_image(bomb)
    assert decoded_sizes == []


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (MAX_LINE_WIDTH + 1, 10),
        (50_000, 1),
        (10, MAX_LINE_HEIGHT + 1),
        # Within both side limits, but over the pixel budget (and under PIL's own bomb check).
        (MAX_LINE_WIDTH, MAX_LINE_PIXELS // MAX_LINE_WIDTH + 1),
    ],
)
def test_images_beyond_the_line_limits_are_refused_without_decoding(
    width: int, height: int, decoded_sizes: list[tuple[int, int]]
) -> None:
    with pytest.raises(ImageError, match=f"{width}x{height} pixels, beyond the line limit"):
        load_line_image(png_claiming_size(width, height))
    assert decoded_sizes == []


def test_custom_limits_are_applied() -> None:
    data = _encode(Image.fromarray(_line_pixels(12, 40)), "PNG")

    with pytest.raises(ImageError, match="40x12 pixels, beyond the line limit of 30x"):
        load_line_image(data, limits=ImageLimits(max_width=30))


@pytest.mark.parametrize(("width", "height"), [(0, 10), (10, 0), (0, 0)])
def test_header_with_zero_width_or_height_raises_image_error(width: int, height: int) -> None:
    # PIL itself refuses such a PNG at open; either way the caller gets an ImageError.
    with pytest.raises(ImageError, match=r"no pixels|not a readable image"):
        load_line_image(png_claiming_size(width, height))


def test_gif_is_refused_as_an_unsupported_format() -> None:
    gif = _encode(Image.fromarray(_line_pixels()), "GIF")

    with pytest.raises(ImageError, match="unsupported image format GIF"):
        load_line_image(gif)


def test_pdf_is_refused_as_unreadable() -> None:
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"

    with pytest.raises(ImageError, match="not a readable image"):
        load_line_image(pdf)


def test_error_message_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "line_0007.png"
    path.write_bytes(b"not an image at all")

    with pytest.raises(ImageError, match=r"line_0007\.png"):
        load_line_image(path)


# --- good input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "params", "exact"),
    [
        ("PNG", {}, True),
        ("TIFF", {}, True),
        ("BMP", {}, True),
        ("WEBP", {"lossless": True}, True),
        ("JPEG", {"quality": 95}, False),
    ],
)
def test_grayscale_formats_read_as_height_by_width_uint8(fmt: str, params: dict[str, object], exact: bool) -> None:
    pixels = _line_pixels(12, 40)

    out = load_line_image(_encode(Image.fromarray(pixels), fmt, **params))

    assert out.shape == (12, 40)
    assert out.dtype == np.uint8
    if exact:
        np.testing.assert_array_equal(out, pixels)
    else:
        assert np.abs(out.astype(int) - pixels.astype(int)).mean() < 6


def test_reading_from_a_path_or_a_str_equals_reading_the_bytes(tmp_path: Path) -> None:
    data = _encode(Image.fromarray(_line_pixels()), "PNG")
    path = tmp_path / "line.png"
    path.write_bytes(data)

    from_bytes = load_line_image(data)

    np.testing.assert_array_equal(load_line_image(path), from_bytes)
    np.testing.assert_array_equal(load_line_image(str(path)), from_bytes)


@pytest.mark.parametrize("fmt", ["TIFF", "PNG"])
def test_sixteen_bit_grayscale_is_stretched_to_eight_bits(fmt: str) -> None:
    pixels = np.array([[1000, 2000, 3000], [1000, 3000, 3000]], dtype=np.uint16)
    source = Image.fromarray(pixels)
    assert source.mode == "I;16"

    out = load_line_image(_encode(source, fmt))

    assert out.dtype == np.uint8
    assert out.shape == (2, 3)
    np.testing.assert_array_equal(out, [[0, 127, 255], [0, 255, 255]])


def test_flat_sixteen_bit_image_does_not_divide_by_zero() -> None:
    out = load_line_image(_encode(Image.fromarray(np.full((3, 5), 4000, np.uint16)), "TIFF"))

    assert out.shape == (3, 5)
    assert out.dtype == np.uint8


def test_rgb_is_converted_to_luminance() -> None:
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[:, :3] = (255, 255, 255)
    rgb[:, 3:] = (200, 30, 30)

    out = load_line_image(_encode(Image.fromarray(rgb, "RGB"), "PNG"))

    assert out.shape == (4, 6)
    assert out.dtype == np.uint8
    assert (out[:, :3] == 255).all()
    expected_red = round(200 * 299 / 1000 + 30 * 587 / 1000 + 30 * 114 / 1000)
    assert np.abs(out[:, 3:].astype(int) - expected_red).max() <= 1


def test_rgba_transparent_areas_are_composited_on_white() -> None:
    rgba = np.zeros((4, 6, 4), np.uint8)  # fully transparent black everywhere ...
    rgba[:, 2:4] = (0, 0, 0, 255)  # ... except an opaque black stroke
    rgba[:, 4:] = (0, 0, 0, 128)  # and a half-transparent black area

    out = load_line_image(_encode(Image.fromarray(rgba, "RGBA"), "PNG"))

    assert out.shape == (4, 6)
    assert out.dtype == np.uint8
    assert (out[:, :2] == 255).all()
    assert (out[:, 2:4] == 0).all()
    assert (np.abs(out[:, 4:].astype(int) - 127) <= 1).all()


def test_gray_with_alpha_is_composited_on_white() -> None:
    image = Image.new("LA", (5, 2), (0, 0))
    image.putpixel((0, 0), (0, 255))

    out = load_line_image(_encode(image, "PNG"))

    assert out[0, 0] == 0
    assert (out.ravel()[1:] == 255).all()


def test_palette_image_reads_as_its_gray_values() -> None:
    image = Image.new("P", (6, 3), 0)
    image.putpalette([255, 255, 255, 0, 0, 0] + [0, 0, 0] * 254)
    image.putpixel((2, 1), 1)

    out = load_line_image(_encode(image, "PNG"))

    assert out.shape == (3, 6)
    assert out.dtype == np.uint8
    assert out[1, 2] == 0
    assert (out.sum() - out[1, 2]) == 255 * 17


def test_palette_image_with_a_transparent_index_is_composited_on_white() -> None:
    image = Image.new("P", (6, 3), 0)
    image.putpalette([0, 0, 0, 10, 10, 10] + [0, 0, 0] * 254)
    image.putpixel((2, 1), 1)

    out = load_line_image(_encode(image, "PNG", transparency=0))

    assert out[1, 2] == 10
    mask = np.ones(out.shape, bool)
    mask[1, 2] = False
    assert (out[mask] == 255).all()


def test_exif_rotation_is_applied() -> None:
    pixels = _line_pixels(12, 40)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"

    out = load_line_image(_encode(Image.fromarray(pixels), "JPEG", quality=95, exif=exif.tobytes()))

    assert out.shape == (40, 12)


# --- normalisation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "height", "expected_width"),
    [
        ((48, 400), 32, 267),
        ((20, 100), 40, 200),
        ((32, 64), 32, 64),
        ((100, 3), 10, 1),  # tiny width is kept at one column, never zero
    ],
)
def test_normalize_height_gives_the_exact_height_and_keeps_aspect(
    shape: tuple[int, int], height: int, expected_width: int
) -> None:
    out = normalize_height(np.full(shape, 255, np.uint8), height)

    assert out.shape == (height, expected_width)
    assert out.dtype == np.uint8


def test_normalize_height_squeezes_very_wide_lines_to_max_width() -> None:
    out = normalize_height(np.full((10, 5000), 255, np.uint8), 20, max_width=300)

    assert out.shape == (20, 300)


@pytest.mark.parametrize("shape", [(0, 10), (10, 0), (4, 4, 3), (5,)])
def test_normalize_height_rejects_empty_or_non_gray_arrays(shape: tuple[int, ...]) -> None:
    with pytest.raises(ImageError, match="non-empty 2-D grayscale"):
        normalize_height(np.zeros(shape, np.uint8), 32)


def test_binarize_gives_only_black_and_white_with_ink_black() -> None:
    rng = np.random.default_rng(1)
    pixels = rng.normal(220, 10, (20, 60)).clip(0, 255).astype(np.uint8)
    pixels[8:12, 10:50] = rng.normal(40, 10, (4, 40)).clip(0, 255).astype(np.uint8)

    out = binarize(pixels)

    assert out.dtype == np.uint8
    assert set(np.unique(out).tolist()) == {0, 255}
    assert (out[8:12, 10:50] == 0).all()
    assert (out[:6] == 255).all()


def test_to_network_input_inverts_paper_to_zero_and_ink_to_one() -> None:
    pixels = np.array([[255, 0, 51]], np.uint8)

    out = to_network_input(pixels)

    assert out.dtype == np.float32
    assert out.shape == (1, 3)
    np.testing.assert_allclose(out, [[0.0, 1.0, 0.8]], atol=1e-6)


def test_prepare_line_binarises_before_scaling_to_the_model_height() -> None:
    out = prepare_line(_line_pixels(24, 80), 12, binarize_input=True)

    assert out.shape == (12, 40)
    assert out.dtype == np.uint8
    assert out[0, 0] == 255
    plain = prepare_line(_line_pixels(24, 80), 12)
    assert plain.shape == (12, 40)


def test_bomb_check_does_not_depend_on_the_process_pixel_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # With PIL's own guard off, our header check must still refuse the image.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)

    with pytest.raises(ImageError, match="100000x100000 pixels, beyond the line limit"):
        load_line_image(png_claiming_size(100_000, 100_000))
