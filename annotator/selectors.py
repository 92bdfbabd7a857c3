"""Reads. Every selector that takes a user scopes by membership, so an API view
cannot forget to."""

from __future__ import annotations

from typing import TypedDict

from django.db.models import Count, F, Q, QuerySet

from annotator.errors import NotFoundError
from annotator.models import Line, Membership, ModelVersion, Prediction, Project, TrainingRun, Transcription
from annotator.permissions import AnyUser, user_pk


def project_list(*, user: AnyUser) -> QuerySet[Project]:
    """The user's projects, each annotated with ``role``, their role in it."""
    # The annotation reuses the filter's join, so ``role`` is this user's.
    return (
        Project.objects.filter(memberships__user_id=user_pk(user))
        .annotate(role=F("memberships__role"))
        .order_by("name")
    )


def project_get(*, project_id: int, user: AnyUser) -> Project:
    project = project_list(user=user).filter(pk=project_id).first()
    if project is None:
        raise NotFoundError("No such project.")
    return project


def line_get(*, line_id: int, user: AnyUser) -> Line:
    line = (
        Line.objects.filter(pk=line_id, project__memberships__user_id=user_pk(user))
        .select_related("project", "current_transcription")
        .first()
    )
    if line is None:
        raise NotFoundError("No such line.")
    return line


class ProjectStats(TypedDict):
    lines: int
    labeled: int
    eval_lines: int
    eval_labeled: int


def project_stats(*, project: Project) -> ProjectStats:
    labeled = Q(queue_state=Line.QueueState.LABELED)
    is_eval = Q(split=Line.Split.EVAL)
    counts = Line.objects.filter(project=project).aggregate(
        lines=Count("id"),
        labeled=Count("id", filter=labeled),
        eval_lines=Count("id", filter=is_eval),
        eval_labeled=Count("id", filter=labeled & is_eval),
    )
    return ProjectStats(
        lines=counts["lines"],
        labeled=counts["labeled"],
        eval_lines=counts["eval_lines"],
        eval_labeled=counts["eval_labeled"],
    )


def membership_role(*, project: Project, user: AnyUser) -> str | None:
    return Membership.objects.filter(project=project, user_id=user_pk(user)).values_list("role", flat=True).first()


def project_active_model(*, project: Project) -> ModelVersion | None:
    return ModelVersion.objects.filter(project=project, status=ModelVersion.Status.ACTIVE).first()


def line_prediction(*, line: Line) -> Prediction | None:
    """The active model's reading of ``line``, the text a labeler starts from."""
    return (
        Prediction.objects.filter(line=line, model_version__status=ModelVersion.Status.ACTIVE)
        .select_related("model_version")
        .first()
    )


def line_draft(*, line: Line, user: AnyUser) -> Transcription | None:
    return Transcription.objects.filter(line=line, author_id=user.pk, status=Transcription.Status.DRAFT).first()


def line_previous(*, project: Project, user: AnyUser) -> Line | None:
    """The line this user submitted most recently ("go back"); resubmitting it amends."""
    latest = (
        Transcription.objects.filter(line__project=project, author_id=user.pk)
        .exclude(status=Transcription.Status.DRAFT)
        .order_by("-created_at", "-id")
        .values_list("line_id", flat=True)
        .first()
    )
    if latest is None:
        return None
    return Line.objects.select_related("project", "current_transcription").get(pk=latest)


def eval_lines_labeled(*, project: Project, at_most: int) -> int:
    """Labeled eval lines, counted only up to ``at_most`` so the claim stays cheap."""
    labeled = Line.objects.filter(project=project, split=Line.Split.EVAL, queue_state=Line.QueueState.LABELED)
    return labeled[:at_most].count()


def verified_lines_since_last_model(*, project: Project, at_most: int | None = None) -> int:
    """Training lines verified since the latest model was started: the retraining
    trigger compares this with ``project.retrain_threshold`` (counting stops at
    ``at_most``, so the check after every submit stays cheap)."""
    since = (
        ModelVersion.objects.filter(project=project)
        .exclude(status=ModelVersion.Status.FAILED)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    lines = Line.objects.filter(
        project=project, split=Line.Split.TRAIN, current_transcription__status=Transcription.Status.VERIFIED
    )
    if since is not None:
        lines = lines.filter(current_transcription__created_at__gt=since)
    if at_most is not None:
        return lines[:at_most].count()
    return lines.count()


def training_run_list(*, project: Project) -> QuerySet[TrainingRun]:
    return TrainingRun.objects.filter(project=project).order_by("-created_at", "-id")


def training_run_get(*, run_id: int, user: AnyUser) -> TrainingRun:
    run = (
        TrainingRun.objects.filter(pk=run_id, project__memberships__user_id=user_pk(user))
        .select_related("project")
        .first()
    )
    if run is None:
        raise NotFoundError("No such training run.")
    return run


def model_version_list(*, project: Project) -> QuerySet[ModelVersion]:
    return ModelVersion.objects.filter(project=project).order_by("-created_at", "-id")
