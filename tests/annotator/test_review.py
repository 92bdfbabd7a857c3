"""Review: the lists a reviewer works through and approve / correct / reject."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from annotator.errors import ForbiddenError, InvalidInputError
from annotator.models import Line, Membership, Prediction, ReviewAction, Transcription
from annotator.selectors import review_list
from annotator.services import label_submit, line_claim, line_review
from tests.annotator.factories import client_id, make_lines, make_member, make_project, score_lines

pytestmark = pytest.mark.django_db


def submitted_line(*, require_review: bool, text: str = "kew gardens") -> tuple[Line, Transcription]:
    project = make_project(require_review=require_review)
    labeler = make_member(project)
    (line,) = make_lines(project, 1)
    score_lines([line], [0.4])
    claimed = line_claim(project=project, user=labeler)
    assert claimed == line
    transcription = label_submit(line=line, user=labeler, text=text, client_id=client_id())
    line.refresh_from_db()
    return line, transcription


def test_approving_a_pending_submission_verifies_it_and_records_who() -> None:
    line, submitted = submitted_line(require_review=True)
    reviewer = make_member(line.project, Membership.Role.REVIEWER)
    assert submitted.status == Transcription.Status.SUBMITTED
    assert review_list(project=line.project, kind="pending")[0] == 1

    approved = line_review(line=line, user=reviewer, action="approve", client_id=client_id())

    assert approved.pk == submitted.pk
    assert approved.status == Transcription.Status.VERIFIED
    assert approved.text == "kew gardens"
    action = ReviewAction.objects.get(line=line)
    assert (action.reviewer, action.action, action.reviewed) == (reviewer, "approve", submitted)
    assert review_list(project=line.project, kind="pending")[0] == 0


def test_correcting_adds_a_verified_text_and_keeps_the_labelers() -> None:
    line, _submitted = submitted_line(require_review=False, text="kew gardns")
    reviewer = make_member(line.project, Membership.Role.REVIEWER)

    corrected = line_review(line=line, user=reviewer, action="correct", text=" kew gardens ", client_id=client_id())

    line.refresh_from_db()
    assert line.current_transcription == corrected
    assert (corrected.text, corrected.author, corrected.status) == ("kew gardens", reviewer, "verified")
    assert list(line.transcriptions.order_by("id").values_list("text", flat=True)) == ["kew gardns", "kew gardens"]


def test_rejecting_sends_the_line_back_to_the_queue_with_history_kept() -> None:
    line, submitted = submitted_line(require_review=False)
    reviewer = make_member(line.project, Membership.Role.ADMIN)
    other = make_member(line.project)

    rejected = line_review(line=line, user=reviewer, action="reject", client_id=client_id())

    line.refresh_from_db()
    assert rejected.pk == submitted.pk
    assert rejected.status == Transcription.Status.REJECTED
    assert (line.queue_state, line.current_transcription) == (Line.QueueState.UNLABELED, None)
    assert line_claim(project=line.project, user=other) == line, "a rejected line is labeled again"
    assert Transcription.objects.filter(pk=submitted.pk, text="kew gardens").exists()


def test_approving_bare_machine_output_makes_it_the_reviewers_verified_text() -> None:
    project = make_project()
    reviewer = make_member(project, Membership.Role.REVIEWER)
    (line,) = make_lines(project, 1)
    score_lines([line], [0.9])

    approved = line_review(line=line, user=reviewer, action="approve", client_id=client_id())

    line.refresh_from_db()
    assert approved.text == f"guess {line.pk}"
    assert (approved.source, approved.status, approved.author) == ("human", "verified", reviewer)
    assert line.queue_state == Line.QueueState.LABELED


def test_a_review_retried_with_its_client_id_happens_once() -> None:
    line, _ = submitted_line(require_review=False)
    reviewer = make_member(line.project, Membership.Role.REVIEWER)
    key = client_id()

    first = line_review(line=line, user=reviewer, action="correct", text="dear sir", client_id=key)
    again = line_review(line=line, user=reviewer, action="correct", text="dear sir", client_id=key)

    assert first.pk == again.pk
    assert ReviewAction.objects.filter(line=line).count() == 1
    assert line.transcriptions.count() == 2


def test_labelers_cannot_review_and_bad_requests_are_explained() -> None:
    line, _ = submitted_line(require_review=False)
    labeler = make_member(line.project)
    reviewer = make_member(line.project, Membership.Role.REVIEWER)
    fresh = make_lines(line.project, 1, prefix="fresh")[0]

    with pytest.raises(ForbiddenError):
        line_review(line=line, user=labeler, action="approve", client_id=client_id())
    with pytest.raises(InvalidInputError, match="text is empty"):
        line_review(line=line, user=reviewer, action="correct", text="  ", client_id=client_id())
    with pytest.raises(InvalidInputError, match="no text to reject"):
        line_review(line=fresh, user=reviewer, action="reject", client_id=client_id())
    with pytest.raises(InvalidInputError, match="no machine reading"):
        line_review(line=fresh, user=reviewer, action="approve", client_id=client_id())
    assert not ReviewAction.objects.exists()


def test_low_confidence_list_holds_unverified_machine_output_least_sure_first() -> None:
    project = make_project(review_confidence=0.8)
    lines = make_lines(project, 4)
    score_lines(lines, [0.1, 0.5, 0.9, 0.3])  # confidence = 1 - u: 0.9, 0.5, 0.1, 0.7
    reviewer = make_member(project, Membership.Role.REVIEWER)
    line_review(line=lines[3], user=reviewer, action="correct", text="done", client_id=client_id())

    count, items = review_list(project=project, kind="low_confidence")

    assert count == 2
    assert [item["line"].pk for item in items] == [lines[2].pk, lines[1].pk]


def test_calibrated_confidence_decides_when_the_model_has_one() -> None:
    project = make_project(review_confidence=0.8)
    lines = make_lines(project, 2)
    model = score_lines(lines, [0.5, 0.5])
    Prediction.objects.filter(model_version=model, line=lines[0]).update(calibrated_confidence=0.95)

    _, items = review_list(project=project, kind="low_confidence")

    assert [item["line"].pk for item in items] == [lines[1].pk]


def test_disputed_list_holds_human_texts_far_from_the_model() -> None:
    project = make_project(dispute_cer=0.3)
    labeler = make_member(project)
    lines = make_lines(project, 2)
    score_lines(lines, [0.5, 0.4])
    for _ in lines:
        claimed = line_claim(project=project, user=labeler)
        assert claimed is not None
        guess = Prediction.objects.get(line=claimed).text
        # One text agrees with the model ("guess N" vs "guess N!"), one does not.
        text = guess + "!" if claimed.pk == lines[0].pk else "something else entirely"
        label_submit(line=claimed, user=labeler, text=text, client_id=client_id())

    count, items = review_list(project=project, kind="disputed")

    assert count == 1
    assert items[0]["line"].pk == lines[1].pk
    assert items[0]["disagreement"] is not None
    assert items[0]["disagreement"] > 0.3


def test_review_over_http_lists_and_corrects() -> None:
    line, _ = submitted_line(require_review=True)
    reviewer = make_member(line.project, Membership.Role.REVIEWER)
    client = APIClient()
    client.force_authenticate(reviewer)

    listed = client.get(f"/api/projects/{line.project_id}/review", {"kind": "pending"})
    corrected = client.post(
        f"/api/lines/{line.pk}/review",
        {"action": "correct", "text": "kew", "client_id": str(client_id())},
        format="json",
    )
    wrong = client.get(f"/api/projects/{line.project_id}/review", {"kind": "everything"})

    assert listed.status_code == 200
    assert listed.json()["count"] == 1
    assert listed.json()["items"][0]["transcription"]["text"] == "kew gardens"
    assert listed.json()["items"][0]["line"]["image_url"].endswith(f"/api/lines/{line.pk}/image")
    assert corrected.status_code == 200, corrected.json()
    assert corrected.json()["text"] == "kew"
    assert wrong.status_code == 400
    assert "kind" in wrong.json()["error"]["fields"]
