"""Projects start from a base model: version 1 is the shipped base, imports are
read and ranked before anyone labels, the first run fine-tunes the base and is
judged against it, and a run's budget counts steps under a wall-clock ceiling.

Tests that need a base that reads (judging) ship their own into a temporary
``recognition.base.MODELS_DIR``; the ones that only need *a* base use the
shipped default, whose reading quality they never look at."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from pytest_django import DjangoCaptureOnCommitCallbacks, Settings
from rest_framework.test import APIClient

import recognition.base
from annotator.errors import InvalidInputError
from annotator.jobs.exports import export_job_run
from annotator.jobs.training_data import train_config
from annotator.management.commands.demo import DEMO_PROJECT
from annotator.models import ExportJob, Line, Membership, ModelVersion, Prediction, Project, TrainingRun
from annotator.selectors import verified_lines_since_last_model
from annotator.services import export_job_create, import_job_create, project_create, project_settings_update
from recognition.base import DEFAULT_BASE, base_path
from recognition.checkpoint import load_checkpoint
from recognition.finetune import finetune_config, finetune_steps
from recognition.train import TrainConfig
from tests.annotator.factories import make_member, make_project, make_rendered_lines, verify, write_tiny_checkpoint
from tests.annotator.test_imports import line_png, make_zip
from tests.annotator.test_training import TEXTS, run_once

pytestmark = pytest.mark.django_db

REFRESH = "annotator.tasks.predictions_refresh"


def versions(project: Project) -> list[ModelVersion]:
    return list(ModelVersion.objects.filter(project=project).order_by("id"))


def active(project: Project) -> ModelVersion | None:
    return ModelVersion.objects.filter(project=project, status=ModelVersion.Status.ACTIVE).first()


@pytest.fixture
def bases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty ``recognition.base.MODELS_DIR`` for tests to ship their own bases into."""
    folder = tmp_path / "bases"
    folder.mkdir()
    monkeypatch.setattr(recognition.base, "MODELS_DIR", folder)
    return folder


