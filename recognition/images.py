"""Reading and normalising text-line images.

Every line the recognizer sees goes through ``load_line_image`` (file or
bytes to a grayscale uint8 array, dark ink on light paper) and then
``normalize_height`` (fixed height, aspect kept). The network itself works on
``to_network_input``: float32, inverted so that ink is high and padding with
zeros means "empty paper".

Bad input gets a clear ``ImageError`` before any pixel is decoded where
possible: the header's size is checked first, so a decompression bomb is
refused without allocating its pixels.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

# A text line is at most a few thousand pixels wide; anything far beyond that
# is a page, a mistake or an attack. These bounds apply before decoding.
MAX_LINE_WIDTH = 20_000
MAX_LINE_HEIGHT = 2_000
MAX_LINE_PIXELS = 25_000_000
MAX_FILE_BYTES = 64 * 1024 * 1024
SUPPORTED_FORMATS = {"PNG", "JPEG", "TIFF", "BMP", "WEBP"}


class ImageError(ValueError):
    """An image that cannot be used as a text line, with the reason."""


@dataclass(frozen=True)
class ImageLimits:
    max_width: int = MAX_LINE_WIDTH
    max_height: int = MAX_LINE_HEIGHT
    max_pixels: int = MAX_LINE_PIXELS
    max_file_bytes: int = MAX_FILE_BYTES


def load_line_image(
    source: Path | str | bytes,
    *,
    limits: ImageLimits = ImageLimits(),
    what: str = "line",
    frame: int = 0,
    reduce: bool = False,
) -> np.ndarray:
    """Decode a PNG/JPEG/TIFF (or BMP/WebP) line image to grayscale.

    Returns a (H, W) uint8 array, 255 = paper. Transparent pixels are put on
    white, since scanned crops exported from other tools often carry alpha.
    Raises ``ImageError`` for unreadable, empty or absurdly large images: the
    file size is checked before the file is read, the header's pixel size
    before any pixel is decoded. ``what`` names the limit in messages (the page
    loader, ``recognition.pages.load_page_image``, decodes through here too).
    ``frame`` picks a page of a multi-page TIFF (0: the first). ``reduce``: a
    JPEG beyond ``limits.max_pixels`` is decoded at 1/2, 1/4 or 1/8 of its size
    (``jpeg_scale``; the decoder itself skips the detail) instead of refused.
    """
    name = "<bytes>" if isinstance(source, bytes) else str(source)
    if isinstance(source, bytes):
        data = source
    else:
        path = Path(source)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise ImageError(f"{name}: cannot read file ({exc.strerror})") from exc
        if size > limits.max_file_bytes:
            raise ImageError(f"{name}: file is {size} bytes, more than {limits.max_file_bytes}")
        try:
            data = path.read_bytes()
        except OSError as exc:  # a folder, no permission, vanished since stat
            raise ImageError(f"{name}: cannot read file ({exc.strerror})") from exc
    if not data:
        raise ImageError(f"{name}: file is empty")
    if len(data) > limits.max_file_bytes:
        raise ImageError(f"{name}: file is {len(data)} bytes, more than {limits.max_file_bytes}")

    with warnings.catch_warnings():
        # PIL warns (rather than raises) on large images; our own limits decide.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = open_image(data, name)
        if frame:
            try:
                image.seek(frame)
            except EOFError as exc:
                raise ImageError(f"{name}: has no page {frame + 1}") from exc
        width, height = image.size
        scale = jpeg_scale(width, height, limits.max_pixels) if reduce and image.format == "JPEG" else 1
        if scale > 1:
            image.draft("L", (-(-width // scale), -(-height // scale)))
            width, height = image.size
        check_size(name, width, height, limits, what)
        try:
            image.load()
            image = ImageOps.exif_transpose(image) or image
            gray = _to_gray(image)
        except ImageError:
            raise
        except Exception as exc:
            raise ImageError(f"{name}: image data is corrupt ({exc.__class__.__name__}: {exc})") from exc
    return gray


def open_image(data: bytes, name: str = "<bytes>") -> Image.Image:
    """PIL's lazy open: the header is read, no pixel decoded. Raises ``ImageError``
    for garbage and unsupported formats. Call it where DecompressionBombWarning is
    ignored (our own limits decide)."""
    try:
        image: Image.Image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{name}: image is too large ({exc})") from exc
    except Exception as exc:  # PIL raises many types for garbage input
        raise ImageError(f"{name}: not a readable image ({exc.__class__.__name__})") from exc
    if image.format not in SUPPORTED_FORMATS:
        raise ImageError(f"{name}: unsupported image format {image.format}")
    return image


def jpeg_scale(width: int, height: int, max_pixels: int) -> int:
    """The JPEG decoder's reduction (1, 2, 4 or 8) that brings ``width`` x ``height``
    within ``max_pixels``; 8 when none does (the size check then refuses it)."""
    for scale in (1, 2, 4, 8):
        if -(-width // scale) * -(-height // scale) <= max_pixels:
            return scale
    return 8


def check_size(name: str, width: int, height: int, limits: ImageLimits, what: str) -> None:
    if width <= 0 or height <= 0:
        raise ImageError(f"{name}: image has no pixels ({width}x{height})")
    if width > limits.max_width or height > limits.max_height or width * height > limits.max_pixels:
        raise ImageError(
            f"{name}: image is {width}x{height} pixels, beyond the {what} limit of "
            f"{limits.max_width}x{limits.max_height} ({limits.max_pixels} pixels)"
        )


def _to_gray(image: Image.Image) -> np.ndarray:
    """(H, W) uint8 from any PIL mode, alpha composited on white."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit and float scans: stretch their own range to 8 bits.
        array = np.asarray(image, dtype=np.float32)
        low, high = float(array.min()), float(array.max())
        scale = 255.0 / (high - low) if high > low else 0.0
        return np.clip((array - low) * scale, 0, 255).astype(np.uint8)
    return np.asarray(image.convert("L"), dtype=np.uint8)


def normalize_height(image: np.ndarray, height: int, *, max_width: int = 4096) -> np.ndarray:
    """Scale a (H, W) uint8 line to (height, W') with the aspect ratio kept.

    W' is at least 1 and at most ``max_width`` (wider lines are squeezed
    rather than cut, so no text is lost).
    """
    if image.ndim != 2 or image.size == 0:
        raise ImageError(f"expected a non-empty 2-D grayscale image, got shape {image.shape}")
    h, w = image.shape
    new_w = min(max_width, max(1, round(w * height / h)))
    # INTER_AREA keeps thin strokes when shrinking; INTER_CUBIC is sharper when growing.
    interpolation = cv2.INTER_AREA if h > height else cv2.INTER_CUBIC
    return cv2.resize(image, (new_w, height), interpolation=interpolation)


def binarize(image: np.ndarray) -> np.ndarray:
    """Otsu binarisation of a (H, W) uint8 image to {0, 255}, ink 0."""
    _, out = cv2.threshold(image, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return out


def to_network_input(image: np.ndarray) -> np.ndarray:
    """(H, W) uint8 paper-white image -> (H, W) float32 in [0, 1], ink high.

    Inverting makes zero padding equal to blank paper.
    """
    return (255.0 - image.astype(np.float32)) * (1.0 / 255.0)


def prepare_line(image: np.ndarray, height: int, *, binarize_input: bool = False) -> np.ndarray:
    """A decoded (H, W) uint8 line to the model's (height, W') uint8 input.

    Binarisation (when the model was trained with it) happens before scaling,
    at the scan's own resolution, where Otsu sees the real stroke widths.
    """
    if binarize_input:
        image = binarize(image)
    return normalize_height(image, height)
