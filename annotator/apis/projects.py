"""Projects: the ones you belong to, and one with its progress."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.apis.common import ERRORS
from annotator.selectors import membership_role, project_get, project_list, project_stats


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
