"""Writes: creating lines, the labeling queue (claim, heartbeat, skip) and labels.

The queue policy, in the order ``line_claim`` applies it:

1. A labeler who already holds an unexpired lease in the project gets that line
   back (a page reload must not burn a second line); a reload names the line
   it showed in ``resume``, which is leased again if nobody else took it
   meanwhile (leaving the page released it). A client may name the line it is
   showing in ``exclude`` to lease one more ahead of time, so the next line's
   image loads while the current one is typed: at most
   ``MAX_LEASES_PER_LABELER`` lines per labeler.
2. Eval-split lines first, until ``project.min_eval_lines`` of them are labeled:
   a retrained model can only be accepted or rejected against a labeled eval
   set, so one must exist before the first retrain. Eval lines are served in
   ``sample_key`` (hash) order, a uniform random sample, never by uncertainty:
   an eval set chosen by uncertainty would be the hardest lines and overstate CER.
3. Then training lines, highest ``priority`` first (the selection strategy's,
   under the active model). A line the active model has not read yet
   (``Line.UNSCORED``: before the first model, or for the few seconds until an
   import's lines are scored) comes after every scored one, in ``cold_rank``
   order, which interleaves documents. When training lines run out, the
   remaining eval lines.

Within the first non-empty queue the line is drawn at random from the top
``project.top_window`` candidates, so concurrent labelers rarely reach for the
same row; only that window is read, never the whole pool.

Every claim is a new grant of the lease (``Line.lease_token``); renewing keeps
it. A submit may name the grant it was typed under, and a release names the
grants it gives back, so neither acts on a lease granted after them.
"""

from __future__ import annotations

import hashlib
import random
import unicodedata
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.core.files import File
from django.db import IntegrityError, connections, transaction
from django.db.models import Exists, Expression, F, FloatField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotator.errors import ConflictError, InvalidInputError
from annotator.models import Document, Line, LineFlag, LineSkip, Membership, Page, Prediction, Project, Transcription
from annotator.permissions import AnyUser, membership_require, user_pk
from annotator.selectors import eval_lines_labeled, line_prediction, project_active_model
from annotator.services.alphabet import text_modernise
from annotator.services.training import training_run_request_if_due
from recognition.metrics import cer

MAX_TEXT_LENGTH = 1000
# Line breaks and tabs (Cc), lone surrogates (Cs) and Unicode line/paragraph
# separators (Zl, Zp) have no place in one line of ground truth. Format
# characters (Cf: ZWJ, ZWNJ, soft hyphen) and private use (Co: MUFI) are text.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
# Rounds of "read the window, try each candidate" before SQLite's claim gives
# up; a round only fails when every candidate was taken under our feet.
_CLAIM_ROUNDS = 8
# The line being typed plus one fetched ahead; more would hide lines from others.
MAX_LEASES_PER_LABELER = 2


# --- lines -------------------------------------------------------------------


