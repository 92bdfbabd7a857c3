"""Writes: a labeler's flag on a line instead of a text ("illegible", "not a
text line", "needs a second look"), and a reviewer's decision on it.

A flag is new work like a submit: it takes the line out of the queue only for
the holder of its lease (and, when named, that very grant), so a flag typed
under an expired or re-granted lease changes nothing. The line then waits in
the review list "flagged"; ``Line.flag`` keeps it out of training
(``selectors.lines_verified``) and out of line-folder exports until a
reviewer clears it or types its text (``line_review`` "correct").
"""

from __future__ import annotations

import unicodedata
import uuid

from django.db import IntegrityError, transaction
from django.utils import timezone

from annotator.errors import ConflictError, InvalidInputError
from annotator.models import Line, LineFlag, ReviewAction, Transcription
from annotator.permissions import REVIEW_ROLES, AnyUser, membership_require, user_pk
from annotator.services.labeling import client_id_replayed, line_amend_require, line_work_take

MAX_FLAG_COMMENT = 500
# What a reviewer may decide on a flag, as the review action it is recorded as.
FLAG_DECISIONS = {"keep": ReviewAction.Action.APPROVE, "clear": ReviewAction.Action.REJECT}


def flag_comment_clean(comment: str) -> str:
    """NFC, trimmed, one line of at most MAX_FLAG_COMMENT characters."""
    cleaned = unicodedata.normalize("NFC", comment).strip()
    if len(cleaned) > MAX_FLAG_COMMENT:
        message = f"The comment is {len(cleaned)} characters long; at most {MAX_FLAG_COMMENT}."
        raise InvalidInputError(message, fields={"comment": [message]})
    if any(unicodedata.category(char) in {"Cc", "Cs", "Zl", "Zp"} for char in cleaned):
        message = "The comment is one line of text, without tabs or line breaks."
        raise InvalidInputError(message, fields={"comment": [message]})
    return cleaned


def _flag_replayed(*, client_id: uuid.UUID, line: Line, user: AnyUser) -> LineFlag | None:
    earlier = client_id_replayed(LineFlag.objects.all(), client_id=client_id, line=line, user=user, what="flag")
    assert earlier is None or isinstance(earlier, LineFlag)
    return earlier


def line_flag(
    *, line: Line, user: AnyUser, kind: str, client_id: uuid.UUID, comment: str = "", lease: uuid.UUID | None = None
) -> LineFlag:
    """Flag ``line`` instead of typing its text; returns the flag.

    Idempotent by ``client_id``. New work needs the lease, and the grant
    ``lease`` when named, exactly like ``label_submit``; the author of a line's
    current text (going back to it) or a reviewer may flag a labeled line.
    """
    membership = membership_require(project=line.project_id, user=user)
    if kind not in LineFlag.Kind.values:
        message = f"Unknown flag {kind!r}; use one of {', '.join(LineFlag.Kind.values)}."
        raise InvalidInputError(message, fields={"kind": [message]})
    cleaned = flag_comment_clean(comment)
    replayed = _flag_replayed(client_id=client_id, line=line, user=user)
    if replayed is not None:
        return replayed
    with transaction.atomic():
        locked = line_work_take(line=line, user=user, membership=membership, lease=lease)
        if locked is not None:
            replayed = _flag_replayed(client_id=client_id, line=line, user=user)
            if replayed is not None:
                return replayed
            line_amend_require(line=locked, user=user, membership=membership, lease=lease)
        try:
            with transaction.atomic():
                flag = LineFlag.objects.create(
                    line_id=line.pk, author_id=user_pk(user), kind=kind, comment=cleaned, client_id=client_id
                )
        except IntegrityError:
            replayed = _flag_replayed(client_id=client_id, line=line, user=user)
            if replayed is not None:
                return replayed
            raise
        Line.objects.filter(pk=line.pk).update(flag=flag)
    return flag


def line_flag_decide(*, line: Line, user: AnyUser, decision: str, client_id: uuid.UUID) -> LineFlag:
    """A reviewer's decision on ``line``'s flag: "keep" (the line stays out of
    training and out of the lists: it really is illegible, or no text line) or
    "clear" (the flag goes; the line keeps the text it had, or, with none, goes
    back to the labeling queue). Typing its text is ``line_review`` "correct".
    Idempotent by ``client_id``; returns the flag decided on."""
    membership_require(project=line.project_id, user=user, roles=REVIEW_ROLES)
    if decision not in FLAG_DECISIONS:
        message = f"Unknown decision {decision!r}; use one of {', '.join(FLAG_DECISIONS)}."
        raise InvalidInputError(message, fields={"decision": [message]})
    earlier = ReviewAction.objects.filter(client_id=client_id).select_related("flag").first()
    if earlier is not None:
        if earlier.line_id != line.pk or earlier.reviewer_id != user.pk or earlier.flag is None:
            message = "This client_id was already used for another review; generate a new one for each decision."
            raise ConflictError(message, fields={"client_id": [message]})
        return earlier.flag
    with transaction.atomic():
        # Race: two reviewers deciding at once; the row lock orders them, and
        # the second finds the flag already decided.
        rows = Line.objects.select_for_update(of=("self",)).select_related("flag", "current_transcription")
        locked = rows.get(pk=line.pk)
        flag = locked.flag
        if flag is None or flag.resolution != LineFlag.Resolution.OPEN:
            raise ConflictError("This line has no flag waiting for review any more.")
        now = timezone.now()
        if decision == "keep":
            flag.resolution = LineFlag.Resolution.KEPT
        else:
            flag.resolution = LineFlag.Resolution.CLEARED
            current = locked.current_transcription
            has_text = current is not None and current.status != Transcription.Status.REJECTED
            state = Line.QueueState.LABELED if has_text else Line.QueueState.UNLABELED
            Line.objects.filter(pk=line.pk).update(flag=None, queue_state=state)
        flag.resolved_by_id = user_pk(user)
        flag.resolved_at = now
        flag.save(update_fields=["resolution", "resolved_by", "resolved_at"])
        ReviewAction.objects.create(
            line=locked, reviewer_id=user_pk(user), action=FLAG_DECISIONS[decision], flag=flag, client_id=client_id
        )
    return flag
