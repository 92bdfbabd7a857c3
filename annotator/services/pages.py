"""Writes: fixing a page's cut into lines in the page view (reviewers and admins).

Delete a line, merge two, split one at a point, draw a new one, set the reading
order. Each changed line gets a new crop, cut here from the page image with
OpenCV (no model in the web process), loses its model readings and is sent to
the active model to be read again (``PREDICTION_BATCH_STORE`` on the worker).
A changed line's text no longer matches its image: it goes back to the queue,
and its transcriptions stay on it as history (a merge moves the other line's
onto the merged one), so nothing a person typed is lost. A line with a
person's text is never deleted: flag it "not a text line" instead.

Race: a labeler holding a line's lease is typing against its crop. Every
edit locks the lines it changes (``select_for_update``) and refuses (409)
while one of them is leased; a claim is a conditional UPDATE of the same row,
so it waits for the edit's commit and then serves the new crop, never the old.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence

import numpy as np
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from annotator.crops import crop_png, crop_polygon, crops_release_on_commit, page_gray
from annotator.enqueue import PREDICTION_BATCH_STORE, task_send_on_commit
from annotator.errors import ConflictError, InvalidInputError
from annotator.models import Line, LineFlag, Page, Prediction, ReviewAction, Transcription
from annotator.permissions import REVIEW_ROLES, AnyUser, membership_require
from annotator.selectors import project_active_model
from annotator.services.labeling import line_create
from recognition.images import ImageError

Point = list[int]
MAX_POLYGON_POINTS = 2000


def _page_require(page: Page, user: AnyUser) -> None:
    membership_require(project=page.document.project_id, user=user, roles=REVIEW_ROLES)


def _lines_lock(ids: Sequence[int], page: Page) -> list[Line]:
    """Lock ``ids`` (all on ``page``) and refuse while a labeler holds one of them."""
    locked = list(Line.objects.select_for_update().filter(pk__in=ids, page=page).order_by("reading_order", "id"))
    if len(locked) != len(set(ids)):
        raise InvalidInputError("Every line must be on this page.", fields={"ids": ["Lines of another page."]})
    now = timezone.now()
    held = [line.pk for line in locked if line.lease_active(now)]
    if held:
        raise ConflictError(
            f"A labeler is working on line {held[0]} right now; try again once they have submitted or left it."
        )
    return locked


def line_has_human_text(line: Line) -> bool:
    """Whether a person typed anything on ``line``: a text that is not the model's, or a non-empty draft."""
    return (
        line.transcriptions.exclude(status=Transcription.Status.DRAFT)
        .exclude(source=Transcription.Source.MODEL_ACCEPTED)
        .exists()
        or line.transcriptions.filter(status=Transcription.Status.DRAFT).exclude(text="").exists()
    )