def line_sample_key(key: str) -> float:
    """A uniform number in [0, 1) that depends on ``key`` alone, so a line's split
    never changes and re-importing the same source reproduces it."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def line_create(
    *,
    project: Project,
    key: str,
    crop: File | str,
    width: int,
    height: int,
    page: Page | None = None,
    polygon: list[list[int]] | None = None,
    bbox: list[int] | None = None,
    reading_order: int = 0,
    document: Document | None = None,
    external_id: str = "",
    region_id: str = "",
    baseline: list[list[int]] | None = None,
) -> Line:
    """A new line to label; ``document`` groups crops imported without a page;
    ``external_id`` and ``region_id``: its ids in the imported PAGE/ALTO file."""
    if not key:
        raise InvalidInputError("A line needs a stable key.", fields={"key": ["This field may not be blank."]})
    sample_key = line_sample_key(key)
    if page is not None:
        document = page.document
    line = Line(
        project=project,
        page=page,
        document=document,
        key=key,
        width=width,
        height=height,
        polygon=polygon or [],
        bbox=bbox,
        baseline=baseline or [],
        reading_order=reading_order,
        external_id=external_id[:255],
        region_id=region_id[:255],
        split=Line.Split.EVAL if sample_key < project.eval_share else Line.Split.TRAIN,
        sample_key=sample_key,
        cold_rank=Line.objects.filter(project=project, document=document).count(),
    )
    if isinstance(crop, str):
        line.crop.name = crop
    else:
        line.crop.save(crop.name or f"{key}.png", crop, save=False)
    line.save()
    return line


def line_priority_refresh(*, project: Project) -> int:
    """Copy the active model's priorities onto ``Line.priority``, the column the
    queue index orders by, for the whole project at once; lines the active
    model has not read become ``Line.UNSCORED``. (Scoring moves the column
    batch by batch instead, in ``jobs.scoring.prediction_batch_store``, so the
    old ranking serves until then.)"""
    active = project_active_model(project=project)
    score: Expression
    if active is None:
        score = Value(Line.UNSCORED, output_field=FloatField())
    else:
        read = Prediction.objects.filter(line=OuterRef("pk"), model_version=active).values("priority")[:1]
        score = Coalesce(Subquery(read), Value(Line.UNSCORED), output_field=FloatField())
    return Line.objects.filter(project=project).update(priority=score)


def line_disagreement(*, text: str, predicted: str | None) -> float | None:
    """CER of the model's reading against a human text; None without a reading."""
    if predicted is None:
        return None
    return cer([text], [predicted])


def line_disagreement_refresh(*, line: Line) -> float | None:
    """Recompute ``Line.disagreement`` from the line's current text and the
    active model's reading of it (after a submit, a review or a re-scoring)."""
    current = Line.objects.select_related("current_transcription").get(pk=line.pk).current_transcription
    prediction = line_prediction(line=line)
    value = None
    if current is not None and current.source != Transcription.Source.MODEL_ACCEPTED:
        value = line_disagreement(text=current.text, predicted=prediction.text if prediction else None)
    Line.objects.filter(pk=line.pk).update(disagreement=value)
    return value


# --- the queue ---------------------------------------------------------------


def _grant(*, user: AnyUser, now: datetime, expires: datetime) -> dict[str, object]:
    """The columns of a new lease for ``user``: a fresh grant token."""
    return {
        "lease_user_id": user.pk,
        "lease_expires_at": expires,
        "lease_heartbeat_at": now,
        "lease_token": uuid.uuid4(),
        "lease_claimed_at": now,
    }


NO_LEASE: dict[str, object] = {
    "lease_user": None,
    "lease_expires_at": None,
    "lease_heartbeat_at": None,
    "lease_token": None,
    "lease_claimed_at": None,
}


def _free(now: datetime) -> Q:
    """No live lease: never leased, released, or expired (expired leases need no sweeper)."""
    return Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now)


def _queues(*, project: Project, user: AnyUser, now: datetime, exclude: Sequence[int]) -> list[QuerySet[Line]]:
    candidates = (
        Line.objects.filter(project=project, queue_state=Line.QueueState.UNLABELED)
        .filter(_free(now))
        .exclude(skips__user_id=user_pk(user))
        .exclude(pk__in=exclude)
    )
    # Matches line_queue_idx column for column, so the database walks the index
    # and stops after top_window rows.
    train = candidates.filter(split=Line.Split.TRAIN).order_by(F("priority").desc(), "cold_rank", "id")
    evaluation = candidates.filter(split=Line.Split.EVAL).order_by("sample_key", "id")
    if eval_lines_labeled(project=project, at_most=project.min_eval_lines) < project.min_eval_lines:
        return [evaluation, train]
    return [train, evaluation]


def _live_leases(*, project: Project, user: AnyUser, now: datetime, exclude: Sequence[int]) -> QuerySet[Line]:
    return Line.objects.filter(
        project=project, queue_state=Line.QueueState.UNLABELED, lease_user_id=user.pk, lease_expires_at__gt=now
    ).exclude(pk__in=exclude)


def _held_line_renew(
    *, project: Project, user: AnyUser, now: datetime, expires: datetime, exclude: Sequence[int]
) -> Line | None:
    held = _live_leases(project=project, user=user, now=now, exclude=exclude).order_by("id").first()
    if held is None:
        return None
    renewed = Line.objects.filter(pk=held.pk, lease_user_id=user.pk).update(
        lease_expires_at=expires, lease_heartbeat_at=now
    )
    return Line.objects.get(pk=held.pk) if renewed else None


