"""Flags on lines: a labeler's "illegible", "not a text line" or "needs a second
look" instead of a text, under the line's lease; the review list "flagged" and
a reviewer's decision. (Never training text: test_training; exported:
test_exports.)"""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from annotator.errors import ConflictError, ForbiddenError, InvalidInputError
from annotator.models import Line, LineFlag, Membership, ReviewAction, Transcription
from annotator.selectors import review_list
from annotator.services import label_submit, leases_return, line_claim, line_flag, line_flag_decide, line_review
from tests.annotator.factories import client_id, make_lines, make_member, make_project

pytestmark = pytest.mark.django_db


def flagged_line(kind: str = "illegible", comment: str = "ink blot") -> tuple[Line, LineFlag]:
    project = make_project()
    labeler = make_member(project)
    make_lines(project, 3)
    line = line_claim(project=project, user=labeler)
    assert line is not None
    flag = line_flag(line=line, user=labeler, kind=kind, comment=comment, client_id=client_id(), lease=line.lease_token)
    line.refresh_from_db()
    return line, flag


def test_a_flagged_line_leaves_the_queue_and_waits_in_the_flagged_review_list() -> None:
    line, flag = flagged_line(comment="  ink blot over the second word ")
    labeler = flag.author
    assert labeler is not None

    assert (line.queue_state, line.lease_user_id, line.flag_id) == ("labeled", None, flag.pk)
    assert flag.comment == "ink blot over the second word"
    assert line.current_transcription is None
    leases_return(user=labeler, project=line.project)
    others = [line_claim(project=line.project, user=make_member(line.project)) for _ in range(3)]
    assert line not in others
    count, items = review_list(project=line.project, kind="flagged")
    assert count == 1
    assert items[0]["line"] == line
    assert items[0]["flag"] == flag
    for other_kind in ("disputed", "pending", "model_accepted"):
        assert review_list(project=line.project, kind=other_kind)[0] == 0


def test_flagging_is_idempotent_by_client_id() -> None:
    project = make_project()
    labeler = make_member(project)
    make_lines(project, 2)
    line = line_claim(project=project, user=labeler)
    assert line is not None
    key = client_id()

    first = line_flag(line=line, user=labeler, kind="not_a_line", client_id=key, lease=line.lease_token)
    again = line_flag(line=line, user=labeler, kind="not_a_line", client_id=key, lease=line.lease_token)

    assert first.pk == again.pk
    assert LineFlag.objects.count() == 1


@pytest.mark.parametrize("stale", ["released_and_granted_again", "never_held"])
def test_a_flag_not_under_the_current_lease_changes_nothing(stale: str) -> None:
    project = make_project()
    labeler = make_member(project)
    make_lines(project, 1)
    line = line_claim(project=project, user=labeler)
    assert line is not None
    typed_under = line.lease_token
    if stale == "released_and_granted_again":
        leases_return(user=labeler, project=project)
        assert line_claim(project=project, user=labeler, resume=line.pk) == line
    else:
        leases_return(user=labeler, project=project)
    before = Line.objects.values("queue_state", "lease_user_id", "lease_token", "flag_id").get(pk=line.pk)

    with pytest.raises(ConflictError):
        line_flag(line=line, user=labeler, kind="illegible", client_id=client_id(), lease=typed_under)

    assert not LineFlag.objects.exists()
    assert Line.objects.values("queue_state", "lease_user_id", "lease_token", "flag_id").get(pk=line.pk) == before


def test_a_bad_kind_or_comment_is_refused_saying_which() -> None:
    project = make_project()
    labeler = make_member(project)
    make_lines(project, 1)
    line = line_claim(project=project, user=labeler)
    assert line is not None

    with pytest.raises(InvalidInputError, match="Unknown flag 'blurry'") as bad_kind:
        line_flag(line=line, user=labeler, kind="blurry", client_id=client_id())
    with pytest.raises(InvalidInputError, match="without tabs or line breaks"):
        line_flag(line=line, user=labeler, kind="illegible", comment="a\nb", client_id=client_id())

    assert "kind" in bad_kind.value.fields
    assert Line.objects.get(pk=line.pk).queue_state == "unlabeled"


def test_the_labeler_may_flag_their_previous_line_and_type_its_text_after_all() -> None:
    project = make_project()
    labeler = make_member(project)
    make_lines(project, 2)
    line = line_claim(project=project, user=labeler)
    assert line is not None
    label_submit(line=line, user=labeler, text="kew", client_id=client_id(), lease=line.lease_token)
    line_flag(line=line, user=labeler, kind="second_look", comment="is it Kew?", client_id=client_id())
    assert Line.objects.get(pk=line.pk).flag_id is not None

    label_submit(line=line, user=labeler, text="Kew", client_id=client_id())

    line.refresh_from_db()
    assert line.flag_id is None
    assert line.current_transcription is not None
    assert line.current_transcription.text == "Kew"


