"""Submitting, amending and drafting labels; the split; the retraining counter."""

from __future__ import annotations

import re

import pytest

from annotator.errors import ConflictError, InvalidInputError
from annotator.models import Line, Membership, ModelVersion, Project, Transcription
from annotator.selectors import line_previous, verified_lines_since_last_model
from annotator.services import (
    MAX_TEXT_LENGTH,
    draft_save,
    label_submit,
    leases_return,
    line_claim,
    line_sample_key,
)
from tests.annotator.factories import client_id, make_lines, make_member, make_project


def test_eval_split_is_deterministic_and_close_to_the_share() -> None:
    keys = [f"doc{d}/page{p}/line{n}" for d in range(5) for p in range(10) for n in range(40)]
    fractions = [line_sample_key(key) for key in keys]
    assert fractions == [line_sample_key(key) for key in keys]
    assert all(0.0 <= f < 1.0 for f in fractions)
    share = sum(f < 0.1 for f in fractions) / len(fractions)
    assert share == pytest.approx(0.1, abs=0.02)


@pytest.mark.django_db
def test_line_create_fixes_the_split_from_the_key() -> None:
    project = make_project(eval_share=0.25)
    lines = make_lines(project, 200, prefix="same")
    again = make_lines(make_project(eval_share=0.25), 200, prefix="same")
    assert [line.split for line in lines] == [line.split for line in again]
    eval_share = sum(line.split == Line.Split.EVAL for line in lines) / len(lines)
    assert eval_share == pytest.approx(0.25, abs=0.08)


def test_every_uncertainty_score_is_a_selection_strategy_and_the_default_is_one() -> None:
    from annotator.models import DEFAULT_SELECTION_STRATEGY
    from recognition.selection import DEFAULT_STRATEGY, STRATEGIES
    from recognition.uncertainty import UNCERTAINTY_SCORES

    assert set(UNCERTAINTY_SCORES) <= set(STRATEGIES)
    assert DEFAULT_SELECTION_STRATEGY == DEFAULT_STRATEGY
    assert Project._meta.get_field("selection_strategy").default == DEFAULT_STRATEGY


@pytest.mark.django_db
def test_submit_is_idempotent_by_client_id() -> None:
    project = make_project()
    user = make_member(project)
    make_lines(project, 2)
    line = line_claim(project=project, user=user)
    assert line is not None
    key = client_id()

    first = label_submit(line=line, user=user, text="kew gardens", client_id=key)
    second = label_submit(line=line, user=user, text="kew gardens", client_id=key)

    assert first.pk == second.pk
    assert Transcription.objects.filter(line=line).count() == 1
    other = line_claim(project=project, user=user)
    assert other is not None
    with pytest.raises(ConflictError, match="already used"):
        label_submit(line=other, user=user, text="x", client_id=key)


@pytest.mark.django_db
def test_a_submit_typed_under_an_earlier_grant_of_the_lease_stores_nothing() -> None:
    project = make_project()
    user = make_member(project)
    make_lines(project, 3)
    line = line_claim(project=project, user=user)
    assert line is not None
    typed_under = line.lease_token
    leases_return(user=user, project=project)
    again = line_claim(project=project, user=user, resume=line.pk)
    assert again is not None
    assert again.pk == line.pk

    with pytest.raises(ConflictError, match="given to you again"):
        label_submit(line=line, user=user, text="typed before", client_id=client_id(), lease=typed_under)
    assert not Transcription.objects.filter(line=line).exists()
    assert Line.objects.get(pk=line.pk).queue_state == Line.QueueState.UNLABELED
    stored = label_submit(line=line, user=user, text="typed now", client_id=client_id(), lease=again.lease_token)
    assert stored.text == "typed now"


@pytest.mark.django_db
def test_second_labeler_cannot_submit_a_labeled_line_as_new_work() -> None:
    project = make_project()
    first, second = make_member(project), make_member(project)
    (line,) = make_lines(project, 1)
    assert line_claim(project=project, user=first) == line
    label_submit(line=line, user=first, text="dear sir", client_id=client_id())

    with pytest.raises(ConflictError, match="already labeled by another labeler"):
        label_submit(line=line, user=second, text="dear madam", client_id=client_id())
    line.refresh_from_db()
    assert line.current_transcription is not None
    assert line.current_transcription.text == "dear sir"