def _resume(
    *, project: Project, user: AnyUser, membership: Membership, now: datetime, expires: datetime, line_id: int
) -> Line | None:
    """Lease ``line_id`` again for ``user`` (a new grant) if it is unlabeled, not
    held by anyone else, not skipped by them, and they hold fewer than the
    maximum of other lines; else None."""
    with transaction.atomic():
        # The membership lock orders this with the same user's other claims.
        Membership.objects.select_for_update().get(pk=membership.pk)
        others = _live_leases(project=project, user=user, now=now, exclude=[line_id]).count()
        if others >= MAX_LEASES_PER_LABELER:
            return None
        taken = (
            Line.objects.filter(pk=line_id, project=project, queue_state=Line.QueueState.UNLABELED)
            .filter(_free(now) | Q(lease_user_id=user.pk))
            .exclude(skips__user_id=user_pk(user))
            .update(**_grant(user=user, now=now, expires=expires))
        )
    return Line.objects.get(pk=line_id) if taken else None


def line_claim(
    *, project: Project, user: AnyUser, exclude: Sequence[int] = (), resume: int | None = None
) -> Line | None:
    """Lease the next line to label for ``user``, or None when nothing is left.

    ``exclude``: lines the client already shows (at most one); a lease on them
    is kept but not returned, so the call leases a further line to fetch ahead.
    ``resume``: the line a reloaded page showed; it comes back (with a new
    grant) when it is still to be labeled and nobody else holds it.
    """
    membership = membership_require(project=project, user=user)
    exclude = sorted(set(exclude))
    if len(exclude) >= MAX_LEASES_PER_LABELER:
        message = (
            f"Name at most {MAX_LEASES_PER_LABELER - 1} line you hold; "
            f"a labeler holds at most {MAX_LEASES_PER_LABELER} lines at once."
        )
        raise InvalidInputError(message, fields={"exclude": [message]})
    now = timezone.now()
    expires = now + timedelta(seconds=project.lease_seconds)
    if resume is not None and resume not in exclude:
        resumed = _resume(project=project, user=user, membership=membership, now=now, expires=expires, line_id=resume)
        if resumed is not None:
            return resumed
    if connections[Line.objects.db].features.has_select_for_update_skip_locked:
        return _claim_with_row_locks(
            project=project, user=user, membership=membership, now=now, expires=expires, exclude=exclude
        )
    return _claim_with_compare_and_set(project=project, user=user, now=now, expires=expires, exclude=exclude)


def _claim_with_row_locks(
    *,
    project: Project,
    user: AnyUser,
    membership: Membership,
    now: datetime,
    expires: datetime,
    exclude: Sequence[int],
) -> Line | None:
    """PostgreSQL: lock the candidate window, skipping rows others have locked."""
    with transaction.atomic():
        # Race: one user claiming twice at once (two tabs, a double click) would
        # see "no lease held" twice and lease two lines. Locking their membership
        # row queues the second claim until the first commits; it then finds the
        # lease the first one took and returns that line.
        Membership.objects.select_for_update().get(pk=membership.pk)
        held = _held_line_renew(project=project, user=user, now=now, expires=expires, exclude=exclude)
        if held is not None:
            return held
        for queue in _queues(project=project, user=user, now=now, exclude=exclude):
            # Race: two labelers reading the same top rows and both leasing one
            # line. FOR UPDATE locks the window's rows until commit and SKIP
            # LOCKED makes a concurrent claim pass over them instead of waiting.
            # A row whose lease another claim committed meanwhile is re-checked
            # against the WHERE clause on its new version and dropped, which is
            # why the lease lives on the Line row and not in a table of its own.
            window = list(queue.select_for_update(skip_locked=True).values_list("pk", flat=True)[: project.top_window])
            if window:
                pick = random.choice(window)
                Line.objects.filter(pk=pick).update(**_grant(user=user, now=now, expires=expires))
                return Line.objects.get(pk=pick)
    return None


