"""Freshness: from the Nth verified label to the top of the queue ranked by a model that learned from it.

    python -m benchmarks.freshness --quick    # 5 minutes of labeling per mode, 400 pool lines (about 20 minutes)
    python -m benchmarks.freshness            # 20 minutes per mode, 1,200 pool lines (about an hour)

Real processes, as deployed on one machine: a training worker (queue ``gpu``,
one task at a time) and a CPU worker (``interactive,default``: the re-scoring
batches), both ``celery worker`` processes, with Redis as the broker (database
``LINEPROOF_BENCH_REDIS_URL``, else ``LINEPROOF_TEST_REDIS_URL``, flushed) and a
fresh PostgreSQL database made on the test server (``LINEPROOF_TEST_DATABASE_URL``,
dropped afterwards). Beat is not started (nothing here waits on a schedule).

A project of ``hooker`` lines starts from the shipped base: evaluation lines
(from the validation split) and a first 100 training lines are verified by its
admin, a first full run fine-tunes the base on them, and the pool of unlabeled
training lines is read by that model. Then 5 simulated labelers work through the
real API (the views and services, in this process: ``queue/next``, then
``submit`` of the line's ground-truth text after a steady pace of seconds per
line), while the project retrains after every 50 verified lines, twice from
the same start:

* ``incremental``: threshold runs are incremental (the app's default,
  ``Project.full_retrain_every`` = 10: a full one after ten);
* ``full``: every run is a full one (``full_retrain_every`` = 1: how the app
  retrained before).

For each threshold-triggered run, freshness is the time from its trigger (the
run is requested in the transaction of the submit of the Nth label) to the
first moment the top of the queue is ranked by a promoted model whose data
snapshot includes that label (``ModelVersion.queue_reranked_at``: its first
re-scoring batch, the lines served next, landed). A rejected run's label waits
for the next promoted one; a label no promoted model learned from before the
end counts with the time until the end (a lower bound, marked). The same is
reported for every verified label ("staleness"). At the end each mode's active
model reads a fixed set of held-out ``hooker`` test lines (CER).
Writes ``benchmarks/FRESHNESS.md`` and ``FRESHNESS.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from benchmarks.freshness_report import Outcome, Plan, Promotion, report, table, waits

ROOT = Path(__file__).resolve().parent.parent
DATASET = ROOT.parent / "shared" / "datasets" / "hooker"
SERVER_URL = os.environ.get("LINEPROOF_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get(
    "LINEPROOF_BENCH_REDIS_URL", os.environ.get("LINEPROOF_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
)
MODES = {"incremental": 10, "full": 1}  # mode -> Project.full_retrain_every


QUICK = Plan(minutes=5, pool=400, seconds_per_line=6.0, first_lines=50, test_lines=150)
DEFAULT = Plan(minutes=20, pool=1200, seconds_per_line=10.0)


# ---------------------------------------------------------------- the world


@contextmanager
def fresh_database() -> Iterator[str]:
    import psycopg

    name = f"lineproof_fresh_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(SERVER_URL, autocommit=True) as server:
        server.execute(f'CREATE DATABASE "{name}"')
        try:
            yield urlunsplit(urlsplit(SERVER_URL)._replace(path=f"/{name}"))
        finally:
            server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def hooker_lines(split: str, count: int, *, skip: int = 0) -> list[tuple[str, Path, str]]:
    """(id, image path, text) of ``count`` lines of ``split``, in split.json's order after ``skip``."""
    ids = json.loads((DATASET / "split.json").read_text())[split][skip : skip + count]
    return [(i, DATASET / "lines" / f"{i}.png", (DATASET / "lines" / f"{i}.gt.txt").read_text().strip()) for i in ids]


