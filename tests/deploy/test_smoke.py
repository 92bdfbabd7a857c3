"""A production-like run on this machine: the process set of
docker/docker-compose.yml started as real processes, with production settings,
driven through HTTP only.

    gunicorn (2 processes, docker/gunicorn.conf.py)  web
    celery worker -Q interactive,default             imports, exports, re-scoring, schedule checks
    celery worker -Q gpu --concurrency 1 --prefetch-multiplier 1 --max-tasks-per-child 1
                                                     training (on the CPU here)
    celery beat (DatabaseScheduler)                  the periodic schedule check

against a fresh PostgreSQL database (created and dropped here) and a Redis
database of its own (LINEPROOF_SMOKE_REDIS_URL, default db 12; the e2e tests
use 13). DEBUG is off, static files are collected and served by whitenoise.
One loop: an admin imports a zip of rendered lines, two labelers label them
from the queue, retraining starts by itself, the new model is promoted and the
unlabeled lines are re-ranked; then every process gets SIGTERM and must exit 0
and leave nothing behind. The container health checks (docker/healthcheck.py)
are run against the live processes.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlsplit, urlunsplit
from urllib.request import Request, urlopen

import cv2
import numpy as np
import psycopg
import pytest

from recognition.synthetic import random_text, render_line
from tests import processes
from tests.annotator.test_e2e import TINY_TRAINING, small_jobs
from tests.processes import flushed_redis, free_port, production_environment, start_logged, without

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parent.parent.parent
MANAGE = str(ROOT / "manage.py")
SERVER_URL = os.environ.get("LINEPROOF_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("LINEPROOF_SMOKE_REDIS_URL", "redis://127.0.0.1:6379/12")
LINES = 40
LABELERS = 2
SETUP = """
import json
from django.contrib.auth.models import User
from annotator.models import Membership, Project

project = Project.objects.create(
    name="smoke", model_preset="tiny", retrain_threshold=10, eval_share=0.25, min_eval_lines=3,
    top_window=1, selection_strategy="min_char_prob",
)
for name, role in [("admin", "admin"), ("labeler1", "labeler"), ("labeler2", "labeler")]:
    user = User.objects.create_user(username=name, password=PASSWORD)
    Membership.objects.create(project=project, user=user, role=role)
print(json.dumps({"project": project.pk}))
"""


@pytest.fixture
def database() -> Iterator[str]:
    """A fresh PostgreSQL database on the test server, dropped afterwards."""
    name = f"lineproof_smoke_{uuid.uuid4().hex[:8]}"
    parts = urlsplit(SERVER_URL)
    try:
        server = psycopg.connect(SERVER_URL, autocommit=True)
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL at {parts.hostname}:{parts.port} is not reachable ({error}); bin/services starts it.")
    with server:
        server.execute(f'CREATE DATABASE "{name}"')
        try:
            yield urlunsplit(parts._replace(path=f"/{name}"))
        finally:
            server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def broker() -> Iterator[str]:
    yield from flushed_redis(REDIS_URL)


@dataclass
class Deployment:
    """The processes of one deployment, each in its own session (process group)
    so that what a process leaves behind can be found and cleaned up."""

    folder: Path
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def run(self, *argv: str) -> str:
        done = subprocess.run(
            [sys.executable, *argv], cwd=self.folder, env=self.env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self, name: str, *argv: str) -> None:
        self.processes[name] = start_logged(
            [sys.executable, *argv], env=self.env, log=self.folder / f"{name}.log", cwd=self.folder
        )

    def assert_running(self, what: str) -> None:
        for name, process in self.processes.items():
            assert process.poll() is None, f"{name} exited ({process.returncode}) while waiting for {what}\n" + (
                self.logs()
            )

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{self.log(name)[-3000:]}" for name in self.processes)

    def healthy(self, *check: str) -> bool:
        command = [sys.executable, str(ROOT / "docker" / "healthcheck.py"), *check]
        return subprocess.run(command, cwd=self.folder, env=self.env, capture_output=True).returncode == 0

    def stop(self) -> dict[str, int | None]:
        """SIGTERM to each main process (as `docker stop` sends), then wait."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for name, process in self.processes.items():
            try:
                codes[name] = process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                codes[name] = None
        return codes

    def leftovers(self) -> list[str]:
        """Process groups that still have members (children that outlived their parent)."""
        alive = []
        for name, process in self.processes.items():
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                continue
            alive.append(name)
        return alive

    def kill_all(self) -> None:
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            if process.poll() is None:
                process.wait(timeout=30)


