"""Projects: the ones you belong to, one with its progress and model, its
settings and its retraining schedule."""

from __future__ import annotations

from typing import Any, cast

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.apis.common import ERRORS, NamedOutput
from annotator.models import Project
from annotator.permissions import export_roles
from annotator.selectors import (
    base_model_list,
    membership_role,
    project_active_model,
    project_alphabet,
    project_get,
    project_has_trained_model,
    project_keyboard,
    project_list,
    project_stats,
    project_training_latest,
    project_verified_today,
    training_schedule_get,
)
from annotator.services import EDITABLE_SETTINGS, ProjectSettings, project_settings_update, training_schedule_set
from recognition.selection import STRATEGIES


class ProjectIdentityOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    role = serializers.CharField()


class ProjectOutput(ProjectIdentityOutput):
    can_export = serializers.SerializerMethodField(help_text="Your role may export this project.")

    def get_can_export(self, project: Project) -> bool:
        return getattr(project, "role", None) in export_roles(project=project)


class ProjectStatsOutput(serializers.Serializer):
    lines = serializers.IntegerField()
    labeled = serializers.IntegerField()
    eval_lines = serializers.IntegerField()
    eval_labeled = serializers.IntegerField()


class ActiveModelOutput(serializers.Serializer):
    id = serializers.IntegerField()
    base_name = serializers.CharField(help_text="The shipped base model it is; empty for a trained model.")
    cer = serializers.FloatField(allow_null=True)
    wer = serializers.FloatField(allow_null=True)
    ser = serializers.FloatField(allow_null=True)
    train_lines = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class TrainingSummaryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    trigger = serializers.CharField()
    progress = serializers.DictField()
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class KeyboardGroupOutput(serializers.Serializer):
    name = serializers.CharField()
    characters = serializers.ListField(child=serializers.CharField())


class ProjectDetailOutput(ProjectIdentityOutput):
    description = serializers.CharField()
    lease_seconds = serializers.IntegerField()
    require_review = serializers.BooleanField()
    stats = ProjectStatsOutput()
    verified_today = serializers.IntegerField(help_text="Lines you labeled in this project since midnight.")
    active_model = ActiveModelOutput(allow_null=True)
    training = TrainingSummaryOutput(allow_null=True, help_text="The latest training run, if any.")
    alphabet = serializers.CharField(help_text="Characters of the active model and of verified texts, sorted.")
    special_characters = serializers.CharField(
        help_text="The virtual keyboard's keys in order (every group's characters), concatenated."
    )
    keyboard = KeyboardGroupOutput(
        many=True,
        help_text="The virtual keyboard: the project's alphabet groups, then the characters of verified texts "
        "a US keyboard lacks (Alt+1...9 the first nine keys, Alt+Shift+1...9 the next nine).",
    )
    keep_historical = serializers.BooleanField(help_text="false: historical characters are modernised on save.")
    can_export = serializers.BooleanField(help_text="Your role may export this project (show the export UI).")


class ScheduleOutput(serializers.Serializer):
    every_minutes = serializers.IntegerField(allow_null=True, help_text="null: no schedule")
    enabled = serializers.BooleanField()


class ScheduleInput(serializers.Serializer):
    every_minutes = serializers.IntegerField(allow_null=True, help_text="null removes the schedule")
    enabled = serializers.BooleanField(default=True)


class SettingsInput(serializers.Serializer):
    """Every field optional: send only what changes. The model's validators
    (ranges, choices) run in the service."""

    selection_strategy = serializers.ChoiceField(choices=list(STRATEGIES), required=False)
    retrain_threshold = serializers.IntegerField(
        min_value=0, required=False, help_text="0 turns automatic retraining off"
    )
    top_window = serializers.IntegerField(required=False)
    lease_seconds = serializers.IntegerField(required=False)
    require_review = serializers.BooleanField(required=False)
    review_confidence = serializers.FloatField(required=False)
    dispute_cer = serializers.FloatField(required=False)
    auto_accept = serializers.BooleanField(required=False)
    auto_accept_max_error = serializers.FloatField(
        required=False, help_text="Target line error among auto-accepted lines; used from the next trained model on."
    )
    train_on_model_accepted = serializers.BooleanField(required=False)
    model_accepted_weight = serializers.FloatField(required=False)
    base_model = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=64,
        help_text="The shipped base model the project starts from (one of base_models; empty: from scratch). "
        "Changes only until a trained model has been promoted: the new base becomes the active model.",
    )

    reviewers_can_export = serializers.BooleanField(
        required=False, help_text="Reviewers may export the project, the model included (admins always may)."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # A misspelt setting must not be dropped silently with a 200.
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: ["Not a setting that can be changed here."] for name in unknown})
        return attrs


