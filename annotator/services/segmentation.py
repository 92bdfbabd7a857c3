"""Writes: asking for a page, or every page of a document, to be cut into lines
again with other segmenter settings (``recognition.pages.SegmentConfig``). The
worker does the cutting (``jobs.segmentation``); reviewers and admins ask."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.conf import settings
from django.db import transaction

from annotator.enqueue import RESEGMENT_JOB_RUN, task_send_on_commit
from annotator.errors import InvalidInputError
from annotator.models import Document, Page, ResegmentJob
from annotator.permissions import REVIEW_ROLES, AnyUser, membership_require, user_pk
from recognition.pages import SEGMENT_METHODS, SegmentConfig, method_unavailable

# The segmenter's settings a person may change, with their bounds (numbers) or None (switches).
SEGMENT_SETTINGS: dict[str, tuple[float, float] | None] = {
    "min_contrast": (1, 255),
    "deskew": None,
    "max_skew": (0.0, 45.0),
    "split_ratio": (0.0, 1.0),
    "min_line_pitch": (0.0, 5.0),
    "min_line_height": (1, 500),
    "columns": None,
    "min_gutter": (0.0, 50.0),
    "padding": (0, 100),
    "mask_neighbours": None,
}


def segmentation_methods() -> list[dict[str, Any]]:
    """Every segmentation method: its name, what it is, and whether it can run on this server."""
    return [
        {"name": name, "description": description, "available": not segmentation_method_unavailable(name)}
        for name, description in SEGMENT_METHODS.items()
    ]


def segmentation_method_unavailable(method: str) -> str:
    """Why ``method`` cannot run on this server ("" when it can)."""
    return method_unavailable(method, kraken=settings.LINEPROOF_KRAKEN_CLI)


def segmentation_method_check(method: str) -> str:
    """``method`` when it is a known method that can run here, else InvalidInputError (400) saying why."""
    if not isinstance(method, str):
        raise InvalidInputError("segmentation_method is a string.", fields={"segmentation_method": ["A string."]})
    reason = segmentation_method_unavailable(method)
    if reason:
        raise InvalidInputError(reason, fields={"segmentation_method": [reason]})
    return method


def segment_defaults() -> dict[str, Any]:
    """The segmenter's default for every setting in ``SEGMENT_SETTINGS``."""
    defaults = {field.name: field.default for field in dataclasses.fields(SegmentConfig)}
    return {name: defaults[name] for name in SEGMENT_SETTINGS}


def segment_config_clean(raw: dict[str, Any]) -> dict[str, Any]:
    """The settings that differ from the defaults, checked against ``SEGMENT_SETTINGS``."""
    defaults = {field.name: field.default for field in dataclasses.fields(SegmentConfig)}
    cleaned: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in SEGMENT_SETTINGS:
            message = f"Unknown setting {name!r}; use one of {', '.join(SEGMENT_SETTINGS)}."
            raise InvalidInputError(message, fields={name: [message]})
        bounds = SEGMENT_SETTINGS[name]
        default = defaults[name]
        if bounds is None:
            if not isinstance(value, bool):
                raise InvalidInputError(f"{name} is true or false.", fields={name: ["A boolean."]})
        else:
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            if not numeric or not bounds[0] <= value <= bounds[1] or (isinstance(default, int) and value != int(value)):
                message = (
                    f"{name} is a {'whole ' if isinstance(default, int) else ''}number from {bounds[0]} to {bounds[1]}."
                )
                raise InvalidInputError(message, fields={name: [message]})
            value = int(value) if isinstance(default, int) else float(value)
        if value != default:
            cleaned[name] = value
    return cleaned


def resegment_job_create(
    *,
    user: AnyUser,
    config: dict[str, Any],
    page: Page | None = None,
    document: Document | None = None,
    method: str | None = None,
) -> ResegmentJob:
    """Queue cutting ``page`` (or every page of ``document``) into lines again, by ``method``
    (default: the project's segmentation method) with the settings ``config``.

    New lines replace the old ones that hold no person's text; a line with a
    person's text keeps it on the new line that overlaps it (IoU >= 0.5, or
    mostly inside it), or stays as it is when none does."""
    if (page is None) == (document is None):
        raise InvalidInputError("Re-segment one page or one document.")
    target = page.document if page is not None else document
    assert target is not None
    membership_require(project=target.project_id, user=user, roles=REVIEW_ROLES)
    cleaned = segment_config_clean(config)
    chosen = segmentation_method_check(target.project.segmentation_method if method is None else method)
    with transaction.atomic():
        job = ResegmentJob.objects.create(
            project_id=target.project_id,
            page=page,
            document=document,
            config=cleaned,
            method=chosen,
            requested_by_id=user_pk(user),
            progress={"done": 0, "total": 1 if page is not None else target.pages.count()},
        )
        task_send_on_commit(RESEGMENT_JOB_RUN, job.pk)
    return job
