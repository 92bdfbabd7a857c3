"""Review: lists of machine output and human texts worth a second look, and a
reviewer's approve / correct / reject."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.apis.common import ERRORS, MAX_INTEGER, FlagOutput, PredictionOutput, TranscriptionOutput
from annotator.models import ReviewAction
from annotator.permissions import REVIEW_ROLES, membership_require
from annotator.selectors import REVIEW_KINDS, ReviewItem, line_get, project_get, review_list
from annotator.services import MAX_TEXT_LENGTH, line_review


class ReviewListInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=list(REVIEW_KINDS.items()), default="low_confidence")
    limit = serializers.IntegerField(min_value=1, max_value=200, default=50)
    offset = serializers.IntegerField(min_value=0, max_value=MAX_INTEGER, default=0)
    labeler = serializers.IntegerField(
        min_value=1, max_value=MAX_INTEGER, required=False, default=None, help_text="Texts by this user id"
    )
    date_from = serializers.DateField(required=False, default=None, help_text="Texts written on or after this day")
    date_to = serializers.DateField(required=False, default=None, help_text="Texts written on or before this day")


class ReviewLineOutput(serializers.Serializer):
    id = serializers.IntegerField()
    image_url = serializers.URLField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()


class ReviewTranscriptionOutput(TranscriptionOutput):
    # A field named like Field.source, which the stubs type as the attribute.
    source = serializers.CharField()  # type: ignore[assignment]


class ReviewItemOutput(serializers.Serializer):
    line = ReviewLineOutput()
    reason = serializers.CharField()
    prediction = PredictionOutput(allow_null=True)
    transcription = ReviewTranscriptionOutput(allow_null=True)
    disagreement = serializers.FloatField(allow_null=True, help_text="CER between the human text and the model's")
    flag = FlagOutput(allow_null=True, help_text="The labeler's flag (list `flagged`).")


class ReviewListOutput(serializers.Serializer):
    count = serializers.IntegerField()
    items = ReviewItemOutput(many=True)


def _item_payload(request: Request, item: ReviewItem) -> dict[str, Any]:
    line = item["line"]
    return {
        **item,
        "line": {
            "id": line.pk,
            "image_url": request.build_absolute_uri(reverse("line-image", args=[line.pk])),
            "width": line.width,
            "height": line.height,
        },
    }


class ReviewListApi(APIView):
    @extend_schema(
        parameters=[ReviewListInput],
        responses={200: ReviewListOutput, 400: ERRORS[400], 403: ERRORS[403], 404: ERRORS[404]},
        description="Reviewers and admins: low-confidence machine output, disputed human texts, submissions "
        "waiting for review, or model-accepted lines; worst first.",
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        membership_require(project=project, user=request.user, roles=REVIEW_ROLES)
        params = ReviewListInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        count, items = review_list(project=project, **params.validated_data)
        payload = {"count": count, "items": [_item_payload(request, item) for item in items]}
        return Response(ReviewListOutput(payload).data)


class ReviewInput(serializers.Serializer):
    action = serializers.ChoiceField(choices=ReviewAction.Action.choices)
    text = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=MAX_TEXT_LENGTH * 4
    )
    client_id = serializers.UUIDField(help_text="A fresh UUID per decision; a retry reuses it.")


class LineReviewApi(APIView):
    @extend_schema(
        request=ReviewInput,
        responses={200: ReviewTranscriptionOutput, 400: ERRORS[400], 403: ERRORS[403], 404: ERRORS[404]},
        description="approve (the current text, or the model's reading when there is none), correct (with text) "
        "or reject (the line goes back to the queue).",
    )
    def post(self, request: Request, line_id: int) -> Response:
        line = line_get(line_id=line_id, user=request.user)
        data = ReviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        transcription = line_review(line=line, user=request.user, **data.validated_data)
        return Response(ReviewTranscriptionOutput(transcription).data)