class SettingsOutput(SettingsInput):
    strategies = NamedOutput(many=True, help_text="The selection strategies to choose from.")
    base_models = NamedOutput(many=True, help_text="The shipped base models to choose from.")
    base_model_editable = serializers.BooleanField(
        help_text="False once a trained model has been promoted: the base model is then history."
    )


def _settings_payload(project: Project) -> dict[str, Any]:
    values = {name: getattr(project, name) for name in EDITABLE_SETTINGS}
    return {
        **values,
        "strategies": [{"name": k, "description": v} for k, v in STRATEGIES.items()],
        "base_models": base_model_list(),
        "base_model_editable": not project_has_trained_model(project=project),
    }


def _detail_payload(project: Project, request: Request) -> dict[str, Any]:
    alphabet = project_alphabet(project=project)
    keyboard = project_keyboard(project=project)
    role = membership_role(project=project, user=request.user)
    return {
        "id": project.pk,
        "name": project.name,
        "role": role,
        "description": project.description,
        "lease_seconds": project.lease_seconds,
        "require_review": project.require_review,
        "stats": project_stats(project=project),
        "verified_today": project_verified_today(project=project, user=request.user),
        "active_model": project_active_model(project=project),
        "training": project_training_latest(project=project),
        "alphabet": alphabet,
        "special_characters": "".join(key for group in keyboard for key in group["characters"]),
        "keyboard": keyboard,
        "keep_historical": project.keep_historical,
        "can_export": role in export_roles(project=project),
    }


class ProjectListApi(APIView):
    @extend_schema(responses=ProjectOutput(many=True))
    def get(self, request: Request) -> Response:
        projects = project_list(user=request.user)
        return Response(ProjectOutput(projects, many=True).data)


class ProjectDetailApi(APIView):
    @extend_schema(responses={200: ProjectDetailOutput, 404: ERRORS[404]})
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        return Response(ProjectDetailOutput(_detail_payload(project, request)).data)


class ProjectSettingsApi(APIView):
    @extend_schema(responses={200: SettingsOutput, 404: ERRORS[404]}, description="Any member may read them.")
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        return Response(SettingsOutput(_settings_payload(project)).data)

    @extend_schema(
        request=SettingsInput,
        responses={200: SettingsOutput, 400: ERRORS[400], 403: ERRORS[403], 404: ERRORS[404]},
        description="Project admins: change some settings. A new selection strategy (or auto-accept "
        "switch) re-scores the unverified lines under the active model, so the queue follows it. A new "
        "base model (only until a trained model has been promoted) becomes the active model and re-scores.",
    )
    def patch(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        data = SettingsInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        changes = cast(ProjectSettings, data.validated_data)
        project = project_settings_update(project=project, user=request.user, changes=changes)
        return Response(SettingsOutput(_settings_payload(project)).data)


class ProjectScheduleApi(APIView):
    @extend_schema(
        responses={200: ScheduleOutput, 404: ERRORS[404]},
        description="The project's retraining schedule (any member may read it).",
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        return Response(ScheduleOutput(training_schedule_get(project=project)).data)

    @extend_schema(
        request=ScheduleInput,
        responses={200: ScheduleOutput, 400: ERRORS[400], 403: ERRORS[403], 404: ERRORS[404]},
        description="Project admins: retrain every N minutes (when lines were verified since the last model), "
        "pause it (enabled false) or remove it (every_minutes null).",
    )
    def put(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        data = ScheduleInput(data=request.data)
        data.is_valid(raise_exception=True)
        schedule = training_schedule_set(project=project, user=request.user, **data.validated_data)
        return Response(ScheduleOutput(schedule).data)