def test_another_labeler_cannot_flag_a_line_someone_labeled() -> None:
    project = make_project()
    labeler = make_member(project)
    make_lines(project, 1)
    line = line_claim(project=project, user=labeler)
    assert line is not None
    label_submit(line=line, user=labeler, text="kew", client_id=client_id(), lease=line.lease_token)

    with pytest.raises(ConflictError, match="already labeled"):
        line_flag(line=line, user=make_member(project), kind="illegible", client_id=client_id())


def test_a_reviewer_keeps_a_flag_and_the_line_stays_out_of_training_and_lists() -> None:
    line, flag = flagged_line()
    reviewer = make_member(line.project, Membership.Role.REVIEWER)
    key = client_id()

    kept = line_flag_decide(line=line, user=reviewer, decision="keep", client_id=key)
    again = line_flag_decide(line=line, user=reviewer, decision="keep", client_id=key)

    assert kept.pk == again.pk == flag.pk
    assert (kept.resolution, kept.resolved_by) == ("kept", reviewer)
    assert Line.objects.get(pk=line.pk).flag_id == flag.pk
    assert review_list(project=line.project, kind="flagged")[0] == 0
    assert ReviewAction.objects.get(flag=flag).action == "approve"
    with pytest.raises(ConflictError, match="no flag waiting"):
        line_flag_decide(line=line, user=reviewer, decision="clear", client_id=client_id())


def test_clearing_a_flag_sends_a_line_without_text_back_to_the_queue() -> None:
    line, _flag = flagged_line()
    reviewer = make_member(line.project, Membership.Role.REVIEWER)

    cleared = line_flag_decide(line=line, user=reviewer, decision="clear", client_id=client_id())

    line.refresh_from_db()
    assert cleared.resolution == "cleared"
    assert (line.flag_id, line.queue_state) == (None, "unlabeled")


def test_a_reviewer_types_a_flagged_lines_text_and_the_flag_is_cleared() -> None:
    line, flag = flagged_line()
    reviewer = make_member(line.project, Membership.Role.REVIEWER)

    with pytest.raises(ConflictError, match="flagged"):
        line_review(line=line, user=reviewer, action="approve", client_id=client_id())
    corrected = line_review(line=line, user=reviewer, action="correct", text="kew", client_id=client_id())

    line.refresh_from_db()
    flag.refresh_from_db()
    assert (line.flag_id, line.current_transcription) == (None, corrected)
    assert corrected.status == Transcription.Status.VERIFIED
    assert flag.resolution == "cleared"


def test_labelers_cannot_decide_on_flags() -> None:
    line, _flag = flagged_line()
    with pytest.raises(ForbiddenError):
        line_flag_decide(line=line, user=make_member(line.project), decision="clear", client_id=client_id())


# --- over HTTP ----------------------------------------------------------------


def as_user(user: object) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)  # type: ignore[arg-type]
    return client


def test_flagging_over_http_under_the_lease_and_a_bad_kind_is_a_json_400() -> None:
    project = make_project()
    labeler = make_member(project)
    make_lines(project, 2)
    client = as_user(labeler)
    shown = client.post(reverse("queue-next", args=[project.pk])).json()["line"]
    url = reverse("line-flag", args=[shown["id"]])

    bad = client.post(url, {"kind": "smudged", "client_id": str(uuid.uuid4()), "lease": shown["lease"]}, format="json")
    stale = client.post(
        url, {"kind": "illegible", "client_id": str(uuid.uuid4()), "lease": str(uuid.uuid4())}, format="json"
    )
    body = {"kind": "illegible", "comment": "faded", "client_id": str(uuid.uuid4()), "lease": shown["lease"]}
    done = client.post(url, body, format="json")

    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid"
    assert "kind" in bad.json()["error"]["fields"]
    assert stale.status_code == 409
    assert stale.json()["error"]["message"]
    assert done.status_code == 200, done.json()
    assert (done.json()["kind"], done.json()["comment"], done.json()["resolution"]) == ("illegible", "faded", "")
    kinds = [kind["name"] for kind in client.get(reverse("vocabulary")).json()["flag_kinds"]]
    assert kinds == ["illegible", "not_a_line", "second_look"]


def test_the_flagged_review_list_and_decisions_over_http() -> None:
    line, flag = flagged_line(comment="torn")
    reviewer = as_user(make_member(line.project, Membership.Role.REVIEWER))

    listed = reviewer.get(reverse("review-list", args=[line.project_id]), {"kind": "flagged"}).json()
    decided = reviewer.post(
        reverse("line-flag-decision", args=[line.pk]),
        {"decision": "keep", "client_id": str(uuid.uuid4())},
        format="json",
    )
    labeler = as_user(flag.author).post(
        reverse("line-flag-decision", args=[line.pk]),
        {"decision": "clear", "client_id": str(uuid.uuid4())},
        format="json",
    )

    assert listed["count"] == 1
    assert listed["items"][0]["flag"]["kind"] == "illegible"
    assert listed["items"][0]["flag"]["comment"] == "torn"
    assert decided.status_code == 200
    assert decided.json()["resolution"] == "kept"
    assert labeler.status_code == 403
    assert labeler.json()["error"]["message"]
