"""Many labelers claiming at once, each in its own thread and connection.

Runs on PostgreSQL (row locks, SKIP LOCKED) and, through test_sqlite.py, on a
SQLite file (compare-and-set); ``transaction=True`` because the threads must
see each other's commits."""

from __future__ import annotations

from collections import Counter

import pytest
from django.contrib.auth.models import User

from annotator.models import Line, Project, Transcription
from annotator.services import label_submit, line_claim
from tests.annotator.factories import client_id, make_lines, make_member, make_project, run_in_threads

pytestmark = [pytest.mark.claim, pytest.mark.django_db(transaction=True)]

THREADS = 16
CLAIMS_PER_THREAD = 20
LINES = 100


@pytest.fixture
def world() -> tuple[Project, list[User]]:
    project = make_project(top_window=5)
    make_lines(project, LINES)
    return project, [make_member(project) for _ in range(THREADS)]


def test_concurrent_claims_never_share_a_line(world: tuple[Project, list[User]]) -> None:
    project, users = world
    claims: list[list[int]] = [[] for _ in range(THREADS)]

    def labeler(index: int) -> None:
        user = users[index]
        for _ in range(CLAIMS_PER_THREAD):
            line = line_claim(project=project, user=user)
            if line is None:
                return
            claims[index].append(line.pk)
            label_submit(line=line, user=user, text=f"by {user.pk}", client_id=client_id())

    run_in_threads(labeler, THREADS)

    served = Counter(pk for per_thread in claims for pk in per_thread)
    assert served.most_common(1)[0][1] == 1, "a line was leased to two labelers"
    assert len(served) == LINES, "16 x 20 claims must drain all 100 lines"
    assert Transcription.objects.count() == LINES
    # Each label came from the labeler the line was leased to.
    for index, user in enumerate(users):
        authored = set(Transcription.objects.filter(author=user).values_list("line_id", flat=True))
        assert authored == set(claims[index])
    assert not Line.objects.filter(queue_state=Line.QueueState.UNLABELED).exists()


def test_concurrent_claims_hold_one_lease_each(world: tuple[Project, list[User]]) -> None:
    """Without submitting, every repeated claim is the same line and no two users share one."""
    project, users = world
    claims: list[set[int]] = [set() for _ in range(THREADS)]

    def labeler(index: int) -> None:
        for _ in range(CLAIMS_PER_THREAD // 4):
            line = line_claim(project=project, user=users[index])
            assert line is not None
            claims[index].add(line.pk)

    run_in_threads(labeler, THREADS)

    assert all(len(held) == 1 for held in claims), "a reload must return the held line"
    assert len(set().union(*claims)) == THREADS
    leased = Line.objects.exclude(lease_user=None)
    assert sorted(leased.values_list("lease_user_id", flat=True)) == sorted(user.pk for user in users)
