"""The names the UI shows and sends, defined once on the server: roles and what
each may do, import kinds, review lists, flag kinds, export formats and scopes."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.apis.common import NamedOutput
from annotator.formats import IMPORT_KINDS
from annotator.models import ExportJob, LineFlag, Membership
from annotator.permissions import ADMIN_ROLES, REVIEW_ROLES
from annotator.selectors import REVIEW_KINDS


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
                }
            ).data
        )
