"""Who did what: team statistics per labeler and day, and the review lists filtered
by labeler and by date."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from annotator.models import Line, Membership, Project, Transcription
from annotator.services import label_submit, line_claim, line_review
from recognition.metrics import character_errors
from tests.annotator.factories import make_lines, make_member, make_project, make_user, score_lines

pytestmark = pytest.mark.django_db


def as_user(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def label_next(project: Project, user: User, text: str, *, took: float) -> Transcription:
    """``user`` takes the next line from the queue and submits ``text``, ``took``
    seconds after the claim (the claim's time set back, so nothing waits)."""
    line = line_claim(project=project, user=user)
    assert line is not None
    Line.objects.filter(pk=line.pk).update(lease_claimed_at=timezone.now() - timedelta(seconds=took))
    line.refresh_from_db()
    return label_submit(line=line, user=user, text=text, client_id=uuid.uuid4(), lease=line.lease_token)


def team(*, require_review: bool = True) -> tuple[Project, list[Line], User, User, User]:
    """Four scored lines (the model reads line n as "guess <id>"); alice, bob and a reviewer."""
    project = make_project(require_review=require_review, top_window=1)  # served in priority order
    lines = make_lines(project, 4)
    score_lines(lines, [0.9, 0.8, 0.7, 0.6])
    alice, bob = make_member(project, user=make_user("alice")), make_member(project, user=make_user("bob"))
    return project, lines, alice, bob, make_member(project, Membership.Role.REVIEWER)


def test_statistics_per_labeler_and_day_count_lines_characters_time_corrections_and_review_changes() -> None:
    project, lines, alice, bob, reviewer = team()
    first = label_next(project, alice, f"guess {lines[0].pk}", took=10)  # the model's reading, unchanged
    label_next(project, alice, "kew gardens", took=30)
    label_next(project, bob, "dear sir", took=20)
    line_review(line=first.line, user=reviewer, action="correct", text="guess!", client_id=uuid.uuid4())
    yesterday = label_next(project, bob, "yours", took=5)
    Transcription.objects.filter(pk=yesterday.pk).update(created_at=timezone.now() - timedelta(days=1))

    response = as_user(reviewer).get(f"/api/projects/{project.pk}/team-stats")

    assert response.status_code == 200
    rows = {(row["username"], row["day"]): row for row in response.json()["rows"]}
    today, before = timezone.localdate().isoformat(), (timezone.localdate() - timedelta(days=1)).isoformat()
    # The reviewer's correction is a text of theirs too.
    assert set(rows) == {("alice", today), ("bob", today), ("bob", before), (reviewer.username, today)}
    alice_today = rows[("alice", today)]
    assert alice_today["lines"] == 2
    assert alice_today["characters"] == len(f"guess {lines[0].pk}") + len("kew gardens")
    assert 20 <= alice_today["median_seconds"] < 60
    assert alice_today["edit_distance"] == character_errors(f"guess {lines[1].pk}", "kew gardens")
    assert alice_today["edit_distance_per_line"] == alice_today["edit_distance"] / 2
    assert (alice_today["changed_in_review"], alice_today["changed_in_review_share"]) == (1, 0.5)
    assert rows[("bob", today)]["changed_in_review_share"] == 0.0
    assert rows[("bob", before)]["lines"] == 1
    only_today = (
        as_user(reviewer)
        .get(f"/api/projects/{project.pk}/team-stats", {"date_from": today, "date_to": today})
        .json()["rows"]
    )
    assert {row["day"] for row in only_today} == {today}
    assert {member["username"] for member in response.json()["members"]} == {"alice", "bob", reviewer.username}


def test_statistics_are_for_reviewers_and_admins() -> None:
    project, _lines, alice, _bob, _reviewer = team()

    refused = as_user(alice).get(f"/api/projects/{project.pk}/team-stats")
    backwards = as_user(make_member(project, Membership.Role.ADMIN)).get(
        f"/api/projects/{project.pk}/team-stats", {"date_from": "2026-02-02", "date_to": "2026-02-01"}
    )

    assert refused.status_code == 403
    assert "labeler" in refused.json()["error"]["message"]
    assert backwards.status_code == 400


def test_review_lists_filter_by_labeler_and_by_date() -> None:
    project, _lines, alice, bob, reviewer = team()
    label_next(project, alice, "one", took=1)
    old = label_next(project, alice, "two", took=1)
    label_next(project, bob, "three", took=1)
    Transcription.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    url = f"/api/projects/{project.pk}/review"
    client = as_user(reviewer)

    def texts(**params: str | int) -> list[str]:
        body = client.get(url, {"kind": "pending", **params}).json()
        return sorted(item["transcription"]["text"] for item in body["items"])

    today = timezone.localdate().isoformat()
    assert texts() == ["one", "three", "two"]
    assert texts(labeler=alice.pk) == ["one", "two"]
    assert texts(labeler=alice.pk, date_from=today) == ["one"]
    assert texts(date_to=(timezone.localdate() - timedelta(days=1)).isoformat()) == ["two"]
    assert client.get(url, {"kind": "pending", "date_from": "yesterday"}).status_code == 400
