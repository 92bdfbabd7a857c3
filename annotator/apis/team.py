"""Team statistics: per labeler and day, what they did and how much it was changed."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.apis.common import ERRORS
from annotator.permissions import REVIEW_ROLES, membership_require
from annotator.selectors import project_get, project_members, team_stats


class TeamStatsInput(serializers.Serializer):
    date_from = serializers.DateField(required=False, default=None, help_text="First day (default: 13 days ago)")
    date_to = serializers.DateField(required=False, default=None, help_text="Last day, inclusive (default: today)")


class LabelerDayOutput(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    day = serializers.DateField()
    lines = serializers.IntegerField()
    characters = serializers.IntegerField()
    median_seconds = serializers.FloatField(allow_null=True, help_text="Claim to submit; null when not measured.")
    edit_distance = serializers.IntegerField(help_text="Characters changed from the model's reading, in all.")
    edit_distance_per_line = serializers.FloatField(allow_null=True)
    changed_in_review = serializers.IntegerField()
    changed_in_review_share = serializers.FloatField(help_text="Share of the lines a reviewer corrected or rejected.")


class TeamMemberOutput(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    role = serializers.CharField()


class TeamStatsOutput(serializers.Serializer):
    rows = LabelerDayOutput(many=True)
    members = TeamMemberOutput(many=True, help_text="Everyone in the project (the review lists filter by labeler).")


class TeamStatsApi(APIView):
    @extend_schema(
        parameters=[TeamStatsInput],
        responses={200: TeamStatsOutput, 400: ERRORS[400], 403: ERRORS[403], 404: ERRORS[404]},
        description="Reviewers and admins: per labeler and day, lines, characters, median seconds per line, the "
        "edit distance from the model's reading and the share changed in review.",
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        membership_require(project=project, user=request.user, roles=REVIEW_ROLES)
        params = TeamStatsInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        rows = team_stats(project=project, **params.validated_data)
        members = project_members(project=project)
        return Response(TeamStatsOutput({"rows": rows, "members": members}).data)
