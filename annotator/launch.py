"""Run the whole app on one machine: ``python -m annotator.launch``.

Migrates, creates the admin and the demo project (``manage.py demo``), then
starts and watches the process set of a deployment:

=========  ==============================================================
web        Django (``runserver`` when DEBUG, else gunicorn) on --port
worker     Celery, queues ``interactive`` (imports, exports) and ``default`` (re-scoring)
trainer    Celery, queue ``gpu``: training, one run at a time
beat       Celery beat: the retraining schedules
=========  ==============================================================

With no configuration the broker is kombu's filesystem transport (no Redis)
and the database SQLite, so this needs nothing but the virtual environment.
Ctrl-C (or SIGTERM) stops all four; if one dies, the others are stopped too,
since a labeling app without its worker silently stops retraining.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STOP_GRACE_SECONDS = 20.0


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: list[str]


def process_specs(*, host: str, port: int, debug: bool) -> list[ProcessSpec]:
    python = sys.executable
    web = (
        [python, "manage.py", "runserver", "--noreload", f"{host}:{port}"]
        if debug
        else [python, "-m", "gunicorn", "annotator.wsgi", "--bind", f"{host}:{port}", "--workers", "2"]
    )
    celery = [python, "-m", "celery", "-A", "annotator"]
    return [
        ProcessSpec("web", web),
        ProcessSpec(
            "worker", [*celery, "worker", "-Q", "interactive,default", "--concurrency", "1", "-n", "default@%h"]
        ),
        ProcessSpec(
            "trainer",
            [*celery, "worker", "-Q", "gpu", "--concurrency", "1", "--prefetch-multiplier", "1", "-n", "gpu@%h"],
        ),
        ProcessSpec("beat", [*celery, "beat", "--loglevel", "info"]),
    ]


def _stop(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM to each process (Celery finishes its current task), then, past
    the grace period, SIGKILL to its whole process group: a worker busy with
    a long task (scoring an import with the base model, training) would
    otherwise leave its pool children behind."""
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        _group_stop(process.pid)


def _group_stop(group: int, *, wait_seconds: float = 5.0) -> None:
    """SIGKILL whatever is left in process group ``group`` and wait until it is gone."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m annotator.launch", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default=os.environ.get("LINEPROOF_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("LINEPROOF_PORT", "8000")))
    parser.add_argument("--demo-lines", type=int, default=400, help="lines in the demo project (0: no demo)")
    parser.add_argument("--setup-only", action="store_true", help="migrate and create the demo, start nothing")
    args = parser.parse_args(argv)

    # Installed before anything else: a SIGTERM that arrives while the setup
    # below runs (a supervisor stopping a launch it just started) must end in
    # a clean exit, not the default handler's death with children left behind.
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    os.chdir(ROOT)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings")
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], check=True)
    if os.environ.get("DEBUG", "True").strip().lower() not in {"1", "true", "yes", "on"}:  # as settings.envbool
        # gunicorn serves static files through whitenoise's hashed manifest.
        subprocess.run([*manage, "collectstatic", "--noinput", "-v", "0"], check=True)
    subprocess.run([*manage, "demo", "--lines", str(args.demo_lines)], check=True)
    if args.setup_only or stopping:
        return 0

    import django
    from django.conf import settings

    django.setup()
    from annotator.jobs.recovery import training_run_recover_stale

    # The workers about to start are the only ones of this setup, so a run
    # still "running" lost its worker when the last launch stopped (Ctrl-C
    # mid-training): fail it and queue its retry now, not after the stale
    # timeout, so the restarted trainer picks it up at once.
    for retry in training_run_recover_stale(stale_after=0):
        print(f"Training run {retry.retry_of_id} was interrupted; run {retry.pk} retries it.", flush=True)
    if stopping:
        return 0
    specs = process_specs(host=args.host, port=args.port, debug=settings.DEBUG)
    # Each in a process group of its own (same session), so stopping one stops its children too.
    processes = {spec.name: subprocess.Popen(spec.argv, process_group=0) for spec in specs}
    print(
        f"\nLineproof is running: http://{args.host}:{args.port}/  (admin: http://{args.host}:{args.port}/admin/)\n"
        f"Processes: {', '.join(f'{name} (pid {p.pid})' for name, p in processes.items())}. Ctrl-C stops them all.\n",
        flush=True,
    )
    exit_code = 0
    try:
        while not stopping:
            for name, process in processes.items():
                code = process.poll()
                if code is not None:
                    print(f"{name} exited with status {code}; stopping the others.", file=sys.stderr, flush=True)
                    exit_code = code or 1
                    stopping = True
                    break
            time.sleep(0.5)
    finally:
        _stop(processes)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
