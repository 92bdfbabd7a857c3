"""The Django admin's review tools: filters, thumbnails and approve / reject actions."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

from annotator.models import Line, Membership, Transcription
from annotator.services import label_submit, line_claim
from tests.annotator.factories import client_id, make_member, make_project, make_rendered_lines, score_lines

pytestmark = pytest.mark.django_db


def admin_client(user: User) -> Client:
    user.is_staff = user.is_superuser = True
    user.save()
    client = Client()
    client.force_login(user)
    return client


def test_needs_review_filter_lists_pending_lines_with_thumbnails(media_root: Path) -> None:
    project = make_project(require_review=True)
    labeler = make_member(project)
    reviewer = make_member(project, Membership.Role.REVIEWER)
    lines = make_rendered_lines(project, ["dear sir", "kew gardens"])
    score_lines(lines, [0.5, 0.6])
    claimed = line_claim(project=project, user=labeler)
    assert claimed is not None
    label_submit(line=claimed, user=labeler, text="dear sir", client_id=client_id())
    client = admin_client(reviewer)

    listing = client.get("/admin/annotator/line/", {"review": "pending"})
    crop = client.get(f"/admin/annotator/line/{claimed.pk}/crop")

    assert listing.status_code == 200
    assert f"/admin/annotator/line/{claimed.pk}/crop" in listing.content.decode()
    other = next(line for line in lines if line.pk != claimed.pk)
    assert f"/admin/annotator/line/{other.pk}/crop" not in listing.content.decode()
    assert crop.status_code == 200
    assert crop["Content-Type"] == "image/png"
    assert b"".join(crop.streaming_content).startswith(b"\x89PNG")  # type: ignore[attr-defined]


def test_approve_action_verifies_and_refuses_outside_the_reviewers_projects(media_root: Path) -> None:
    project = make_project(require_review=True)
    labeler = make_member(project)
    reviewer = make_member(project, Membership.Role.REVIEWER)
    (line,) = make_rendered_lines(project, ["dear sir"])
    assert line_claim(project=project, user=labeler) == line
    label_submit(line=line, user=labeler, text="dear sir", client_id=client_id())
    foreign_project = make_project()
    (foreign,) = make_rendered_lines(foreign_project, ["kew"], prefix="f")
    score_lines([foreign], [0.5])
    client = admin_client(reviewer)

    response = client.post(
        "/admin/annotator/line/",
        {"action": "approve", "_selected_action": [line.pk, foreign.pk]},
        follow=True,
    )

    assert response.status_code == 200
    line.refresh_from_db()
    assert line.current_transcription is not None
    assert line.current_transcription.status == Transcription.Status.VERIFIED
    assert "No such project" in response.content.decode()
    assert Line.objects.get(pk=foreign.pk).queue_state == Line.QueueState.UNLABELED
