"""Reads for the page view: one page with every line's outline, state and text."""

from __future__ import annotations

from dataclasses import dataclass

from annotator.errors import NotFoundError
from annotator.models import Document, Line, ModelVersion, Page, Prediction, ResegmentJob, Transcription
from annotator.permissions import REVIEW_ROLES, AnyUser, membership_require, user_pk

# A line's state in the page view, coloured by the UI.
LINE_STATES = ("unlabeled", "labeled", "flagged", "model_accepted")


@dataclass(frozen=True)
class PageLineView:
    line: Line
    state: str
    text: str
    human: bool  # the text is a person's (or an import's), not the model's reading


def page_get(*, page_id: int, user: AnyUser, roles: frozenset[str] = REVIEW_ROLES) -> Page:
    """One page of the user's projects, for ``roles`` (404 for outsiders, 403 for other roles)."""
    page = Page.objects.select_related("document__project").filter(pk=page_id).first()
    if page is None or not page.document.project.memberships.filter(user_id=user_pk(user)).exists():
        raise NotFoundError("No such page.")
    membership_require(project=page.document.project_id, user=user, roles=roles)
    return page


def document_get(*, document_id: int, user: AnyUser, roles: frozenset[str] = REVIEW_ROLES) -> Document:
    """One document of the user's projects, for ``roles`` (404 for outsiders, 403 for other roles)."""
    document = Document.objects.filter(pk=document_id, project__memberships__user_id=user_pk(user)).first()
    if document is None:
        raise NotFoundError("No such document.")
    membership_require(project=document.project_id, user=user, roles=roles)
    return document


def resegment_job_get(*, job_id: int, user: AnyUser) -> ResegmentJob:
    """A re-segmentation of one of the user's projects, for reviewers and admins."""
    job = ResegmentJob.objects.filter(pk=job_id, project__memberships__user_id=user_pk(user)).first()
    if job is None:
        raise NotFoundError("No such re-segmentation.")
    membership_require(project=job.project_id, user=user, roles=REVIEW_ROLES)
    return job


def _state(line: Line) -> str:
    if line.flag_id is not None:
        return "flagged"
    current = line.current_transcription
    if current is not None and current.source == Transcription.Source.MODEL_ACCEPTED:
        return "model_accepted"
    if line.queue_state == Line.QueueState.LABELED:
        return "labeled"
    return "unlabeled"


def page_lines(*, page: Page) -> list[PageLineView]:
    """The page's lines in reading order: a person's text where there is one, else the active model's reading."""
    lines = list(Line.objects.filter(page=page).select_related("current_transcription").order_by("reading_order", "id"))
    readings = dict(
        Prediction.objects.filter(line__page=page, model_version__status=ModelVersion.Status.ACTIVE).values_list(
            "line_id", "text"
        )
    )
    views = []
    for line in lines:
        current = line.current_transcription
        has_text = current is not None and current.status != Transcription.Status.REJECTED
        text = current.text if has_text and current is not None else readings.get(line.pk, "")
        views.append(PageLineView(line=line, state=_state(line), text=text, human=has_text))
    return views
