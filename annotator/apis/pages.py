"""The page view: one page with its lines' outlines, states and texts, and the
fixes to its cut (delete, merge, split, draw, reading order); reviewers and admins."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.apis.common import ERRORS, MAX_INTEGER, ImageRenderer, SegmentationMethodOutput, stored_image_response
from annotator.models import Document, Line, Page
from annotator.permissions import REVIEW_ROLES, membership_require
from annotator.selectors import LINE_STATES, document_get, line_get, page_get, page_lines, resegment_job_get
from annotator.services import (
    SEGMENT_SETTINGS,
    line_create_drawn,
    line_delete,
    line_split,
    lines_merge,
    page_reading_order_set,
    resegment_job_create,
)
from annotator.services.pages import MAX_POLYGON_POINTS
from annotator.services.segmentation import segment_defaults, segmentation_methods
from recognition.pages import SEGMENT_METHODS

MAX_PAGE_LINES = 5000


def _points() -> serializers.ListField:
    return serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2)
    )


class PageLineOutput(serializers.Serializer):
    id = serializers.IntegerField()
    reading_order = serializers.IntegerField()
    polygon = _points()
    bbox = serializers.ListField(child=serializers.IntegerField(), allow_null=True)
    baseline = _points()
    state = serializers.ChoiceField(choices=LINE_STATES)
    text = serializers.CharField(allow_blank=True, help_text="A person's text where there is one, else the model's.")
    human = serializers.BooleanField(help_text="Whether `text` is a person's (or an import's), not the model's.")
    leased = serializers.BooleanField(help_text="A labeler is working on it: edits to its cut wait.")
    image_url = serializers.URLField()


class PageOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField()
    document = serializers.IntegerField()
    document_name = serializers.CharField()
    number = serializers.IntegerField()
    image_url = serializers.URLField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    lines = PageLineOutput(many=True)
    segment_defaults = serializers.DictField(
        help_text="The segmenter's default for every setting a re-segmentation may change (its form starts there)."
    )
    segmentation_method = serializers.CharField(help_text="The project's segmentation method (the form's default).")
    segmentation_methods = SegmentationMethodOutput(
        many=True, help_text="The segmentation methods, and whether each can run on this server."
    )


def page_payload(request: Request, page: Page) -> dict[str, Any]:
    lines = []
    for view in page_lines(page=page):
        line = view.line
        crop = f"?v={(line.crop.name or '').rsplit('/', 1)[-1]}"
        lines.append(
            {
                "id": line.pk,
                "reading_order": line.reading_order,
                "polygon": line.polygon,
                "bbox": line.bbox,
                "baseline": line.baseline,
                "state": view.state,
                "text": view.text,
                "human": view.human,
                "leased": line.lease_active(),
                # The crop's name in the URL: a recut line is a new URL, never a stale cached image.
                "image_url": request.build_absolute_uri(reverse("line-image", args=[line.pk])) + crop,
            }
        )
    return {
        "id": page.pk,
        "project": page.document.project_id,
        "document": page.document_id,
        "document_name": page.document.name,
        "number": page.number,
        "image_url": request.build_absolute_uri(reverse("page-image", args=[page.pk])),
        "width": page.width,
        "height": page.height,
        "lines": lines,
        "segment_defaults": segment_defaults(),
        "segmentation_method": page.document.project.segmentation_method,
        "segmentation_methods": segmentation_methods(),
    }


class PageDetailApi(APIView):
    @extend_schema(
        responses={200: PageOutput, 403: ERRORS[403], 404: ERRORS[404]},
        description="Reviewers and admins: the page, its image and every line (outline, state, text) in reading order.",
    )
    def get(self, request: Request, page_id: int) -> Response:
        page = page_get(page_id=page_id, user=request.user)
        return Response(PageOutput(page_payload(request, page)).data)


class PageImageApi(APIView):
    renderer_classes = [JSONRenderer, ImageRenderer]

    @extend_schema(
        responses={(200, "image/*"): OpenApiResponse(description="The page image"), 403: ERRORS[403], 404: ERRORS[404]}
    )
    def get(self, request: Request, page_id: int) -> FileResponse:
        page = page_get(page_id=page_id, user=request.user)
        return stored_image_response(page.image, what="page")


class DrawInput(serializers.Serializer):
    polygon = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2),
        min_length=3,
        max_length=MAX_POLYGON_POINTS,
        required=False,
        help_text="The new line's outline, [[x, y], ...] in page pixels.",
    )
    box = serializers.ListField(
        child=serializers.FloatField(), min_length=4, max_length=4, required=False, help_text="[x0, y0, x1, y1]"
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("polygon" in attrs) == ("box" in attrs):
            raise serializers.ValidationError("Give either a polygon or a box.")
        return attrs


class PageLineListApi(APIView):
    @extend_schema(
        request=DrawInput,
        responses={201: PageOutput, 400: ERRORS[400], 403: ERRORS[403], 404: ERRORS[404]},
        description="Reviewers and admins: draw a new line (a box or a polygon); it is cut, placed in the reading "
        "order by its height on the page, and read by the active model. Returns the page.",
    )
    def post(self, request: Request, page_id: int) -> Response:
        page = page_get(page_id=page_id, user=request.user)
        data = DrawInput(data=request.data)
        data.is_valid(raise_exception=True)
        polygon = data.validated_data.get("polygon")
        if polygon is None:
            x0, y0, x1, y1 = data.validated_data["box"]
            polygon = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
        line_create_drawn(page=page, user=request.user, polygon=polygon)
        return Response(PageOutput(page_payload(request, page)).data, status=201)


class ReadingOrderInput(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_INTEGER),
        max_length=MAX_PAGE_LINES,
        help_text="Every line of the page.",
    )


class PageReadingOrderApi(APIView):
    @extend_schema(
        request=ReadingOrderInput,
        responses={200: PageOutput, 400: ERRORS[400], 403: ERRORS[403], 404: ERRORS[404], 409: ERRORS[409]},
        description="Reviewers and admins: the page's lines in this order (every line once).",
    )
    def put(self, request: Request, page_id: int) -> Response:
        page = page_get(page_id=page_id, user=request.user)
        data = ReadingOrderInput(data=request.data)
        data.is_valid(raise_exception=True)
        page_reading_order_set(page=page, user=request.user, ids=data.validated_data["ids"])
        return Response(PageOutput(page_payload(request, page)).data)


def _line_page(request: Request, line_id: int) -> tuple[Line, Page]:
    line = line_get(line_id=line_id, user=request.user)
    membership_require(project=line.project_id, user=request.user, roles=REVIEW_ROLES)
    if line.page_id is None:
        raise exceptions.NotFound("This line was imported without its page.")
    return line, page_get(page_id=line.page_id, user=request.user)


class SplitInput(serializers.Serializer):
    x = serializers.IntegerField(min_value=0, max_value=10**6, help_text="Where to cut, in page pixels.")


class LineSplitApi(APIView):
    @extend_schema(
        request=SplitInput,
        responses={200: PageOutput, 400: ERRORS[400], 403: ERRORS[403], 404: ERRORS[404], 409: ERRORS[409]},
        description="Reviewers and admins: split the line at x; the left part keeps its history. Returns the page.",
    )
    def post(self, request: Request, line_id: int) -> Response:
        line, page = _line_page(request, line_id)
        data = SplitInput(data=request.data)
        data.is_valid(raise_exception=True)
        line_split(line=line, user=request.user, x=data.validated_data["x"])
        return Response(PageOutput(page_payload(request, page)).data)


class MergeInput(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_INTEGER),
        min_length=1,
        max_length=50,
        help_text="The other lines of the page to merge with this one.",
    )


class LineMergeApi(APIView):
    @extend_schema(
        request=MergeInput,
        responses={200: PageOutput, 400: ERRORS[400], 403: ERRORS[403], 404: ERRORS[404], 409: ERRORS[409]},
        description="Reviewers and admins: merge this line and the others named, all of one page, into the first "
        "of them in reading order (the others' texts become its history). Returns the page.",
    )
    def post(self, request: Request, line_id: int) -> Response:
        line, page = _line_page(request, line_id)
        data = MergeInput(data=request.data)
        data.is_valid(raise_exception=True)
        lines_merge(ids=[line.pk, *data.validated_data["ids"]], user=request.user)
        return Response(PageOutput(page_payload(request, page)).data)


def line_delete_response(request: Request, line_id: int) -> Response:
    """DELETE /api/lines/{id} (on ``documents.LineDetailApi``, the line's URL): the page after."""
    line, page = _line_page(request, line_id)
    line_delete(line=line, user=request.user)
    return Response(PageOutput(page_payload(request, page)).data)


class ResegmentInput(serializers.Serializer):
    settings = serializers.DictField(
        required=False,
        default=dict,
        help_text="Segmenter settings that differ from the defaults: "
        + ", ".join(name for name in SEGMENT_SETTINGS)
        + " (recognition.pages.SegmentConfig).",
    )
    method = serializers.ChoiceField(
        choices=list(SEGMENT_METHODS),
        required=False,
        help_text="The segmentation method (default: the project's); kraken only where it is installed (else 400).",
    )


class ResegmentJobOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    page = serializers.IntegerField(source="page_id", allow_null=True)
    document = serializers.IntegerField(source="document_id", allow_null=True)
    settings = serializers.DictField(source="config")
    method = serializers.CharField()
    progress = serializers.DictField()
    report = serializers.DictField()
    error = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()


RESEGMENT_DESCRIPTION = (
    "Reviewers and admins: cut {what} into lines again with these settings, on the worker. New lines replace "
    "those nobody typed on; a line with a person's text keeps it on the new line that overlaps it (IoU >= 0.5, or "
    "mostly inside it), or stays as it is. A page where a labeler is working on a line is left as it is."
)


def _resegment(request: Request, *, page: Page | None = None, document: Document | None = None) -> Response:
    data = ResegmentInput(data=request.data)
    data.is_valid(raise_exception=True)
    job = resegment_job_create(
        user=request.user,
        page=page,
        document=document,
        config=data.validated_data["settings"],
        method=data.validated_data.get("method"),
    )
    return Response(ResegmentJobOutput(job).data, status=202)


class PageResegmentApi(APIView):
    @extend_schema(
        request=ResegmentInput,
        responses={202: ResegmentJobOutput, 400: ERRORS[400], 403: ERRORS[403], 404: ERRORS[404]},
        description=RESEGMENT_DESCRIPTION.format(what="the page"),
    )
    def post(self, request: Request, page_id: int) -> Response:
        return _resegment(request, page=page_get(page_id=page_id, user=request.user))


class DocumentResegmentApi(APIView):
    @extend_schema(
        request=ResegmentInput,
        responses={202: ResegmentJobOutput, 400: ERRORS[400], 403: ERRORS[403], 404: ERRORS[404]},
        description=RESEGMENT_DESCRIPTION.format(what="every page of the document"),
    )
    def post(self, request: Request, document_id: int) -> Response:
        return _resegment(request, document=document_get(document_id=document_id, user=request.user))


class ResegmentJobDetailApi(APIView):
    @extend_schema(
        responses={200: ResegmentJobOutput, 403: ERRORS[403], 404: ERRORS[404]},
        description="Reviewers and admins: a re-segmentation's status, progress and, per page, what changed.",
    )
    def get(self, request: Request, job_id: int) -> Response:
        return Response(ResegmentJobOutput(resegment_job_get(job_id=job_id, user=request.user)).data)
