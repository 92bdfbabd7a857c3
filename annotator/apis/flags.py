"""Flags on lines: a labeler's "illegible", "not a text line" or "needs a
second look" instead of a text, and a reviewer's decision on one."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.apis.common import ERRORS, FlagOutput
from annotator.models import LineFlag
from annotator.selectors import line_get
from annotator.services import FLAG_DECISIONS, MAX_FLAG_COMMENT, line_flag, line_flag_decide


class FlagInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=LineFlag.Kind.choices, help_text="One of the vocabulary's flag_kinds.")
    comment = serializers.CharField(
        required=False, default="", allow_blank=True, trim_whitespace=False, max_length=MAX_FLAG_COMMENT * 4
    )
    client_id = serializers.UUIDField(help_text="A fresh UUID per flag; a retry reuses it.")
    lease = serializers.UUIDField(
        required=False,
        allow_null=True,
        default=None,
        help_text="The line's `lease` when it was shown: new work is refused unless you still hold that grant.",
    )


class LineFlagApi(APIView):
    @extend_schema(
        request=FlagInput,
        responses={200: FlagOutput, 400: ERRORS[400], 404: ERRORS[404], 409: ERRORS[409]},
        description="Flag the line instead of typing its text, under its lease like a submit: it leaves the "
        "queue, waits in the review list `flagged`, and is never training text.",
    )
    def post(self, request: Request, line_id: int) -> Response:
        line = line_get(line_id=line_id, user=request.user)
        data = FlagInput(data=request.data)
        data.is_valid(raise_exception=True)
        flag = line_flag(line=line, user=request.user, **data.validated_data)
        return Response(FlagOutput(flag).data)


class FlagDecisionInput(serializers.Serializer):
    decision = serializers.ChoiceField(
        choices=list(FLAG_DECISIONS),
        help_text="keep: the line stays flagged and out of training; clear: the flag goes (the line keeps its "
        "text, or without one goes back to the queue). To type its text, review it with action `correct`.",
    )
    client_id = serializers.UUIDField(help_text="A fresh UUID per decision; a retry reuses it.")


class LineFlagDecisionApi(APIView):
    @extend_schema(
        request=FlagDecisionInput,
        responses={200: FlagOutput, 400: ERRORS[400], 403: ERRORS[403], 404: ERRORS[404], 409: ERRORS[409]},
        description="Reviewers and admins: keep or clear the line's flag.",
    )
    def post(self, request: Request, line_id: int) -> Response:
        line = line_get(line_id=line_id, user=request.user)
        data = FlagDecisionInput(data=request.data)
        data.is_valid(raise_exception=True)
        flag = line_flag_decide(line=line, user=request.user, **data.validated_data)
        return Response(FlagOutput(flag).data)
