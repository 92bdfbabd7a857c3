"""The page around a line, drawn for the labeler (read-only: a rendering, not a query)."""

from __future__ import annotations

import cv2
import numpy as np

from annotator.models import Line, Page
from recognition.pages import PageLimits, load_page_image


def line_context_png(*, line: Line, lines_around: float = 1.5, max_width: int = 1600) -> bytes | None:
    """The part of the line's page around it, as PNG, with the line outlined: what a
    labeler needs to read an abbreviation or a word split across lines. None for
    lines imported without a page. ``lines_around``: line heights shown above and below."""
    if line.page_id is None or not line.bbox:
        return None
    page = Page.objects.get(pk=line.page_id)
    with page.image.open("rb") as handle:
        gray = load_page_image(handle.read(), limits=PageLimits())
    height, width = gray.shape
    x0, y0, x1, y1 = (int(v) for v in line.bbox)
    margin_y = int((y1 - y0) * lines_around)
    margin_x = (y1 - y0) // 2
    top, bottom = max(0, y0 - margin_y), min(height, y1 + margin_y)
    left, right = max(0, x0 - margin_x), min(width, x1 + margin_x)
    region = cv2.cvtColor(gray[top:bottom, left:right], cv2.COLOR_GRAY2BGR)
    outline = np.array([[x - left, y - top] for x, y in (line.polygon or [[x0, y0], [x1, y0], [x1, y1], [x0, y1]])])
    cv2.polylines(region, [outline.astype(np.int32)], isClosed=True, color=(200, 90, 20), thickness=2)
    if region.shape[1] > max_width:
        scale = max_width / region.shape[1]
        region = cv2.resize(region, (max_width, max(1, round(region.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".png", region)
    return encoded.tobytes() if ok else None
