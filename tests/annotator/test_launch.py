"""The README's run command with zero configuration: SQLite, the filesystem
broker, and the launcher's real web, worker, trainer and beat processes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.processes import ROOT, free_port, start_logged

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def query(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute(sql).fetchall()


def launcher_env(tmp_path: Path) -> dict[str, str]:
    """Zero configuration, in ``tmp_path``: SQLite and the filesystem broker."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST", "DJANGO_SETTINGS"))}
    env |= {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "LINEPROOF_VAR_DIR": str(tmp_path / "var"),
        "LINEPROOF_TRAIN_MAX_MINUTES": "0.2",
        "LINEPROOF_ADMIN_PASSWORD": "s3cret-demo",
    }
    env.pop("REDIS_URL", None)
    return env


def stop(launcher: subprocess.Popen[bytes]) -> None:
    """SIGTERM, a clean exit, and no process of its session left behind."""
    launcher.send_signal(signal.SIGTERM)
    assert launcher.wait(timeout=60) == 0
    leftovers = subprocess.run(["pgrep", "-s", str(launcher.pid)], capture_output=True, text=True).stdout.split()
    assert leftovers == [], f"processes left behind: {leftovers}"


def test_launcher_serves_the_ui_imports_the_demo_in_its_worker_and_stops_cleanly(tmp_path: Path) -> None:
    db, port = tmp_path / "db.sqlite3", free_port()
    env = launcher_env(tmp_path)
    command = [sys.executable, "-m", "annotator.launch", "--port", str(port), "--demo-lines", "30"]
    launcher = start_logged(command, env=env, log=tmp_path / "launch.log")
    try:
        deadline = time.monotonic() + 120
        status, report = None, None
        while time.monotonic() < deadline and status != "succeeded":
            time.sleep(1)
            assert launcher.poll() is None, (tmp_path / "launch.log").read_text()[-3000:]
            if db.exists():
                try:
                    rows = query(db, "select status, report from annotator_importjob")
                except sqlite3.OperationalError:
                    continue  # still migrating
                if rows:
                    status, report = rows[0][0], json.loads(rows[0][1] or "{}")
        assert status == "succeeded", (tmp_path / "launch.log").read_text()[-3000:]
        assert report is not None
        assert report["lines_created"] >= 30
        assert report["lines_with_text"] == 30, "the demo's first lines come with their text"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            assert response.status == 200
        output = (tmp_path / "launch.log").read_text()
        assert f"http://127.0.0.1:{port}/" in output
        assert "admin / s3cret-demo" in output
    finally:
        stop(launcher)


INTERRUPTED = """
from django.utils import timezone
from annotator.models import Project, TrainingRun
project = Project.objects.create(name="interrupted")
TrainingRun.objects.create(project=project, status="running", started_at=timezone.now(), heartbeat_at=timezone.now())
"""


def test_a_training_run_interrupted_by_the_last_stop_is_retried_at_the_next_start(tmp_path: Path) -> None:
    db, env = tmp_path / "db.sqlite3", launcher_env(tmp_path)
    setup = [sys.executable, "-m", "annotator.launch", "--setup-only", "--demo-lines", "0"]
    subprocess.run(setup, cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
    shell = [sys.executable, "manage.py", "shell", "-c", INTERRUPTED]
    subprocess.run(shell, cwd=ROOT, env=env, check=True, capture_output=True, timeout=60)
    (interrupted,) = query(db, "select id from annotator_trainingrun")

    command = [sys.executable, "-m", "annotator.launch", "--port", str(free_port()), "--demo-lines", "0"]
    launcher = start_logged(command, env=env, log=tmp_path / "launch.log")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "retries it" not in (tmp_path / "launch.log").read_text():
            assert launcher.poll() is None, (tmp_path / "launch.log").read_text()[-3000:]
            time.sleep(0.5)
        runs = query(db, "select id, status, retry_of_id, attempt from annotator_trainingrun order by id")
        assert runs[0][:2] == (interrupted[0], "failed")
        assert runs[1][2:] == (interrupted[0], 2), runs
        assert f"Training run {interrupted[0]} was interrupted" in (tmp_path / "launch.log").read_text()
    finally:
        stop(launcher)


def test_a_stop_that_arrives_during_setup_ends_the_launch_cleanly(tmp_path: Path) -> None:
    db, env = tmp_path / "db.sqlite3", launcher_env(tmp_path)
    command = [sys.executable, "-m", "annotator.launch", "--port", str(free_port()), "--demo-lines", "0"]
    launcher = start_logged(command, env=env, log=tmp_path / "launch.log")
    # The database appears once `migrate` runs, which is after the launcher
    # took over SIGTERM and before it starts any process of its own.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not db.exists():
        assert launcher.poll() is None, (tmp_path / "launch.log").read_text()[-3000:]
        time.sleep(0.05)
    assert db.exists()
    stop(launcher)
    assert "Lineproof is running" not in (tmp_path / "launch.log").read_text()
