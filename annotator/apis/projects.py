"""Projects: the ones you belong to (or have archived), creating one, one with
its progress and model, what it is (name, languages, guidelines...), archiving
and deleting it, its settings and its retraining schedule."""

from __future__ import annotations

from typing import Any, cast

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.apis.common import ERRORS, NamedOutput, SegmentationMethodOutput
from annotator.models import Project
from annotator.permissions import ADMIN_ROLES, export_roles, membership_require
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
from annotator.services import (
    EDITABLE_SETTINGS,
    ProjectAbout,
    ProjectSettings,
    project_about_update,
    project_archive_set,
    project_create,
    project_delete,
    project_settings_update,
    training_schedule_set,
)
from annotator.services.projects import MAX_LANGUAGE_LENGTH, MAX_LANGUAGES
from annotator.services.segmentation import segmentation_methods
from recognition.pages import SEGMENT_METHODS
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
    languages = serializers.ListField(child=serializers.CharField())
    script = serializers.CharField()
    guidelines = serializers.CharField(help_text="Transcription guidelines, Markdown.")
    archived = serializers.BooleanField()
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
    full_retrain_every = serializers.IntegerField(
        min_value=0,
        required=False,
        help_text="Threshold runs are incremental; after this many a full one (1: always full; 0: full only on "
        "the schedule or by hand)",
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
    segmentation_method = serializers.ChoiceField(
        choices=list(SEGMENT_METHODS),
        required=False,
        help_text="How page scans are cut into lines (one of segmentation_methods); kraken only where it is "
        "installed on the server (else 400).",
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
    segmentation_methods = SegmentationMethodOutput(
        many=True, help_text="The segmentation methods, and whether each can run on this server."
    )
    base_model_editable = serializers.BooleanField(
        help_text="False once a trained model has been promoted: the base model is then history."
    )


def _settings_payload(project: Project) -> dict[str, Any]:
    values = {name: getattr(project, name) for name in EDITABLE_SETTINGS}
    return {
        **values,
        "strategies": [{"name": k, "description": v} for k, v in STRATEGIES.items()],
        "base_models": base_model_list(),
        "segmentation_methods": segmentation_methods(),
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
        "languages": project.languages,
        "script": project.script,
        "guidelines": project.guidelines,
        "archived": project.archived_at is not None,
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


class AboutInput(serializers.Serializer):
    """What a project is; the model's validators (name unique, script a known one) run in the service."""

    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    languages = serializers.ListField(
        child=serializers.CharField(max_length=MAX_LANGUAGE_LENGTH, allow_blank=True),
        required=False,
        max_length=MAX_LANGUAGES,
        help_text='The languages of the material, e.g. ["French", "Latin"].',
    )
    script = serializers.ChoiceField(choices=Project.Script.choices, required=False)
    guidelines = serializers.CharField(
        required=False, allow_blank=True, max_length=100_000, help_text="Transcription guidelines, Markdown."
    )


class ProjectCreateInput(AboutInput):
    base_model = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=64,
        help_text="The shipped base model to start from (vocabulary base_models; default the site's, empty: "
        "from scratch). The machine-learning settings start at their defaults: change them on the models page.",
    )


class ProjectChangeInput(AboutInput):
    name = serializers.CharField(max_length=200, required=False)
    archived = serializers.BooleanField(required=False, help_text="Archived projects leave every project list.")


class ProjectDeleteInput(serializers.Serializer):
    confirm = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default="", help_text="The project's name, typed again."
    )


class ProjectListInput(serializers.Serializer):
    archived = serializers.BooleanField(required=False, default=False, help_text="List your archived projects.")


class ProjectListApi(APIView):
    @extend_schema(parameters=[ProjectListInput], responses=ProjectOutput(many=True))
    def get(self, request: Request) -> Response:
        query = ProjectListInput(data=request.query_params)
        query.is_valid(raise_exception=True)
        projects = project_list(user=request.user, archived=query.validated_data["archived"])
        return Response(ProjectOutput(projects, many=True).data)

    @extend_schema(
        request=ProjectCreateInput,
        responses={201: ProjectDetailOutput, 400: ERRORS[400], 403: ERRORS[403]},
        description="Create a project (every user, or staff only: the site's LINEPROOF_PROJECT_CREATORS); "
        "you become its admin. It starts from the base model as version 1.",
    )
    def post(self, request: Request) -> Response:
        data = ProjectCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        project = project_create(creator=request.user, **data.validated_data)
        project = project_get(project_id=project.pk, user=request.user)
        return Response(ProjectDetailOutput(_detail_payload(project, request)).data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(APIView):
    @extend_schema(responses={200: ProjectDetailOutput, 404: ERRORS[404]})
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        return Response(ProjectDetailOutput(_detail_payload(project, request)).data)

    @extend_schema(
        request=ProjectChangeInput,
        responses={200: ProjectDetailOutput, 400: ERRORS[400], 403: ERRORS[403], 404: ERRORS[404]},
        description="Project admins: change what the project is (send only what changes), or archive it.",
    )
    def patch(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        membership_require(project=project, user=request.user, roles=ADMIN_ROLES)
        data = ProjectChangeInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        archived = changes.pop("archived", None)
        project_about_update(project=project, user=request.user, changes=cast(ProjectAbout, changes))
        if archived is not None:
            project_archive_set(project=project, user=request.user, archived=archived)
        project = project_get(project_id=project_id, user=request.user)
        return Response(ProjectDetailOutput(_detail_payload(project, request)).data)

    @extend_schema(
        request=ProjectDeleteInput,
        responses={204: None, 400: ERRORS[400], 403: ERRORS[403], 404: ERRORS[404]},
        description="Project admins: delete the project with everything in it, its files included. "
        "`confirm` repeats the project's name.",
    )
    def delete(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        data = ProjectDeleteInput(data=request.data)
        data.is_valid(raise_exception=True)
        project_delete(project=project, user=request.user, confirm=data.validated_data["confirm"])
        return Response(status=status.HTTP_204_NO_CONTENT)


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
