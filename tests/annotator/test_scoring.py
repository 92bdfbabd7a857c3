"""Re-scoring with the project's selection strategy, calibrated confidences and
auto-accept: the app side of recognition.selection and recognition.calibration."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import torch
from django.conf import settings
from django.utils import timezone

from annotator.models import Line, Membership, ModelVersion, Prediction, Project, Transcription
from annotator.selectors import line_samples_verified, review_list, verified_lines_since_last_model
from annotator.services import line_review, prediction_batch_store
from recognition.calibration import Calibration
from recognition.checkpoint import checkpoint_dict, save_atomic
from recognition.codec import Codec
from recognition.model import CRNN, PRESETS, ModelConfig
from recognition.selection import DIVERSITY_BASE
from recognition.synthetic import ALPHABET
from tests.annotator.factories import make_member, make_project, make_rendered_lines, verify

pytestmark = pytest.mark.django_db


def active_model(project: Project, *, accept_threshold: float | None = None) -> ModelVersion:
    """An active version whose checkpoint is an untrained tiny model with an
    identity calibration (calibrated confidence = raw confidence)."""
    torch.manual_seed(0)
    codec = Codec.from_texts([ALPHABET])
    model = CRNN(ModelConfig(num_classes=codec.num_classes, **{**PRESETS["tiny"], "dropout": 0.0})).eval()
    name = f"models/{project.pk}/{uuid.uuid4().hex}/best.pt"
    calibration = Calibration("identity").to_dict()
    save_atomic(checkpoint_dict(model, codec, calibration=calibration), Path(settings.MEDIA_ROOT) / name)
    return ModelVersion.objects.create(
        project=project,
        checkpoint=name,
        alphabet=ALPHABET,
        status=ModelVersion.Status.ACTIVE,
        calibration=calibration,
        accept_threshold=accept_threshold,
    )


def test_diversity_ranks_a_near_duplicate_below_its_twin(media_root: Path) -> None:
    project = make_project(selection_strategy="diversity")
    twin, other = make_rendered_lines(project, ["dear sir", "kew gardens 1851"], seed=4)
    (duplicate,) = make_rendered_lines(project, ["dear sir"], seed=4, prefix="dup")
    model = active_model(project)

    assert prediction_batch_store(model_version=model, line_ids=[twin.pk, other.pk, duplicate.pk]) == 3

    priority = {line.pk: line.uncertainty for line in Line.objects.filter(project=project)}
    base = {p.line_id: p.scores[DIVERSITY_BASE] for p in Prediction.objects.filter(model_version=model)}
    assert priority[twin.pk] == pytest.approx(base[twin.pk]), "the first of the twins keeps its uncertainty"
    assert priority[duplicate.pk] == pytest.approx(0.0, abs=1e-6), "an exact duplicate adds nothing"
    assert (priority[other.pk] or 0) > 0


def test_rescoring_stores_calibrated_confidences(media_root: Path) -> None:
    project = make_project(selection_strategy="min_char_prob")
    lines = make_rendered_lines(project, ["dear sir", "yours truly"])
    model = active_model(project)

    prediction_batch_store(model_version=model, line_ids=[line.pk for line in lines])

    for prediction in Prediction.objects.filter(model_version=model):
        assert prediction.calibrated_confidence == pytest.approx(prediction.confidence)
        assert prediction.uncertainty == pytest.approx(prediction.scores["min_char_prob"])


def test_auto_accept_marks_sure_training_lines_model_accepted_and_never_as_human_work(media_root: Path) -> None:
    project = make_project(auto_accept=True, selection_strategy="ctc_nll")
    sure = make_rendered_lines(project, ["dear sir", "kew gardens"])
    (held,) = make_rendered_lines(project, ["seeds"], prefix="held")
    (evaluation,) = make_rendered_lines(project, ["yours truly"], split=Line.Split.EVAL, prefix="ev")
    labeler = make_member(project)
    Line.objects.filter(pk=held.pk).update(lease_user=labeler, lease_expires_at=timezone.now() + timedelta(minutes=5))
    model = active_model(project, accept_threshold=0.0)  # every reading is "sure enough"

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
    model = active_model(project, accept_threshold=0.0)
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
    prediction_batch_store(model_version=active_model(off, accept_threshold=0.0), line_ids=[lines[0].pk])
    on = make_project(auto_accept=True)
    more = make_rendered_lines(on, ["dear sir"], prefix="on")
    prediction_batch_store(model_version=active_model(on, accept_threshold=None), line_ids=[more[0].pk])

    assert not Transcription.objects.filter(source=Transcription.Source.MODEL_ACCEPTED).exists()