@pytest.fixture
def deployment(database: str, broker: str, tmp_path: Path) -> Iterator[Deployment]:
    # Production settings as docker/.env.example sets them, except HTTPS (this
    # test speaks plain HTTP to 127.0.0.1): the queue benchmark's environment.
    environment = without(production_environment(database, tmp_path, free_port()), "PYTEST_", "CELERY_")
    environment.update(
        REDIS_URL=broker,
        # Small and fast, and a schedule check every 5 s so beat is seen to
        # work within the test.
        **small_jobs(TINY_TRAINING),
        LINEPROOF_SCHEDULE_CHECK_SECONDS="5",
    )
    running = Deployment(tmp_path, environment)
    yield running
    running.kill_all()


class Client:
    """JSON over HTTP with a DRF token, as a script would talk to the API."""

    def __init__(self, base: str, token: str = "") -> None:
        self.base, self.token = base, token

    def request(self, method: str, path: str, body: Any = None, *, raw: bytes = b"", kind: str = "") -> Any:
        headers = {"Authorization": f"Token {self.token}"} if self.token else {}
        data = raw or None
        if body is not None:
            data, kind = json.dumps(body).encode(), "application/json"
        if kind:
            headers["Content-Type"] = kind
        try:
            with urlopen(Request(self.base + path, data=data, method=method, headers=headers), timeout=30) as answer:
                payload = answer.read()
                is_json = answer.headers.get_content_type() == "application/json"
                return json.loads(payload) if is_json else payload
        except HTTPError as error:
            raise AssertionError(f"{method} {path}: HTTP {error.code} {error.read()[:500]!r}") from error

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, {} if body is None else body)

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def upload(self, path: str, fields: dict[str, str], name: str, content: bytes) -> Any:
        boundary = uuid.uuid4().hex
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items()
        ]
        head = "".join(parts) + (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/zip\r\n\r\n"
        )
        body = head.encode() + content + f"\r\n--{boundary}--\r\n".encode()
        return self.request("POST", path, raw=body, kind=f"multipart/form-data; boundary={boundary}")


def pixels_key(image: np.ndarray) -> str:
    return hashlib.sha1(f"{image.shape}".encode() + image.tobytes()).hexdigest()


def lines_zip(texts: list[str]) -> tuple[bytes, dict[str, str]]:
    """Line images only (no .gt.txt: every text comes from a labeler), and each
    image's text by its pixels, which is how the labelers here 'read' a line."""
    rng = np.random.default_rng(5)
    text_of: dict[str, str] = {}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for n, text in enumerate(texts):
            image = render_line(text, rng=rng, height=32)
            ok, png = cv2.imencode(".png", image)
            assert ok
            archive.writestr(f"lines/{n:04d}.png", png.tobytes())
            text_of[pixels_key(image)] = text
    return buffer.getvalue(), text_of


def wait_for(check: Callable[[], Any], what: str, deployment: Deployment, timeout: float = 60) -> Any:
    return processes.wait_for(
        check, what, logs=deployment.logs, alive=lambda: deployment.assert_running(what), timeout=timeout
    )