def _claim_with_compare_and_set(
    *, project: Project, user: AnyUser, now: datetime, expires: datetime, exclude: Sequence[int]
) -> Line | None:
    """SQLite (no row locks): read the window, then take one row with a
    conditional UPDATE; whoever changes the row wins, the others try the next."""
    held = _held_line_renew(project=project, user=user, now=now, expires=expires, exclude=exclude)
    if held is not None:
        return held
    holds_live_lease = _live_leases(project=project, user=user, now=now, exclude=exclude)
    for queue in _queues(project=project, user=user, now=now, exclude=exclude):
        for _round in range(_CLAIM_ROUNDS):
            window = list(queue.values_list("pk", flat=True)[: project.top_window])
            if not window:
                break
            random.shuffle(window)
            for pick in window:
                # Race: another claim leased `pick` after we read the window.
                # The UPDATE re-tests "unlabeled and free" itself, and SQLite
                # runs one write at a time, so exactly one claimer sees a row
                # count of 1. The NOT EXISTS (no live lease outside ``exclude``)
                # stops one user's two simultaneous claims from leasing two lines.
                taken = (
                    Line.objects.filter(pk=pick, queue_state=Line.QueueState.UNLABELED)
                    .filter(_free(now))
                    .filter(~Exists(holds_live_lease))
                    .update(**_grant(user=user, now=now, expires=expires))
                )
                if taken:
                    return Line.objects.get(pk=pick)
            held = _held_line_renew(project=project, user=user, now=now, expires=expires, exclude=exclude)
            if held is not None:
                return held
    return None


def lease_heartbeat(*, line: Line, user: AnyUser) -> Line:
    """Keep the lease alive while the labeler types; returns the line with its new expiry."""
    membership_require(project=line.project_id, user=user)
    now = timezone.now()
    # lease_user alone (not expiry) decides: a lapsed lease nobody else took is
    # still this labeler's to renew, and once another claim takes the line
    # lease_user changes, so a stale tab cannot steal it back.
    renewed = Line.objects.filter(pk=line.pk, queue_state=Line.QueueState.UNLABELED, lease_user_id=user.pk).update(
        lease_expires_at=now + timedelta(seconds=line.project.lease_seconds), lease_heartbeat_at=now
    )
    if not renewed:
        raise ConflictError(
            "You no longer hold this line: it was submitted or skipped, or your lease expired "
            "and it went to another labeler."
        )
    return Line.objects.select_related("project").get(pk=line.pk)


def lease_release(*, line: Line, user: AnyUser) -> None:
    """Skip: give the line back to the queue and never serve it to this user again."""
    membership_require(project=line.project_id, user=user)
    with transaction.atomic():
        Line.objects.filter(pk=line.pk, lease_user_id=user.pk).update(**NO_LEASE)
        LineSkip.objects.get_or_create(line_id=line.pk, user_id=user_pk(user))


def leases_return(
    *,
    user: AnyUser,
    project: Project | None = None,
    leases: Sequence[uuid.UUID] | None = None,
    keep_lines: Sequence[int] = (),
) -> int:
    """Give lines back to the queue without skipping them (the labeler left the
    page, or logged out); returns how many leases ended.

    Only ``user``'s own leases, in ``project`` when given. ``leases``: only these
    grants (a lease granted again since, by a reload, stays); None: all of
    them. ``keep_lines``: lines whose submit is still on its way keep their lease.
    """
    if project is not None:
        membership_require(project=project, user=user)
    mine = Line.objects.filter(lease_user_id=user_pk(user), queue_state=Line.QueueState.UNLABELED)
    if project is not None:
        mine = mine.filter(project=project)
    if leases is not None:
        mine = mine.filter(lease_token__in=list(leases))
    return mine.exclude(pk__in=list(keep_lines)).update(**NO_LEASE)


# --- labels ------------------------------------------------------------------


