"""The JSON API. Each view validates its input, calls one service or selector and
serializes the result; membership is enforced by those calls, not here.

Errors always have the shape ``{"error": {"code", "message", "fields"}}``.
"""

from __future__ import annotations

import json
import mimetypes
from typing import Any

from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from annotator.errors import ApplicationError
from annotator.models import Line, TrainingRun
from annotator.selectors import (
    line_draft,
    line_get,
    line_prediction,
    line_previous,
    membership_role,
    model_version_list,
    project_get,
    project_list,
    project_stats,
    training_run_get,
    training_run_list,
)
from annotator.services import (
    MAX_TEXT_LENGTH,
    draft_save,
    label_submit,
    lease_heartbeat,
    lease_release,
    line_claim,
    training_run_cancel,
    training_run_request,
)

# --- errors ------------------------------------------------------------------


def _flatten(errors: Any) -> list[str]:
    if isinstance(errors, dict):
        return [f"{name}: {message}" for name, value in errors.items() for message in _flatten(value)]
    if isinstance(errors, list):
        return [message for item in errors for message in _flatten(item)]
    return [str(errors)]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Service errors and DRF's own, in one shape a client can show as is."""
    if isinstance(exc, ApplicationError):
        body = {"error": {"code": exc.code, "message": exc.message, "fields": exc.fields}}
        return Response(body, status=exc.status_code)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = response.data if isinstance(response.data, dict) else {"non_field_errors": response.data}
        response.data = {"error": {"code": "invalid", "message": " ".join(_flatten(fields)), "fields": fields}}
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
        code = exc.default_code if isinstance(exc, exceptions.APIException) else "error"
        response.data = {"error": {"code": code, "message": str(detail), "fields": {}}}
    return response


ErrorOutput = inline_serializer(
    "Error",
    {
        "error": inline_serializer(
            "ErrorBody",
            {
                "code": serializers.CharField(),
                "message": serializers.CharField(),
                "fields": serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
            },
        )
    },
)
ERRORS = {
    400: OpenApiResponse(ErrorOutput, "Invalid input"),
    403: OpenApiResponse(ErrorOutput, "Your role in the project does not allow this"),
    404: OpenApiResponse(ErrorOutput, "Not a member, or no such object"),
    409: OpenApiResponse(ErrorOutput, "The line is held or labeled by someone else"),
}


# --- serializers -------------------------------------------------------------


class ProjectOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    role = serializers.CharField()


class ProjectStatsOutput(serializers.Serializer):
    lines = serializers.IntegerField()
    labeled = serializers.IntegerField()
    eval_lines = serializers.IntegerField()
    eval_labeled = serializers.IntegerField()


class ProjectDetailOutput(ProjectOutput):
    description = serializers.CharField()
    lease_seconds = serializers.IntegerField()
    require_review = serializers.BooleanField()
    stats = ProjectStatsOutput()


class PredictionOutput(serializers.Serializer):
    model_version = serializers.IntegerField(source="model_version_id")
    text = serializers.CharField()
    confidence = serializers.FloatField()
    char_confidences = serializers.ListField(child=serializers.FloatField())
    spans = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))


class TranscriptionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    line = serializers.IntegerField(source="line_id")
    author = serializers.IntegerField(source="author_id", allow_null=True)
    text = serializers.CharField()
    status = serializers.CharField()
    client_id = serializers.UUIDField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class LineOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField()
    image_url = serializers.URLField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    lease_expires_at = serializers.DateTimeField(allow_null=True)
    prediction = PredictionOutput(allow_null=True)
    draft = TranscriptionOutput(allow_null=True)
    transcription = TranscriptionOutput(allow_null=True, help_text="The line's current label, if it has one.")


class QueueOutput(serializers.Serializer):
    line = LineOutput(allow_null=True)


def _line_payload(request: Request, line: Line | None) -> dict[str, Any]:
    if line is None:
        return {"line": None}
    user = request.user
    holds_lease = line.lease_user_id == user.pk
    payload = {
        "id": line.pk,
        "project": line.project_id,
        "image_url": request.build_absolute_uri(reverse("line-image", args=[line.pk])),
        "width": line.width,
        "height": line.height,
        "lease_expires_at": line.lease_expires_at if holds_lease else None,
        "prediction": line_prediction(line=line),
        "draft": line_draft(line=line, user=user),
        "transcription": line.current_transcription,
    }
    return {"line": payload}


# --- projects ----------------------------------------------------------------


class ProjectListApi(APIView):
    @extend_schema(responses=ProjectOutput(many=True))
    def get(self, request: Request) -> Response:
        projects = project_list(user=request.user)
        return Response(ProjectOutput(projects, many=True).data)


class ProjectDetailApi(APIView):
    @extend_schema(responses={200: ProjectDetailOutput, 404: ERRORS[404]})
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        data = {
            "id": project.pk,
            "name": project.name,
            "role": membership_role(project=project, user=request.user),
            "description": project.description,
            "lease_seconds": project.lease_seconds,
            "require_review": project.require_review,
            "stats": project_stats(project=project),
        }
        return Response(ProjectDetailOutput(data).data)


