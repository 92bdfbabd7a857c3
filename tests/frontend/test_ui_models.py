"""The models page: versions, the CER chart, a running training's live
progress, and the admin's schedule and queue settings editors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from playwright.sync_api import BrowserContext, Page, expect
from pytest_django.live_server_helper import LiveServer

import recognition.base
from annotator.models import Membership, ModelVersion, Project, TrainingRun
from annotator.services import project_create
from tests.annotator.factories import make_member, write_tiny_checkpoint
from tests.frontend.conftest import TABLET, log_in, screenshot
from tests.frontend.ui_world import TEXTS, labeling_world, member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root")]


def progress(elapsed: float, eta: float, step: int) -> dict[str, object]:
    return {
        "phase": "training",
        "step": step,
        "epoch": step // 40,
        "loss": 1.234,
        "learning_rate": 0.001,
        "val_cer": 0.091,
        "best_cer": 0.088,
        "elapsed_seconds": elapsed,
        "eta_seconds": eta,
        "lines_per_second": 12.5,
        "evaluated": False,
    }


def test_the_models_page_shows_a_running_trainings_progress(
    page: Page, context: BrowserContext, live_server: LiveServer
) -> None:
    world = labeling_world(texts=TEXTS[:2])
    first = ModelVersion.objects.create(
        project=world.project, status="retired", cer=0.214, wer=0.48, ser=0.9, train_lines=40, alphabet="ab"
    )
    ModelVersion.objects.create(
        project=world.project, parent=first, status="rejected", cer=0.25, wer=0.5, ser=0.92, train_lines=80
    )
    ModelVersion.objects.filter(pk=world.model.pk).update(
        parent=first,
        calibration={"method": "platt", "ece_before": 0.12, "ece_after": 0.031, "fitted_lines": 40},
        accept_threshold=0.97,
        accept_coverage=0.35,
    )
    TrainingRun.objects.create(
        project=world.project,
        status="succeeded",
        trigger="threshold",
        finished_at=timezone.now(),
        started_at=timezone.now(),
    )
    run = TrainingRun.objects.create(
        project=world.project,
        status=TrainingRun.Status.RUNNING,
        trigger=TrainingRun.Trigger.MANUAL,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
        progress=progress(60, 140, 120),
    )
    admin = member(world, Membership.Role.ADMIN, name="ada")
    log_in(context, live_server, admin)
    page.goto(f"/projects/{world.project.pk}/models")

    bar = page.get_by_role("progressbar", name=f"Training run {run.pk}")
    expect(bar).to_have_attribute("aria-valuenow", "30")
    expect(page.locator(".run")).to_contain_text("Validation CER")
    expect(page.locator("svg.chart circle")).to_have_count(3)
    expect(page.locator(".versions table")).to_contain_text("8.3 %")
    expect(page.locator(".versions table")).to_contain_text("12.0 % → 3.1 %")  # the measured calibration
    expect(page.locator(".versions table")).to_contain_text("35.0 % at ≤ 1.0 % errors")
    expect(page.get_by_role("button", name="Stop this run")).to_be_visible()
    screenshot(page, "models")

    # The page polls the run: progress written by the worker shows up by itself.
    TrainingRun.objects.filter(pk=run.pk).update(progress=progress(150, 50, 300))
    expect(bar).to_have_attribute("aria-valuenow", "75", timeout=8000)

    # The schedule (admins): one choice, saved when made.
    page.get_by_label("Retrain on a schedule").select_option(label="every hour")
    expect(page.locator(".schedule")).to_contain_text("Saved: retrains every 60 minutes.")
    task = PeriodicTask.objects.get(task="annotator.tasks.training_run_scheduled")
    assert json.loads(task.kwargs) == {"project_id": world.project.pk}
    assert (task.interval.every, task.enabled) == (60, True)

    # The queue settings (admins): rank by expected errors, auto-accept on.
    settings = page.locator(".queue-settings")
    page.get_by_label("Next line by").select_option("expected_errors")
    expect(settings).to_contain_text("expected number of wrong characters")
    page.get_by_label("Auto-accept lines the model is sure of").check()
    page.get_by_role("button", name="Save settings").click()
    expect(settings).to_contain_text("Saved: selection strategy, auto accept.")
    world.project.refresh_from_db()
    assert (world.project.selection_strategy, world.project.auto_accept) == ("expected_errors", True)

    # The run ends: the page notices and offers "Retrain now" again.
    TrainingRun.objects.filter(pk=run.pk).update(
        status=TrainingRun.Status.SUCCEEDED,
        finished_at=timezone.now(),
        progress={**progress(200, 0, 400), "phase": "done"},
    )
    expect(page.get_by_role("button", name="Retrain now")).to_be_visible(timeout=8000)
    page.set_viewport_size(TABLET)
    screenshot(page, "models-tablet")


def test_labelers_see_the_models_without_admin_controls(
    page: Page, context: BrowserContext, live_server: LiveServer
) -> None:
    world = labeling_world(texts=TEXTS[:1])
    log_in(context, live_server, member(world, name="lee"))
    page.goto(f"/projects/{world.project.pk}/models")
    expect(page.locator("svg.chart circle")).to_have_count(1)
    expect(page.get_by_role("button", name="Retrain now")).to_have_count(0)
    expect(page.locator(".schedule")).to_be_hidden()
    expect(page.get_by_label("Next line by")).to_be_disabled()
    expect(page.get_by_role("button", name="Save settings")).to_have_count(0)
    # Role-aware navigation: no Review or Import for a labeler.
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Label")).to_be_visible()
    expect(nav.get_by_role("link", name="Review")).to_have_count(0)
    expect(nav.get_by_role("link", name="Import")).to_have_count(0)


def test_a_project_started_from_a_base_shows_it_as_version_1_and_admins_may_change_it(
    page: Page, context: BrowserContext, live_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recognition.base, "MODELS_DIR", tmp_path / "bases")
    for name in ("alpha", "beta"):
        write_tiny_checkpoint(tmp_path / "bases" / f"{name}.pt")
    project = project_create(name="From a base", base_model="alpha")
    (base,) = ModelVersion.objects.filter(project=project)
    log_in(context, live_server, make_member(project, role=Membership.Role.ADMIN))
    page.goto(f"/projects/{project.pk}/models")

    versions = page.locator(".versions")
    expect(versions).to_contain_text(f"#{base.pk} base model alpha")
    expect(versions).to_contain_text("shipped, no training run")
    expect(page.locator(".run")).to_contain_text("the base model alpha reads the lines")
    choice = page.get_by_label("Base model")
    expect(choice).to_have_value("alpha")
    choice.select_option("beta")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".queue-settings")).to_contain_text("Saved: base model.")
    active = ModelVersion.objects.get(project=project, status="active")
    assert active.base_name == "beta"


def test_a_rejected_run_says_rejected_not_succeeded_and_the_schedule_is_one_choice(
    page: Page, context: BrowserContext, live_server: LiveServer
) -> None:
    world = labeling_world(texts=TEXTS[:2])
    run = TrainingRun.objects.create(
        project=world.project,
        status=TrainingRun.Status.SUCCEEDED,
        trigger=TrainingRun.Trigger.MANUAL,
        started_at=timezone.now(),
        finished_at=timezone.now(),
        progress={**progress(200, 0, 400), "phase": "done", "decision": "rejected"},
    )
    log_in(context, live_server, member(world, Membership.Role.ADMIN, name="rae"))
    page.goto(f"/projects/{world.project.pk}/models")

    box = page.locator(".run")
    expect(box).to_contain_text(f"Run #{run.pk}")
    expect(box).to_contain_text("Decision")
    expect(box.locator(".badge")).to_have_text("rejected")
    expect(box).to_contain_text("its model was rejected")
    expect(box).not_to_contain_text("succeeded")
    expect(page.locator("table").filter(has_text="Trigger").locator(".badge")).to_have_text("rejected")

    # The schedule: one choice, off or an interval, saved at once (no separate Enabled box).
    choice = page.get_by_label("Retrain on a schedule")
    expect(choice).to_have_value("")
    expect(page.locator("#schedule-enabled")).to_have_count(0)
    choice.select_option(label="every 6 hours")
    expect(page.locator(".schedule")).to_contain_text("Saved: retrains every 360 minutes.")
    task = PeriodicTask.objects.get(task="annotator.tasks.training_run_scheduled")
    assert (task.interval.every, task.enabled) == (360, True)
    choice.select_option(label="Off")
    expect(page.locator(".schedule")).to_contain_text("Saved: no scheduled retraining.")
    assert not PeriodicTask.objects.filter(task="annotator.tasks.training_run_scheduled", enabled=True).exists()
    page.reload()
    expect(page.get_by_label("Retrain on a schedule")).to_have_value("")
    screenshot(page, "models-rejected-run")


def test_an_admin_sets_the_alphabet_and_the_labeling_page_offers_it(
    page: Page, context: BrowserContext, live_server: LiveServer
) -> None:
    world = labeling_world(texts=TEXTS[:2])
    Project.objects.filter(pk=world.project.pk).update(alphabet_groups=[])
    log_in(context, live_server, member(world, Membership.Role.ADMIN, name="abe"))
    page.goto(f"/projects/{world.project.pk}/models")
    card = page.locator(".alphabet-settings")
    expect(card).to_contain_text("Unicode NFC")

    card.get_by_role("button", name="Add a group").click()
    card.get_by_label("Group 1 name").fill("Abbreviations")
    card.get_by_label("Group 1 characters").fill("ꝑ ꝯ q\u0303")
    card.get_by_role("button", name="Add a group").click()
    card.get_by_label("Group 2 name").fill("Ligatures")
    card.get_by_label("Group 2 characters").fill("ﬀﬁ")
    card.get_by_label("Keep historical characters (ſ, ꝛ, ligatures)").uncheck()
    expect(card).to_contain_text("replaced on save: ſ → s")
    card.get_by_role("button", name="Save alphabet").click()
    expect(card).to_contain_text("Saved: 2 groups, 5 characters.")
    screenshot(page, "models-alphabet")
    world.project.refresh_from_db()
    assert world.project.alphabet_groups == [
        {"name": "Abbreviations", "characters": ["ꝑ", "ꝯ", "q\u0303"]},
        {"name": "Ligatures", "characters": ["ﬀ", "ﬁ"]},
    ]
    assert world.project.keep_historical is False

    page.goto(f"/projects/{world.project.pk}/label")
    expect(page.locator(".vkey")).to_have_count(5)
    expect(page.get_by_role("group", name="Ligatures")).to_contain_text("ﬁ")
    expect(page.locator(".vkeys-rules")).to_contain_text("replaced by their modern form")