class Workers:
    """The training worker and the CPU worker, each ``celery worker`` in a process group of its own."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        celery = [sys.executable, "-m", "celery", "-A", "annotator", "worker", "--concurrency", "1", "-l", "info"]
        self.processes = []
        for name, queues in (("gpu", "gpu"), ("cpu", "interactive,default")):
            command = [*celery, "-Q", queues, "--prefetch-multiplier", "1", "-n", f"{name}@%h", "--without-gossip"]
            with (logs / f"{name}.log").open("wb") as out:
                self.processes.append(
                    subprocess.Popen(
                        command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                    )
                )

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wait_until(check: Any, what: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def project_make(name: str, plan: Plan, media: Path, every: int) -> tuple[Any, Any, dict[int, str]]:
    """The project, its admin and each line's ground truth (see the module docstring)."""
    import cv2
    from django.contrib.auth.models import User

    from annotator.models import Line, Membership
    from annotator.services import label_submit, line_create, project_create

    # No retraining while the setup verifies its lines: main() sets the threshold once the first model is in.
    project = project_create(
        name=name,
        base_model="latin-cpu",
        eval_share=0.0,
        min_eval_lines=0,
        retrain_threshold=0,
        full_retrain_every=every,
    )
    admin = User.objects.create_user(username=f"{name}-admin")
    Membership.objects.create(project=project, user=admin, role=Membership.Role.ADMIN)
    truth: dict[int, str] = {}
    groups = (
        ("val", hooker_lines("val", plan.eval_lines), Line.Split.EVAL, True),
        ("first", hooker_lines("train", plan.first_lines), Line.Split.TRAIN, True),
        ("pool", hooker_lines("train", plan.pool, skip=plan.first_lines), Line.Split.TRAIN, False),
    )
    for group, lines, split, verified in groups:
        for n, (line_id, path, text) in enumerate(lines):
            crop = f"lines/{project.pk}/{line_id}.png"
            (media / crop).parent.mkdir(parents=True, exist_ok=True)
            (media / crop).write_bytes(path.read_bytes())
            image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            assert image is not None, path
            height, width = image.shape
            line = line_create(
                project=project, key=f"{group}/{line_id}", crop=crop, width=width, height=height, reading_order=n
            )
            Line.objects.filter(pk=line.pk).update(split=split)
            truth[line.pk] = text
            if verified:
                line.refresh_from_db()
                label_submit(line=line, user=admin, text=text, client_id=uuid.uuid4())
    return project, admin, truth


def all_read(project: Any) -> bool:
    from annotator.models import Line, ModelVersion, Transcription

    active = ModelVersion.objects.filter(project=project, status="active").first()
    if active is None or active.rescore_requested_at is not None:
        return False
    unverified = Line.objects.filter(project=project).exclude(
        current_transcription__status=Transcription.Status.VERIFIED
    )
    return not unverified.exclude(predictions__model_version=active).exists()


def labeler(project_id: int, user: Any, truth: dict[int, str], pace: float, stop_at: float, seed: int) -> None:
    from django.db import connection
    from django.urls import reverse
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    rng = np.random.default_rng(seed)
    try:
        while time.monotonic() < stop_at:
            line = client.post(reverse("queue-next", args=[project_id])).json().get("line")
            if line is None:
                return
            time.sleep(min(max(0.0, stop_at - time.monotonic()), pace * rng.uniform(0.75, 1.25)))
            if time.monotonic() >= stop_at:
                return
            body = {"text": truth[line["id"]], "client_id": str(uuid.uuid4()), "lease": line.get("lease")}
            response = client.post(reverse("line-submit", args=[line["id"]]), body, format="json")
            if response.status_code != 200:
                print(f"  submit refused: {response.status_code} {response.content[:200]!r}", flush=True)
    finally:
        connection.close()


def held_out_cer(checkpoint: Path, lines: list[tuple[str, Path, str]]) -> float:
    from recognition.images import load_line_image
    from recognition.infer import Recognizer
    from recognition.metrics import cer

    reader = Recognizer.load(checkpoint)
    readings = reader.predict([load_line_image(path.read_bytes()) for _i, path, _t in lines])
    return cer([text for _i, _p, text in lines], [reading.text for reading in readings])


