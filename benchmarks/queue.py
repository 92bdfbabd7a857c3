"""Queue load: many labelers against one production-like setup, over HTTP.

    python -m benchmarks.queue            # 1k and 100k lines, 1 to 32 labelers (a few minutes)
    python -m benchmarks.queue --quick    # 2k lines, 1 and 8 labelers

gunicorn with the production settings (docker/gunicorn.conf.py, 2 processes
x 4 threads, DEBUG off) on a fresh PostgreSQL database (created on the test
server, LINEPROOF_TEST_DATABASE_URL, and dropped afterwards). Every labeler is
a thread with its own token and keep-alive connection doing what the labeling
page does per line: ``POST queue/next``, ``GET`` the line image, ``POST
submit``, as fast as the server answers (no typing time, so this is the
server's ceiling, not a real team's pace). Lines are scored with random
uncertainties, as after a model's re-scoring.

Each scenario reports throughput (labeled lines per second, all labelers
together), the latency of each request (median and 95th percentile), the ratio
to the first scenario, and the checks that matter more than speed: no line
was served to two labelers and every submit is stored exactly once. Writes
``benchmarks/QUEUE.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from benchmarks.recognition import _commit, _machine

ROOT = Path(__file__).resolve().parent.parent
SERVER_URL = os.environ.get("LINEPROOF_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REQUESTS = ("next", "image", "submit")


@dataclass(frozen=True)
class Scenario:
    lines: int
    labelers: int
    lines_each: int  # lines each labeler labels

    @property
    def name(self) -> str:
        return f"{self.lines:,} lines, {self.labelers} labeler{'s' if self.labelers > 1 else ''}"


DEFAULT = (
    Scenario(1_000, 1, 150),
    Scenario(100_000, 1, 150),
    Scenario(100_000, 8, 60),
    Scenario(100_000, 32, 25),
)
QUICK = (Scenario(2_000, 1, 40), Scenario(2_000, 8, 15))


@dataclass
class Outcome:
    scenario: Scenario
    seconds: float
    latencies: dict[str, list[float]]  # request -> seconds, every call
    served: list[int]  # line ids served, every labeler
    stored: int  # human transcriptions in the database afterwards
    lines_with_two: int  # lines with more than one transcription
    errors: list[str] = field(default_factory=list)

    @property
    def labeled(self) -> int:
        return len(self.served)

    @property
    def throughput(self) -> float:
        return self.labeled / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, request: str, q: float) -> float:
        values = self.latencies.get(request) or [float("nan")]
        return float(np.percentile(values, q))


# ---------------------------------------------------------------- the world


@contextmanager
def fresh_database() -> Iterator[str]:
    import psycopg

    name = f"lineproof_queue_{uuid.uuid4().hex[:8]}"
    parts = urlsplit(SERVER_URL)
    with psycopg.connect(SERVER_URL, autocommit=True) as server:
        server.execute(f'CREATE DATABASE "{name}"')
        try:
            yield urlunsplit(parts._replace(path=f"/{name}"))
        finally:
            server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def environment(database: str, folder: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "LINEPROOF_", "SECURE_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        DJANGO_SETTINGS_MODULE="annotator.settings",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=database,
        MEDIA_ROOT=str(folder / "media"),
        STATIC_ROOT=str(folder / "static"),
        LINEPROOF_VAR_DIR=str(folder / "var"),
        GUNICORN_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="2",
        # Plain HTTP to 127.0.0.1: no HTTPS redirect or secure-only cookies.
        SECURE_SSL_REDIRECT="false",
        SESSION_COOKIE_SECURE="false",
        CSRF_COOKIE_SECURE="false",
        SECURE_PROXY_SSL_HEADER="false",
    )
    env.pop("REDIS_URL", None)  # nothing here enqueues: retraining is set out of reach
    return env


def populate(scenario: Scenario, index: int, media: Path) -> tuple[int, list[str]]:
    """A project with ``scenario.lines`` scored training lines and its labelers' tokens."""
    import cv2
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    from annotator.models import Line, Membership, Project
    from recognition.synthetic import render_line

    crop = "bench/line.png"
    (media / "bench").mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(media / crop), render_line("the queue under load", rng=np.random.default_rng(0), height=48))
    project = Project.objects.create(
        name=f"queue {index}", eval_share=0.0, min_eval_lines=0, retrain_threshold=10**9, top_window=20
    )
    rng = np.random.default_rng(index)
    uncertainty = rng.random(scenario.lines)
    batch = 5000
    for start in range(0, scenario.lines, batch):
        Line.objects.bulk_create(
            Line(
                project=project,
                key=f"l{n}",
                crop=crop,
                width=600,
                height=48,
                split=Line.Split.TRAIN,
                sample_key=float(rng.random()),
                cold_rank=n,
                priority=float(uncertainty[n]),
            )
            for n in range(start, min(start + batch, scenario.lines))
        )
    tokens = []
    for n in range(scenario.labelers):
        user = User.objects.create_user(username=f"q{index}-labeler{n}")
        Membership.objects.create(project=project, user=user, role=Membership.Role.LABELER)
        tokens.append(Token.objects.create(user=user).key)
    return project.pk, tokens


