"""Page images to text lines: loading, binarisation, deskew and line segmentation.

A page goes ``load_page_image`` (file or bytes to a (H, W) uint8 grayscale array,
paper light) and then ``segment_lines``, which returns one ``PageLine`` per text
line in reading order, each with its box, polygon and baseline in the page's own
pixel coordinates and a deskewed grayscale crop ready for ``recognition.images``.

The segmentation is classical and cheap (no model):

1. ``binarize_page`` (``imaging``): divide by an estimated paper background (removes
   uneven illumination and shading), then Otsu, never calling anything ink that is
   less than ``min_contrast`` darker than the paper (a blank noisy page stays blank).
   Dark scan margins are painted over with paper first.
2. ``clean_ink`` (``ink``): long straight rules (squared paper, frames, the page's
   own edge) come out, then specks, solid dark blobs at the page edge and anything a
   half page tall; after deskewing, ``sideways_text`` takes out notes written
   sideways down a side margin (so they widen no line).
3. ``estimate_skew``: projection-profile search over angles; the page is levelled.
4. Columns: a wide all-white vertical gutter splits the page; columns are read
   left to right. A narrow outer column whose lines run off the image's side is the
   facing page of a book spread and is left out (``without_facing_page``).
5. Lines (``lines``): centre lines are the ridges of the ink smeared along the
   lines, followed across the page (slanted and curved lines too); each ink
   component goes to the nearest centre line; a line is cut at wide gaps (table
   cells) and pieces that are no text (texture, dust) are dropped; words written
   small between two lines (an insertion) become lines of their own.
6. Each line's polygon follows the top and bottom of its ink, its baseline the foot
   of its letters; its crop shows only its own ink.

``segment_page`` runs one of ``SEGMENT_METHODS``: this classical segmenter, or
kraken's baseline segmenter when kraken is installed (``methods``).

Coordinates: ``bbox`` is ``(x0, y0, x1, y1)`` with ``x1``/``y1`` exclusive, in the
pixels of the image passed in (before deskew); ``polygon`` and ``baseline`` are
lists of (x, y) points in those pixels.

Multi-page TIFFs: ``read_page_header`` lists every page's size from the header
alone (no pixel decoded) and ``load_page_image(..., frame=n)`` decodes page n. EXIF
orientation is applied. A JPEG beyond the pixel limit is decoded at a reduced size.
"""

from __future__ import annotations

from pathlib import Path

from recognition.pages.config import PageLine, SegmentConfig
from recognition.pages.imaging import (
    MAX_PAGE_FILE_BYTES,
    MAX_PAGE_PIXELS,
    MAX_PAGE_SIDE,
    PageHeader,
    PageLimits,
    binarize_page,
    deskew,
    estimate_skew,
    load_page_image,
    read_page_header,
)
from recognition.pages.methods import (
    CLASSICAL,
    KRAKEN,
    SEGMENT_METHODS,
    SegmentMethodUnavailableError,
    kraken_command,
    kraken_lines,
    method_unavailable,
    segment_page,
)
from recognition.pages.segment import segment_lines

__all__ = [
    "CLASSICAL",
    "KRAKEN",
    "MAX_PAGE_FILE_BYTES",
    "MAX_PAGE_PIXELS",
    "MAX_PAGE_SIDE",
    "SEGMENT_METHODS",
    "PageHeader",
    "PageLimits",
    "PageLine",
    "SegmentConfig",
    "SegmentMethodUnavailableError",
    "binarize_page",
    "deskew",
    "estimate_skew",
    "kraken_command",
    "kraken_lines",
    "load_page_image",
    "method_unavailable",
    "page_to_lines",
    "read_page_header",
    "segment_lines",
    "segment_page",
]


def page_to_lines(
    source: Path | str | bytes,
    *,
    config: SegmentConfig = SegmentConfig(),
    limits: PageLimits = PageLimits(),
) -> list[PageLine]:
    """``load_page_image`` then ``segment_lines``: the lines of a page file in reading order."""
    return segment_lines(load_page_image(source, limits=limits), config=config)
