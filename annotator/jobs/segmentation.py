"""The re-segmentation job: a page, or every page of a document, cut into lines
again with other segmenter settings (``recognition.pages.segment_lines``).

New lines replace the old ones nobody typed on. A line with a person's text (or
a flag) is never lost: its row takes over the new line that overlaps it (its
box's IoU >= ``MATCH_IOU``, or one box mostly inside the other), keeping its
text, flag and history; when no new line does, it stays as it was. Changed and
new lines get crops from the segmenter and are sent to the active model.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from annotator.crops import crop_png, crops_release_on_commit, page_gray
from annotator.enqueue import PREDICTION_BATCH_STORE, task_send_on_commit
from annotator.models import Line, Page, Prediction, ResegmentJob
from annotator.selectors import project_active_model
from annotator.services import line_create
from annotator.services.pages import line_has_human_text
from recognition.pages import CLASSICAL, PageLine, SegmentConfig, segment_page

logger = logging.getLogger(__name__)

MATCH_IOU = 0.5
# Or this share of the smaller box inside the larger one ("mostly contained").
MATCH_CONTAINED = 0.8


def _claim(job: ResegmentJob) -> bool:
    """Race: the same job delivered twice (a duplicate message, a resend by the
    recovery check) would cut the pages twice at once; the conditional UPDATE
    lets exactly one delivery move it from queued to running."""
    queued = ResegmentJob.objects.filter(pk=job.pk, status=ResegmentJob.Status.QUEUED)
    return bool(queued.update(status=ResegmentJob.Status.RUNNING, started_at=timezone.now()))


def resegment_job_run(*, job: ResegmentJob) -> ResegmentJob:
    """Re-segment the job's page or document; a no-op for a job already claimed or done."""
    if not _claim(job):
        job.refresh_from_db()
        return job
    job.refresh_from_db()
    pages = [job.page] if job.page is not None else list(Page.objects.filter(document=job.document).order_by("number"))
    config = SegmentConfig(**job.config)
    reports: list[dict[str, Any]] = []
    try:
        for done, page in enumerate(pages, start=1):
            reports.append(page_resegment(page=page, config=config, method=job.method))
            ResegmentJob.objects.filter(pk=job.pk).update(progress={"done": done, "total": len(pages)})
    except Exception as error:
        logger.exception("re-segmentation %s failed", job.pk)
        ResegmentJob.objects.filter(pk=job.pk).update(
            status=ResegmentJob.Status.FAILED,
            error=str(error)[:2000],
            report={"pages": reports},
            finished_at=timezone.now(),
        )
    else:
        ResegmentJob.objects.filter(pk=job.pk).update(
            status=ResegmentJob.Status.SUCCEEDED, report={"pages": reports}, finished_at=timezone.now()
        )
    job.refresh_from_db()
    return job


def _area(box: Sequence[int]) -> int:
    return max(0, box[2] - box[0]) * max(0, box[3] - box[1])


def box_overlap(a: Sequence[int], b: Sequence[int]) -> tuple[float, float]:
    """(IoU, share of the smaller box inside the other) of two [x0, y0, x1, y1] boxes."""
    inter = _area([max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])])
    if inter == 0:
        return 0.0, 0.0
    union = _area(a) + _area(b) - inter
    return inter / union, inter / max(1, min(_area(a), _area(b)))


def _matches(found: list[PageLine], kept: list[Line]) -> dict[int, Line]:
    """New line index -> the kept line whose text it takes, one to one, best overlap first."""
    candidates = []
    for i, new in enumerate(found):
        for old in kept:
            if not old.bbox:
                continue
            iou, contained = box_overlap(new.bbox, old.bbox)
            if iou >= MATCH_IOU or contained >= MATCH_CONTAINED:
                candidates.append((iou, contained, i, old))
    matched: dict[int, Line] = {}
    taken: set[int] = set()
    for _iou, _contained, i, old in sorted(candidates, key=lambda c: (c[0], c[1]), reverse=True):
        if i not in matched and old.pk not in taken:
            matched[i] = old
            taken.add(old.pk)
    return matched


