"""Re-scoring with the project's selection strategy, calibrated confidences and
auto-accept: the app side of recognition.selection and recognition.calibration."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from annotator.jobs.scoring import prediction_batch_store
from annotator.jobs.training_data import line_samples_verified
from annotator.models import Line, Membership, Prediction, Transcription
from annotator.selectors import review_list, verified_lines_since_last_model
from annotator.services import line_review
from recognition.selection import DIVERSITY_BASE
from tests.annotator.factories import make_active_model, make_member, make_project, make_rendered_lines, verify

pytestmark = pytest.mark.django_db


def test_diversity_ranks_a_near_duplicate_below_its_twin(media_root: Path) -> None:
    project = make_project(selection_strategy="diversity")
    twin, other = make_rendered_lines(project, ["dear sir", "kew gardens 1851"], seed=4)
    (duplicate,) = make_rendered_lines(project, ["dear sir"], seed=4, prefix="dup")
    model = make_active_model(project)

    assert prediction_batch_store(model_version=model, line_ids=[twin.pk, other.pk, duplicate.pk]) == 3

    priority = {line.pk: line.priority for line in Line.objects.filter(project=project)}
    base = {p.line_id: p.scores[DIVERSITY_BASE] for p in Prediction.objects.filter(model_version=model)}
    # The twins score exactly alike, so either may be taken first: that one
    # keeps its priority, and the other, an exact duplicate, adds nothing.
    kept, dropped = sorted([twin.pk, duplicate.pk], key=lambda pk: -(priority[pk] or 0))
    assert priority[kept] == pytest.approx(base[kept])
    assert priority[dropped] == pytest.approx(0.0, abs=1e-6)
    assert (priority[other.pk] or 0) > 0


def test_rescoring_stores_calibrated_confidences(media_root: Path) -> None:
    project = make_project(selection_strategy="min_char_prob")
    lines = make_rendered_lines(project, ["dear sir", "yours truly"])
    model = make_active_model(project)

    prediction_batch_store(model_version=model, line_ids=[line.pk for line in lines])

    for prediction in Prediction.objects.filter(model_version=model):
        assert prediction.calibrated_confidence == pytest.approx(prediction.confidence)
        assert prediction.priority == pytest.approx(prediction.scores["min_char_prob"])


def test_auto_accept_marks_sure_training_lines_model_accepted_and_never_as_human_work(media_root: Path) -> None:
    project = make_project(auto_accept=True, selection_strategy="ctc_nll")
    sure = make_rendered_lines(project, ["dear sir", "kew gardens"])
    (held,) = make_rendered_lines(project, ["seeds"], prefix="held")
    (evaluation,) = make_rendered_lines(project, ["yours truly"], split=Line.Split.EVAL, prefix="ev")
    labeler = make_member(project)
    Line.objects.filter(pk=held.pk).update(lease_user=labeler, lease_expires_at=timezone.now() + timedelta(minutes=5))
    model = make_active_model(project, accept_threshold=0.0)  # every reading is "sure enough"

    prediction_batch_store(model_version=model, line_ids=[line.pk for line in [*sure, held, evaluation]])

    accepted = Line.objects.filter(current_transcription__source=Transcription.Source.MODEL_ACCEPTED)
    assert set(accepted.values_list("pk", flat=True)) == {line.pk for line in sure}
    assert set(accepted.values_list("queue_state", flat=True)) == {Line.QueueState.LABELED}
    assert Line.objects.get(pk=held.pk).queue_state == Line.QueueState.UNLABELED, "a held line is not taken"
    assert Line.objects.get(pk=evaluation.pk).current_transcription is None, "eval lines need human truth"
    assert verified_lines_since_last_model(project=project) == 0, "model-accepted lines trigger no retraining"
    assert review_list(project=project, kind="model_accepted")[0] == 2

    reviewer = make_member(project, Membership.Role.REVIEWER)
    line_review(line=sure[0], user=reviewer, action="reject", client_id=uuid.uuid4())
    assert Line.objects.get(pk=sure[0].pk).queue_state == Line.QueueState.UNLABELED, "reversible in review"


def test_model_accepted_lines_are_trained_on_only_when_opted_in_and_at_their_weight(media_root: Path) -> None:
    project = make_project(auto_accept=True, selection_strategy="ctc_nll")
    sure = make_rendered_lines(project, ["dear sir", "kew gardens"])
    (human,) = make_rendered_lines(project, ["seeds"], prefix="human")
    verify([human], ["seeds"], user=make_member(project, Membership.Role.REVIEWER))
    model = make_active_model(project, accept_threshold=0.0)
    prediction_batch_store(model_version=model, line_ids=[line.pk for line in sure])

    samples = line_samples_verified(project=project, split=Line.Split.TRAIN)
    assert [(s.id, s.text, s.weight) for s in samples] == [(str(human.pk), "seeds", 1.0)]

    project.train_on_model_accepted, project.model_accepted_weight = True, 0.3
    project.save()
    samples = line_samples_verified(project=project, split=Line.Split.TRAIN)
    readings = dict(Prediction.objects.filter(model_version=model).values_list("line_id", "text"))
    weights = {s.id: (s.text, s.weight) for s in samples}
    assert weights == {
        str(human.pk): ("seeds", 1.0),
        **{str(line.pk): (readings[line.pk], 0.3) for line in sure},
    }
    assert all(Path(s.path or "").is_file() for s in samples)


def test_without_auto_accept_or_a_threshold_nothing_is_accepted(media_root: Path) -> None:
    off = make_project(auto_accept=False)
    lines = make_rendered_lines(off, ["dear sir"])
    prediction_batch_store(model_version=make_active_model(off, accept_threshold=0.0), line_ids=[lines[0].pk])
    on = make_project(auto_accept=True)
    more = make_rendered_lines(on, ["dear sir"], prefix="on")
    prediction_batch_store(model_version=make_active_model(on, accept_threshold=None), line_ids=[more[0].pk])

    assert not Transcription.objects.filter(source=Transcription.Source.MODEL_ACCEPTED).exists()
