"""Reads: a project's documents with per-page progress, and full-text search over
verified texts and the active model's readings.

Search runs PostgreSQL full text (``to_tsvector('simple', text)``, GIN-indexed by
migration 0012, no stemming: a word is found as written, whatever the case) on
PostgreSQL, and a case-insensitive substring match elsewhere (SQLite)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import Count, F, Q, QuerySet

from annotator.errors import InvalidInputError
from annotator.models import Document, Line, ModelVersion, Page, Prediction, Project, Transcription

DOCUMENTS_PAGE_MAX = 200
SEARCH_RESULTS_MAX = 100
SEARCH_QUERY_MAX = 200


@dataclass
class PageProgress:
    id: int
    number: int
    name: str
    lines: int = 0
    labeled: int = 0
    verified: int = 0


@dataclass
class DocumentProgress:
    id: int
    name: str
    pages: list[PageProgress] = field(default_factory=list)
    lines: int = 0
    labeled: int = 0
    verified: int = 0


def document_list(*, project: Project, limit: int = 50, offset: int = 0) -> tuple[int, list[DocumentProgress]]:
    """The project's documents in import order (``limit`` from ``offset``), each with
    its pages and, per page and in all, its lines, those labeled and those whose
    current text is verified; and how many documents there are."""
    if not 1 <= limit <= DOCUMENTS_PAGE_MAX or offset < 0:
        message = f"limit is 1 to {DOCUMENTS_PAGE_MAX}, offset at least 0."
        raise InvalidInputError(message, fields={"limit": [message]})
    documents = Document.objects.filter(project=project).order_by("id")
    total = documents.count()
    chosen = {
        document.pk: DocumentProgress(id=document.pk, name=document.name)
        for document in documents[offset : offset + limit]
    }
    pages: dict[int, PageProgress] = {}
    for page in (
        Page.objects.filter(document_id__in=chosen)
        .order_by("document_id", "number")
        .only("id", "number", "document_id", "source_name")
    ):
        progress = PageProgress(id=page.pk, number=page.number, name=page.source_name or f"page {page.number}")
        pages[page.pk] = progress
        chosen[page.document_id].pages.append(progress)
    counts = (
        Line.objects.filter(document_id__in=chosen)
        .values("document_id", "page_id")
        .annotate(
            lines=Count("id"),
            labeled=Count("id", filter=Q(queue_state=Line.QueueState.LABELED)),
            verified=Count("id", filter=Q(current_transcription__status=Transcription.Status.VERIFIED)),
        )
    )
    for row in counts:
        document = chosen[row["document_id"]]
        document.lines += row["lines"]
        document.labeled += row["labeled"]
        document.verified += row["verified"]
        page_progress = pages.get(row["page_id"]) if row["page_id"] is not None else None
        if page_progress is not None:
            page_progress.lines, page_progress.labeled, page_progress.verified = (
                row["lines"],
                row["labeled"],
                row["verified"],
            )
    return total, list(chosen.values())


@dataclass(frozen=True)
class SearchHit:
    line: Line
    text: str
    # "verified": the line's verified text; "model": the active model's reading.
    source: str


def _matching(texts: QuerySet[Any], query: str) -> QuerySet[Any]:
    """The rows of ``texts`` (with a ``text`` column) that hold every word of ``query``."""
    if connection.vendor == "postgresql":
        vector = SearchVector("text", config="simple")
        return texts.annotate(search=vector).filter(search=SearchQuery(query, config="simple", search_type="plain"))
    for word in query.split():
        texts = texts.filter(text__icontains=word)
    return texts


def line_search(*, project: Project, query: str, limit: int = 50) -> list[SearchHit]:
    """Lines whose verified text, or else whose active model's reading, holds every
    word of ``query``; verified texts first, in document order within each."""
    query = " ".join(query.split())
    if not query or len(query) > SEARCH_QUERY_MAX:
        message = f"Search for 1 to {SEARCH_QUERY_MAX} characters."
        raise InvalidInputError(message, fields={"q": [message]})
    if not 1 <= limit <= SEARCH_RESULTS_MAX:
        message = f"limit is 1 to {SEARCH_RESULTS_MAX}."
        raise InvalidInputError(message, fields={"limit": [message]})
    order = ("line__document_id", "line__page__number", "line__reading_order", "line_id")
    verified = Transcription.objects.filter(
        line__project=project, status=Transcription.Status.VERIFIED, line__current_transcription=F("pk")
    )
    hits: dict[int, SearchHit] = {}
    for transcription in (
        _matching(verified, query).select_related("line__document", "line__page").order_by(*order)[:limit]
    ):
        hits[transcription.line_id] = SearchHit(line=transcription.line, text=transcription.text, source="verified")
    active = project.model_versions.filter(status=ModelVersion.Status.ACTIVE).first()
    if active is not None and len(hits) < limit:
        readings = Prediction.objects.filter(model_version=active).exclude(
            line__current_transcription__status=Transcription.Status.VERIFIED
        )
        for prediction in (
            _matching(readings, query)
            .select_related("line__document", "line__page")
            .order_by(*order)[: limit - len(hits)]
        ):
            hits.setdefault(prediction.line_id, SearchHit(line=prediction.line, text=prediction.text, source="model"))
    return list(hits.values())
