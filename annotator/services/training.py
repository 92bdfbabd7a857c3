"""Writes: requesting, cancelling and retrying training runs, and promoting a model.

The life of a run::

    training_run_request     queued   (one in flight per project: a partial unique index)
    jobs.training            running  (claimed by compare-and-set; heartbeats while it trains)
                             succeeded, with its ModelVersion promoted (better than the
                             active model on the fixed eval lines) or rejected (not better);
                             or failed (error text on the run, the active model untouched);
                             or cancelled (training_run_cancel, noticed within seconds)
    training_run_retry       a running run whose heartbeat stopped lost its worker:
                             failed ("worker lost") and requeued as a new run, attempt + 1

Each run has a kind (``TrainingRun.Kind``, chosen at the request by
``training_run_kind_choose``): a threshold-triggered run is incremental (a short
warm-start of the active model on the new lines and a replay sample of older
ones: the queue is re-ranked by a model that learned from the latest labels
within minutes), except every ``project.full_retrain_every``-th one; a run on
the schedule or by hand is full (the fine-tuning recipe over every verified line).

The training itself runs in a worker (``annotator.jobs.training``); this module
is what the web process needs: it never imports PyTorch.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotator.enqueue import PREDICTIONS_REFRESH, TRAINING_RUN_EXECUTE, task_send_on_commit
from annotator.errors import InvalidInputError
from annotator.models import Line, ModelVersion, Project, TrainingRun
from annotator.permissions import ADMIN_ROLES, AnyUser, membership_require, user_pk
from annotator.selectors import (
    lines_verified,
    project_active_model,
    training_runs_stale,
    verified_lines_since_last_model,
)

logger = logging.getLogger(__name__)

IN_FLIGHT = (TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING)


class TrainingError(Exception):
    """A run that cannot go on, with a message for the run's error field."""


def training_run_kind_choose(*, project: Project, trigger: str) -> str:
    """The kind of a new run (``TrainingRun.Kind``): full on the schedule, by
    hand, before the project has a trained active model (a base model is
    adapted by a full run first), and after ``project.full_retrain_every``
    incremental runs since the last full one (0: never by count); else
    incremental."""
    every = project.full_retrain_every
    if trigger != TrainingRun.Trigger.THRESHOLD or every == 1:
        return TrainingRun.Kind.FULL
    active = project_active_model(project=project)
    if active is None or active.base_name or not active.checkpoint:
        return TrainingRun.Kind.FULL
    if every == 0:
        return TrainingRun.Kind.INCREMENTAL
    done = TrainingRun.objects.filter(project=project, status=TrainingRun.Status.SUCCEEDED)
    last_full = done.filter(kind=TrainingRun.Kind.FULL).order_by("-created_at").values_list("created_at", flat=True)
    incremental = done.filter(kind=TrainingRun.Kind.INCREMENTAL)
    since = last_full.first()
    if since is not None:
        incremental = incremental.filter(created_at__gt=since)
    if incremental[:every].count() >= every:
        return TrainingRun.Kind.FULL
    return TrainingRun.Kind.INCREMENTAL


def training_run_request(
    *, project: Project, trigger: str, user: AnyUser | None = None, kind: str | None = None
) -> TrainingRun:
    """Queue a training run for ``project`` and enqueue its job once the
    transaction commits; if one is already queued or running, return that one
    instead (one run at a time: a second would train on the same labels).
    ``user``, when given, must be an admin of the project. ``kind``: a
    ``TrainingRun.Kind``, by default ``training_run_kind_choose``'s."""
    if kind is not None and kind not in TrainingRun.Kind.values:
        message = f"Unknown kind of run {kind!r}; use one of {', '.join(TrainingRun.Kind.values)}."
        raise InvalidInputError(message, fields={"kind": [message]})
    if user is not None:
        membership_require(project=project, user=user, roles=ADMIN_ROLES)
    # A run whose worker died would block every new request until it is
    # recovered, so recover first.
    for dead in training_runs_stale(project=project):
        training_run_retry(run=dead)
    for _attempt in range(3):
        try:
            with transaction.atomic():
                run = TrainingRun.objects.create(
                    project=project,
                    trigger=trigger,
                    kind=kind or training_run_kind_choose(project=project, trigger=trigger),
                    requested_by_id=user_pk(user) if user is not None else None,
                )
        except IntegrityError:
            # Race: two requests at once (two submits crossing the threshold
            # together, a click while beat fires) both found no run in flight.
            # The partial unique index trainingrun_one_in_flight admits one
            # INSERT; the other waits for it to commit, fails here and returns
            # the winner's run.
            existing = TrainingRun.objects.filter(project=project, status__in=IN_FLIGHT).first()
            if existing is not None:
                training_run_resend_if_unsent(run=existing)
                return existing
            continue  # the winner finished in between: try again
        task_send_on_commit(TRAINING_RUN_EXECUTE, run.pk)
        return run
    raise TrainingError("Could not queue a training run; try again.")


def training_run_resend_if_unsent(*, run: TrainingRun, now: datetime | None = None) -> bool:
    """Send ``run``'s job again if it is still queued LINEPROOF_JOB_UNSENT_SECONDS
    after it was created: its message was lost (a broker outage), and a request
    that finds it must not keep answering with a run no worker will take. A
    duplicate is a no-op (the claim). Returns whether it was sent."""
    before = (now or timezone.now()) - timedelta(seconds=settings.LINEPROOF_JOB_UNSENT_SECONDS)
    if run.status != TrainingRun.Status.QUEUED or run.created_at >= before:
        return False
    task_send_on_commit(TRAINING_RUN_EXECUTE, run.pk)
    return True


