"""Training runs and model versions."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.apis.common import ERRORS
from annotator.models import TrainingRun
from annotator.selectors import model_version_list, project_get, training_run_get, training_run_list
from annotator.services import training_run_cancel, training_run_request


class TrainingRunOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    trigger = serializers.CharField()
    kind = serializers.CharField(
        help_text="full (every verified line) or incremental (the new lines and a replay sample); "
        "see training_run_kinds in /api/vocabulary"
    )
    status = serializers.CharField()
    attempt = serializers.IntegerField()
    progress = serializers.DictField(help_text="phase, step, loss, val_cer, eta_seconds... as training goes")
    log = serializers.CharField()
    error = serializers.CharField()
    model_version = serializers.IntegerField(source="model_version_id", allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    heartbeat_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class ModelVersionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    parent_id = serializers.IntegerField(allow_null=True, help_text="The model it was fine-tuned from.")
    base_name = serializers.CharField(
        help_text="The shipped base model this version is (no training run: the project started from it); "
        "empty for a trained version."
    )
    status = serializers.CharField()
    cer = serializers.FloatField(allow_null=True)
    wer = serializers.FloatField(allow_null=True)
    ser = serializers.FloatField(allow_null=True)
    train_lines = serializers.IntegerField()
    alphabet = serializers.CharField()
    calibration = serializers.DictField(
        help_text="method, ece_before, ece_after, fitted_lines, fitted_accuracy (on the eval lines); {} if none"
    )
    accept_threshold = serializers.FloatField(
        allow_null=True, help_text="Calibrated confidence from which lines may be auto-accepted; null: none"
    )
    accept_coverage = serializers.FloatField(
        allow_null=True, help_text="Share of the eval lines that threshold accepts (an optimistic estimate)"
    )
    accept_max_error = serializers.FloatField(
        source="project.auto_accept_max_error", help_text="The project's target line error among accepted lines"
    )
    created_at = serializers.DateTimeField()
    promoted_at = serializers.DateTimeField(allow_null=True, help_text="When it became the active model.")
    queue_reranked_at = serializers.DateTimeField(
        allow_null=True, help_text="When the top of the queue was first ranked by it (its first re-scoring batch)."
    )


class TrainingRunInput(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=TrainingRun.Kind.values, required=False, help_text="Default: a full run, as on a schedule."
    )


class TrainingRunListApi(APIView):
    @extend_schema(responses={200: TrainingRunOutput(many=True), 404: ERRORS[404]})
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        return Response(TrainingRunOutput(training_run_list(project=project)[:50], many=True).data)

    @extend_schema(
        request=TrainingRunInput,
        responses={202: TrainingRunOutput, 400: ERRORS[400], 403: ERRORS[403], 404: ERRORS[404]},
        description="Start retraining by hand (project admins), a full run unless the body asks for "
        '{"kind": "incremental"}. If a run is already queued or running, that run is returned instead of a new one.',
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        body = TrainingRunInput(data=request.data)
        body.is_valid(raise_exception=True)
        run = training_run_request(
            project=project,
            trigger=TrainingRun.Trigger.MANUAL,
            user=request.user,
            kind=body.validated_data.get("kind", TrainingRun.Kind.FULL),
        )
        return Response(TrainingRunOutput(run).data, status=status.HTTP_202_ACCEPTED)


class TrainingRunDetailApi(APIView):
    @extend_schema(responses={200: TrainingRunOutput, 404: ERRORS[404]})
    def get(self, request: Request, run_id: int) -> Response:
        run = training_run_get(run_id=run_id, user=request.user)
        return Response(TrainingRunOutput(run).data)


class TrainingRunCancelApi(APIView):
    @extend_schema(
        request=None,
        responses={200: TrainingRunOutput, 403: ERRORS[403], 404: ERRORS[404]},
        description="Stop a queued or running run (project admins); training stops within seconds, "
        "the active model stays. A finished run is returned unchanged.",
    )
    def post(self, request: Request, run_id: int) -> Response:
        run = training_run_get(run_id=run_id, user=request.user)
        return Response(TrainingRunOutput(training_run_cancel(run=run, user=request.user)).data)


class ModelVersionListApi(APIView):
    @extend_schema(responses={200: ModelVersionOutput(many=True), 404: ERRORS[404]})
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        return Response(ModelVersionOutput(model_version_list(project=project), many=True).data)