# --- the queue ---------------------------------------------------------------


class QueueNextApi(APIView):
    @extend_schema(
        request=None,
        responses={200: QueueOutput, 404: ERRORS[404]},
        description="Lease the next line to label ({line: null} when none is left). Idempotent: while you hold "
        "a lease in the project you get that line again.",
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        line = line_claim(project=project, user=request.user)
        if line is not None:
            line = line_get(line_id=line.pk, user=request.user)
        return Response(QueueOutput(_line_payload(request, line)).data)


class QueuePreviousApi(APIView):
    @extend_schema(
        responses={200: QueueOutput, 404: ERRORS[404]},
        description="Your most recently submitted line, with its current text; submitting it again amends it.",
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        line = line_previous(project=project, user=request.user)
        return Response(QueueOutput(_line_payload(request, line)).data)


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


class LineSubmitApi(APIView):
    @extend_schema(
        request=SubmitInput,
        responses={200: TranscriptionOutput, 400: ERRORS[400], 404: ERRORS[404], 409: ERRORS[409]},
    )
    def post(self, request: Request, line_id: int) -> Response:
        line = line_get(line_id=line_id, user=request.user)
        data = SubmitInput(data=request.data)
        data.is_valid(raise_exception=True)
        transcription = label_submit(
            line=line, user=request.user, text=data.validated_data["text"], client_id=data.validated_data["client_id"]
        )
        return Response(TranscriptionOutput(transcription).data)


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


class ImageRenderer(BaseRenderer):
    """Lets an <img> that accepts only image/* through content negotiation; the
    body is a FileResponse, so this renders only error dicts."""

    media_type = "image/*"
    format = "image"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return json.dumps(data).encode()


class LineImageApi(APIView):
    renderer_classes = [JSONRenderer, ImageRenderer]

    @extend_schema(responses={(200, "image/*"): OpenApiResponse(description="The line crop"), 404: ERRORS[404]})
    def get(self, request: Request, line_id: int) -> FileResponse:
        line = line_get(line_id=line_id, user=request.user)
        name = line.crop.name
        if not name or not line.crop.storage.exists(name):
            raise exceptions.NotFound("The image of this line is missing from storage.")
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        response = FileResponse(line.crop.open("rb"), content_type=content_type)
        # Crops are private to project members: no shared caches.
        response["Cache-Control"] = "private, max-age=3600"
        return response


# --- training and models -----------------------------------------------------


class TrainingRunOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    trigger = serializers.CharField()
    status = serializers.CharField()
    attempt = serializers.IntegerField()
    progress = serializers.DictField(help_text="phase, step, loss, val_cer, eta_seconds... as training goes")
    log = serializers.CharField()
    error = serializers.CharField()
    model_version = serializers.IntegerField(source="model_version_id", allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    heartbeat_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class ModelVersionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    parent_id = serializers.IntegerField(allow_null=True, help_text="The model it was fine-tuned from.")
    status = serializers.CharField()
    cer = serializers.FloatField(allow_null=True)
    wer = serializers.FloatField(allow_null=True)
    ser = serializers.FloatField(allow_null=True)
    train_lines = serializers.IntegerField()
    alphabet = serializers.CharField()
    created_at = serializers.DateTimeField()


class TrainingRunListApi(APIView):
    @extend_schema(responses={200: TrainingRunOutput(many=True), 404: ERRORS[404]})
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        return Response(TrainingRunOutput(training_run_list(project=project)[:50], many=True).data)

    @extend_schema(
        request=None,
        responses={202: TrainingRunOutput, 403: ERRORS[403], 404: ERRORS[404]},
        description="Start retraining by hand (project admins). If a run is already queued or running, "
        "that run is returned instead of a new one.",
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        run = training_run_request(project=project, trigger=TrainingRun.Trigger.MANUAL, user=request.user)
        return Response(TrainingRunOutput(run).data, status=status.HTTP_202_ACCEPTED)


class TrainingRunDetailApi(APIView):
    @extend_schema(responses={200: TrainingRunOutput, 404: ERRORS[404]})
    def get(self, request: Request, run_id: int) -> Response:
        run = training_run_get(run_id=run_id, user=request.user)
        return Response(TrainingRunOutput(run).data)


class TrainingRunCancelApi(APIView):
    @extend_schema(
        request=None,
        responses={200: TrainingRunOutput, 403: ERRORS[403], 404: ERRORS[404]},
        description="Stop a queued or running run (project admins); training stops within seconds, "
        "the active model stays. A finished run is returned unchanged.",
    )
    def post(self, request: Request, run_id: int) -> Response:
        run = training_run_get(run_id=run_id, user=request.user)
        return Response(TrainingRunOutput(training_run_cancel(run=run, user=request.user)).data)


class ModelVersionListApi(APIView):
    @extend_schema(responses={200: ModelVersionOutput(many=True), 404: ERRORS[404]})
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        return Response(ModelVersionOutput(model_version_list(project=project), many=True).data)