def transcription_text_clean(text: str, *, allow_empty: bool = False, modernise: bool = False) -> str:
    """NFC, surrounding whitespace trimmed, historical characters replaced when
    ``modernise`` (a project that does not keep them); raises InvalidInputError
    saying what is wrong."""
    cleaned = unicodedata.normalize("NFC", text).strip()
    if modernise:
        cleaned = text_modernise(cleaned)
    if not cleaned and not allow_empty:
        message = "The text is empty. Type what the line says, or skip it."
        raise InvalidInputError(message, fields={"text": [message]})
    if len(cleaned) > MAX_TEXT_LENGTH:
        message = f"The text is {len(cleaned)} characters long; a line may have at most {MAX_TEXT_LENGTH}."
        raise InvalidInputError(message, fields={"text": [message]})
    for position, char in enumerate(cleaned):
        if unicodedata.category(char) in _FORBIDDEN_CATEGORIES:
            message = (
                f"The text contains the control character U+{ord(char):04X} at position {position}; "
                "a transcription is one line of text without tabs or line breaks."
            )
            raise InvalidInputError(message, fields={"text": [message]})
    return cleaned


def line_edit_require(*, line: Line, user: AnyUser, membership: Membership, lease: uuid.UUID | None = None) -> None:
    """May ``user`` write a label or draft for ``line`` right now (under the
    grant ``lease``, when named)? Raises ConflictError if not."""
    if membership.can_review:
        return
    if line.queue_state == Line.QueueState.UNLABELED:
        if line.lease_user_id == user.pk and (lease is None or line.lease_token == lease):
            return
        if line.lease_user_id == user.pk:
            raise ConflictError(
                "Your hold on this line ended (you left the page, or it expired) and it was given to you "
                "again since; this text was typed under the earlier hold and is not stored. Your text is kept."
            )
        if line.lease_user_id is None:
            raise ConflictError("You do not hold this line; take it from the queue first.")
        raise ConflictError(
            "Another labeler holds this line now (your lease expired, or you skipped it); your draft is kept."
        )
    current = line.current_transcription
    if current is not None and current.author_id == user.pk:
        return
    flag = line.flag
    if current is None and flag is not None and flag.author_id == user.pk:
        # The labeler who flagged the line (going back to it) may type its text after all.
        return
    raise ConflictError("This line was already labeled by another labeler.")


def line_work_take(*, line: Line, user: AnyUser, membership: Membership, lease: uuid.UUID | None) -> Line | None:
    """Inside a transaction: take ``line`` out of the queue as ``user``'s new
    work (a submit, a flag). None when it was taken now; else the line's row,
    locked: not new work (an amend, a retry that lost to its twin, or a
    conflict), which the caller checks for its replay, then with
    ``line_amend_require``. New work needs the lease (reviewers and admins
    need none), and the grant ``lease`` when named."""
    may_take = Q() if membership.can_review else Q(lease_user_id=user.pk)
    if lease is not None and not membership.can_review:
        may_take &= Q(lease_token=lease)
    # Race: two labelers submitting one line as new work (the first lease
    # expired and the line went to a second labeler). This conditional
    # UPDATE decides: it flips unlabeled -> labeled only for the lease
    # holder; on PostgreSQL a concurrent submit waits on the row lock and
    # then re-tests the condition against the committed row, finding it labeled.
    taken = (
        Line.objects.filter(pk=line.pk, queue_state=Line.QueueState.UNLABELED)
        .filter(may_take)
        .update(queue_state=Line.QueueState.LABELED, **NO_LEASE)
    )
    if taken:
        return None
    # The row lock orders concurrent amends so `current` moves once per row
    # (only the line's row: its text and flag may be null).
    return Line.objects.select_for_update(of=("self",)).select_related("current_transcription", "flag").get(pk=line.pk)


def line_amend_require(*, line: Line, user: AnyUser, membership: Membership, lease: uuid.UUID | None) -> None:
    """``line`` (locked, not taken as new work by ``line_work_take``) may be
    amended by ``user``: raises ConflictError if not."""
    line_edit_require(line=line, user=user, membership=membership, lease=lease)
    if line.queue_state == Line.QueueState.UNLABELED and not membership.can_review:
        # Only the conditional UPDATE of line_work_take may turn new work into a label.
        raise ConflictError("You do not hold this line; take it from the queue first.")