def as_user(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


# --- a new project ------------------------------------------------------------


def test_a_new_project_starts_from_the_default_base_as_its_active_version_1(
    media_root: Path, settings: Settings
) -> None:
    assert settings.LINEPROOF_BASE_MODEL == DEFAULT_BASE
    project = project_create(name="letters")

    (version,) = versions(project)
    assert project.base_model == DEFAULT_BASE
    assert version.status == ModelVersion.Status.ACTIVE
    assert version.base_name == DEFAULT_BASE
    assert version.parent is None
    assert (version.cer, version.train_lines, version.accept_threshold) == (None, 0, None)
    assert not TrainingRun.objects.filter(project=project).exists()
    # Stored where trained checkpoints are, under a name of its own, byte for byte the base.
    assert version.checkpoint == f"models/{project.pk}/base-{version.pk}/{DEFAULT_BASE}.pt"
    assert (media_root / version.checkpoint).read_bytes() == base_path(DEFAULT_BASE).read_bytes()


def test_a_project_started_from_scratch_has_no_model_and_an_unknown_base_is_refused(media_root: Path) -> None:
    scratch = project_create(name="scratch", base_model="")
    assert (scratch.base_model, versions(scratch)) == ("", [])
    with pytest.raises(InvalidInputError) as refused:
        project_create(name="nowhere", base_model="no-such-base")
    assert "base_model" in refused.value.fields
    assert DEFAULT_BASE in refused.value.message
    assert not Project.objects.filter(name="nowhere").exists()


def test_existing_projects_keep_starting_from_scratch(media_root: Path) -> None:
    """What the migration gives rows that predate base models (and the factories use)."""
    project = make_project()
    assert (project.base_model, versions(project)) == ("", [])


def test_a_project_added_in_the_admin_starts_from_the_chosen_base(media_root: Path, bases: Path) -> None:
    write_tiny_checkpoint(bases / "alpha.pt")
    staff = User.objects.create_user(username="staff", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    form = client.get("/admin/annotator/project/add/")
    assert form.status_code == 200
    assert 'value="alpha"' in form.content.decode()
    fields = {
        "name": "from the admin",
        "base_model": "alpha",
        "lease_seconds": 600,
        "top_window": 20,
        "retrain_threshold": 200,
        "full_retrain_every": 10,
        "segmentation_method": "classical",
        "eval_share": 0.1,
        "min_eval_lines": 50,
        "selection_strategy": "beam_margin",
        "model_preset": "cpu",
        "review_confidence": 0.8,
        "dispute_cer": 0.3,
        "auto_accept_max_error": 0.01,
        "model_accepted_weight": 0.5,
        "created_at_0": "2026-01-01",
        "created_at_1": "12:00:00",
        "memberships-TOTAL_FORMS": 0,
        "memberships-INITIAL_FORMS": 0,
    }
    response = client.post("/admin/annotator/project/add/", fields)
    assert response.status_code == 302, response.content.decode()[-3000:]
    project = Project.objects.get(name="from the admin")
    (version,) = versions(project)
    assert (version.base_name, version.status) == ("alpha", ModelVersion.Status.ACTIVE)
    # Later changes go through the project settings and their rule.
    change = client.get(f"/admin/annotator/project/{project.pk}/change/").content.decode()
    assert 'name="base_model"' not in change


# --- imports are read before any training -------------------------------------


def test_lines_imported_into_a_new_project_get_readings_and_priorities_with_no_training_run(
    media_root: Path,
    enqueued: list[tuple[str, tuple]],
    run_enqueued: Callable[[], list[str]],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    project = project_create(name="letters", eval_share=0.0)
    (base,) = versions(project)
    admin = make_member(project, Membership.Role.ADMIN)
    texts = ["dear sir", "kew gardens", "seeds of 1851"]
    lines_zip = make_zip({f"lines/{n}.png": line_png(text, seed=n) for n, text in enumerate(texts)})
    with django_capture_on_commit_callbacks(execute=True):
        import_job_create(project=project, user=admin, files=[SimpleUploadedFile("lines.zip", lines_zip)])

    ran = run_enqueued()  # the worker: the import, then the scoring batches it sends

    assert ran[0] == "annotator.tasks.import_job_run"
    assert "annotator.tasks.prediction_batch_store" in ran
    lines = Line.objects.filter(project=project)
    assert lines.count() == len(texts)
    predictions = Prediction.objects.filter(line__in=lines, model_version=base)
    assert predictions.count() == len(texts), "every line read by the base"
    # Calibrated by the base's own calibration, read from its checkpoint by scoring.
    calibrated = load_checkpoint(base_path(DEFAULT_BASE)).calibration is not None
    for prediction in predictions:
        assert len(prediction.char_confidences) == len(prediction.text)
        assert 0.0 <= prediction.confidence <= 1.0
        assert (prediction.calibrated_confidence is not None) == calibrated
        assert Line.objects.get(pk=prediction.line_id).priority == pytest.approx(prediction.priority)
    assert not lines.filter(priority=Line.UNSCORED).exists(), "every line ranked"
    assert not TrainingRun.objects.filter(project=project).exists()
    assert versions(project) == [base]


def test_the_demo_project_reads_its_lines_as_soon_as_they_are_imported(
    media_root: Path,
    enqueued: list[tuple[str, tuple]],
    run_enqueued: Callable[[], list[str]],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        call_command("demo", lines=12, stdout=io.StringIO())
    project = Project.objects.get(name=DEMO_PROJECT)
    (base,) = versions(project)
    assert (base.base_name, base.status) == (DEFAULT_BASE, ModelVersion.Status.ACTIVE)

    run_enqueued()

    # The 12 lines come with their text (verified); the two pages' lines wait for labelers, read.
    unlabeled = Line.objects.filter(project=project, queue_state=Line.QueueState.UNLABELED)
    assert unlabeled.count() >= 10
    assert Prediction.objects.filter(line__in=unlabeled, model_version=base).count() == unlabeled.count()
    assert not unlabeled.filter(priority=Line.UNSCORED).exists()
    assert not TrainingRun.objects.filter(project=project).exists(), "12 verified lines are under the threshold"


# --- the first run fine-tunes the base and is judged against it ---------------


def labeled_world(project: Project) -> User:
    """Five verified training lines and two verified eval lines rendered identically."""
    admin = make_member(project, role=Membership.Role.ADMIN)
    verify(make_rendered_lines(project, TEXTS, prefix="t"), TEXTS, user=admin)
    evaluation = make_rendered_lines(project, TEXTS[:2], split=Line.Split.EVAL, prefix="e")
    verify(evaluation, TEXTS[:2], user=admin)
    return admin


@pytest.fixture
def reading_base(tiny_training: Settings, bases: Path) -> str:
    """A base that reads TEXTS: a tiny model trained on them, shipped as ``reads``."""
    scratch = make_project(model_preset="tiny", retrain_threshold=0)
    labeled_world(scratch)
    run = run_once(scratch, tiny_training, max_steps=200)
    assert run.model_version is not None
    assert run.model_version.cer is not None
    assert run.model_version.cer < 0.5, run.log
    shutil.copyfile(Path(tiny_training.MEDIA_ROOT) / run.model_version.checkpoint, bases / "reads.pt")
    return "reads"


def test_a_first_run_that_reads_worse_than_the_base_is_not_promoted(reading_base: str, tiny_training: Settings) -> None:
    project = project_create(name="from a base", base_model=reading_base, retrain_threshold=0, min_eval_lines=0)
    (base,) = versions(project)
    labeled_world(project)

    # Deliberately worse: a few steps at a learning rate that wrecks the weights.
    run = run_once(project, tiny_training, max_steps=3, eval_every=3, learning_rate=1.0, warmup_steps=1)

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert f"fine-tuning model {base.pk} (base model {reading_base})" in run.log
    candidate = run.model_version
    assert candidate is not None
    assert candidate.parent == base
    assert run.progress["decision"] == "rejected"
    assert run.progress["metrics"]["cer"] > run.progress["active_metrics"]["cer"]
    assert candidate.status == ModelVersion.Status.REJECTED
    assert active(project) == base
    # The base's CER on this project's eval lines, measured by the comparison, is kept.
    base.refresh_from_db()
    assert base.cer == pytest.approx(run.progress["active_metrics"]["cer"])


def test_the_first_run_fine_tunes_the_shipped_base_and_measures_it_on_the_eval_lines(
    tiny_training: Settings,
) -> None:
    project = project_create(name="from the shipped base", retrain_threshold=0, min_eval_lines=0)
    (base,) = versions(project)
    labeled_world(project)

    run = run_once(project, tiny_training, max_steps=2, eval_every=2)

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert f"fine-tuning model {base.pk} (base model {DEFAULT_BASE})" in run.log
    assert run.model_version is not None
    assert run.model_version.parent == base
    assert run.progress["decision"] in {"promoted", "rejected"}  # whichever reads the eval lines better
    base.refresh_from_db()
    assert base.cer == pytest.approx(run.progress["active_metrics"]["cer"])
    assert set(load_checkpoint(base_path(DEFAULT_BASE)).codec.alphabet) <= set(run.model_version.alphabet)


def test_the_retraining_trigger_counts_every_verified_line_before_the_first_run(media_root: Path) -> None:
    project = project_create(name="counting", retrain_threshold=0, min_eval_lines=0, eval_share=0.0)
    admin = make_member(project, role=Membership.Role.ADMIN)
    lines = make_rendered_lines(project, TEXTS[:3])
    verify(lines, TEXTS[:3], user=admin)
    # The base model came before the lines, but it is no training of the project's.
    assert verified_lines_since_last_model(project=project) == 3


# --- the budget: steps, under a wall-clock ceiling -----------------------------


def test_a_fine_tune_counts_steps_from_the_labels_under_the_wall_clock_ceiling(settings: Settings) -> None:
    settings.LINEPROOF_TRAIN_CONFIG = {}
    settings.LINEPROOF_TRAIN_MAX_MINUTES = 7.0
    settings.LINEPROOF_TRAIN_THREADS = 2
    config = train_config(lines=300, fine_tune=True)
    assert config == replace(finetune_config(300, max_minutes=7.0), threads=2)
    assert (config.max_steps, config.max_minutes) == (finetune_steps(300), 7.0)

    settings.LINEPROOF_TRAIN_MAX_STEPS = 1234
    scratch = train_config(lines=300, fine_tune=False)
    assert (scratch.max_steps, scratch.max_minutes, scratch.learning_rate) == (1234, 7.0, TrainConfig().learning_rate)

    settings.LINEPROOF_TRAIN_CONFIG = {"max_steps": 3, "batch_size": 4}
    assert (train_config(lines=300, fine_tune=True).max_steps, train_config(lines=1, fine_tune=False).batch_size) == (
        3,
        4,
    ), "LINEPROOF_TRAIN_CONFIG wins"


def test_the_step_budget_holds_under_a_wall_clock_ceiling(tiny_training: Settings) -> None:
    project = make_project(model_preset="tiny", retrain_threshold=0)
    labeled_world(project)
    tiny_training.LINEPROOF_TRAIN_MAX_MINUTES = 0.02  # about a second
    run = run_once(project, tiny_training, max_steps=1_000_000, max_epochs=1_000_000, eval_every=50)
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert "stopped: time_budget" in run.log
    assert "at most 1000000 steps and 0.02 minutes" in run.log
    assert run.progress["step"] < 1_000_000


# --- the base model setting and the models API ---------------------------------


def settings_url(project: Project) -> str:
    return reverse("project-settings", args=[project.pk])


def test_admins_change_the_base_only_until_a_trained_model_is_promoted(
    media_root: Path,
    bases: Path,
    enqueued: list[tuple[str, tuple]],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    for name in ("alpha", "beta"):
        write_tiny_checkpoint(bases / f"{name}.pt")
    project = project_create(name="switching", base_model="alpha")
    (alpha,) = versions(project)
    admin_user = make_member(project, role=Membership.Role.ADMIN)
    admin = as_user(admin_user)
    shown = admin.get(settings_url(project)).json()
    assert shown["base_model"] == "alpha"
    assert [b["name"] for b in shown["base_models"]] == ["alpha", "beta"]
    assert shown["base_model_editable"] is True

    with django_capture_on_commit_callbacks(execute=True):
        response = admin.patch(settings_url(project), {"base_model": "beta"}, format="json")
    assert response.status_code == 200, response.json()
    alpha.refresh_from_db()
    beta = active(project)
    assert beta is not None
    assert (beta.base_name, alpha.status) == ("beta", ModelVersion.Status.RETIRED)
    assert enqueued == [(REFRESH, (beta.pk,))], "the new base re-scores the lines"

    unknown = admin.patch(settings_url(project), {"base_model": "gamma"}, format="json")
    assert unknown.status_code == 400
    assert "base_model" in unknown.json()["error"]["fields"]

    assert admin.patch(settings_url(project), {"base_model": ""}, format="json").status_code == 200
    assert active(project) is None, "from scratch: no model until the first run"

    ModelVersion.objects.create(project=project, status=ModelVersion.Status.ACTIVE, checkpoint="models/x/best.pt")
    assert admin.get(settings_url(project)).json()["base_model_editable"] is False
    refused = admin.patch(settings_url(project), {"base_model": "alpha"}, format="json")
    assert refused.status_code == 400
    assert "trained model" in refused.json()["error"]["message"]
    with pytest.raises(InvalidInputError):
        project_settings_update(project=project, user=admin_user, changes={"base_model": "beta"})
    project.refresh_from_db()
    assert project.base_model == ""


def test_the_base_exports_like_a_trained_model(media_root: Path) -> None:
    project = project_create(name="exported")
    member = make_member(project, Membership.Role.ADMIN)
    job = export_job_run(job=export_job_create(project=project, user=member, format="model"))
    assert job.status == ExportJob.Status.SUCCEEDED, job.error
    with zipfile.ZipFile(job.file.path) as archive:
        names = set(archive.namelist())
        info = json.loads(archive.read("version.json"))
    assert {"checkpoint.pt", "version.json"} <= names
    assert any(name.endswith(".onnx") for name in names)
    assert info["base_name"] == DEFAULT_BASE


def test_the_models_api_shows_version_1_as_the_base_with_no_training_run(media_root: Path, bases: Path) -> None:
    write_tiny_checkpoint(bases / "alpha.pt")
    project = project_create(name="shown", base_model="alpha")
    member = as_user(make_member(project))

    (listed,) = member.get(reverse("model-version-list", args=[project.pk])).json()
    detail = member.get(reverse("project-detail", args=[project.pk])).json()

    assert (listed["base_name"], listed["status"], listed["parent_id"]) == ("alpha", "active", None)
    assert (listed["cer"], listed["train_lines"], listed["calibration"]) == (None, 0, {})
    assert detail["active_model"]["base_name"] == "alpha"
    assert detail["training"] is None
    assert member.get(reverse("training-run-list", args=[project.pk])).json() == []
