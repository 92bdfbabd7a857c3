"""Reads. Every selector that takes a user scopes by membership, so an API view
cannot forget to. Documents and search (``selectors.documents``) and the team
statistics (``selectors.team``), the review lists (``selectors.review``) and the active
model (``selectors.versions``) live in modules of their own, read through here."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any, TypedDict

from django.conf import settings
from django.db.models import Count, F, Max, Q, QuerySet
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from annotator.errors import InvalidInputError, NotFoundError
from annotator.models import (
    ExportJob,
    ImportJob,
    Invitation,
    Line,
    Membership,
    ModelVersion,
    Prediction,
    Project,
    TrainingRun,
    Transcription,
)
from annotator.permissions import ADMIN_ROLES, AnyUser, export_require, membership_require, user_pk
from annotator.selectors.documents import (
    DOCUMENTS_PAGE_MAX,
    SEARCH_QUERY_MAX,
    SEARCH_RESULTS_MAX,
    DocumentProgress,
    PageProgress,
    SearchHit,
    document_list,
    line_search,
)
from annotator.selectors.pages import (
    LINE_STATES,
    PageLineView,
    document_get,
    page_get,
    page_lines,
    resegment_job_get,
)
from annotator.selectors.review import REVIEW_KINDS, ReviewItem, review_list
from annotator.selectors.team import LabelerDay, Member, project_members, team_stats
from annotator.selectors.versions import project_active_model
from recognition.base import base_names, base_path

__all__ = [  # the split-out reads, beside everything defined below
    "DOCUMENTS_PAGE_MAX",
    "LINE_STATES",
    "REVIEW_KINDS",
    "SEARCH_QUERY_MAX",
    "SEARCH_RESULTS_MAX",
    "DocumentProgress",
    "LabelerDay",
    "Member",
    "PageLineView",
    "PageProgress",
    "ReviewItem",
    "SearchHit",
    "document_get",
    "document_list",
    "line_search",
    "page_get",
    "page_lines",
    "project_active_model",
    "project_members",
    "resegment_job_get",
    "review_list",
    "team_stats",
]


def _projects_of(*, user: AnyUser) -> QuerySet[Project]:
    # The annotation reuses the filter's join, so ``role`` is this user's.
    return Project.objects.filter(memberships__user_id=user_pk(user)).annotate(role=F("memberships__role"))


def project_list(*, user: AnyUser, archived: bool = False) -> QuerySet[Project]:
    """The user's projects (the archived ones instead, with ``archived``), each
    annotated with ``role``, their role in it."""
    return _projects_of(user=user).filter(archived_at__isnull=not archived).order_by("name")


def project_get(*, project_id: int, user: AnyUser) -> Project:
    """One of the user's projects, archived or not."""
    project = _projects_of(user=user).filter(pk=project_id).first()
    if project is None:
        raise NotFoundError("No such project.")
    return project


def membership_list(*, project: Project, user: AnyUser) -> QuerySet[Membership]:
    """Project admins: the members, with their accounts, admins first."""
    membership_require(project=project, user=user, roles=ADMIN_ROLES)
    return Membership.objects.filter(project=project).select_related("user").order_by("role", "user__username")


def invitation_token_hash(token: str) -> str:
    """What is stored of an invitation's token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def invitation_list(*, project: Project, user: AnyUser) -> QuerySet[Invitation]:
    """Project admins: the invitations not yet accepted (expired ones included), newest first."""
    membership_require(project=project, user=user, roles=ADMIN_ROLES)
    return Invitation.objects.filter(project=project, accepted_at__isnull=True).order_by("-created_at")


def invitation_by_token(*, token: str) -> Invitation:
    """The invitation a link's token names (whether used or expired: the caller says which)."""
    invitation = (
        Invitation.objects.select_related("project", "created_by")
        .filter(token_hash=invitation_token_hash(token))
        .first()
    )
    if invitation is None:
        raise NotFoundError("This invitation link is not valid.")
    return invitation


