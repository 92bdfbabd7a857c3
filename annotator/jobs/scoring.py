"""Scoring: the active model reads unverified lines, and the queue follows.

``predictions_refresh`` enqueues one ``prediction_batch_store`` task per batch
of unverified lines, on the ``default`` queue: after a promotion or a settings
change (every unverified line), and after an import (the lines the active model
has not read yet). The first batch is small and holds the top of the queue
(``rescore_order``), so the lines served next are ranked by a new model
within seconds of its promotion (``ModelVersion.queue_reranked_at``); the
rest follows in batches. Each batch reads its lines once with the active model
(``recognition.selection.pool_scores``: MC dropout passes or embeddings only
when the project's strategy needs them), stores a Prediction per line and
moves the lines' ``Line.priority`` to the strategy's priority
(``recognition.selection.line_priorities``, the same function the simulation
benchmark measures) in one transaction, so the queue follows the new model
batch by batch. Until its batch lands a line keeps its old priority, or
``Line.UNSCORED`` (served after every scored line) if it never had one.

Auto-accept: with ``project.auto_accept`` on, a training line whose calibrated
confidence reaches the model version's acceptance threshold (chosen at training
time to keep the line error among accepted lines under
``project.auto_accept_max_error``) gets the model's text as a ``model_accepted``
transcription: out of the queue, listed for review, never counted as human
work, and trained on only when the project opts in. Eval lines are never
accepted: evaluation needs human truth.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache, partial

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Case, Exists, F, OuterRef, Q, QuerySet, Subquery, Value, When
from django.utils import timezone

from annotator.enqueue import PREDICTION_BATCH_STORE, tasks_send
from annotator.jobs.jsonsafe import json_safe
from annotator.models import Line, ModelVersion, Prediction, Project, Transcription
from annotator.services import line_disagreement_refresh
from annotator.storage import storage_local_path
from recognition.images import ImageError, load_line_image
from recognition.infer import Recognizer
from recognition.selection import line_priorities, pool_scores

logger = logging.getLogger(__name__)


def _unverified_lines(project_id: int) -> QuerySet[Line]:
    return Line.objects.filter(project_id=project_id).exclude(
        current_transcription__status=Transcription.Status.VERIFIED
    )


def predictions_refresh(
    *, model_version: ModelVersion, batch_size: int | None = None, unread_only: bool = False
) -> list[list[int]]:
    """Enqueue scoring of the unverified lines under ``model_version``, one
    ``prediction_batch_store`` task per batch, the top of the queue first
    (``rescore_order``). ``unread_only``: only the lines this version has not
    read (new lines). Returns the batches; nothing when the version is no
    longer active."""
    started = timezone.now()
    if model_version.status != ModelVersion.Status.ACTIVE:
        return []
    lines = _unverified_lines(model_version.project_id)
    if unread_only:
        lines = lines.exclude(Exists(Prediction.objects.filter(line=OuterRef("pk"), model_version=model_version)))
    batches = rescore_order(
        lines,
        batch_size=batch_size or settings.LINEPROOF_RESCORE_BATCH_SIZE,
        head_lines=settings.LINEPROOF_RESCORE_HEAD_LINES,
    )
    transaction.on_commit(partial(_batches_send, model_version.pk, batches, started=started, unread_only=unread_only))
    return batches


def _batches_send(model_version_id: int, batches: list[list[int]], *, started: datetime, unread_only: bool) -> None:
    """Send every batch; the re-scoring request is taken only once the broker
    took them all. A send the broker refused (it went down during the fan-out)
    leaves a request standing, or makes one, so the recovery check
    (``jobs_unsent_resend``) sends the whole re-scoring again: batches are safe
    to store twice. A request made after ``started`` (a newer promotion or
    settings change) is left for its own refresh."""
    if tasks_send(PREDICTION_BATCH_STORE, [(model_version_id, batch) for batch in batches]):
        if not unread_only:
            ModelVersion.objects.filter(pk=model_version_id, rescore_requested_at__lte=started).update(
                rescore_requested_at=None
            )
        return
    ModelVersion.objects.filter(pk=model_version_id, rescore_requested_at__isnull=True).update(
        rescore_requested_at=started
    )


def rescore_order(lines: QuerySet[Line], *, batch_size: int, head_lines: int) -> list[list[int]]:
    """``lines`` in the batches a re-scoring sends, in order.

    The first batch, small so that it lands within seconds, is the top of the
    queue: the ``head_lines`` training lines the claim serves next (its
    order: priority, then cold rank), with up to ``head_lines`` lines never
    scored (they wait behind every scored line until a model reads them).
    The rest follow in batches of ``batch_size``: lines never scored first,
    then by current priority, highest first.
    """
    queue_order = (F("priority").desc(), "cold_rank", "id")
    head_size = max(1, min(head_lines, batch_size))
    training = lines.filter(split=Line.Split.TRAIN).exclude(priority=Line.UNSCORED)
    head = list(training.order_by(*queue_order).values_list("pk", flat=True)[:head_size])
    head += list(
        lines.filter(priority=Line.UNSCORED).order_by("cold_rank", "id").values_list("pk", flat=True)[:head_size]
    )
    unscored_first = Case(When(priority=Line.UNSCORED, then=Value(0)), default=Value(1))
    taken = set(head)
    rest = [pk for pk in lines.order_by(unscored_first, *queue_order).values_list("pk", flat=True) if pk not in taken]
    batches = [head] if head else []
    return batches + [rest[start : start + batch_size] for start in range(0, len(rest), batch_size)]


@lru_cache(maxsize=2)
def _recognizer(path: str, mtime: float) -> Recognizer:
    return Recognizer.load(path, threads=settings.LINEPROOF_INFER_THREADS)


def prediction_batch_store(*, model_version: ModelVersion, line_ids: Sequence[int]) -> int:
    """Read ``line_ids`` with ``model_version``, store a Prediction per line
    (replacing this version's earlier one: safe to run twice) and move those
    lines' ``Line.priority`` to the project's strategy's priority, so the
    queue uses the new ranking as soon as the batch lands. Verified lines and
    lines whose crop cannot be read are left out. Returns the lines stored."""
    model_version.refresh_from_db()
    if model_version.status != ModelVersion.Status.ACTIVE:
        return 0  # superseded: a newer model's scores must not be overwritten
    project = model_version.project
    images, lines = [], []
    for line in _unverified_lines(project.pk).filter(pk__in=line_ids).order_by("id"):
        try:
            with line.crop.open("rb") as handle:
                images.append(load_line_image(handle.read()))
        except (ImageError, OSError) as error:
            logger.warning("line %s: crop unreadable, not scored: %s", line.pk, error)
            continue
        lines.append(line)
    if not lines:
        return 0
    path = storage_local_path(model_version.checkpoint)
    recognizer = _recognizer(str(path), path.stat().st_mtime)
    strategy = project.selection_strategy
    # Seeded by the batch, so a redelivered batch scores (and ranks) the same.
    seed = int(min(line.pk for line in lines))
    readings, scores = pool_scores(recognizer, images, strategy=strategy, seed=seed)
    priorities = line_priorities(strategy, scores, rng=np.random.default_rng(seed))
    rows = [
        Prediction(
            line=line,
            model_version=model_version,
            text=reading.text,
            confidence=reading.confidence,
            calibrated_confidence=None if scores.calibrated is None else json_safe(float(scores.calibrated[i])),
            char_confidences=[json_safe(c) for c in reading.char_confidences],
            spans=[list(span) for span in reading.spans],
            priority=float(np.clip(np.nan_to_num(priorities[i], nan=0.0), -Line.PRIORITY_LIMIT, Line.PRIORITY_LIMIT)),
            scores=scores.line_scores(i),
        )
        for i, (line, reading) in enumerate(zip(lines, readings, strict=True))
    ]
    with transaction.atomic():
        Prediction.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["line", "model_version"],
            update_fields=[
                "text",
                "confidence",
                "calibrated_confidence",
                "char_confidences",
                "spans",
                "priority",
                "scores",
                "created_at",
            ],
        )
        # Only while this version is still active, tested in the same
        # statement: a promotion that landed since the check above must not
        # have its ranking overwritten by the older model's scores.
        still_active = ModelVersion.objects.filter(pk=model_version.pk, status=ModelVersion.Status.ACTIVE)
        Line.objects.filter(pk__in=[line.pk for line in lines]).filter(Exists(still_active)).update(
            priority=Subquery(
                Prediction.objects.filter(line=OuterRef("pk"), model_version=model_version).values("priority")[:1]
            )
        )
        # The first batch to land is the top of the queue (predictions_refresh
        # sends it first): from now on the lines served next are ranked by this model.
        still_active.filter(queue_reranked_at__isnull=True).update(queue_reranked_at=timezone.now())
    # Submissions still waiting for review are judged against the new reading.
    for line in lines:
        if line.current_transcription_id is not None:
            line_disagreement_refresh(line=line)
    lines_auto_accept(model_version=model_version, line_ids=[line.pk for line in lines])
    return len(rows)


def lines_auto_accept(*, model_version: ModelVersion, line_ids: Sequence[int]) -> int:
    """Mark the lines of ``line_ids`` the model is sure enough of as
    model-accepted (see the module docstring). Returns how many."""
    project: Project = model_version.project
    threshold = model_version.accept_threshold
    if not project.auto_accept or threshold is None or model_version.status != ModelVersion.Status.ACTIVE:
        return 0
    sure = Prediction.objects.filter(
        model_version=model_version,
        line_id__in=line_ids,
        calibrated_confidence__gte=threshold,
        line__split=Line.Split.TRAIN,
        line__queue_state=Line.QueueState.UNLABELED,
        line__current_transcription__isnull=True,
    ).exclude(text="")
    now = timezone.now()
    accepted = 0
    for prediction in sure:
        with transaction.atomic():
            # Race: a labeler claiming the line while it is accepted. Both
            # are conditional updates of the line row; this one only takes a
            # line nobody holds (no live lease), and a claim only takes one
            # still unlabeled, so a line is either served or accepted.
            taken = (
                Line.objects.filter(pk=prediction.line_id, queue_state=Line.QueueState.UNLABELED)
                .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now))
                .update(queue_state=Line.QueueState.LABELED, lease_user=None, lease_expires_at=None)
            )
            if not taken:
                continue
            transcription = Transcription.objects.create(
                line_id=prediction.line_id,
                author=None,
                source=Transcription.Source.MODEL_ACCEPTED,
                status=Transcription.Status.VERIFIED,
                text=prediction.text,
            )
            Line.objects.filter(pk=prediction.line_id).update(current_transcription=transcription)
            accepted += 1
    return accepted