def test_the_compose_process_set_runs_one_labeling_loop_and_stops_cleanly(deployment: Deployment) -> None:
    timings: dict[str, float] = {}
    clock = time.monotonic()

    def lap(phase: str) -> None:
        nonlocal clock
        timings[phase] = time.monotonic() - clock
        clock = time.monotonic()

    # What the image build and the compose `migrate` service do.
    deployment.run(MANAGE, "collectstatic", "--noinput")
    deployment.run(MANAGE, "migrate", "--noinput")
    password = secrets.token_urlsafe(12)
    setup = f"PASSWORD = {password!r}\n{SETUP}"
    project = json.loads(deployment.run(MANAGE, "shell", "-c", setup).strip().splitlines()[-1])["project"]
    lap("setup")

    celery = ["-m", "celery", "--app=annotator"]
    info = "--loglevel=INFO"
    deployment.start(
        "web", "-m", "gunicorn", "annotator.wsgi:application", "--config", str(ROOT / "docker/gunicorn.conf.py")
    )
    deployment.start(
        "worker-cpu", *celery, "worker", "--queues=interactive,default", "--hostname=cpu@%h", "--concurrency=1", info
    )
    deployment.start(
        "worker-gpu",
        *celery,
        "worker",
        "--queues=gpu",
        "--hostname=gpu@%h",
        "--concurrency=1",
        "--prefetch-multiplier=1",
        "--max-tasks-per-child=1",
        info,
    )
    deployment.start("beat", *celery, "beat", "--scheduler=django_celery_beat.schedulers:DatabaseScheduler", info)
    # The containers' health checks, against the live processes.
    wait_for(lambda: deployment.healthy("web"), "gunicorn", deployment)
    wait_for(lambda: deployment.healthy("worker", "cpu"), "the CPU worker", deployment)
    wait_for(lambda: deployment.healthy("worker", "gpu"), "the GPU-queue worker", deployment)
    lap("start")

    base = "http://" + deployment.env["GUNICORN_BIND"]
    anonymous = Client(base)
    # DEBUG is off, so this is whitenoise (from collectstatic's output), not Django's static view.
    assert anonymous.get("/static/admin/css/base.css").startswith(b"/*")
    assert b'src="/static/ui/js/app.' in anonymous.get("/")

    def login(name: str) -> Client:
        return Client(base, anonymous.post("/api/auth/token", {"username": name, "password": password})["token"])

    admin = login("admin")
    labelers = [login(f"labeler{n}") for n in range(1, LABELERS + 1)]

    rng = np.random.default_rng(3)
    texts = [random_text(rng, min_words=1, max_words=3) for _ in range(LINES)]
    archive, text_of = lines_zip(texts)
    job = admin.upload(f"/api/projects/{project}/imports", {"kind": "lines"}, "lines.zip", archive)
    assert job["status"] in {"queued", "running", "succeeded"}, job

    def imported() -> dict[str, Any] | None:
        job_now = admin.get(f"/api/imports/{job['id']}")
        return job_now if job_now["status"] in {"succeeded", "failed"} else None

    job = wait_for(imported, "the import", deployment)
    assert (job["status"], job["report"]["lines_created"]) == ("succeeded", LINES), job
    lap("import")

    # The labelers take turns: each claims the next line, reads it (its image,
    # through the API) and submits its text, until retraining has started.
    labeled = 0
    while not admin.get(f"/api/projects/{project}/training-runs"):
        assert labeled < 30, "no training run after 30 labeled lines"
        labeler = labelers[labeled % LABELERS]
        line = labeler.post(f"/api/projects/{project}/queue/next")["line"]
        assert line is not None
        image = cv2.imdecode(np.frombuffer(labeler.get(f"/api/lines/{line['id']}/image"), np.uint8), -1)
        assert image is not None, "the line image is not a PNG"
        body = {"text": text_of[pixels_key(image)], "client_id": str(uuid.uuid4())}
        labeler.post(f"/api/lines/{line['id']}/submit", body)
        labeled += 1
    lap("label")

    (run,) = admin.get(f"/api/projects/{project}/training-runs")
    assert run["trigger"] in {"threshold", "schedule"}, run  # by itself, not by hand

    def trained() -> dict[str, Any] | None:
        run_now = admin.get(f"/api/training-runs/{run['id']}")
        return run_now if run_now["status"] not in {"queued", "running"} else None

    run = wait_for(trained, "the training run", deployment, timeout=90)
    assert run["status"] == "succeeded", run["error"] + deployment.logs()
    assert run["progress"]["decision"] == "promoted", run
    (model,) = admin.get(f"/api/projects/{project}/models")
    assert (model["id"], model["status"]) == (run["model_version"], "active")
    assert admin.get(f"/api/projects/{project}")["active_model"]["id"] == model["id"]
    lap("train")

    # Re-scoring batches (queue `default`) give every unlabeled line the new
    # model's priority; the queue then serves the highest one.
    with psycopg.connect(deployment.env["DATABASE_URL"]) as db:

        def unscored() -> int:
            query = "SELECT count(*) FROM annotator_line WHERE project_id = %s AND queue_state = 'unlabeled' {}"
            # -1e18: Line.UNSCORED, a line no model has read.
            row = db.execute(query.format("AND priority = -1e18"), [project]).fetchone()
            db.commit()
            assert row is not None
            return int(row[0])

        wait_for(lambda: unscored() == 0, "re-scoring", deployment)
        top = db.execute(
            "SELECT max(priority) FROM annotator_line WHERE project_id = %s AND queue_state = 'unlabeled'", [project]
        ).fetchone()
        served = labelers[0].post(f"/api/projects/{project}/queue/next")["line"]
        priority = db.execute("SELECT priority FROM annotator_line WHERE id = %s", [served["id"]]).fetchone()
    assert top is not None
    assert priority is not None
    assert priority[0] == top[0]
    assert served["prediction"]["model_version"] == model["id"]
    lap("rerank")

    assert "annotator.tasks.training_schedule_check" in deployment.log("worker-cpu"), "beat sent nothing"
    codes = deployment.stop()
    lap("stop")
    assert codes == dict.fromkeys(deployment.processes, 0), deployment.logs()
    assert deployment.leftovers() == [], "processes outlived their parent"
    total = sum(timings.values())
    print(f"\nsmoke: {LINES} lines, {LABELERS} labelers, {labeled} labeled; {total:.1f} s total (", end="")
    print(", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in timings.items()) + ")")
