"""The review lists (``REVIEW_KINDS``): lines a reviewer should look at, and why."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TypedDict

from django.db.models import F, Q
from django.db.models.functions import Coalesce

from annotator.errors import InvalidInputError
from annotator.models import (
    Line,
    LineFlag,
    Prediction,
    Project,
    Transcription,
)
from annotator.selectors.team import day_start
from annotator.selectors.versions import project_active_model

# The one list of review lists, with their titles (the API serves it to the UI).
REVIEW_KINDS = {
    "low_confidence": "Low confidence",
    "disputed": "Disputed",
    "pending": "Waiting for review",
    "model_accepted": "Model-accepted",
    "flagged": "Flagged",
}


class ReviewItem(TypedDict):
    line: Line
    reason: str
    prediction: Prediction | None
    transcription: Transcription | None
    disagreement: float | None
    flag: LineFlag | None


def review_list(
    *,
    project: Project,
    kind: str,
    limit: int = 50,
    offset: int = 0,
    labeler: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> tuple[int, list[ReviewItem]]:
    """What a reviewer should look at, worst first, and how many there are in all;
    ``labeler`` (a user id) and ``date_from``/``date_to`` (days, inclusive, the
    server's time zone) keep the lines whose current text that labeler wrote, then.

    - low_confidence: machine output nobody verified (unlabeled lines and
      model-accepted ones) whose confidence is below ``project.review_confidence``;
      the calibrated confidence when the model has a calibration;
    - disputed: human texts the active model reads at least ``project.dispute_cer`` apart;
    - pending: submissions waiting for a reviewer (projects that require review);
    - model_accepted: lines the model accepted on its own, least sure first;
    - flagged: lines a labeler flagged instead of typing, oldest flag first
      (only there: a flagged line is in no other list).
    """
    lines = Line.objects.filter(project=project, flag__isnull=True).select_related("current_transcription")
    if labeler is not None:
        lines = lines.filter(current_transcription__author_id=labeler)
    if date_from is not None and date_to is not None and date_from > date_to:
        message = "date_from must not be after date_to."
        raise InvalidInputError(message, fields={"date_from": [message]})
    if date_from is not None:
        lines = lines.filter(current_transcription__created_at__gte=day_start(date_from))
    if date_to is not None:
        lines = lines.filter(current_transcription__created_at__lt=day_start(date_to + timedelta(days=1)))
    active = project_active_model(project=project)
    confidence = Coalesce("calibrated_confidence", "confidence")
    if kind == "low_confidence":
        if active is None:
            return 0, []
        machine_only = Q(queue_state=Line.QueueState.UNLABELED) | Q(
            current_transcription__source=Transcription.Source.MODEL_ACCEPTED
        )
        readings = (
            Prediction.objects.filter(model_version=active, line__in=lines.filter(machine_only))
            .annotate(sure=confidence)
            .filter(sure__lt=project.review_confidence)
        )
        total = readings.count()
        page = list(readings.order_by("sure", "line_id").select_related("line__current_transcription")[offset:][:limit])
        return total, [_review_item(p.line, "low_confidence", p) for p in page]
    if kind == "disputed":
        chosen = lines.filter(
            disagreement__gte=project.dispute_cer,
            current_transcription__source__in=[Transcription.Source.HUMAN, Transcription.Source.IMPORT],
        ).order_by(F("disagreement").desc(), "id")
    elif kind == "pending":
        chosen = lines.filter(current_transcription__status=Transcription.Status.SUBMITTED).order_by(
            "current_transcription__created_at", "id"
        )
    elif kind == "flagged":
        chosen = (
            Line.objects.filter(project=project, flag__resolution=LineFlag.Resolution.OPEN)
            .select_related("current_transcription", "flag__author")
            .order_by("flag__created_at", "id")
        )
    elif kind == "model_accepted":
        chosen = lines.filter(current_transcription__source=Transcription.Source.MODEL_ACCEPTED).order_by(
            "current_transcription__created_at", "id"
        )
    else:
        message = f"Unknown review list {kind!r}; use one of {', '.join(REVIEW_KINDS)}."
        raise InvalidInputError(message, fields={"kind": [message]})
    total = chosen.count()
    page_lines = list(chosen[offset:][:limit])
    readings_by_line = {}
    if active is not None:
        readings_by_line = {
            p.line_id: p for p in Prediction.objects.filter(model_version=active, line__in=[x.pk for x in page_lines])
        }
    return total, [_review_item(line, kind, readings_by_line.get(line.pk)) for line in page_lines]


def _review_item(line: Line, reason: str, prediction: Prediction | None) -> ReviewItem:
    return ReviewItem(
        line=line,
        reason=reason,
        prediction=prediction,
        transcription=line.current_transcription,
        disagreement=line.disagreement,
        flag=line.flag if line.flag_id is not None else None,
    )


# --- imports and exports -----------------------------------------------------
