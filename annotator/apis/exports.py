"""Exports: PAGE, ALTO, plain text, line folders and the model, as zips a
worker writes; the job ends with a download link."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.apis.common import ERRORS, MAX_INTEGER, FileRenderer
from annotator.models import ExportJob
from annotator.selectors import export_job_get, export_job_list, project_get
from annotator.services import export_job_create


class ExportJobOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    format = serializers.CharField()
    scope = serializers.CharField()
    document = serializers.IntegerField(source="document_id", allow_null=True)
    document_name = serializers.CharField(source="document.name", allow_null=True, default=None)
    status = serializers.CharField()
    progress = serializers.DictField()
    error = serializers.CharField()
    download_url = serializers.URLField(allow_null=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


def _payload(request: Request, job: ExportJob) -> dict[str, Any]:
    ready = job.status == ExportJob.Status.SUCCEEDED and bool(job.file.name)
    url = request.build_absolute_uri(reverse("export-download", args=[job.pk])) if ready else None
    return {**ExportJobOutput(job).data, "download_url": url} | {"project": job.project_id}


class ExportInput(serializers.Serializer):
    format = serializers.ChoiceField(choices=ExportJob.Format.choices)
    scope = serializers.ChoiceField(choices=ExportJob.Scope.choices, default=ExportJob.Scope.ALL)
    document = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, max_value=MAX_INTEGER, help_text="One document only"
    )


class ExportJobListApi(APIView):
    @extend_schema(responses={200: ExportJobOutput(many=True), 404: ERRORS[404]})
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        return Response([_payload(request, job) for job in export_job_list(project=project, user=request.user)[:50]])

    @extend_schema(
        request=ExportInput,
        responses={202: ExportJobOutput, 400: ERRORS[400], 404: ERRORS[404]},
        description="Queue an export; poll the job until `download_url` is set.",
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        data = ExportInput(data=request.data)
        data.is_valid(raise_exception=True)
        job = export_job_create(
            project=project,
            user=request.user,
            format=data.validated_data["format"],
            scope=data.validated_data["scope"],
            document_id=data.validated_data["document"],
        )
        return Response(_payload(request, job), status=status.HTTP_202_ACCEPTED)


class ExportJobDetailApi(APIView):
    @extend_schema(responses={200: ExportJobOutput, 404: ERRORS[404]})
    def get(self, request: Request, job_id: int) -> Response:
        return Response(_payload(request, export_job_get(job_id=job_id, user=request.user)))


class ExportDownloadApi(APIView):
    renderer_classes = [JSONRenderer, FileRenderer]

    @extend_schema(responses={(200, "application/zip"): OpenApiResponse(description="The export"), 404: ERRORS[404]})
    def get(self, request: Request, job_id: int) -> FileResponse:
        job = export_job_get(job_id=job_id, user=request.user)
        if job.status != ExportJob.Status.SUCCEEDED or not job.file.name:
            raise exceptions.NotFound(f"This export is {job.status}; there is nothing to download yet.")
        name = job.file.name.rsplit("/", 1)[-1]
        return FileResponse(job.file.open("rb"), as_attachment=True, filename=name, content_type="application/zip")
