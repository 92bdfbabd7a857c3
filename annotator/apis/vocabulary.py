"""The names the UI shows and sends, defined once on the server: roles and what
each may do, import kinds, review lists, flag kinds, export formats and scopes, scripts, the kinds
of training run and the shipped base models."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.apis.common import NamedOutput
from annotator.formats import IMPORT_KINDS
from annotator.models import ExportJob, LineFlag, Membership, Project, TrainingRun
from annotator.permissions import ADMIN_ROLES, REVIEW_ROLES
from annotator.selectors import REVIEW_KINDS, base_model_list


class RoleOutput(serializers.Serializer):
    name = serializers.CharField()
    can_review = serializers.BooleanField()
    can_admin = serializers.BooleanField()


class VocabularyOutput(serializers.Serializer):
    roles = RoleOutput(many=True)
    import_kinds = NamedOutput(many=True)
    review_kinds = NamedOutput(many=True)
    flag_kinds = NamedOutput(many=True)
    export_formats = NamedOutput(many=True)
    export_scopes = NamedOutput(many=True)
    scripts = NamedOutput(many=True, help_text="The scripts a project's material can be in.")
    training_run_kinds = NamedOutput(many=True, help_text="What a training run trains (a run's kind).")
    base_models = NamedOutput(many=True, help_text="The shipped base models a new project can start from.")
    default_base_model = serializers.CharField(help_text="The base a new project starts from unless told otherwise.")


class VocabularyApi(APIView):
    @extend_schema(responses={200: VocabularyOutput})
    def get(self, request: Request) -> Response:
        roles = [
            {"name": role.value, "can_review": role in REVIEW_ROLES, "can_admin": role in ADMIN_ROLES}
            for role in Membership.Role
        ]
        return Response(
            VocabularyOutput(
                {
                    "roles": roles,
                    "import_kinds": [{"name": k, "description": d} for k, d in IMPORT_KINDS.items()],
                    "review_kinds": [{"name": k, "description": d} for k, d in REVIEW_KINDS.items()],
                    "flag_kinds": [{"name": k.value, "description": k.label} for k in LineFlag.Kind],
                    "export_formats": [{"name": k, "description": d} for k, d in ExportJob.Format.choices],
                    "export_scopes": [{"name": k, "description": d} for k, d in ExportJob.Scope.choices],
                    "scripts": [{"name": k, "description": str(d)} for k, d in Project.Script.choices],
                    "training_run_kinds": [{"name": k, "description": str(d)} for k, d in TrainingRun.Kind.choices],
                    "base_models": base_model_list(),
                    "default_base_model": settings.LINEPROOF_BASE_MODEL,
                }
            ).data
        )