def page_resegment(*, page: Page, config: SegmentConfig, method: str = CLASSICAL) -> dict[str, Any]:
    """Cut ``page`` into lines again by ``method`` with ``config``; returns what changed."""
    found = segment_page(page_gray(page), method=method, config=config, kraken=settings.LINEPROOF_KRAKEN_CLI)
    with transaction.atomic():
        # Race: a reviewer editing the page's cut, or a second job, at the same
        # time; the page row's lock orders them. A labeler's lease is the other
        # race: a page with a line being typed is left as it is (reported), so
        # nobody's line changes under them; claims wait for the line locks.
        Page.objects.select_for_update().get(pk=page.pk)
        old = list(Line.objects.select_for_update().filter(page=page).order_by("reading_order", "id"))
        now = timezone.now()
        held = [line.pk for line in old if line.lease_active(now)]
        if held:
            return {"page": page.pk, "skipped": f"a labeler is working on line {held[0]}; try again later"}
        kept = [line for line in old if line.flag_id is not None or line_has_human_text(line)]
        # The old crops of the deleted and the recut lines; a kept line's crop stays in use.
        crops_release_on_commit(line.crop.name or "" for line in old)
        matched = _matches(found, kept)
        Line.objects.filter(pk__in=[line.pk for line in old if line not in kept]).delete()
        ordered: list[tuple[float, Line]] = []
        for i, new in enumerate(found):
            line = matched.get(i)
            if line is None:
                line = line_create(
                    project=page.document.project,
                    page=page,
                    key=f"page{page.pk}/segmented/{uuid.uuid4().hex}",
                    crop=ContentFile(crop_png(new.image), name=f"{uuid.uuid4().hex}.png"),
                    width=new.image.shape[1],
                    height=new.image.shape[0],
                    polygon=[list(point) for point in new.polygon],
                    bbox=list(new.bbox),
                    baseline=[list(point) for point in new.baseline],
                )
            else:
                line.crop.save(f"{uuid.uuid4().hex}.png", ContentFile(crop_png(new.image)), save=False)
                line.polygon, line.bbox = [list(p) for p in new.polygon], list(new.bbox)
                line.baseline = [list(p) for p in new.baseline]
                line.height, line.width = new.image.shape[:2]
                line.save(update_fields=["crop", "polygon", "bbox", "baseline", "height", "width"])
                Prediction.objects.filter(line=line).delete()
            ordered.append((float(i), line))
        unmatched = [line for line in kept if line not in matched.values()]
        for line in unmatched:
            ordered.append((_slot(line, found), line))
        for position, (_key, line) in enumerate(sorted(ordered, key=lambda item: item[0])):
            Line.objects.filter(pk=line.pk).update(reading_order=position)
        changed = [line.pk for _key, line in ordered if line not in unmatched]
        active = project_active_model(project=page.document.project)
        if active is not None and changed:
            task_send_on_commit(PREDICTION_BATCH_STORE, active.pk, changed)
    return {
        "page": page.pk,
        "lines_before": len(old),
        "lines_after": len(ordered),
        "texts_kept": len(matched),
        "lines_kept": len(unmatched),
        "skipped": "",
    }


def _slot(line: Line, found: list[PageLine]) -> float:
    """Where a line no new line took goes in the reading order: just after the new line nearest to it."""
    if not line.bbox or not found:
        return float(len(found))
    middle = ((line.bbox[0] + line.bbox[2]) / 2, (line.bbox[1] + line.bbox[3]) / 2)

    def distance(new: PageLine) -> float:
        x = (new.bbox[0] + new.bbox[2]) / 2 - middle[0]
        y = (new.bbox[1] + new.bbox[3]) / 2 - middle[1]
        return x * x + y * y

    nearest = min(range(len(found)), key=lambda i: distance(found[i]))
    return nearest + 0.5
