"""Imports: upload pages, PAGE/ALTO zips or line folders; follow the job."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.apis.common import ERRORS
from annotator.formats import IMPORT_KINDS
from annotator.models import ImportJob
from annotator.selectors import import_job_get, import_job_list, project_get
from annotator.services import import_job_create


class ImportJobOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    kind = serializers.CharField()
    status = serializers.CharField()
    waiting_for_worker = serializers.SerializerMethodField(
        help_text="queued and not yet sent to the workers (the task queue was unreachable); the files are kept and "
        "the job is sent again when the queue is back"
    )
    new_versions = serializers.BooleanField(
        help_text="content whose name another import used is imported as a new document"
    )
    progress = serializers.DictField(help_text="{done, total}: units (pages, line pairs) imported so far")
    report = serializers.DictField(
        help_text="units [{name, status: imported|skipped|failed, reason, document}], pages_created, lines_created, "
        "lines_with_text, imported, skipped_existing, skipped [{name, reason}], rejected [{name, reason}] (failed), "
        "new_version_offered (a skip that importing as a new version would add), warnings"
    )
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_waiting_for_worker(self, job: ImportJob) -> bool:
        return job.status == ImportJob.Status.QUEUED and job.unsent_since is not None


class ImportInput(serializers.Serializer):
    file = serializers.ListField(child=serializers.FileField(allow_empty_file=True), allow_empty=False)
    kind = serializers.ChoiceField(choices=list(IMPORT_KINDS.items()), default="auto")
    new_versions = serializers.BooleanField(default=False)


class ImportJobListApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses={200: ImportJobOutput(many=True), 404: ERRORS[404]})
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        return Response(ImportJobOutput(import_job_list(project=project)[:50], many=True).data)

    @extend_schema(
        request={
            "multipart/form-data": inline_serializer(
                "ImportUpload",
                {
                    "file": serializers.ListField(child=serializers.FileField()),
                    "kind": serializers.ChoiceField(choices=list(IMPORT_KINDS.items())),
                    "new_versions": serializers.BooleanField(),
                },
            )
        },
        responses={202: ImportJobOutput, 400: ERRORS[400], 403: ERRORS[403], 404: ERRORS[404]},
        description="Project admins: one or more `file` fields, each a zip (PAGE or ALTO XML with their images, "
        "`<id>.png` + `<id>.gt.txt` line pairs, or page images) or a page image (PNG, JPEG, TIFF), which is cut "
        "into lines. A file that is corrupt, too large (bytes, or pixels read from its header) or an unsafe zip is "
        "refused here, and nothing is saved. Content imported before is skipped; with `new_versions`, content "
        "whose name another import used is imported as a new document (`page (2).png`).",
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        fields = {"kind": request.POST.get("kind", "auto"), "new_versions": request.POST.get("new_versions", "false")}
        data = ImportInput(data={"file": request.FILES.getlist("file"), **fields})
        data.is_valid(raise_exception=True)
        job = import_job_create(
            project=project,
            user=request.user,
            files=data.validated_data["file"],
            kind=data.validated_data["kind"],
            new_versions=data.validated_data["new_versions"],
        )
        return Response(ImportJobOutput(job).data, status=status.HTTP_202_ACCEPTED)


class ImportJobDetailApi(APIView):
    @extend_schema(responses={200: ImportJobOutput, 404: ERRORS[404]})
    def get(self, request: Request, job_id: int) -> Response:
        return Response(ImportJobOutput(import_job_get(job_id=job_id, user=request.user)).data)