def run_mode(mode: str, project: Any, truth: dict[int, str], plan: Plan, test: list[Any]) -> Outcome:
    from django.contrib.auth.models import User

    from annotator.models import Membership, ModelVersion, TrainingRun, Transcription
    from annotator.storage import storage_local_path

    users = []
    for n in range(plan.labelers):
        user = User.objects.create_user(username=f"{mode}-labeler{n}")
        Membership.objects.create(project=project, user=user, role=Membership.Role.LABELER)
        users.append(user)
    started = time.time()
    stop_at = time.monotonic() + plan.minutes * 60
    threads = [
        threading.Thread(target=labeler, args=(project.pk, user, truth, plan.seconds_per_line, stop_at, n))
        for n, user in enumerate(users)
    ]
    for thread in threads:
        thread.start()
    load = []
    while any(thread.is_alive() for thread in threads):
        load.append(os.getloadavg()[0])
        so_far = TrainingRun.objects.filter(project=project, created_at__gte=_aware(started)).order_by("id")
        states = [(run.kind[0], run.status[:4]) for run in so_far]
        print(f"  {mode}: {time.time() - started:4.0f} s, runs {states}", flush=True)
        time.sleep(15)
    labeling_end = time.time()
    in_flight = TrainingRun.objects.filter(project=project, status__in=["queued", "running"])
    try:
        wait_until(
            lambda: not in_flight.exists() and all_read(project),
            "the last run and its re-scoring",
            plan.drain_minutes * 60,
        )
    except TimeoutError as error:
        print(f"  {error}; the runs still in flight are left out", flush=True)
    end = time.time()

    promotions = []
    for version in ModelVersion.objects.filter(project=project, promoted_at__isnull=False):
        reranked = version.queue_reranked_at
        if reranked is not None and reranked.timestamp() >= started:
            promotions.append(Promotion(version.created_at.timestamp(), reranked.timestamp()))
    threshold_runs = TrainingRun.objects.filter(project=project, trigger="threshold", created_at__gte=_aware(started))
    triggers = [r.created_at.timestamp() for r in threshold_runs.order_by("id")]
    label_times = list(
        Transcription.objects.filter(
            line__project=project, author__in=users, status=Transcription.Status.VERIFIED, line__split="train"
        ).values_list("created_at", flat=True)
    )
    runs = []
    for run in threshold_runs.select_related("model_version").order_by("id"):
        trained = run.model_version
        rerank = None
        if trained is not None and trained.promoted_at and trained.queue_reranked_at:
            rerank = (trained.queue_reranked_at - trained.promoted_at).total_seconds()
        runs.append(
            {
                "kind": run.kind,
                "status": run.status,
                "decision": run.progress.get("decision"),
                "queue_s": (run.started_at - run.created_at).total_seconds() if run.started_at else None,
                "train_s": (run.finished_at - run.started_at).total_seconds()
                if run.finished_at and run.started_at
                else None,
                "rerank_s": rerank,
                "new_lines": run.progress.get("new_lines"),
                "train_lines": run.progress.get("train_lines"),
            }
        )
    active = ModelVersion.objects.get(project=project, status="active")
    return Outcome(
        mode=mode,
        triggers=waits(triggers, promotions, end),
        labels=waits([t.timestamp() for t in label_times if t.timestamp() <= labeling_end], promotions, end),
        runs=runs,
        verified=len(label_times),
        final_cer=held_out_cer(storage_local_path(active.checkpoint), test),
        load=load,
    )


def _aware(epoch: float) -> Any:
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC)


