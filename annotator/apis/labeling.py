"""The labeling queue and one line: claim, history, release, heartbeat, skip,
draft, submit, image.

Each view validates its input, calls one service or selector and serializes the
result; membership is enforced by those calls, not here.
"""

from __future__ import annotations

from django.http import FileResponse, HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import FormParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.apis.common import (
    ERRORS,
    MAX_INTEGER,
    ImageRenderer,
    LineOutput,
    QueueOutput,
    TranscriptionOutput,
    line_payload,
    line_payloads,
    stored_image_response,
)
from annotator.apis.parsers import JSONParser
from annotator.line_context import line_context_png
from annotator.models import TrainingRun
from annotator.selectors import (
    RECENT_LINES_MAX,
    line_get,
    line_previous,
    lines_recent,
    project_get,
    training_run_in_flight,
)
from annotator.services import (
    MAX_LEASES_PER_LABELER,
    MAX_TEXT_LENGTH,
    draft_save,
    label_submit,
    lease_heartbeat,
    lease_release,
    leases_return,
    line_claim,
)
from recognition.images import ImageError


class QueueNextInput(serializers.Serializer):
    exclude = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_INTEGER),
        required=False,
        default=list,
        help_text="The line you are showing: keep its lease and lease one more, to fetch it ahead.",
    )
    resume = serializers.IntegerField(
        min_value=1,
        max_value=MAX_INTEGER,
        required=False,
        allow_null=True,
        default=None,
        help_text="The line this page showed before a reload: you get it back if nobody else took it meanwhile.",
    )


