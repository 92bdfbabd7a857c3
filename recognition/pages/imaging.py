"""Page images: loading, binarisation, dark scan margins, skew.

``load_page_image`` decodes a file or bytes to a (H, W) uint8 grayscale array
(paper light); ``binarize_page`` divides by an estimated paper background and
thresholds; ``estimate_skew`` / ``deskew`` level the text lines.

Multi-page TIFFs: only the first page is read. EXIF orientation is applied.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from recognition.images import ImageError, ImageLimits, check_size, jpeg_scale, load_line_image, open_image

# A 600 dpi A3 scan is about 7000 x 9900 px (70 M pixels). PIL refuses to open
# anything above 2 x Image.MAX_IMAGE_PIXELS (about 179 M) on its own, so the
# pixel limit stays below that to keep one clear error message.
MAX_PAGE_SIDE = 30_000
MAX_PAGE_PIXELS = 150_000_000
MAX_PAGE_FILE_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class PageLimits:
    max_width: int = MAX_PAGE_SIDE
    max_height: int = MAX_PAGE_SIDE
    max_pixels: int = MAX_PAGE_PIXELS
    max_file_bytes: int = MAX_PAGE_FILE_BYTES


# --- loading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageHeader:
    """What a page file's header says: its format and, for each page it holds
    (several in a multi-page TIFF), the size it decodes to (a JPEG beyond the
    pixel limit at its reduced size)."""

    format: str
    sizes: list[tuple[int, int]]

    @property
    def pixels(self) -> int:
        return sum(width * height for width, height in self.sizes)


def _image_limits(limits: PageLimits) -> ImageLimits:
    return ImageLimits(
        max_width=limits.max_width,
        max_height=limits.max_height,
        max_pixels=limits.max_pixels,
        max_file_bytes=limits.max_file_bytes,
    )


def read_page_header(data: bytes, *, limits: PageLimits = PageLimits(), max_pages: int = 1000) -> PageHeader:
    """The sizes of the pages in ``data``, read from the header alone: no pixel is
    decoded, so this costs the same for a 20 KB PNG that declares 12000 x 12000
    pixels as for a real scan. Raises ``ImageError`` for an unreadable file, a
    page beyond ``limits`` or a file of more than ``max_pages`` pages."""
    if not data:
        raise ImageError("<bytes>: file is empty")
    if len(data) > limits.max_file_bytes:
        raise ImageError(f"<bytes>: file is {len(data)} bytes, more than {limits.max_file_bytes}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = open_image(data)
        sizes: list[tuple[int, int]] = []
        try:
            for frame in itertools.count():
                if frame >= max_pages:
                    raise ImageError(f"<bytes>: more than {max_pages} pages in one file")
                if frame and image.format != "TIFF":
                    break  # pages are TIFF's; an animated PNG or WebP is read as its first frame
                if frame:
                    image.seek(frame)  # a TIFF's next directory: a header, not pixels
                width, height = image.size
                if image.format == "JPEG":
                    scale = jpeg_scale(width, height, limits.max_pixels)
                    width, height = -(-width // scale), -(-height // scale)
                check_size("<bytes>", width, height, _image_limits(limits), "page")
                sizes.append((width, height))
        except EOFError:
            pass  # no more pages
        except ImageError:
            raise
        except Exception as exc:
            raise ImageError(f"<bytes>: image header is corrupt ({exc.__class__.__name__})") from exc
    return PageHeader(format=str(image.format), sizes=sizes)


def load_page_image(source: Path | str | bytes, *, limits: PageLimits = PageLimits(), frame: int = 0) -> np.ndarray:
    """Decode a page scan (PNG, JPEG, TIFF, BMP, WebP) to a (H, W) uint8 array, 255 = paper.

    File size and the header's pixel size are checked against ``limits`` before
    any pixel is decoded; a JPEG beyond the pixel limit is decoded at 1/2, 1/4 or
    1/8 of its size instead (``PIL.Image.draft``). ``frame``: the page of a
    multi-page TIFF (0: the first). Raises ``ImageError``.
    """
    # One loader for lines and pages: file and header checks, then the decoding
    # (alpha on white, 16-bit, EXIF, corrupt data).
    return load_line_image(source, limits=_image_limits(limits), what="page", frame=frame, reduce=True)


# --- binarisation and skew -----------------------------------------------------------------


def check_gray(gray: np.ndarray) -> None:
    if not isinstance(gray, np.ndarray) or gray.ndim != 2 or gray.size == 0 or gray.dtype != np.uint8:
        shape = getattr(gray, "shape", None)
        dtype = getattr(gray, "dtype", None)
        raise ImageError(f"expected a non-empty 2-D uint8 grayscale page, got shape {shape} dtype {dtype}")


def _background(gray: np.ndarray) -> np.ndarray:
    """(H, W) float32 estimate of the paper brightness under every pixel.

    Worked out at most 600 px a side: a grey dilation (max filter) wipes out
    strokes, a median smooths what is left, and the result is scaled back up.
    """
    h, w = gray.shape
    scale = min(1.0, 600.0 / max(h, w))
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    small = cv2.resize(gray, (sw, sh), interpolation=cv2.INTER_AREA) if scale < 1.0 else gray
    k = max(7, (min(sh, sw) // 40) | 1)
    paper = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    m = min(3 * k, (min(sh, sw) - 1) | 1 if min(sh, sw) > 2 else 1) | 1
    if m >= 3:
        paper = cv2.medianBlur(paper, m)
    return cv2.resize(paper, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)


def binarize_page(gray: np.ndarray, *, min_contrast: int = 35) -> np.ndarray:
    """(H, W) uint8 page -> (H, W) uint8 in {0, 255}: ink 0, paper 255.

    The page is divided by its estimated background first, so shading and
    uneven light do not become ink; then Otsu, but nothing within
    ``min_contrast`` gray levels of the paper counts as ink (a blank page stays blank).
    """
    check_gray(gray)
    background = np.maximum(_background(gray), 1.0)
    flat = np.clip(gray.astype(np.float32) * (255.0 / background), 0, 255).astype(np.uint8)
    otsu, _ = cv2.threshold(flat, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    paper = float(np.median(flat))
    threshold = min(otsu, paper - min_contrast)
    return np.where(flat <= threshold, 0, 255).astype(np.uint8)


def estimate_skew(binary: np.ndarray, *, max_angle: float = 10.0) -> float:
    """Angle (degrees, counter-clockwise as shown) by which the text lines of ``binary`` are rotated.

    ``binary`` is (H, W) with ink 0. The angle is the one whose rotation makes
    the horizontal ink profile sharpest (sum of squared row counts): a coarse
    search over +-``max_angle`` in 0.25 degree steps, refined to 0.02 degrees.
    ``deskew(gray, estimate_skew(binary))`` levels the lines. 0.0 for a page without ink.
    """
    if binary.ndim != 2:
        raise ImageError(f"expected a 2-D binary page, got shape {binary.shape}")
    ys, xs = np.nonzero(binary == 0)
    if len(ys) < 20:
        return 0.0
    if len(ys) > 150_000:  # plenty for a sharp profile; keeps the search fast
        pick = np.random.default_rng(0).choice(len(ys), 150_000, replace=False)
        ys, xs = ys[pick], xs[pick]
    x = xs.astype(np.float64) - binary.shape[1] / 2
    y = ys.astype(np.float64) - binary.shape[0] / 2
    offset = float(np.hypot(binary.shape[0], binary.shape[1]))
    # Profiles are taken in four vertical strips and their sharpness summed, so
    # that two columns whose lines sit half a line apart cannot make a wrong
    # angle look sharp by lining up line k of one with line k + 1 of the other.
    strip = np.minimum(xs * 4 // binary.shape[1], 3).astype(np.int64)
    stride = int(2 * offset) + 2

    def sharpness(angle: float) -> float:
        theta = np.deg2rad(angle)
        # Row of each ink pixel once the page is rotated back by ``angle``.
        rows = (x * np.sin(theta) + y * np.cos(theta) + offset).astype(np.int64)
        counts = np.bincount(strip * stride + rows).astype(np.float64)
        return float(np.dot(counts, counts))

    coarse = np.arange(-max_angle, max_angle + 1e-9, 0.25)
    best = float(coarse[int(np.argmax([sharpness(a) for a in coarse]))])
    fine = np.arange(best - 0.3, best + 0.3 + 1e-9, 0.02)
    return float(fine[int(np.argmax([sharpness(a) for a in fine]))])


def rotation(shape: tuple[int, int], angle: float) -> tuple[np.ndarray, tuple[int, int]]:
    """(2, 3) affine matrix rotating a (H, W) page by -``angle`` onto a canvas holding all of it; its (W', H')."""
    h, w = shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), -angle, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w = int(np.ceil(w * cos + h * sin))
    new_h = int(np.ceil(w * sin + h * cos))
    matrix[0, 2] += new_w / 2 - w / 2
    matrix[1, 2] += new_h / 2 - h / 2
    return matrix, (new_w, new_h)


def deskew(gray: np.ndarray, angle: float) -> np.ndarray:
    """Rotate a (H, W) uint8 page by -``angle`` degrees (undoing ``estimate_skew``'s angle).

    The canvas grows to hold the whole rotated page; uncovered corners are white (255).
    """
    check_gray(gray)
    matrix, size = rotation(gray.shape[:2], angle)
    return cv2.warpAffine(gray, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=255)


# --- dark scan margins ---------------------------------------------------------------------


def paint_dark_margins(gray: np.ndarray, contrast: int) -> np.ndarray:
    """Copy of ``gray`` with dark scan margins painted over with the paper next to them.

    A margin is a run of edge rows/columns whose median is far darker than the
    page's paper and than the paper just inside the run (so a page darkening
    gradually towards one side, uneven light, is not a margin).
    """
    limit = float(np.percentile(gray, 75)) - contrast
    out = gray
    for axis in (0, 1):
        medians = np.median(gray, axis=axis)  # one value per column (axis 0) or row (axis 1)
        n = len(medians)
        dark = medians < limit
        if dark.all():
            continue  # a dark page, or a photo of one: leave it alone
        for from_end in (False, True):
            run = int(np.argmin(dark[::-1] if from_end else dark))
            # A margin is at most a quarter of the page; more is a dark page, left alone.
            if run == 0 or run > n // 4:
                continue
            ordered = medians[::-1] if from_end else medians
            inside = float(np.median(ordered[run : run + max(5, n // 20)]))
            if inside - float(np.median(ordered[:run])) < contrast:
                continue
            if out is gray:
                out = gray.copy()
            width = run + 3  # a few extra pixels cover the margin's blurred edge
            span = slice(n - width, n) if from_end else slice(0, width)
            if axis == 0:
                out[:, span] = round(inside)
            else:
                out[span, :] = round(inside)
    return out