def line_get(*, line_id: int, user: AnyUser) -> Line:
    line = (
        Line.objects.filter(pk=line_id, project__memberships__user_id=user_pk(user))
        .select_related("project", "current_transcription", "document", "page")
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


def base_model_card(*, name: str) -> dict[str, Any]:
    """A shipped base model's card (``<name>.json`` beside its checkpoint:
    alphabet, validation CER, sources...), read without loading the
    checkpoint; {} when it has none."""
    card = base_path(name).with_suffix(".json")
    if not card.is_file():
        return {}
    data = json.loads(card.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def base_model_list() -> list[dict[str, str]]:
    """The shipped base models a project may start from, with a line on each."""
    bases = []
    for name in base_names():
        cer = base_model_card(name=name).get("validation_cer")
        about = f"validation CER {100 * cer:.1f} %" if isinstance(cer, int | float) else "no model card"
        bases.append({"name": name, "description": f"shipped base model ({about})"})
    return bases


def project_has_trained_model(*, project: Project) -> bool:
    """Whether a trained model (not a shipped base) was ever promoted in ``project``."""
    promoted = (ModelVersion.Status.ACTIVE, ModelVersion.Status.RETIRED)
    return ModelVersion.objects.filter(project=project, base_name="", status__in=promoted).exists()


def line_prediction(*, line: Line) -> Prediction | None:
    """The active model's reading of ``line``, the text a labeler starts from."""
    return (
        Prediction.objects.filter(line=line, model_version__status=ModelVersion.Status.ACTIVE)
        .select_related("model_version")
        .first()
    )


def line_draft(*, line: Line, user: AnyUser) -> Transcription | None:
    return Transcription.objects.filter(line=line, author_id=user.pk, status=Transcription.Status.DRAFT).first()


# How far back a labeler's history reaches (Alt+B, the recent lines list).
RECENT_LINES_MAX = 50


def lines_recent(*, project: Project, user: AnyUser, limit: int, offset: int = 0) -> list[Line]:
    """The lines this user submitted most recently, newest first, each once
    (by its latest submit), skipping the newest ``offset``; resubmitting one amends it."""
    if limit < 1 or offset < 0 or offset + limit > RECENT_LINES_MAX:
        message = f"The history reaches your last {RECENT_LINES_MAX} lines."
        raise InvalidInputError(message, fields={"back": [message]})
    latest = (
        Transcription.objects.filter(line__project=project, author_id=user.pk)
        .exclude(status=Transcription.Status.DRAFT)
        .values("line_id")
        .annotate(last_at=Max("created_at"), last_id=Max("id"))
        .order_by("-last_at", "-last_id")
        .values_list("line_id", flat=True)[offset : offset + limit]
    )
    ids = list(latest)
    lines = Line.objects.select_related("project", "current_transcription").in_bulk(ids)
    return [lines[pk] for pk in ids]


def line_previous(*, project: Project, user: AnyUser, back: int = 0) -> Line | None:
    """The line this user submitted ``back`` lines before their latest ("go
    back", 0: the latest); resubmitting it amends."""
    found = lines_recent(project=project, user=user, limit=1, offset=back)
    return found[0] if found else None


def eval_lines_labeled(*, project: Project, at_most: int) -> int:
    """Labeled eval lines, counted only up to ``at_most`` so the claim stays cheap."""
    labeled = Line.objects.filter(project=project, split=Line.Split.EVAL, queue_state=Line.QueueState.LABELED)
    # A flagged line is labeled but no evaluation text.
    return labeled.filter(flag__isnull=True)[:at_most].count()


def lines_verified(*, project: Project, split: str) -> QuerySet[Line]:
    """Lines of ``split`` whose current text is verified (by a person, an import
    or, when accepted, the model)."""
    # queue_state=labeled is implied by a verified text; saying it lets the
    # query walk line_queue_idx's labeled part instead of the whole project,
    # which matters for the retraining check after every submit
    # (benchmarks/QUEUE.md).
    # A flagged line is never training or evaluation text, whatever text it has.
    return Line.objects.filter(
        project=project,
        split=split,
        queue_state=Line.QueueState.LABELED,
        current_transcription__status=Transcription.Status.VERIFIED,
        flag__isnull=True,
    )


def verified_lines_since_last_model(*, project: Project, at_most: int | None = None) -> int:
    """Training lines verified since the latest model was started: the retraining
    trigger compares this with ``project.retrain_threshold`` (counting stops at
    ``at_most``, so the check after every submit stays cheap). A shipped base
    model is no training of the project's: before the first run, every
    verified line counts."""
    since = (
        ModelVersion.objects.filter(project=project, base_name="")
        .exclude(status=ModelVersion.Status.FAILED)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    lines = lines_verified(project=project, split=Line.Split.TRAIN).exclude(
        current_transcription__source=Transcription.Source.MODEL_ACCEPTED
    )
    if since is not None:
        lines = lines.filter(current_transcription__created_at__gt=since)
    if at_most is not None:
        return lines[:at_most].count()
    return lines.count()


def training_runs_stale(
    *, project: Project | None = None, now: datetime | None = None, stale_after: float | None = None
) -> QuerySet[TrainingRun]:
    """Runs left 'running' by a worker that died (SIGKILL, OOM, a lost machine):
    their heartbeat is older than ``stale_after`` seconds (default
    LINEPROOF_TRAIN_STALE_SECONDS; 0 when the caller knows no worker is alive,
    as the launcher does before it starts the only ones)."""
    now = now or timezone.now()
    seconds = settings.LINEPROOF_TRAIN_STALE_SECONDS if stale_after is None else stale_after
    stale = TrainingRun.objects.filter(
        status=TrainingRun.Status.RUNNING, heartbeat_at__lte=now - timedelta(seconds=seconds)
    )
    if project is not None:
        stale = stale.filter(project=project)
    return stale.order_by("id")


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


def import_job_list(*, project: Project) -> QuerySet[ImportJob]:
    return ImportJob.objects.filter(project=project).order_by("-created_at", "-id")


def import_job_get(*, job_id: int, user: AnyUser) -> ImportJob:
    job = ImportJob.objects.filter(pk=job_id, project__memberships__user_id=user_pk(user)).first()
    if job is None:
        raise NotFoundError("No such import.")
    return job


def export_job_list(*, project: Project, user: AnyUser) -> QuerySet[ExportJob]:
    """The project's exports, for a member who may export it (``permissions.export_require``)."""
    export_require(project=project, user=user)
    return ExportJob.objects.filter(project=project).select_related("document").order_by("-created_at", "-id")


def export_job_get(*, job_id: int, user: AnyUser) -> ExportJob:
    """One export, for a member of its project who may export it."""
    job = (
        ExportJob.objects.filter(pk=job_id, project__memberships__user_id=user_pk(user))
        .select_related("document")
        .first()
    )
    if job is None:
        raise NotFoundError("No such export.")
    export_require(project=job.project_id, user=user)
    return job


# --- the browser UI: counters, the active model, the virtual keyboard, schedules ---

TRAINING_SCHEDULE_TASK = "annotator.tasks.training_run_scheduled"
# Characters a US keyboard types without help; the UI offers the rest of the
# project's alphabet as buttons.
US_KEYBOARD_CHARACTERS = frozenset(chr(code) for code in range(0x20, 0x7F))


def project_verified_today(*, project: Project, user: AnyUser) -> int:
    """Lines ``user`` labeled in ``project`` since midnight (the server's time
    zone): submitted or verified texts, one per line however often amended."""
    midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return (
        Transcription.objects.filter(
            line__project=project,
            author_id=user_pk(user),
            created_at__gte=midnight,
            status__in=[Transcription.Status.SUBMITTED, Transcription.Status.VERIFIED],
        )
        .values("line_id")
        .distinct()
        .count()
    )


def project_training_latest(*, project: Project) -> TrainingRun | None:
    return training_run_list(project=project).first()


def training_run_in_flight(*, project: Project | int) -> TrainingRun | None:
    """The project's queued or running run (there is at most one)."""
    in_flight = (TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING)
    return TrainingRun.objects.filter(project=project, status__in=in_flight).first()


def project_alphabet(*, project: Project, texts_at_most: int = 5000) -> str:
    """The characters the project uses, sorted: the active model's alphabet and
    those in verified texts (the most recent ``texts_at_most`` of them, so the
    read stays cheap on a large project). Whitespace is left out."""
    chars = _verified_characters(project=project, texts_at_most=texts_at_most)
    active = project_active_model(project=project)
    if active is not None:
        chars.update(active.alphabet)
    return "".join(sorted(char for char in chars if not char.isspace()))


def _verified_characters(*, project: Project, texts_at_most: int) -> set[str]:
    texts = (
        Transcription.objects.filter(line__project=project, status=Transcription.Status.VERIFIED)
        .order_by("-created_at")
        .values_list("text", flat=True)[:texts_at_most]
    )
    chars: set[str] = set()
    for text in texts:
        chars.update(text)
    return chars


class KeyboardGroup(TypedDict):
    name: str
    characters: list[str]


# The group of the virtual keyboard that holds what verified texts use beyond the project's own groups.
KEYBOARD_FROM_TEXTS = "In verified texts"


def project_keyboard(*, project: Project, texts_at_most: int = 5000) -> list[KeyboardGroup]:
    """The virtual keyboard of the labeling and review pages: the project's
    alphabet groups in their order (known before any model or text has them),
    then the characters of verified texts a US keyboard lacks and no group
    lists. Not the model's alphabet: a base model knows many rare characters."""
    groups = [KeyboardGroup(name=g["name"], characters=list(g["characters"])) for g in project.alphabet_groups]
    listed = {key for group in groups for key in group["characters"]}
    extra = sorted(
        char
        for char in _verified_characters(project=project, texts_at_most=texts_at_most)
        if char not in US_KEYBOARD_CHARACTERS and not char.isspace() and char not in listed
    )
    if extra:
        groups.append(KeyboardGroup(name=KEYBOARD_FROM_TEXTS, characters=extra))
    return groups


class TrainingSchedule(TypedDict):
    every_minutes: int | None
    enabled: bool


def training_schedule_task(*, project: Project) -> PeriodicTask | None:
    """The django-celery-beat PeriodicTask that retrains ``project`` on a
    schedule: the one this app named, else one an admin added by hand in the
    Django admin (same task, kwargs {"project_id": N})."""
    candidates = PeriodicTask.objects.filter(task=TRAINING_SCHEDULE_TASK).select_related("interval").order_by("id")
    named = candidates.filter(name=training_schedule_name(project=project)).first()
    if named is not None:
        return named
    for task in candidates:
        try:
            kwargs = json.loads(task.kwargs or "{}")
        except ValueError:
            continue
        if isinstance(kwargs, dict) and kwargs.get("project_id") == project.pk:
            return task
    return None


def training_schedule_name(*, project: Project) -> str:
    return f"lineproof: retrain project {project.pk}"


def training_schedule_get(*, project: Project) -> TrainingSchedule:
    """The project's retraining schedule; ``every_minutes`` is None when it has
    none, or when an admin set a crontab instead of an interval."""
    task = training_schedule_task(project=project)
    if task is None:
        return TrainingSchedule(every_minutes=None, enabled=False)
    interval = task.interval
    every_minutes = None
    if interval is not None:
        seconds_per = {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1, "microseconds": 1e-6}
        every_minutes = max(1, round(interval.every * seconds_per.get(interval.period, 60) / 60))
    return TrainingSchedule(every_minutes=every_minutes, enabled=bool(task.enabled))
