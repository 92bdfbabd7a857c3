"""What every API module shares: the error shape, the handler and middleware
that give every /api/ error that shape, the line payload and an image renderer
(the bounded JSON parser is ``parsers``).

Errors always have the shape ``{"error": {"code", "message", "fields"}}``:
DRF's and the services' through ``exception_handler``, and whatever Django
answers before or around a view (no such URL, an upload over Django's limits, a
500) through ``ApiErrorMiddleware``.
"""

from __future__ import annotations

import json
import logging
import mimetypes
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent, TooManyFilesSent
from django.db import DataError
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from annotator.errors import ApplicationError
from annotator.models import Line
from annotator.selectors import line_draft, line_prediction

logger = logging.getLogger(__name__)

# The largest number the database stores in an id or an offset (bigint).
MAX_INTEGER = 2**63 - 1
# PostgreSQL's numeric_value_out_of_range: a number from the request that no column holds.
_OUT_OF_RANGE = "22003"


def error_body(code: str, message: str, fields: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The one error shape."""
    return {"error": {"code": code, "message": message, "fields": dict(fields or {})}}


def _flatten(errors: Any) -> list[str]:
    if isinstance(errors, dict):
        return [f"{name}: {message}" for name, value in errors.items() for message in _flatten(value)]
    if isinstance(errors, list):
        return [message for item in errors for message in _flatten(item)]
    return [str(errors)]


def _request_error(exc: Exception) -> tuple[int, str, str] | None:
    """(status, code, message) for what Django refuses while reading a request
    and a number from one that the database cannot hold; None for the rest."""
    if isinstance(exc, RequestDataTooBig):
        return 413, "too_large", "The request body is too large."
    if isinstance(exc, TooManyFilesSent):
        return 400, "invalid", f"Too many files in one request: at most {settings.DATA_UPLOAD_MAX_NUMBER_FILES}."
    if isinstance(exc, TooManyFieldsSent):
        return 400, "invalid", f"Too many fields in one request: at most {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS}."
    if isinstance(exc, SuspiciousOperation):
        return 400, "invalid", "The request was refused as malformed."
    if isinstance(exc, DataError) and getattr(exc.__cause__, "sqlstate", None) == _OUT_OF_RANGE:
        return 400, "invalid", "A number in the request is out of range."
    return None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Service errors and DRF's own, in one shape a client can show as is."""
    if isinstance(exc, ApplicationError):
        refusal = Response(error_body(exc.code, exc.message, exc.fields), status=exc.status_code)
        if exc.retry_after is not None:
            refusal["Retry-After"] = str(exc.retry_after)
        return refusal
    refused = _request_error(exc)
    if refused is not None:
        status, code, message = refused
        return Response(error_body(code, message), status=status)
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


# For an error Django answered itself (no view, or an exception no view handled).
_CODES = {
    400: ("invalid", "Bad request."),
    403: ("permission_denied", "Forbidden."),
    404: ("not_found", "Not found: no such API endpoint or object."),
    405: ("method_not_allowed", "This method is not allowed here."),
    413: ("too_large", "The request body is too large."),
    500: ("error", "Internal server error; it was logged."),
}
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


def _has_error_shape(response: HttpResponse) -> bool:
    if response.streaming:
        return False
    try:
        body = json.loads(response.content)
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("error"), dict)


class ApiErrorMiddleware:
    """Every error under /api/ is JSON in the one shape, including those no
    view answered: the URL resolver's 404 (``/api/lines/-1/submit``), a 400
    for an upload over Django's limits, Django's 500 page, a 405."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith("/api/") or response.status_code < 400 or _has_error_shape(response):
            return response
        status = response.status_code
        code, message = _CODES.get(status, ("error", response.reason_phrase or "Error."))
        shaped = JsonResponse(error_body(code, message), status=status)
        for header in _KEPT_HEADERS:
            if header in response:
                shaped[header] = response[header]
        return shaped


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
    429: OpenApiResponse(ErrorOutput, "Too many attempts; the Retry-After header says when to try again"),
}


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


class FlagOutput(serializers.Serializer):
    id = serializers.IntegerField()
    line = serializers.IntegerField(source="line_id")
    kind = serializers.CharField(help_text="One of the vocabulary's flag_kinds.")
    comment = serializers.CharField(allow_blank=True)
    author = serializers.IntegerField(source="author_id", allow_null=True)
    author_name = serializers.SerializerMethodField()
    resolution = serializers.CharField(allow_blank=True, help_text='"" waiting for review, "kept" or "cleared".')
    created_at = serializers.DateTimeField()

    def get_author_name(self, flag: Any) -> str:
        return flag.author.get_username() if flag.author_id is not None else ""


class LineOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField()
    image_url = serializers.URLField()
    context_url = serializers.URLField(allow_null=True, help_text="The page around the line, when it has a page.")
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    lease_expires_at = serializers.DateTimeField(allow_null=True)
    lease = serializers.UUIDField(
        allow_null=True, help_text="Your grant of the lease on this line (null when you do not hold it)."
    )
    prediction = PredictionOutput(allow_null=True)
    draft = TranscriptionOutput(allow_null=True)
    transcription = TranscriptionOutput(allow_null=True, help_text="The line's current label, if it has one.")
    flag = FlagOutput(allow_null=True, help_text="The flag in force on the line (set instead of a text), if any.")


class QueueOutput(serializers.Serializer):
    line = LineOutput(allow_null=True)


def line_payload(request: Request, line: Line | None) -> dict[str, Any]:
    if line is None:
        return {"line": None}
    user = request.user
    holds_lease = line.lease_user_id == user.pk
    payload = {
        "id": line.pk,
        "project": line.project_id,
        "image_url": request.build_absolute_uri(reverse("line-image", args=[line.pk])),
        "context_url": request.build_absolute_uri(reverse("line-context", args=[line.pk])) if line.page_id else None,
        "width": line.width,
        "height": line.height,
        "lease_expires_at": line.lease_expires_at if holds_lease else None,
        "lease": line.lease_token if holds_lease else None,
        "prediction": line_prediction(line=line),
        "draft": line_draft(line=line, user=user),
        "transcription": line.current_transcription,
        "flag": line.flag if line.flag_id is not None else None,
    }
    return {"line": payload}


def line_payloads(request: Request, lines: list[Line]) -> list[dict[str, Any]]:
    return [line_payload(request, line)["line"] for line in lines]


class ImageRenderer(BaseRenderer):
    """Lets an <img> that accepts only image/* through content negotiation; the
    body is a FileResponse, so this renders only error dicts."""

    media_type = "image/*"
    format = "image"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return json.dumps(data).encode()


class FileRenderer(BaseRenderer):
    """Lets a download link that accepts anything through content negotiation;
    the body is a FileResponse, so this renders only error dicts."""

    media_type = "*/*"
    format = "file"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return json.dumps(data).encode()


class NamedOutput(serializers.Serializer):
    """A name the API accepts, with what it means (strategies, import kinds, review lists)."""

    name = serializers.CharField()
    description = serializers.CharField()


def stored_image_response(image: FieldFile, *, what: str) -> FileResponse:
    """A member's image (a line crop, a page) from storage; ``what`` names it in the 404."""
    name = image.name
    if not name or not image.storage.exists(name):
        raise exceptions.NotFound(f"The image of this {what} is missing from storage.")
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    response = FileResponse(image.open("rb"), content_type=content_type)
    # Images are private to project members: no shared caches.
    response["Cache-Control"] = "private, max-age=3600"
    return response


class SegmentationMethodOutput(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    available = serializers.BooleanField(help_text="false: not installed on this server (kraken).")