def _bbox(polygon: Sequence[Sequence[int]], page: Page) -> list[int]:
    xs = [point[0] for point in polygon]
    ys = [point[1] for point in polygon]
    x0, y0 = max(0, min(xs)), max(0, min(ys))
    x1, y1 = min(page.width or max(xs) + 1, max(xs) + 1), min(page.height or max(ys) + 1, max(ys) + 1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise InvalidInputError("The line is too small.", fields={"polygon": ["At least 2 x 2 pixels on the page."]})
    return [x0, y0, x1, y1]


def polygon_clean(points: Sequence[Sequence[float]], page: Page) -> list[Point]:
    """Integer points inside the page, at least three, at most MAX_POLYGON_POINTS."""
    if not 3 <= len(points) <= MAX_POLYGON_POINTS:
        message = f"A polygon has 3 to {MAX_POLYGON_POINTS} points."
        raise InvalidInputError(message, fields={"polygon": [message]})
    width, height = page.width or 10**6, page.height or 10**6
    return [[min(max(round(x), 0), width), min(max(round(y), 0), height)] for x, y in points]


def _line_cut(line: Line, gray: np.ndarray, polygon: list[Point], *, baseline: list[Point] | None = None) -> None:
    """Give ``line`` (unsaved changes) a new outline and a crop cut from ``gray``."""
    assert line.page is not None
    bbox = _bbox(polygon, line.page)
    try:
        crop = crop_polygon(gray, polygon, bbox)
    except ImageError as error:
        raise InvalidInputError(f"No crop can be cut there: {error}") from error
    crops_release_on_commit([line.crop.name or ""])
    line.crop.save(f"{uuid.uuid4().hex}.png", ContentFile(crop_png(crop)), save=False)
    line.polygon, line.bbox = polygon, bbox
    line.height, line.width = crop.shape[:2]
    line.baseline = baseline or []


def _line_reset(line: Line) -> None:
    """The line's image changed: its text and readings are history, it waits in the queue."""
    line.current_transcription = None
    line.queue_state = Line.QueueState.UNLABELED
    line.priority = Line.UNSCORED
    line.disagreement = None
    line.flag = None
    Prediction.objects.filter(line=line).delete()
    line.save()


def _rescore(page: Page, ids: Sequence[int]) -> None:
    active = project_active_model(project=page.document.project)
    if active is not None and ids:
        task_send_on_commit(PREDICTION_BATCH_STORE, active.pk, list(ids))


def _renumber(page: Page, order: Sequence[int] | None = None) -> None:
    ids = (
        list(order)
        if order is not None
        else list(Line.objects.filter(page=page).order_by("reading_order", "id").values_list("pk", flat=True))
    )
    for position, line_id in enumerate(ids):
        Line.objects.filter(pk=line_id).exclude(reading_order=position).update(reading_order=position)


def _new_line(page: Page, gray: np.ndarray, polygon: list[Point], *, baseline: list[Point] | None = None) -> Line:
    bbox = _bbox(polygon, page)
    crop = crop_polygon(gray, polygon, bbox)
    line = line_create(
        project=page.document.project,
        page=page,
        key=f"page{page.pk}/drawn/{uuid.uuid4().hex}",
        crop=ContentFile(crop_png(crop), name=f"{uuid.uuid4().hex}.png"),
        width=crop.shape[1],
        height=crop.shape[0],
        polygon=polygon,
        bbox=bbox,
        baseline=baseline,
    )
    return line


def line_delete(*, line: Line, user: AnyUser) -> None:
    """Delete a line cut by mistake. A line with a person's text is refused
    (409): flag it "not a text line" instead, which keeps the text."""
    if line.page is None:
        raise InvalidInputError("Only lines cut from a page can be deleted here.")
    page = line.page
    _page_require(page, user)
    with transaction.atomic():
        (locked,) = _lines_lock([line.pk], page)
        if line_has_human_text(locked):
            raise ConflictError(
                "This line has a person's text, which would be lost; flag it 'not a text line' instead."
            )
        crops_release_on_commit([locked.crop.name or ""])
        locked.delete()
        _renumber(page)


def _clip(polygon: Sequence[Sequence[int]], x: int, *, keep_left: bool) -> list[Point]:
    """Sutherland-Hodgman: the part of ``polygon`` left (or right) of the vertical x."""

    def inside(point: Sequence[int]) -> bool:
        return point[0] <= x if keep_left else point[0] >= x

    out: list[Point] = []
    for index, current in enumerate(polygon):
        previous = polygon[index - 1]
        if inside(current):
            if not inside(previous):
                out.append(_cross(previous, current, x))
            out.append([int(current[0]), int(current[1])])
        elif inside(previous):
            out.append(_cross(previous, current, x))
    return out


def _cross(a: Sequence[int], b: Sequence[int], x: int) -> Point:
    t = (x - a[0]) / (b[0] - a[0])
    return [x, round(a[1] + t * (b[1] - a[1]))]


def _baseline_clip(baseline: Sequence[Sequence[int]], x: int, *, keep_left: bool) -> list[Point]:
    kept = [[int(p[0]), int(p[1])] for p in baseline if (p[0] < x if keep_left else p[0] > x)]
    crossing = [_cross(a, b, x) for a, b in itertools.pairwise(baseline) if (a[0] - x) * (b[0] - x) < 0]
    joined = kept + crossing[:1]
    return sorted(joined, key=lambda point: point[0]) if len(joined) >= 2 else []


def line_split(*, line: Line, user: AnyUser, x: int) -> tuple[Line, Line]:
    """Split ``line`` at page coordinate ``x``: the line keeps the left part (and
    its history), a new line right after it in reading order takes the right."""
    if line.page is None or not line.bbox:
        raise InvalidInputError("Only lines cut from a page can be split.")
    page = line.page
    _page_require(page, user)
    gray = page_gray(page)
    with transaction.atomic():
        (locked,) = _lines_lock([line.pk], page)
        x0, y0, x1, y1 = locked.bbox or line.bbox
        if not x0 + 2 <= x <= x1 - 2:
            message = f"Split inside the line: x between {x0 + 2} and {x1 - 2}."
            raise InvalidInputError(message, fields={"x": [message]})
        outline = locked.polygon or [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
        left, right = _clip(outline, x, keep_left=True), _clip(outline, x, keep_left=False)
        if len(left) < 3 or len(right) < 3:
            raise InvalidInputError("The line's outline does not reach that point.", fields={"x": ["Outside."]})
        baseline = locked.baseline or []
        _line_cut(locked, gray, left, baseline=_baseline_clip(baseline, x, keep_left=True))
        _line_reset(locked)
        added = _new_line(page, gray, right, baseline=_baseline_clip(baseline, x, keep_left=False))
        order = list(Line.objects.filter(page=page).exclude(pk=added.pk).order_by("reading_order", "id"))
        ids = [other.pk for other in order]
        ids.insert(ids.index(locked.pk) + 1, added.pk)
        _renumber(page, ids)
        _rescore(page, [locked.pk, added.pk])
    locked.refresh_from_db()
    added.refresh_from_db()
    return locked, added


def _hull(points: Sequence[Sequence[int]]) -> list[Point]:
    """Convex hull (Andrew's monotone chain), counter-clockwise in image coordinates."""
    unique = sorted({(int(p[0]), int(p[1])) for p in points})
    if len(unique) < 3:
        return [list(p) for p in unique]

    def turn(o: tuple[int, int], a: tuple[int, int], b: tuple[int, int]) -> int:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[int, int]] = []
    upper: list[tuple[int, int]] = []
    for chain, ordered in ((lower, unique), (upper, list(reversed(unique)))):
        for point in ordered:
            while len(chain) >= 2 and turn(chain[-2], chain[-1], point) <= 0:
                chain.pop()
            chain.append(point)
    return [list(p) for p in lower[:-1] + upper[:-1]]


def lines_merge(*, ids: Sequence[int], user: AnyUser) -> Line:
    """Merge lines of one page into the first of them in reading order; the
    others' transcriptions, flags and review actions move onto it as history,
    and they go. One person's drafts on several of them become one draft, their
    texts joined in reading order."""
    if len(set(ids)) < 2:
        raise InvalidInputError("Merge at least two lines.", fields={"ids": ["At least two lines."]})
    first = Line.objects.select_related("page__document").filter(pk=ids[0]).first()
    if first is None or first.page is None:
        raise InvalidInputError("Only lines cut from a page can be merged.", fields={"ids": ["No such lines."]})
    page = first.page
    _page_require(page, user)
    gray = page_gray(page)
    with transaction.atomic():
        locked = _lines_lock(list(set(ids)), page)
        kept, others = locked[0], locked[1:]
        outline = _hull([point for line in locked for point in (line.polygon or _box_points(line.bbox))])
        baseline = sorted((list(p) for line in locked for p in (line.baseline or [])), key=lambda p: p[0])
        _line_cut(kept, gray, outline, baseline=baseline)
        gone = [other.pk for other in others]
        _drafts_join(locked)
        Transcription.objects.filter(line_id__in=gone).update(line=kept)
        LineFlag.objects.filter(line_id__in=gone).update(line=kept)
        ReviewAction.objects.filter(line_id__in=gone).update(line=kept)
        crops_release_on_commit(other.crop.name or "" for other in others)
        Line.objects.filter(pk__in=gone).delete()
        _line_reset(kept)
        _renumber(page)
        _rescore(page, [kept.pk])
    kept.refresh_from_db()
    return kept


def _drafts_join(lines: Sequence[Line]) -> None:
    """One draft per author on the first of ``lines`` (the constraint
    transcription_one_draft_per_author): an author's drafts on the others are
    joined onto it, in the lines' order, and the rest removed."""
    drafts: dict[int | None, list[Transcription]] = {}
    position = {line.pk: index for index, line in enumerate(lines)}
    rows = Transcription.objects.filter(line__in=lines, status=Transcription.Status.DRAFT)
    for draft in sorted(rows, key=lambda row: position[row.line_id]):
        drafts.setdefault(draft.author_id, []).append(draft)
    for own in drafts.values():
        if len(own) < 2:
            continue
        keep, extra = own[0], own[1:]
        keep.text = " ".join(part for part in (draft.text.strip() for draft in own) if part)
        keep.line_id = lines[0].pk
        keep.save(update_fields=["text", "line"])
        Transcription.objects.filter(pk__in=[draft.pk for draft in extra]).delete()


def _box_points(bbox: Sequence[int] | None) -> list[Point]:
    if not bbox:
        return []
    x0, y0, x1, y1 = bbox
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def line_create_drawn(*, page: Page, user: AnyUser, polygon: Sequence[Sequence[float]]) -> Line:
    """A line a reviewer drew (a box is its four corners): cut, placed in the
    reading order by its vertical middle, sent to the model to be read."""
    _page_require(page, user)
    cleaned = polygon_clean(polygon, page)
    gray = page_gray(page)
    with transaction.atomic():
        # Race: two reviewers drawing on one page renumber it at once; the page
        # row's lock makes the second wait and number after the first.
        Page.objects.select_for_update().get(pk=page.pk)
        try:
            added = _new_line(page, gray, cleaned)
        except ImageError as error:
            raise InvalidInputError(f"No crop can be cut there: {error}") from error
        middle = (added.bbox[1] + added.bbox[3]) / 2 if added.bbox else 0
        order = list(Line.objects.filter(page=page).exclude(pk=added.pk).order_by("reading_order", "id"))
        position = sum(1 for line in order if line.bbox and (line.bbox[1] + line.bbox[3]) / 2 < middle)
        ids = [line.pk for line in order]
        ids.insert(position, added.pk)
        _renumber(page, ids)
        _rescore(page, [added.pk])
    added.refresh_from_db()
    return added


def page_reading_order_set(*, page: Page, user: AnyUser, ids: Sequence[int]) -> None:
    """The page's lines in this order: ``ids`` must name each of them once."""
    _page_require(page, user)
    with transaction.atomic():
        # Race: two reviewers reordering one page; the page row's lock orders
        # them, and the second must name the lines as they are after the first.
        Page.objects.select_for_update().get(pk=page.pk)
        present = set(Line.objects.filter(page=page).values_list("pk", flat=True))
        if len(ids) != len(set(ids)) or set(ids) != present:
            message = "Name every line of the page exactly once (the page changed? reload it)."
            raise ConflictError(message, fields={"ids": [message]})
        _renumber(page, ids)