def training_run_request_if_due(*, project: Project) -> TrainingRun | None:
    """The automatic trigger: a run when ``project.retrain_threshold`` training
    lines were verified since the last model started and none is in flight
    (a threshold of 0 turns it off). Called after every verified submit and by
    the periodic schedule check."""
    threshold = project.retrain_threshold
    runs = TrainingRun.objects.filter(project=project)
    if threshold <= 0 or runs.filter(status__in=IN_FLIGHT).exists():
        return None
    if verified_lines_since_last_model(project=project, at_most=threshold) < threshold:
        return None
    # A run that cannot succeed is not started again on every submit: not
    # while the eval lines it needs are missing, nor soon after a failure.
    need_eval = settings.LINEPROOF_TRAIN_MIN_EVAL_LINES
    verified_eval = lines_verified(project=project, split=Line.Split.EVAL)
    if verified_eval[:need_eval].count() < need_eval:
        return None
    backoff = timezone.now() - timedelta(seconds=settings.LINEPROOF_TRAIN_FAILURE_BACKOFF_SECONDS)
    if runs.filter(status=TrainingRun.Status.FAILED, finished_at__gt=backoff, retries__isnull=True).exists():
        return None
    return training_run_request(project=project, trigger=TrainingRun.Trigger.THRESHOLD)


def training_run_cancel(*, run: TrainingRun, user: AnyUser) -> TrainingRun:
    """Stop a queued or running run; the training loop notices within seconds."""
    membership_require(project=run.project_id, user=user, roles=ADMIN_ROLES)
    TrainingRun.objects.filter(pk=run.pk, status__in=IN_FLIGHT).update(
        status=TrainingRun.Status.CANCELLED, finished_at=timezone.now()
    )
    ModelVersion.objects.filter(training_runs=run, status=ModelVersion.Status.TRAINING).update(
        status=ModelVersion.Status.FAILED
    )
    return TrainingRun.objects.get(pk=run.pk)


def training_run_retry(*, run: TrainingRun, now: datetime | None = None) -> TrainingRun | None:
    """``run`` lost its worker (its heartbeat stopped, see
    ``selectors.training_runs_stale``): mark it failed ("worker lost"), its
    model version failed (the active model was never touched: promotion is the
    last step of a run, in one transaction) and, below
    LINEPROOF_TRAIN_MAX_ATTEMPTS, queue and enqueue a new run (attempt + 1).
    Returns the new run, or None when someone else recovered ``run`` first,
    its worker turned out alive, or the attempts are spent."""
    now = now or timezone.now()
    with transaction.atomic():
        # Race: the redelivered job, the periodic check and a new request may
        # all find the same dead run. The UPDATE re-tests status and the
        # heartbeat we read, so exactly one of them marks it failed and queues
        # the retry; a worker that was merely slow and heartbeats meanwhile
        # changes heartbeat_at and keeps its run.
        marked = TrainingRun.objects.filter(
            pk=run.pk, status=TrainingRun.Status.RUNNING, heartbeat_at=run.heartbeat_at
        ).update(
            status=TrainingRun.Status.FAILED,
            finished_at=now,
            error=f"worker lost: no heartbeat since {run.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC "
            f"(attempt {run.attempt} of {settings.LINEPROOF_TRAIN_MAX_ATTEMPTS})",
        )
        if not marked:
            return None
        ModelVersion.objects.filter(training_runs=run, status=ModelVersion.Status.TRAINING).update(
            status=ModelVersion.Status.FAILED
        )
        if run.attempt >= settings.LINEPROOF_TRAIN_MAX_ATTEMPTS:
            logger.warning("training run %s lost its worker %s times; giving up", run.pk, run.attempt)
            return None
        try:
            with transaction.atomic():
                retry = TrainingRun.objects.create(
                    project_id=run.project_id,
                    trigger=run.trigger,
                    kind=run.kind,
                    requested_by_id=run.requested_by_id,
                    attempt=run.attempt + 1,
                    retry_of=run,
                )
        except IntegrityError:
            return None  # someone queued a run for the project meanwhile: that one will train
        task_send_on_commit(TRAINING_RUN_EXECUTE, retry.pk)
    return retry


def model_version_promote(*, model_version: ModelVersion) -> ModelVersion:
    """Make ``model_version`` the project's active model (the previous one is
    retired) and enqueue the re-scoring of unverified lines on commit. Lines
    keep the old model's priority until their batch is re-scored, so the
    queue never falls back to an unranked order in between."""
    with transaction.atomic():
        # Race: two promotions in one project at once would both retire "the"
        # active model and both set theirs active; locking the project row
        # orders them (and the partial unique index modelversion_one_active
        # would refuse the second anyway).
        Project.objects.select_for_update().get(pk=model_version.project_id)
        ModelVersion.objects.filter(project_id=model_version.project_id, status=ModelVersion.Status.ACTIVE).exclude(
            pk=model_version.pk
        ).update(status=ModelVersion.Status.RETIRED)
        ModelVersion.objects.filter(pk=model_version.pk).update(
            status=ModelVersion.Status.ACTIVE, promoted_at=timezone.now(), queue_reranked_at=None
        )
        model_version_rescore_request(model_version=model_version)
        model_version.refresh_from_db()
    return model_version


def model_version_rescore_request(*, model_version: ModelVersion) -> None:
    """Re-score the unverified lines under ``model_version`` (after a promotion
    or a settings change): marked on the version and sent on commit, so a
    message lost to a broker outage is sent again by the recovery check."""
    ModelVersion.objects.filter(pk=model_version.pk).update(rescore_requested_at=timezone.now())
    task_send_on_commit(PREDICTIONS_REFRESH, model_version.pk)