class QueueNextApi(APIView):
    @extend_schema(
        request=QueueNextInput,
        responses={200: QueueOutput, 400: ERRORS[400], 404: ERRORS[404]},
        description="Lease the next line to label ({line: null} when none is left). Idempotent: while you hold "
        "a lease in the project you get that line again, unless you name it in `exclude` to fetch one ahead.",
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        data = QueueNextInput(data=request.data)
        data.is_valid(raise_exception=True)
        line = line_claim(
            project=project,
            user=request.user,
            exclude=data.validated_data["exclude"],
            resume=data.validated_data["resume"],
        )
        if line is not None:
            line = line_get(line_id=line.pk, user=request.user)
        return Response(QueueOutput(line_payload(request, line)).data)


class QueuePreviousInput(serializers.Serializer):
    back = serializers.IntegerField(
        required=False,
        default=0,
        min_value=0,
        max_value=RECENT_LINES_MAX - 1,
        help_text="0: your latest line; k: the line k lines before it.",
    )


class QueuePreviousApi(APIView):
    @extend_schema(
        parameters=[QueuePreviousInput],
        responses={200: QueueOutput, 400: ERRORS[400], 404: ERRORS[404]},
        description="A line you submitted (the latest, or `back` lines before it), with its current text; "
        "submitting it again amends it. {line: null} when your history is not that long.",
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        data = QueuePreviousInput(data=request.query_params)
        data.is_valid(raise_exception=True)
        line = line_previous(project=project, user=request.user, back=data.validated_data["back"])
        return Response(QueueOutput(line_payload(request, line)).data)


class QueueRecentInput(serializers.Serializer):
    limit = serializers.IntegerField(required=False, default=10, min_value=1, max_value=RECENT_LINES_MAX)


class QueueRecentOutput(serializers.Serializer):
    lines = LineOutput(many=True)


class QueueRecentApi(APIView):
    @extend_schema(
        parameters=[QueueRecentInput],
        responses={200: QueueRecentOutput, 400: ERRORS[400], 404: ERRORS[404]},
        description="Your most recently submitted lines, newest first, each once, with their current text.",
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        data = QueueRecentInput(data=request.query_params)
        data.is_valid(raise_exception=True)
        lines = lines_recent(project=project, user=request.user, limit=data.validated_data["limit"])
        return Response(QueueRecentOutput({"lines": line_payloads(request, lines)}).data)


class QueueReleaseInput(serializers.Serializer):
    leases = serializers.ListField(
        child=serializers.UUIDField(),
        max_length=MAX_LEASES_PER_LABELER,
        help_text="The grants (`lease` of a line) to give back; a line leased again since keeps its lease.",
    )


class QueueReleaseOutput(serializers.Serializer):
    released = serializers.IntegerField()


class QueueReleaseApi(APIView):
    # navigator.sendBeacon (the page being left) cannot set headers: it sends a
    # form body whose csrfmiddlewaretoken field the session's CSRF check reads.
    parser_classes = [JSONParser, FormParser]

    @extend_schema(
        request=QueueReleaseInput,
        responses={200: QueueReleaseOutput, 400: ERRORS[400], 403: ERRORS[403], 404: ERRORS[404]},
        description="Give your leased lines back to the queue (not a skip: they may come back to you). "
        "Takes JSON, or a form with `csrfmiddlewaretoken` from a page being left.",
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        data = QueueReleaseInput(data=request.data)
        data.is_valid(raise_exception=True)
        released = leases_return(user=request.user, project=project, leases=data.validated_data["leases"])
        return Response(QueueReleaseOutput({"released": released}).data)


class LeaseOutput(serializers.Serializer):
    lease_expires_at = serializers.DateTimeField()


class LineHeartbeatApi(APIView):
    @extend_schema(request=None, responses={200: LeaseOutput, 404: ERRORS[404], 409: ERRORS[409]})
    def post(self, request: Request, line_id: int) -> Response:
        line = line_get(line_id=line_id, user=request.user)
        line = lease_heartbeat(line=line, user=request.user)
        return Response(LeaseOutput({"lease_expires_at": line.lease_expires_at}).data)


class LineSkipApi(APIView):
    @extend_schema(request=None, responses={204: None, 404: ERRORS[404]})
    def post(self, request: Request, line_id: int) -> Response:
        line = line_get(line_id=line_id, user=request.user)
        lease_release(line=line, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SubmitInput(serializers.Serializer):
    # Lengths and characters are the service's to judge, so its messages are the
    # only ones; here only presence and type. The slack lets the service report
    # "N characters, at most M" instead of DRF's generic message.
    text = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=MAX_TEXT_LENGTH * 4)
    client_id = serializers.UUIDField(help_text="A fresh UUID per submission; a retry reuses it.")
    lease = serializers.UUIDField(
        required=False,
        allow_null=True,
        default=None,
        help_text="The line's `lease` when it was shown: new work is refused unless you still hold that grant.",
    )


class SubmitTrainingOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    waiting_for_worker = serializers.BooleanField(
        help_text="Queued and not yet taken by a worker (busy, or the broker is down: the request is kept and "
        "sent again within a minute)."
    )


class SubmitOutput(TranscriptionOutput):
    training = SubmitTrainingOutput(
        allow_null=True, help_text="The project's training run in flight (this submit may have started it), if any."
    )


class LineSubmitApi(APIView):
    @extend_schema(
        request=SubmitInput,
        responses={200: SubmitOutput, 400: ERRORS[400], 404: ERRORS[404], 409: ERRORS[409]},
    )
    def post(self, request: Request, line_id: int) -> Response:
        line = line_get(line_id=line_id, user=request.user)
        data = SubmitInput(data=request.data)
        data.is_valid(raise_exception=True)
        transcription = label_submit(
            line=line,
            user=request.user,
            text=data.validated_data["text"],
            client_id=data.validated_data["client_id"],
            lease=data.validated_data["lease"],
        )
        run = training_run_in_flight(project=line.project_id)
        training = None
        if run is not None:
            waiting = run.status == TrainingRun.Status.QUEUED
            training = SubmitTrainingOutput({"id": run.pk, "status": run.status, "waiting_for_worker": waiting}).data
        return Response({**TranscriptionOutput(transcription).data, "training": training})


class DraftInput(serializers.Serializer):
    text = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=MAX_TEXT_LENGTH * 4)


class LineDraftApi(APIView):
    @extend_schema(
        request=DraftInput,
        responses={200: TranscriptionOutput, 400: ERRORS[400], 404: ERRORS[404], 409: ERRORS[409]},
    )
    def put(self, request: Request, line_id: int) -> Response:
        line = line_get(line_id=line_id, user=request.user)
        data = DraftInput(data=request.data)
        data.is_valid(raise_exception=True)
        draft = draft_save(line=line, user=request.user, text=data.validated_data["text"])
        return Response(TranscriptionOutput(draft).data)


class LineImageApi(APIView):
    renderer_classes = [JSONRenderer, ImageRenderer]

    @extend_schema(responses={(200, "image/*"): OpenApiResponse(description="The line crop"), 404: ERRORS[404]})
    def get(self, request: Request, line_id: int) -> FileResponse:
        line = line_get(line_id=line_id, user=request.user)
        return stored_image_response(line.crop, what="line")


class LineContextApi(APIView):
    renderer_classes = [JSONRenderer, ImageRenderer]

    @extend_schema(
        responses={(200, "image/png"): OpenApiResponse(description="The page around the line"), 404: ERRORS[404]}
    )
    def get(self, request: Request, line_id: int) -> HttpResponse:
        line = line_get(line_id=line_id, user=request.user)
        try:
            png = line_context_png(line=line)
        except (ImageError, OSError) as error:
            raise exceptions.NotFound(f"The page image of this line cannot be read: {error}") from error
        if png is None:
            raise exceptions.NotFound("This line was imported without its page.")
        response = HttpResponse(png, content_type="image/png")
        response["Cache-Control"] = "private, max-age=3600"
        return response
