"""A project's alphabet: the groups of special characters its virtual keyboard
offers, and its normalisation rules."""

from __future__ import annotations

from typing import Any, cast

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.apis.common import ERRORS
from annotator.models import Project
from annotator.selectors import project_get
from annotator.services import AlphabetGroup, project_alphabet_update
from annotator.services.alphabet import HISTORICAL_FORMS, MAX_GROUP_CHARACTERS, MAX_GROUPS


class AlphabetGroupInput(serializers.Serializer):
    name = serializers.CharField(max_length=200, trim_whitespace=False)
    characters = serializers.ListField(
        child=serializers.CharField(max_length=40, trim_whitespace=False),
        max_length=MAX_GROUP_CHARACTERS * 4,
        help_text="One key each: a character, with its combining marks, or a lone combining mark.",
    )


class AlphabetInput(serializers.Serializer):
    groups = serializers.ListField(child=AlphabetGroupInput(), max_length=MAX_GROUPS * 4)
    keep_historical = serializers.BooleanField(
        help_text="false: historical characters (long s, ligatures...) are replaced by their modern form on save."
    )


class HistoricalFormOutput(serializers.Serializer):
    character = serializers.CharField()
    modern = serializers.CharField()


class AlphabetOutput(AlphabetInput):
    normalization = serializers.CharField(help_text="Every text is stored in this Unicode form.")
    historical_forms = HistoricalFormOutput(
        many=True, help_text="What replaces each historical character when they are not kept."
    )


def _payload(project: Project) -> dict[str, Any]:
    return {
        "groups": project.alphabet_groups,
        "keep_historical": project.keep_historical,
        "normalization": "NFC",
        "historical_forms": [{"character": c, "modern": m} for c, m in HISTORICAL_FORMS.items()],
    }


class ProjectAlphabetApi(APIView):
    @extend_schema(responses={200: AlphabetOutput, 404: ERRORS[404]}, description="Any member may read it.")
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        return Response(AlphabetOutput(_payload(project)).data)

    @extend_schema(
        request=AlphabetInput,
        responses={200: AlphabetOutput, 400: ERRORS[400], 403: ERRORS[403], 404: ERRORS[404]},
        description="Project admins: the groups of special characters (in keyboard order: Alt+1...9 type the "
        "first nine, Alt+Shift+1...9 the next nine) and whether historical characters are kept.",
    )
    def put(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        data = AlphabetInput(data=request.data)
        data.is_valid(raise_exception=True)
        project = project_alphabet_update(
            project=project,
            user=request.user,
            groups=cast(list[AlphabetGroup], data.validated_data["groups"]),
            keep_historical=data.validated_data["keep_historical"],
        )
        return Response(AlphabetOutput(_payload(project)).data)