@pytest.mark.django_db
def test_amend_keeps_history_and_moves_the_current_pointer() -> None:
    project = make_project()
    user = make_member(project)
    make_lines(project, 3)
    line = line_claim(project=project, user=user)
    assert line is not None
    original = label_submit(line=line, user=user, text="yours truiy", client_id=client_id())
    line_claim(project=project, user=user)  # moved on to the next line

    previous = line_previous(project=project, user=user)
    assert previous == line
    amended = label_submit(line=previous, user=user, text="yours truly", client_id=client_id())

    history = list(Transcription.objects.filter(line=line).order_by("id").values_list("text", flat=True))
    assert history == ["yours truiy", "yours truly"]
    line.refresh_from_db()
    assert line.current_transcription_id == amended.pk != original.pk


@pytest.mark.django_db
def test_only_the_author_or_a_reviewer_may_amend() -> None:
    project = make_project()
    author, other = make_member(project), make_member(project)
    reviewer = make_member(project, role=Membership.Role.REVIEWER)
    (line,) = make_lines(project, 1)
    line_claim(project=project, user=author)
    label_submit(line=line, user=author, text="seeds 1851", client_id=client_id())

    with pytest.raises(ConflictError):
        label_submit(line=line, user=other, text="seeds 1852", client_id=client_id())
    fixed = label_submit(line=line, user=reviewer, text="seeds 1857", client_id=client_id())
    assert fixed.status == Transcription.Status.VERIFIED
    with pytest.raises(ConflictError, match="already labeled"):
        label_submit(line=line, user=author, text="seeds 1851!", client_id=client_id())


@pytest.mark.django_db
def test_draft_autosave_updates_one_row_and_submit_clears_it() -> None:
    project = make_project()
    user = make_member(project)
    (line,) = make_lines(project, 1)
    line_claim(project=project, user=user)

    draft_save(line=line, user=user, text="ke")
    draft = draft_save(line=line, user=user, text="kew gar")

    drafts = Transcription.objects.filter(line=line, status=Transcription.Status.DRAFT)
    assert list(drafts.values_list("pk", "text")) == [(draft.pk, "kew gar")]
    label_submit(line=line, user=user, text="kew gardens", client_id=client_id())
    assert not drafts.exists()


@pytest.mark.django_db
def test_drafts_need_the_lease() -> None:
    project = make_project()
    holder, other = make_member(project), make_member(project)
    (line,) = make_lines(project, 1)
    line_claim(project=project, user=holder)
    with pytest.raises(ConflictError, match="Another labeler holds this line"):
        draft_save(line=line, user=other, text="mine")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("a" * (MAX_TEXT_LENGTH + 1), "at most 1000"),
        ("kew\tgardens", "U+0009 at position 3"),
        ("kew\ngardens", "U+000A"),
        ("kew\u2028gardens", "U+2028"),
    ],
)
def test_bad_text_is_rejected_with_a_clear_message(text: str, message: str) -> None:
    project = make_project()
    user = make_member(project)
    (line,) = make_lines(project, 1)
    line_claim(project=project, user=user)
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        label_submit(line=line, user=user, text=text, client_id=client_id())
    assert not Transcription.objects.exists()


@pytest.mark.django_db
def test_text_is_nfc_normalised_and_trimmed() -> None:
    project = make_project()
    user = make_member(project)
    (line,) = make_lines(project, 1)
    line_claim(project=project, user=user)
    # "e" + COMBINING ACUTE ACCENT, and a zero-width joiner, which is text.
    transcription = label_submit(line=line, user=user, text=" cafe\u0301 \u200d\n", client_id=client_id())
    assert transcription.text == "caf\u00e9 \u200d"


@pytest.mark.django_db
def test_review_setting_decides_the_status_and_the_retrain_counter() -> None:
    project = make_project(require_review=True)
    labeler = make_member(project)
    lines = make_lines(project, 3)
    for _ in range(2):
        line = line_claim(project=project, user=labeler)
        assert line is not None
        assert label_submit(line=line, user=labeler, text="x", client_id=client_id()).status == "submitted"
    assert verified_lines_since_last_model(project=project) == 0

    project.require_review = False
    project.save()
    line = line_claim(project=project, user=labeler)
    assert line is not None
    label_submit(line=line, user=labeler, text="x", client_id=client_id())
    assert verified_lines_since_last_model(project=project) == 1

    ModelVersion.objects.create(project=project, status=ModelVersion.Status.ACTIVE)
    assert verified_lines_since_last_model(project=project) == 0
    assert len(lines) == 3
