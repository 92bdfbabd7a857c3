"""The labeling queue: what line_claim serves, in which order, and leases.

Marked ``claim``: test_sqlite.py runs these again on SQLite, where the claim
takes its compare-and-set path instead of row locks."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from annotator.errors import ConflictError, InvalidInputError, NotFoundError
from annotator.models import Line, LineSkip, Project
from annotator.services import label_submit, lease_heartbeat, lease_release, leases_return, line_claim
from tests.annotator.factories import (
    claim_with_ahead,
    client_id,
    make_document,
    make_lines,
    make_member,
    make_project,
    score_lines,
)

pytestmark = [pytest.mark.django_db, pytest.mark.claim]


def claim_and_label(project: Project, user: User) -> Line | None:
    line = line_claim(project=project, user=user)
    if line is not None:
        label_submit(line=line, user=user, text="text", client_id=client_id())
    return line


def expire(line: Line) -> None:
    Line.objects.filter(pk=line.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))


def test_most_uncertain_line_comes_first() -> None:
    project = make_project(top_window=1)
    user = make_member(project)
    lines = make_lines(project, 5)
    score_lines(lines, [0.3, 0.9, 0.1, 0.5, 0.7])

    served = [claim_and_label(project, user) for _ in range(5)]

    assert [line.pk for line in served if line] == [lines[i].pk for i in (1, 4, 3, 0, 2)]
    assert claim_and_label(project, user) is None


def test_lines_the_active_model_has_not_read_come_after_scored_ones() -> None:
    project = make_project(top_window=1)
    user = make_member(project)
    scored = make_lines(project, 2, prefix="old")
    score_lines(scored, [0.8, 0.2])
    fresh = make_lines(project, 1, prefix="new")

    served = [claim_and_label(project, user) for _ in range(3)]

    assert [line.pk for line in served if line] == [scored[0].pk, scored[1].pk, fresh[0].pk]


def test_before_any_model_documents_are_interleaved() -> None:
    project = make_project(top_window=1)
    user = make_member(project)
    (page_a,) = make_document(project)
    (page_b,) = make_document(project)
    a = make_lines(project, 3, page=page_a, prefix="a")
    b = make_lines(project, 3, page=page_b, prefix="b")

    served = [claim_and_label(project, user) for _ in range(6)]

    assert [line.pk for line in served if line] == [a[0].pk, b[0].pk, a[1].pk, b[1].pk, a[2].pk, b[2].pk]


def test_random_draw_stays_inside_top_window() -> None:
    random.seed(1234)
    project = make_project(top_window=5)
    lines = make_lines(project, 30)
    score_lines(lines, [n / 30 for n in range(30)])
    top = {line.pk for line in lines[-5:]}

    drawn = []
    for _ in range(40):
        line = line_claim(project=project, user=make_member(project))
        assert line is not None
        drawn.append(line.pk)
        Line.objects.update(lease_user=None, lease_expires_at=None)

    assert set(drawn) <= top
    assert len(set(drawn)) > 1, "the draw must spread labelers over the window"


def test_reload_returns_the_same_line_and_extends_the_lease() -> None:
    project = make_project()
    user = make_member(project)
    make_lines(project, 10)

    first = line_claim(project=project, user=user)
    assert first is not None
    Line.objects.filter(pk=first.pk).update(lease_expires_at=timezone.now() + timedelta(seconds=5))
    again = line_claim(project=project, user=user)

    assert again is not None
    assert again.pk == first.pk
    assert again.lease_expires_at is not None
    assert again.lease_expires_at > timezone.now() + timedelta(seconds=project.lease_seconds - 60)
    assert Line.objects.filter(lease_user=user).count() == 1


def test_a_reload_resumes_the_line_it_showed_not_the_one_fetched_ahead() -> None:
    project = make_project()
    user = make_member(project)
    make_lines(project, 10)
    _other, shown = claim_with_ahead(project, user)
    # The page shows `shown`, the line it fetched ahead (it moved on to it);
    # without `resume` the reload gets whichever held line comes first.
    resumed = line_claim(project=project, user=user, resume=shown.pk)
    assert resumed is not None
    assert resumed.pk == shown.pk
    assert Line.objects.filter(lease_user=user).count() == 2


def test_a_reload_after_leaving_released_the_lines_leases_the_shown_line_again() -> None:
    project = make_project()
    user = make_member(project)
    make_lines(project, 10)
    shown, ahead = claim_with_ahead(project, user)
    assert shown.lease_token is not None
    assert ahead.lease_token is not None
    assert leases_return(user=user, project=project, leases=[shown.lease_token, ahead.lease_token]) == 2

    resumed = line_claim(project=project, user=user, resume=shown.pk)
    assert resumed is not None
    assert resumed.pk == shown.pk
    assert resumed.lease_token not in {None, shown.lease_token}, "a new grant"
    # A release naming the old grants, arriving late, leaves the new one alone.
    assert leases_return(user=user, project=project, leases=[shown.lease_token]) == 0
    assert Line.objects.get(pk=shown.pk).lease_user_id == user.pk


def test_resume_never_takes_a_line_from_another_labeler_or_one_skipped() -> None:
    project = make_project(top_window=1)
    user, rival = make_member(project), make_member(project)
    lines = make_lines(project, 4)
    taken = line_claim(project=project, user=rival)
    assert taken is not None
    served = line_claim(project=project, user=user, resume=taken.pk)
    assert served is not None
    assert served.pk != taken.pk
    assert Line.objects.get(pk=taken.pk).lease_user_id == rival.pk
    lease_release(line=served, user=user)
    again = line_claim(project=project, user=user, resume=served.pk)
    assert again is not None
    assert again.pk not in {served.pk, taken.pk}
    assert {line.pk for line in lines} >= {again.pk}


def test_leaving_returns_only_the_leavers_leases_and_skips_nothing() -> None:
    project = make_project(top_window=1)
    user, rival = make_member(project), make_member(project)
    make_lines(project, 4)
    mine, kept = claim_with_ahead(project, user)
    theirs = line_claim(project=project, user=rival)
    assert theirs is not None

    assert leases_return(user=user, keep_lines=[kept.pk]) == 1
    assert set(Line.objects.filter(lease_user__isnull=False).values_list("pk", flat=True)) == {kept.pk, theirs.pk}
    assert not LineSkip.objects.exists()
    assert line_claim(project=project, user=user, exclude=[kept.pk]) == mine, "a returned line comes back"


def test_fetch_ahead_leases_a_second_line_and_keeps_the_first() -> None:
    project = make_project()
    user = make_member(project)
    make_lines(project, 10)

    current = line_claim(project=project, user=user)
    assert current is not None
    ahead = line_claim(project=project, user=user, exclude=[current.pk])
    again = line_claim(project=project, user=user, exclude=[current.pk])

    assert ahead is not None
    assert ahead.pk != current.pk
    assert again is not None
    assert again.pk == ahead.pk, "fetching ahead twice must not burn a third line"
    assert set(Line.objects.filter(lease_user=user).values_list("pk", flat=True)) == {current.pk, ahead.pk}
    label_submit(line=current, user=user, text="done", client_id=client_id())
    assert line_claim(project=project, user=user) == ahead, "after submit the line fetched ahead is the current one"


def test_a_labeler_cannot_hold_more_than_two_lines() -> None:
    project = make_project()
    user = make_member(project)
    lines = make_lines(project, 5)

    with pytest.raises(InvalidInputError, match="at most 1 line you hold"):
        line_claim(project=project, user=user, exclude=[lines[0].pk, lines[1].pk])
    assert not Line.objects.filter(lease_user=user).exists()


def test_fetch_ahead_on_a_line_not_held_is_a_plain_claim() -> None:
    project = make_project(top_window=1)
    user = make_member(project)
    lines = make_lines(project, 3)

    served = line_claim(project=project, user=user, exclude=[lines[2].pk])

    assert served is not None
    assert served.pk != lines[2].pk
    assert Line.objects.filter(lease_user=user).count() == 1


def test_expired_lease_returns_the_line_to_the_queue() -> None:
    project = make_project(top_window=1)
    first, second = make_member(project), make_member(project)
    (line,) = make_lines(project, 1)

    assert line_claim(project=project, user=first) == line
    assert line_claim(project=project, user=second) is None, "a live lease keeps the line"
    expire(line)
    assert line_claim(project=project, user=second) == line

    with pytest.raises(ConflictError, match="went to another labeler"):
        lease_heartbeat(line=line, user=first)
    with pytest.raises(ConflictError, match="Another labeler holds this line"):
        label_submit(line=line, user=first, text="late", client_id=client_id())


def test_lapsed_lease_nobody_took_can_still_be_renewed_and_submitted() -> None:
    project = make_project()
    user = make_member(project)
    (line,) = make_lines(project, 1)
    assert line_claim(project=project, user=user) == line
    expire(line)

    renewed = lease_heartbeat(line=line, user=user)
    assert renewed.lease_active()
    expire(line)
    transcription = label_submit(line=line, user=user, text="still mine", client_id=client_id())
    assert transcription.line_id == line.pk


def test_skip_gives_the_line_to_others_but_not_back_to_the_skipper() -> None:
    project = make_project(top_window=1)
    skipper, other = make_member(project), make_member(project)
    lines = make_lines(project, 2)
    score_lines(lines, [0.9, 0.1])

    assert line_claim(project=project, user=skipper) == lines[0]
    lease_release(line=lines[0], user=skipper)

    assert line_claim(project=project, user=skipper) == lines[1]
    assert line_claim(project=project, user=other) == lines[0]
    assert LineSkip.objects.filter(user=skipper, line=lines[0]).exists()
    with pytest.raises(ConflictError, match="Another labeler holds this line"):
        label_submit(line=lines[0], user=skipper, text="x", client_id=client_id())
    lease_release(line=lines[0], user=other)
    with pytest.raises(ConflictError, match="do not hold"):
        label_submit(line=lines[0], user=skipper, text="x", client_id=client_id())


def test_eval_lines_first_until_the_minimum_then_training_lines() -> None:
    project = make_project(top_window=1, eval_share=0.3, min_eval_lines=2)
    user = make_member(project)
    lines = make_lines(project, 40)
    score_lines(lines, [0.5] * 40)
    evals = sorted((line for line in lines if line.split == Line.Split.EVAL), key=lambda line: line.sample_key)
    trains = [line for line in lines if line.split == Line.Split.TRAIN]
    assert len(evals) >= 4

    served = [claim_and_label(project, user) for _ in range(40)]

    splits = [line.split for line in served if line]
    assert [line.pk for line in served[:2] if line] == [evals[0].pk, evals[1].pk], "eval lines in hash order"
    assert splits[2 : 2 + len(trains)] == ["train"] * len(trains)
    assert splits[2 + len(trains) :] == ["eval"] * (len(evals) - 2), "remaining eval lines come last"


def test_members_only() -> None:
    project = make_project()
    make_lines(project, 1)
    outsider = make_member(make_project())

    with pytest.raises(NotFoundError):
        line_claim(project=project, user=outsider)
