"""Writes: a reviewer's approve / correct / reject on a line, and the
disagreement score that sends human texts the model reads very differently to
review.

Nothing is overwritten: approving or rejecting changes a transcription's
status (its text stays), correcting adds a transcription, and every decision
is a ``ReviewAction`` row naming the reviewer.
"""

from __future__ import annotations

import uuid

from django.db import IntegrityError, transaction
from django.utils import timezone

from annotator.errors import ConflictError, InvalidInputError
from annotator.models import Line, LineFlag, ReviewAction, Transcription
from annotator.permissions import REVIEW_ROLES, AnyUser, membership_require, user_pk
from annotator.selectors import line_prediction
from annotator.services.labeling import line_disagreement_refresh, transcription_text_clean
from annotator.services.training import training_run_request_if_due


def _replayed(*, client_id: uuid.UUID, line: Line, user: AnyUser) -> Transcription | None:
    earlier = ReviewAction.objects.filter(client_id=client_id).select_related("result", "reviewed").first()
    if earlier is None:
        return None
    if earlier.line_id != line.pk or earlier.reviewer_id != user.pk:
        message = "This client_id was already used for another review; generate a new one for each decision."
        raise ConflictError(message, fields={"client_id": [message]})
    transcription = earlier.result or earlier.reviewed
    if transcription is None:
        raise ConflictError("The transcription this review produced was deleted.")
    return transcription


def line_review(
    *, line: Line, user: AnyUser, action: str, client_id: uuid.UUID, text: str | None = None
) -> Transcription:
    """Apply a reviewer's decision to ``line`` and return the transcription it
    leaves current (for reject: the rejected one, whose line is back in the queue).

    - approve: the current human or model-accepted text becomes verified; with
      no text yet, the active model's reading is verified as the reviewer's.
    - correct: ``text`` becomes the line's verified text, written by the reviewer.
    - reject: the current text is marked rejected and the line is labeled again.

    Idempotent by ``client_id``, like ``label_submit``.
    """
    membership_require(project=line.project_id, user=user, roles=REVIEW_ROLES)
    if action not in ReviewAction.Action.values:
        message = f"Unknown action {action!r}; use one of {', '.join(ReviewAction.Action.values)}."
        raise InvalidInputError(message, fields={"action": [message]})
    cleaned = None
    if action == ReviewAction.Action.CORRECT:
        cleaned = transcription_text_clean(text or "", modernise=not line.project.keep_historical)
    replayed = _replayed(client_id=client_id, line=line, user=user)
    if replayed is not None:
        return replayed
    try:
        with transaction.atomic():
            # Race: two reviewers deciding on one line at once (one approves
            # while the other rejects). The row lock orders them; the second
            # sees the first one's outcome as the current text and acts on it.
            locked = Line.objects.select_for_update().get(pk=line.pk)
            _flag_settle(line=locked, user=user, action=action)
            current = locked.current_transcription
            reviewed, result = _apply(line=locked, user=user, action=action, current=current, text=cleaned)
            ReviewAction.objects.create(
                line=locked,
                reviewer_id=user_pk(user),
                action=action,
                reviewed=reviewed,
                result=result,
                client_id=client_id,
            )
    except IntegrityError:
        replayed = _replayed(client_id=client_id, line=line, user=user)
        if replayed is not None:
            return replayed
        raise
    line_disagreement_refresh(line=line)
    outcome = result or reviewed
    assert outcome is not None
    if outcome.status == Transcription.Status.VERIFIED:
        training_run_request_if_due(project=line.project)
    return outcome


def _flag_settle(*, line: Line, user: AnyUser, action: str) -> None:
    """A flagged line: a correction (its text, typed by the reviewer) clears the
    flag; approving or rejecting text is no decision on a flag (``line_flag_decide``)."""
    flag = line.flag
    if flag is None:
        return
    if action != ReviewAction.Action.CORRECT:
        raise ConflictError(
            "This line is flagged: type its text (correct), keep the flag, or clear it; "
            "there is no text to approve or reject."
        )
    LineFlag.objects.filter(pk=flag.pk).update(
        resolution=LineFlag.Resolution.CLEARED, resolved_by=user_pk(user), resolved_at=timezone.now()
    )
    Line.objects.filter(pk=line.pk).update(flag=None)


def _apply(
    *, line: Line, user: AnyUser, action: str, current: Transcription | None, text: str | None
) -> tuple[Transcription | None, Transcription | None]:
    """The status changes of one decision: (the transcription judged, the one created)."""
    if action == ReviewAction.Action.REJECT:
        if current is None:
            raise InvalidInputError("This line has no text to reject; correct it instead.")
        Transcription.objects.filter(pk=current.pk).update(status=Transcription.Status.REJECTED)
        Line.objects.filter(pk=line.pk).update(
            queue_state=Line.QueueState.UNLABELED, current_transcription=None, disagreement=None
        )
        current.refresh_from_db()
        return current, None
    if action == ReviewAction.Action.APPROVE and current is not None and current.source != "model_accepted":
        Transcription.objects.filter(pk=current.pk).update(status=Transcription.Status.VERIFIED)
        current.refresh_from_db()
        return current, None
    if action == ReviewAction.Action.APPROVE:
        # Machine output (a model-accepted text or a bare prediction) approved
        # by a person becomes human-verified text, written in the reviewer's name.
        if current is not None:
            text = current.text
        else:
            prediction = line_prediction(line=line)
            if prediction is None or not prediction.text.strip():
                raise InvalidInputError("There is no machine reading of this line to approve; correct it instead.")
            text = prediction.text
    assert text is not None
    created = Transcription.objects.create(
        line_id=line.pk,
        author_id=user_pk(user),
        source=Transcription.Source.HUMAN,
        status=Transcription.Status.VERIFIED,
        text=text,
    )
    Line.objects.filter(pk=line.pk).update(
        queue_state=Line.QueueState.LABELED,
        current_transcription=created,
        lease_user=None,
        lease_expires_at=None,
        lease_heartbeat_at=None,
    )
    return current, created
