"""Cutting line crops out of page images (OpenCV, torch-free): used by imports
and by the page view's corrections, in the web process or a worker alike."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import cv2
import numpy as np
from django.core.files.storage import default_storage
from django.db import transaction

from annotator.models import Line, Page
from recognition.images import ImageError
from recognition.pages import PageLimits, load_page_image

logger = logging.getLogger(__name__)


def crops_release_on_commit(names: Iterable[str]) -> None:
    """Once the current transaction commits, delete the crop files ``names`` that no line
    refers to any more (a recut line's old crop, a deleted or merged line's crop).

    Checked after the commit, so a crop still in use (a line left as it was, a rolled
    back change) is never deleted; a file that cannot be deleted is logged."""
    wanted = sorted({name for name in names if name})
    if not wanted:
        return

    def release() -> None:
        used = set(Line.objects.filter(crop__in=wanted).values_list("crop", flat=True))
        for name in wanted:
            if name in used:
                continue
            try:
                default_storage.delete(name)
            except OSError:
                logger.exception("Could not delete the crop %s", name)

    transaction.on_commit(release)


def crop_polygon(gray: np.ndarray, polygon: Sequence[Sequence[int]], bbox: Sequence[int]) -> np.ndarray:
    """The bounding box of ``polygon`` with everything outside it painted paper-white,
    so neighbouring lines' ascenders and descenders do not leak into the crop."""
    x0, y0, x1, y1 = (int(value) for value in bbox)
    crop = gray[y0:y1, x0:x1].copy()
    if crop.size == 0:
        raise ImageError(f"the line's box {tuple(bbox)} is empty")
    if len(polygon) >= 3:
        mask = np.zeros_like(crop)
        points = np.array([[x - x0, y - y0] for x, y in polygon], dtype=np.int32)
        cv2.fillPoly(mask, [points], 255)
        crop[mask == 0] = 255
    return crop


def crop_png(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise ImageError("could not encode the line image as PNG")
    return encoded.tobytes()


def page_gray(page: Page) -> np.ndarray:
    """The page's stored image, decoded to grayscale at its stored size."""
    with page.image.open("rb") as handle:
        return load_page_image(handle.read(), limits=PageLimits())
