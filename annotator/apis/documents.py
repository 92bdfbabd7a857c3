"""Documents and search: the project's documents with per-page progress, one
line as it stands, and full-text search over verified texts and model readings."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.apis.common import ERRORS, MAX_INTEGER, PredictionOutput, TranscriptionOutput
from annotator.apis.pages import PageOutput, line_delete_response
from annotator.models import Line
from annotator.selectors import (
    DOCUMENTS_PAGE_MAX,
    SEARCH_QUERY_MAX,
    SEARCH_RESULTS_MAX,
    document_list,
    line_get,
    line_prediction,
    line_search,
    project_get,
)


class PageProgressOutput(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    name = serializers.CharField(help_text="The imported image's name, or 'page N'.")
    lines = serializers.IntegerField()
    labeled = serializers.IntegerField()
    verified = serializers.IntegerField()


class DocumentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    lines = serializers.IntegerField()
    labeled = serializers.IntegerField()
    verified = serializers.IntegerField()
    pages = PageProgressOutput(many=True)


class DocumentListOutput(serializers.Serializer):
    count = serializers.IntegerField()
    documents = DocumentOutput(many=True)


class DocumentListInput(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=DOCUMENTS_PAGE_MAX, default=50)
    offset = serializers.IntegerField(min_value=0, max_value=MAX_INTEGER, default=0)


class DocumentListApi(APIView):
    @extend_schema(
        parameters=[DocumentListInput],
        responses={200: DocumentListOutput, 400: ERRORS[400], 404: ERRORS[404]},
        description="Members: the project's documents in import order, each with its pages and their progress "
        "(lines, labeled, verified).",
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        params = DocumentListInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        count, documents = document_list(project=project, **params.validated_data)
        return Response(DocumentListOutput({"count": count, "documents": documents}).data)


class LineSummaryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    image_url = serializers.URLField()
    context_url = serializers.URLField(allow_null=True)
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    document = serializers.CharField(allow_null=True)
    page = serializers.IntegerField(allow_null=True, help_text="The page's number in its document.")
    external_id = serializers.CharField(help_text="The line's id in the imported PAGE/ALTO file, if any.")
    ui_url = serializers.CharField(help_text="The line's page in the UI.")


def _line_summary(request: Request, line: Line) -> dict[str, Any]:
    return {
        "id": line.pk,
        "image_url": request.build_absolute_uri(reverse("line-image", args=[line.pk])),
        "context_url": request.build_absolute_uri(reverse("line-context", args=[line.pk])) if line.page_id else None,
        "width": line.width,
        "height": line.height,
        "document": line.document.name if line.document else None,
        "page": line.page.number if line.page else None,
        "external_id": line.external_id,
        "ui_url": f"/projects/{line.project_id}/lines/{line.pk}",
    }


class SearchInput(serializers.Serializer):
    q = serializers.CharField(max_length=SEARCH_QUERY_MAX, help_text="Words to find (every one of them).")
    limit = serializers.IntegerField(min_value=1, max_value=SEARCH_RESULTS_MAX, default=50)


class SearchHitOutput(serializers.Serializer):
    line = LineSummaryOutput()
    text = serializers.CharField()
    # A field named like Field.source, which the stubs type as the attribute.
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=["verified", "model"], help_text="A verified text or the model's reading"
    )


class SearchOutput(serializers.Serializer):
    query = serializers.CharField()
    hits = SearchHitOutput(many=True)


class LineSearchApi(APIView):
    @extend_schema(
        parameters=[SearchInput],
        responses={200: SearchOutput, 400: ERRORS[400], 404: ERRORS[404]},
        description="Members: lines whose verified text, or else the active model's reading, holds every word "
        "(PostgreSQL full text; a substring match on SQLite). Verified texts first, in document order.",
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        params = SearchInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        hits = line_search(project=project, query=params.validated_data["q"], limit=params.validated_data["limit"])
        payload = {
            "query": params.validated_data["q"],
            "hits": [
                {"line": _line_summary(request, hit.line), "text": hit.text, "source": hit.source} for hit in hits
            ],
        }
        return Response(SearchOutput(payload).data)


class LineDetailOutput(serializers.Serializer):
    line = LineSummaryOutput()
    transcription = TranscriptionOutput(allow_null=True, help_text="The line's current text, if it has one.")
    source = serializers.CharField(  # type: ignore[assignment]
        allow_null=True, help_text="Where the current text comes from."
    )
    prediction = PredictionOutput(allow_null=True, help_text="The active model's reading.")


class LineDetailApi(APIView):
    @extend_schema(
        responses={200: LineDetailOutput, 404: ERRORS[404]},
        description="Members: one line as it stands (where it is, its current text, the model's reading); "
        "claims nothing.",
    )
    def get(self, request: Request, line_id: int) -> Response:
        line = line_get(line_id=line_id, user=request.user)
        current = line.current_transcription
        payload = {
            "line": _line_summary(request, line),
            "transcription": current,
            "source": current.source if current is not None else None,
            "prediction": line_prediction(line=line),
        }
        return Response(LineDetailOutput(payload).data)

    @extend_schema(
        responses={200: PageOutput, 403: ERRORS[403], 404: ERRORS[404], 409: ERRORS[409]},
        description="Reviewers and admins: delete a line cut by mistake from its page (refused for a line with a "
        "person's text: flag it 'not a text line' instead). Returns the page as the page view shows it.",
    )
    def delete(self, request: Request, line_id: int) -> Response:
        return line_delete_response(request, line_id)