def client_id_replayed(
    rows: QuerySet[Transcription] | QuerySet[LineFlag], *, client_id: uuid.UUID, line: Line, user: AnyUser, what: str
) -> Transcription | LineFlag | None:
    """The row an earlier request with ``client_id`` created (a retry gets it
    back), or None; ConflictError if that id went with another line or person.
    ``rows``: the table of the work (submissions, flags), ``what`` names it."""
    earlier = rows.filter(client_id=client_id).first()
    if earlier is None:
        return None
    if earlier.line_id != line.pk or earlier.author_id != user.pk:
        message = f"This client_id was already used for another {what}; generate a new one for each line."
        raise ConflictError(message, fields={"client_id": [message]})
    return earlier


def _submission_replayed(*, client_id: uuid.UUID, line: Line, user: AnyUser) -> Transcription | None:
    earlier = client_id_replayed(
        Transcription.objects.all(), client_id=client_id, line=line, user=user, what="submission"
    )
    assert earlier is None or isinstance(earlier, Transcription)
    return earlier


def label_submit(
    *, line: Line, user: AnyUser, text: str, client_id: uuid.UUID, lease: uuid.UUID | None = None
) -> Transcription:
    """Store a labeler's text for ``line`` as a new Transcription row.

    Idempotent by ``client_id``: a retried request returns the row the first one
    created. New work needs the lease (reviewers and admins need none), and,
    when ``lease`` names the grant the text was typed under, that very grant: a
    line released or leased again since is refused. A line already labeled can
    be amended by the author of its current text (or a reviewer), which adds a
    row and moves ``Line.current_transcription``.
    """
    membership = membership_require(project=line.project_id, user=user)
    project = line.project
    cleaned = transcription_text_clean(text, modernise=not project.keep_historical)
    replayed = _submission_replayed(client_id=client_id, line=line, user=user)
    if replayed is not None:
        return replayed
    status = (
        Transcription.Status.VERIFIED
        if membership.can_review or not project.require_review
        else Transcription.Status.SUBMITTED
    )
    # For the team statistics: what the labeler started from, and how long the
    # line took (from the claim of the lease the line was loaded under).
    reading = line_prediction(line=line)
    seconds = None
    if line.lease_user_id == user.pk and line.lease_claimed_at is not None:
        seconds = max(0.0, (timezone.now() - line.lease_claimed_at).total_seconds())
    with transaction.atomic():
        locked = line_work_take(line=line, user=user, membership=membership, lease=lease)
        taken = locked is None
        if locked is not None:
            replayed = _submission_replayed(client_id=client_id, line=line, user=user)
            if replayed is not None:
                return replayed
            line_amend_require(line=locked, user=user, membership=membership, lease=lease)
        try:
            with transaction.atomic():
                transcription = Transcription.objects.create(
                    line_id=line.pk,
                    author_id=user.pk,
                    source=Transcription.Source.HUMAN,
                    status=status,
                    text=cleaned,
                    client_id=client_id,
                    model_text=reading.text if reading is not None else None,
                    seconds=seconds if taken else None,
                )
        except IntegrityError:
            replayed = _submission_replayed(client_id=client_id, line=line, user=user)
            if replayed is not None:
                return replayed
            raise
        # A text replaces a flag the line had (its author typed it after all).
        Line.objects.filter(pk=line.pk).update(current_transcription=transcription, flag=None)
        Transcription.objects.filter(line_id=line.pk, author_id=user.pk, status=Transcription.Status.DRAFT).delete()
        line_disagreement_refresh(line=line)
    if status == Transcription.Status.VERIFIED:
        # A new verified line may complete the batch that retrains the model.
        training_run_request_if_due(project=project)
    return transcription


def draft_save(*, line: Line, user: AnyUser, text: str) -> Transcription:
    """Autosave: one draft row per (line, author), updated in place."""
    membership = membership_require(project=line.project_id, user=user)
    cleaned = transcription_text_clean(text, allow_empty=True)
    fresh = Line.objects.select_related("current_transcription").get(pk=line.pk)
    line_edit_require(line=fresh, user=user, membership=membership)
    draft, _created = Transcription.objects.update_or_create(
        line_id=line.pk,
        author_id=user.pk,
        status=Transcription.Status.DRAFT,
        defaults={"text": cleaned, "source": Transcription.Source.HUMAN},
    )
    return draft
