"""End to end: real Celery worker processes, a real Redis broker and the
PostgreSQL test database (``transaction=True``, so the workers see what the
test commits). Lines are rendered, labeled through the HTTP API, and the rest
happens in the workers: retraining starts by itself, the new model is promoted
and the queue is re-ranked. A second test SIGKILLs a worker mid-training.

Broker: settings.REDIS_URL, which under pytest is a dedicated Redis database
(LINEPROOF_TEST_REDIS_URL, default redis://127.0.0.1:6379/13), flushed here.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import cv2
import numpy as np
import pytest
import redis
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from annotator.jobs.scoring import predictions_refresh
from annotator.models import ExportJob, Line, Membership, ModelVersion, TrainingRun
from annotator.services import export_job_create, training_run_request
from recognition.synthetic import random_text, render_line
from tests import processes
from tests.annotator.factories import (
    make_active_model,
    make_member,
    make_project,
    make_rendered_lines,
    score_lines,
    verify,
)
from tests.processes import flushed_redis, start_logged, without

# Every queue of settings.CELERY_TASK_ROUTES and the default one.
QUEUES = "interactive,default,gpu"

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

TINY_TRAINING = {
    "batch_size": 8,
    "augment": False,
    "warmup_steps": 10,
    "learning_rate": 1e-2,
    "max_steps": 60,
    "eval_every": 30,
    "patience": 100,
    "max_epochs": 1000,
}


def small_jobs(training: dict[str, Any]) -> dict[str, str]:
    """Worker settings for seconds-long jobs: ``training`` on one thread, few
    lines to start training, small scoring batches."""
    return {
        "LINEPROOF_TRAIN_CONFIG": json.dumps(training),
        "LINEPROOF_TRAIN_THREADS": "1",
        "LINEPROOF_INFER_THREADS": "1",
        "LINEPROOF_TRAIN_MIN_TRAIN_LINES": "5",
        "LINEPROOF_TRAIN_MIN_EVAL_LINES": "3",
        "LINEPROOF_RESCORE_BATCH_SIZE": "8",
    }


def database_url() -> str:
    db = connection.settings_dict
    auth = quote(db["USER"] or "")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def broker() -> Iterator[str]:
    yield from flushed_redis(settings.REDIS_URL)


class Workers:
    """Starts `celery worker` processes (each in its own process group) and
    kills them all at teardown, before the test database is flushed."""

    def __init__(self, tmp_path: Path, broker: str, media_root: Path) -> None:
        self.tmp_path, self.broker, self.media_root = tmp_path, broker, media_root
        self.started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, *, training: dict[str, Any], **env: str) -> subprocess.Popen[bytes]:
        name = f"e2e{len(self.started)}"
        log = self.tmp_path / f"{name}.log"
        environment = without(os.environ, "PYTEST_VERSION", "PYTEST_ADDOPTS")
        environment.update(
            DJANGO_SETTINGS_MODULE="annotator.settings",
            DATABASE_URL=database_url(),
            REDIS_URL=self.broker,
            MEDIA_ROOT=str(self.media_root),
            **small_jobs(training),
            **env,
        )
        command = [sys.executable, "-m", "celery", "-A", "annotator", "worker", "-Q", QUEUES]
        command += ["--pool", "solo", "--prefetch-multiplier", "1", "-n", f"{name}@%h", "-l", "info"]
        command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        process = start_logged(command, env=environment, log=log)
        self.started.append((process, log))
        return process

    def logs(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-4000:]}" for _process, log in self.started)

    def kill(self, process: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGKILL) -> None:
        if process.poll() is None:
            os.killpg(process.pid, sig)
        process.wait(timeout=30)

    def stop_all(self) -> None:
        for process, _log in self.started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process, _log in self.started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill(process)


@pytest.fixture
def workers(transactional_db: None, broker: str, tmp_path: Path, media_root: Path) -> Iterator[Workers]:
    pool = Workers(tmp_path, broker, media_root)
    yield pool
    pool.stop_all()


def wait_for(check: Callable[[], Any], what: str, workers: Workers, timeout: float = 60) -> Any:
    return processes.wait_for(check, what, logs=workers.logs, timeout=timeout)


def lines_zip(texts: list[str], *, seed: int = 5) -> bytes:
    buffer = io.BytesIO()
    rng = np.random.default_rng(seed)
    with zipfile.ZipFile(buffer, "w") as archive:
        for n, text in enumerate(texts):
            ok, image = cv2.imencode(".png", render_line(text, rng=rng, height=32, font=0))
            assert ok
            archive.writestr(f"batch/{n:03d}.png", image.tobytes())
    return buffer.getvalue()


def test_import_label_retrain_promote_and_rerank_by_themselves(workers: Workers) -> None:
    started = time.monotonic()
    rng = np.random.default_rng(3)
    texts = [random_text(rng, min_words=1, max_words=3) for _ in range(40)]
    project = make_project(
        model_preset="tiny",
        retrain_threshold=10,
        min_eval_lines=5,
        eval_share=0.25,
        top_window=1,
        selection_strategy="min_char_prob",
    )
    admin = APIClient()
    admin.force_authenticate(make_member(project, Membership.Role.ADMIN))
    labeler = APIClient()
    labeler.force_authenticate(make_member(project))
    workers.start(training=TINY_TRAINING)

    # The import runs in the worker: a zip of 40 line images, no text yet.
    upload = SimpleUploadedFile("batch.zip", lines_zip(texts), content_type="application/zip")
    job = admin.post(
        reverse("import-list", args=[project.pk]), {"file": [upload], "kind": "lines"}, format="multipart"
    ).json()

    def imported() -> dict[str, Any] | None:
        state = admin.get(reverse("import-detail", args=[job["id"]])).json()
        return state if state["status"] not in {"queued", "running"} else None

    state = wait_for(imported, "the import", workers)
    assert state["status"] == "succeeded", state
    assert state["report"]["lines_created"] == 40
    text_of = {line.pk: texts[int(line.key.rsplit("/", 1)[1][:3])] for line in Line.objects.filter(project=project)}
    assert Line.objects.filter(project=project, split=Line.Split.EVAL).count() >= 5

    # Eval lines come first (min_eval_lines), then training lines; the 10th
    # verified training line crosses the threshold and the submit enqueues training.
    labeled = 0
    while not TrainingRun.objects.filter(project=project).exists():
        line = labeler.post(reverse("queue-next", args=[project.pk])).json()["line"]
        body = {"text": text_of[line["id"]], "client_id": str(uuid.uuid4())}
        assert labeler.post(reverse("line-submit", args=[line["id"]]), body, format="json").status_code == 200
        labeled += 1
        assert labeled <= 20, "retraining never started"
    run = TrainingRun.objects.get(project=project)
    assert run.trigger == TrainingRun.Trigger.THRESHOLD

    def finished() -> TrainingRun | None:
        run.refresh_from_db()
        return run if run.status not in {"queued", "running"} else None

    wait_for(finished, "the training run", workers, timeout=75)
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error + workers.logs()
    assert run.progress["decision"] == "promoted"
    assert "new tiny model" in run.log
    model = ModelVersion.objects.get(project=project, status=ModelVersion.Status.ACTIVE)
    assert model == run.model_version
    assert model.cer is not None
    assert model.train_lines == 10

    unverified = Line.objects.filter(project=project, queue_state=Line.QueueState.UNLABELED)
    assert unverified.count() == 40 - labeled
    wait_for(lambda: not unverified.filter(priority=Line.UNSCORED).exists(), "re-scoring", workers)
    assert model.predictions.count() == 40 - labeled
    highest = max(unverified.values_list("priority", flat=True))
    served = labeler.post(reverse("queue-next", args=[project.pk])).json()["line"]
    assert Line.objects.get(pk=served["id"]).priority == highest
    assert served["prediction"]["model_version"] == model.pk

    # Lines imported while the model is active are read by it at once, without a promotion.
    # New scans of known texts: the same images would be skipped as content already imported.
    upload = SimpleUploadedFile("more.zip", lines_zip(texts[:6], seed=6), content_type="application/zip")
    job = admin.post(
        reverse("import-list", args=[project.pk]), {"file": [upload], "kind": "lines"}, format="multipart"
    ).json()
    assert wait_for(imported, "the second import", workers)["status"] == "succeeded"
    fresh = Line.objects.filter(project=project, key__startswith="more.zip/")
    assert fresh.count() == 6
    wait_for(lambda: model.predictions.filter(line__in=fresh).count() == 6, "the new lines' readings", workers)
    assert not fresh.filter(priority=Line.UNSCORED).exists()
    assert list(ModelVersion.objects.filter(project=project).values_list("pk", "status")) == [
        (model.pk, ModelVersion.Status.ACTIVE)
    ]
    print(f"\nend-to-end: {time.monotonic() - started:.1f} s")


def test_a_killed_worker_leaves_the_active_model_and_the_run_is_retried(workers: Workers) -> None:
    started = time.monotonic()
    rng = np.random.default_rng(4)
    texts = [random_text(rng, min_words=1, max_words=3) for _ in range(12)]
    project = make_project(model_preset="tiny", retrain_threshold=0)
    admin = make_member(project, role=Membership.Role.ADMIN)
    verify(make_rendered_lines(project, texts[:8]), texts[:8], user=admin)
    verify(make_rendered_lines(project, texts[8:], split=Line.Split.EVAL, prefix="e"), texts[8:], user=admin)
    unlabeled = make_rendered_lines(project, ("kew gardens", "dear sir"), prefix="u")
    before = score_lines(unlabeled, [0.2, 0.4])

    # The first worker trains "forever" (a minute); it is killed mid-run.
    first = workers.start(training={**TINY_TRAINING, "max_steps": 100_000}, LINEPROOF_TRAIN_MAX_MINUTES="1")
    run = training_run_request(project=project, trigger=TrainingRun.Trigger.MANUAL, user=admin)

    def training() -> bool:
        run.refresh_from_db()
        return run.status == "running" and run.progress.get("phase") == "training"

    wait_for(training, "training to start", workers)
    workers.kill(first)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.RUNNING
    assert run.progress["step"] >= 1
    assert ModelVersion.objects.get(project=project, status=ModelVersion.Status.ACTIVE) == before

    # Its message was never acknowledged (acks_late). The next worker gets it
    # back from Redis (a short visibility timeout here, hours in production),
    # finds the run's heartbeat stale, fails it and trains a retry.
    stale_after = 2.0
    while run.heartbeat_at is not None and (timezone.now() - run.heartbeat_at).total_seconds() <= stale_after + 0.5:
        time.sleep(0.25)
    workers.start(
        training=TINY_TRAINING,
        LINEPROOF_TRAIN_STALE_SECONDS=str(stale_after),
        LINEPROOF_HEARTBEAT_SECONDS=str(stale_after / 4),
        LINEPROOF_BROKER_VISIBILITY_TIMEOUT="1",
    )

    def retried() -> TrainingRun | None:
        retry = TrainingRun.objects.filter(retry_of=run).first()
        return retry if retry is not None and retry.status not in {"queued", "running"} else None

    retry = wait_for(retried, "the retried run", workers, timeout=75)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.FAILED
    assert run.error.startswith("worker lost"), run.error
    assert run.model_version is not None
    assert run.model_version.status == ModelVersion.Status.FAILED
    assert (retry.status, retry.attempt) == (TrainingRun.Status.SUCCEEDED, 2), retry.error + workers.logs()
    active = ModelVersion.objects.get(project=project, status=ModelVersion.Status.ACTIVE)
    assert active == retry.model_version
    assert "Task annotator.tasks.training_run_execute" in workers.logs().split("--- e2e1.log")[1]
    print(f"\nkilled worker: {time.monotonic() - started:.1f} s")


def test_an_export_is_done_while_re_scoring_batches_still_wait_in_the_queue(workers: Workers) -> None:
    """Exports (and imports) go to the ``interactive`` queue, which the worker takes in
    turn with ``default``: queued behind 40 re-scoring batches, the export is
    written after at most one of them, not after all."""
    project = make_project()
    admin = make_member(project, role=Membership.Role.ADMIN)
    make_rendered_lines(project, [f"line {n}" for n in range(40)])
    model = make_active_model(project)
    batches = predictions_refresh(model_version=model, batch_size=1)  # 40 messages on `default`, sent at once
    job = export_job_create(project=project, user=admin, format="text")  # then the export, on `interactive`
    assert len(batches) == 40
    assert redis.Redis.from_url(settings.REDIS_URL).llen("default") == 40

    workers.start(training=TINY_TRAINING)

    def exported() -> ExportJob | None:
        job.refresh_from_db()
        return job if job.status not in {"queued", "running"} else None

    done = wait_for(exported, "the export", workers)
    assert done.status == ExportJob.Status.SUCCEEDED, done.error
    assert done.finished_at is not None
    read_before = model.predictions.filter(created_at__lte=done.finished_at).count()
    assert read_before <= 1, f"the export waited for {read_before} re-scoring batches"
    wait_for(lambda: model.predictions.count() == 40, "the re-scoring batches", workers)