def check(project_id: int) -> tuple[int, int]:
    """(human transcriptions stored, lines with more than one)."""
    from django.db.models import Count

    from annotator.models import Line, Transcription

    stored = Transcription.objects.filter(line__project_id=project_id, source=Transcription.Source.HUMAN).count()
    doubled = Line.objects.filter(project_id=project_id).annotate(n=Count("transcriptions")).filter(n__gt=1).count()
    return stored, doubled


# ---------------------------------------------------------------- the load


class Labeler:
    """One person at the labeling page, on one keep-alive connection."""

    def __init__(self, port: int, token: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        self.connection.request(method, path, body=data, headers=self.headers)
        response = self.connection.getresponse()
        return response.status, response.read()


def run_scenario(scenario: Scenario, project_id: int, tokens: list[str], port: int) -> Outcome:
    latencies: dict[str, list[float]] = {name: [] for name in REQUESTS}
    served: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(scenario.labelers + 1)

    def labeler(token: str) -> None:
        client = Labeler(port, token)
        mine: dict[str, list[float]] = {name: [] for name in REQUESTS}
        got: list[int] = []
        start.wait()
        try:
            for _ in range(scenario.lines_each):
                began = time.perf_counter()
                status, body = client.call("POST", f"/api/projects/{project_id}/queue/next", {})
                mine["next"].append(time.perf_counter() - began)
                line = json.loads(body).get("line") if status == 200 else None
                if line is None:
                    raise RuntimeError(f"queue/next: HTTP {status} {body[:200]!r}")
                began = time.perf_counter()
                status, image = client.call("GET", f"/api/lines/{line['id']}/image")
                mine["image"].append(time.perf_counter() - began)
                if status != 200 or not image.startswith(b"\x89PNG"):
                    raise RuntimeError(f"image: HTTP {status}")
                began = time.perf_counter()
                body_out = {"text": f"line {line['id']}", "client_id": str(uuid.uuid4())}
                status, body = client.call("POST", f"/api/lines/{line['id']}/submit", body_out)
                mine["submit"].append(time.perf_counter() - began)
                if status not in (200, 201):
                    raise RuntimeError(f"submit: HTTP {status} {body[:200]!r}")
                got.append(int(line["id"]))
        except Exception as error:  # a failed request is a result, reported in the table
            with lock:
                errors.append(f"{type(error).__name__}: {error}")
        finally:
            client.connection.close()
            with lock:
                served.extend(got)
                for name in REQUESTS:
                    latencies[name].extend(mine[name])

    threads = [threading.Thread(target=labeler, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    stored, doubled = check(project_id)
    return Outcome(scenario, seconds, latencies, served, stored, doubled, errors)


def wait_until_up(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start listening")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def measure(scenarios: tuple[Scenario, ...]) -> list[Outcome]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="lineproof-queue-") as tmp, fresh_database() as database:
        folder = Path(tmp)
        env = environment(database, folder, port)
        os.environ.update(env)
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        worlds = [populate(s, i, folder / "media") for i, s in enumerate(scenarios)]
        from django.db import connection

        connection.close()  # the server's processes open their own
        log = (folder / "gunicorn.log").open("wb")
        command = [sys.executable, "-m", "gunicorn", "annotator.wsgi:application"]
        web = subprocess.Popen(
            [*command, "--config", str(ROOT / "docker" / "gunicorn.conf.py")],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until_up(port, web)
            outcomes = []
            for scenario, (project_id, tokens) in zip(scenarios, worlds, strict=True):
                outcome = run_scenario(scenario, project_id, tokens, port)
                print(f"{scenario.name}: {outcome.throughput:.1f} lines/s", file=sys.stderr, flush=True)
                outcomes.append(outcome)
        finally:
            web.send_signal(signal.SIGTERM)
            web.wait(timeout=60)
            log.close()
            connection.close()
        return outcomes


# ---------------------------------------------------------------- output


def table(outcomes: list[Outcome]) -> str:
    base = outcomes[0]
    head = (
        "| scenario | labeled | lines/s | vs first | next p50 / p95 (ms) | image p50 / p95 (ms) "
        "| submit p50 / p95 (ms) | next p50 vs first | served twice | stored | errors |"
    )
    rows = [head, "|" + "---|" * 11]
    for o in outcomes:
        twice = sum(1 for n in Counter(o.served).values() if n > 1) + o.lines_with_two

        def cell(name: str, o: Outcome = o) -> str:
            return f"{o.percentile(name, 50) * 1000:.1f} / {o.percentile(name, 95) * 1000:.1f}"

        rows.append(
            f"| {o.scenario.name} | {o.labeled} | {o.throughput:.1f} | {o.throughput / base.throughput:.2f}x "
            f"| {cell('next')} | {cell('image')} | {cell('submit')} "
            f"| {o.percentile('next', 50) / base.percentile('next', 50):.2f}x | {twice} "
            f"| {o.stored} of {o.labeled} | {len(o.errors)} |"
        )
    return "\n".join(rows)


def markdown(outcomes: list[Outcome], *, command: str, started: dt.datetime, minutes: float) -> str:
    errors = [f"- {o.scenario.name}: {e}" for o in outcomes for e in o.errors[:3]]
    return "\n".join(
        [
            "# Queue under load",
            "",
            f"- command: `{command}` ({minutes:.1f} minutes)",
            f"- commit: {_commit()}, {started:%Y-%m-%d %H:%M} UTC",
            f"- machine: {_machine()}; server and load generator share it",
            "- setup: gunicorn (docker/gunicorn.conf.py, 2 processes x 4 threads, DEBUG off) and PostgreSQL; "
            "each labeler a thread with its own token and keep-alive connection: queue/next, image, submit, "
            "back to back (no typing time: the server's ceiling)",
            "",
            table(outcomes),
            "",
            "Served twice: lines handed to two labelers plus lines stored with two transcriptions (must be 0). "
            "Stored: human transcriptions in the database against submits answered.",
            *(["", *errors] if errors else []),
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 lines, 1 and 8 labelers")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "QUEUE.md")
    args = parser.parse_args(argv)
    started = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    outcomes = measure(QUICK if args.quick else DEFAULT)
    command = "python -m benchmarks.queue " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(outcomes, command=command.strip(), started=started, minutes=(time.perf_counter() - clock) / 60)
    args.results.write_text(text, encoding="utf-8")
    print(text)
    failed = any(o.errors or o.lines_with_two or o.stored != o.labeled for o in outcomes)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