def start_model_copy(source: Any, target: Any) -> None:
    """``target`` starts from ``source``'s active model (the same first model for both modes)."""
    from django.core.files import File
    from django.core.files.storage import default_storage

    from annotator.models import ModelVersion
    from annotator.services import model_version_promote

    active = ModelVersion.objects.get(project=source, status="active")
    with default_storage.open(active.checkpoint, "rb") as handle:
        stored = default_storage.save(f"models/{target.pk}/start/best.pt", File(handle))
    copy = ModelVersion.objects.create(
        project=target,
        checkpoint=stored,
        alphabet=active.alphabet,
        cer=active.cer,
        wer=active.wer,
        ser=active.ser,
        train_lines=active.train_lines,
        calibration=active.calibration,
        accept_threshold=active.accept_threshold,
        accept_coverage=active.accept_coverage,
        status=ModelVersion.Status.CANDIDATE,
    )
    model_version_promote(model_version=copy)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 minutes per mode, 400 pool lines")
    parser.add_argument("--minutes", type=float, help="labeling minutes per mode")
    parser.add_argument("--pool", type=int, help="unlabeled pool lines")
    parser.add_argument("--seconds-per-line", type=float, help="each labeler's pace")
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "FRESHNESS.md")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else DEFAULT
    overrides = {"minutes": args.minutes, "pool": args.pool, "seconds_per_line": args.seconds_per_line}
    plan = Plan(**{**asdict(plan), **{k: v for k, v in overrides.items() if v is not None}})
    command = "python -m benchmarks.freshness " + " ".join(argv if argv is not None else sys.argv[1:])
    began = time.monotonic()
    import redis

    broker = redis.Redis.from_url(REDIS_URL)
    broker.flushdb()
    with tempfile.TemporaryDirectory(prefix="lineproof-fresh-") as folder, fresh_database() as database:
        media = Path(folder) / "media"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
        env.update(
            PYTHONPATH=str(ROOT),
            DJANGO_SETTINGS_MODULE="annotator.settings",
            DATABASE_URL=database,
            REDIS_URL=REDIS_URL,
            MEDIA_ROOT=str(media),
            LINEPROOF_VAR_DIR=str(Path(folder) / "var"),
        )
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command
        from django.test.utils import setup_test_environment

        from annotator.models import ModelVersion, Project
        from annotator.services import training_run_request
        from annotator.storage import storage_local_path
        from recognition.base import base_path

        setup_test_environment()
        call_command("migrate", verbosity=0)
        test = hooker_lines("test", plan.test_lines)
        print("setting up the projects...", flush=True)
        projects = {mode: project_make(mode, plan, media, MODES[mode]) for mode in args.modes}
        workers = Workers(env, Path(folder))
        try:
            first, *others = args.modes
            start = projects[first][0]
            training_run_request(project=start, trigger="manual", kind="full")
            wait_until(
                lambda: ModelVersion.objects.filter(project=start, status="active", base_name="").exists(),
                "the first model",
                1800,
            )
            for mode in others:
                start_model_copy(start, projects[mode][0])
            for project, _admin, _truth in projects.values():
                wait_until(lambda p=project: all_read(p), "the pool read by the first model", 1800)
                Project.objects.filter(pk=project.pk).update(retrain_threshold=plan.threshold)
            first_model = ModelVersion.objects.get(project=start, status="active")
            start_cer = held_out_cer(storage_local_path(first_model.checkpoint), test)
            base_cer = held_out_cer(base_path("latin-cpu"), test)
            print(f"first model ready: held-out CER {start_cer:.2%} (base {base_cer:.2%})", flush=True)
            outcomes = []
            for mode in args.modes:
                project, _admin, truth = projects[mode]
                project.refresh_from_db()
                outcomes.append(run_mode(mode, project, truth, plan, test))
                print(table({o.mode: o.summary() for o in outcomes}), flush=True)
        finally:
            workers.stop()
            broker.flushdb()
            from django.db import connections

            connections.close_all()
    text = report(
        outcomes, plan, seconds=time.monotonic() - began, start_cer=start_cer, base_cer=base_cer, command=command
    )
    print(text)
    args.results.write_text(text)
    details = {
        o.mode: {"summary": o.summary(), "runs": o.runs, "triggers": [asdict(w) for w in o.triggers]} for o in outcomes
    }
    args.results.with_suffix(".json").write_text(json.dumps({"plan": asdict(plan), "modes": details}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
