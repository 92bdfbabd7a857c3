"""Reads. Every selector that takes a user scopes by membership, so an API view
cannot forget to."""

from __future__ import annotations

from typing import TypedDict

from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import Coalesce

from annotator.errors import InvalidInputError, NotFoundError
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


# --- review ------------------------------------------------------------------

REVIEW_KINDS = ("low_confidence", "disputed", "pending", "model_accepted")


class ReviewItem(TypedDict):
    line: Line
    reason: str
    prediction: Prediction | None
    transcription: Transcription | None
    disagreement: float | None


def review_list(*, project: Project, kind: str, limit: int = 50, offset: int = 0) -> tuple[int, list[ReviewItem]]:
    """What a reviewer should look at, worst first, and how many there are in all.

    - low_confidence: machine output nobody verified (unlabeled lines and
      model-accepted ones) whose confidence is below ``project.review_confidence``;
      the calibrated confidence when the model has a calibration;
    - disputed: human texts the active model reads at least ``project.dispute_cer`` apart;
    - pending: submissions waiting for a reviewer (projects that require review);
    - model_accepted: lines the model accepted on its own, least sure first.
    """
    lines = Line.objects.filter(project=project).select_related("current_transcription")
    active = project_active_model(project=project)
    confidence = Coalesce("calibrated_confidence", "confidence")
    if kind == "low_confidence":
        if active is None:
            return 0, []
        machine_only = Q(queue_state=Line.QueueState.UNLABELED) | Q(
            current_transcription__source=Transcription.Source.MODEL_ACCEPTED
        )
        readings = (
            Prediction.objects.filter(model_version=active, line__in=lines.filter(machine_only))
            .annotate(sure=confidence)
            .filter(sure__lt=project.review_confidence)
        )
        total = readings.count()
        page = list(readings.order_by("sure", "line_id").select_related("line__current_transcription")[offset:][:limit])
        return total, [_review_item(p.line, "low_confidence", p) for p in page]
    if kind == "disputed":
        chosen = lines.filter(
            disagreement__gte=project.dispute_cer,
            current_transcription__source__in=[Transcription.Source.HUMAN, Transcription.Source.IMPORT],
        ).order_by(F("disagreement").desc(), "id")
    elif kind == "pending":
        chosen = lines.filter(current_transcription__status=Transcription.Status.SUBMITTED).order_by(
            "current_transcription__created_at", "id"
        )
    elif kind == "model_accepted":
        chosen = lines.filter(current_transcription__source=Transcription.Source.MODEL_ACCEPTED).order_by(
            "current_transcription__created_at", "id"
        )
    else:
        message = f"Unknown review list {kind!r}; use one of {', '.join(REVIEW_KINDS)}."
        raise InvalidInputError(message, fields={"kind": [message]})
    total = chosen.count()
    page_lines = list(chosen[offset:][:limit])
    readings_by_line = {}
    if active is not None:
        readings_by_line = {
            p.line_id: p for p in Prediction.objects.filter(model_version=active, line__in=[x.pk for x in page_lines])
        }
    return total, [_review_item(line, kind, readings_by_line.get(line.pk)) for line in page_lines]


def _review_item(line: Line, reason: str, prediction: Prediction | None) -> ReviewItem:
    return ReviewItem(
        line=line,
        reason=reason,
        prediction=prediction,
        transcription=line.current_transcription,
        disagreement=line.disagreement,
    )
