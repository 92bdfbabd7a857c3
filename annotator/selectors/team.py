"""Reads: who did what. Per labeler and day, from the submitted transcriptions:
lines, characters, the median seconds per line (claim to submit,
``Transcription.seconds``), the edit distance from the model's reading they started
from (``Transcription.model_text``: how much they corrected) and the share of their
lines a reviewer corrected or rejected afterwards."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.utils import timezone

from annotator.errors import InvalidInputError
from annotator.models import Membership, Project, ReviewAction, Transcription
from recognition.metrics import character_errors

STATS_DAYS_MAX = 366


@dataclass(frozen=True)
class LabelerDay:
    user_id: int
    username: str
    day: date
    lines: int
    characters: int
    # None when no line of the day has a stored duration / model reading.
    median_seconds: float | None
    edit_distance: int
    edit_distance_per_line: float | None
    changed_in_review: int
    changed_in_review_share: float


@dataclass(frozen=True)
class Member:
    user_id: int
    username: str
    role: str


def project_members(*, project: Project) -> list[Member]:
    """The project's members by name (the review lists filter by labeler)."""
    memberships = Membership.objects.filter(project=project).select_related("user").order_by("user__username")
    return [Member(user_id=m.user_id, username=m.user.get_username(), role=m.role) for m in memberships]


def day_start(day: date) -> datetime:
    """Midnight at the start of ``day`` in the server's time zone."""
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def day_bounds(*, date_from: date | None, date_to: date | None) -> tuple[datetime, datetime]:
    """[start of ``date_from``, end of ``date_to``) in the server's time zone; the
    last 14 days up to today by default."""
    today = timezone.localdate()
    last = date_to or today
    first = date_from or last - timedelta(days=13)
    if first > last or (last - first).days >= STATS_DAYS_MAX:
        message = f"date_from must not be after date_to, and they span at most {STATS_DAYS_MAX} days."
        raise InvalidInputError(message, fields={"date_from": [message]})
    return day_start(first), day_start(last + timedelta(days=1))


def team_stats(*, project: Project, date_from: date | None = None, date_to: date | None = None) -> list[LabelerDay]:
    """One row per labeler and day with work in ``[date_from, date_to]``, days newest
    first, labelers by name. Counts every submitted (not draft) human text; a line
    amended on one day counts once per amend."""
    start, end = day_bounds(date_from=date_from, date_to=date_to)
    rows = list(
        Transcription.objects.filter(
            line__project=project,
            source=Transcription.Source.HUMAN,
            author__isnull=False,
            created_at__gte=start,
            created_at__lt=end,
        )
        .exclude(status=Transcription.Status.DRAFT)
        .values_list("pk", "author_id", "author__username", "created_at", "text", "model_text", "seconds")
    )
    changed = set(
        ReviewAction.objects.filter(
            reviewed_id__in=[row[0] for row in rows],
            action__in=[ReviewAction.Action.CORRECT, ReviewAction.Action.REJECT],
        ).values_list("reviewed_id", flat=True)
    )
    groups: dict[tuple[int, str, date], list[tuple[int, str, str | None, float | None]]] = {}
    for pk, author_id, username, created_at, text, model_text, seconds in rows:
        day = timezone.localtime(created_at).date()
        groups.setdefault((author_id, username, day), []).append((pk, text, model_text, seconds))
    out: list[LabelerDay] = []
    for (author_id, username, day), items in groups.items():
        durations = [seconds for _pk, _text, _model, seconds in items if seconds is not None]
        distances = [character_errors(model, text) for _pk, text, model, _s in items if model is not None]
        revised = sum(pk in changed for pk, _text, _model, _s in items)
        out.append(
            LabelerDay(
                user_id=author_id,
                username=username,
                day=day,
                lines=len(items),
                characters=sum(len(text) for _pk, text, _model, _s in items),
                median_seconds=statistics.median(durations) if durations else None,
                edit_distance=sum(distances),
                edit_distance_per_line=sum(distances) / len(distances) if distances else None,
                changed_in_review=revised,
                changed_in_review_share=revised / len(items),
            )
        )
    out.sort(key=lambda row: (-row.day.toordinal(), row.username.lower(), row.user_id))
    return out
