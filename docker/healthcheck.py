"""Container health checks (docker/docker-compose.yml), one per kind of process:

    python docker/healthcheck.py web            # gunicorn answers through Django
    python docker/healthcheck.py worker NAME    # the Celery worker NAME@<hostname> answers a ping
    python docker/healthcheck.py beat           # beat sent its periodic task recently

Exit 0 when healthy, 1 with a reason on stderr otherwise.
"""

from __future__ import annotations

import http.client
import os
import socket
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

# Run as a script from docker/: the project (annotator/) is one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def web() -> str | None:
    # Django must answer, not just the socket accept: any status below 500
    # will do (the login page needs no database). The request looks like the
    # proxy's, so neither ALLOWED_HOSTS nor the HTTPS redirect turns it away.
    hosts = [h.lstrip(".") for h in os.environ.get("ALLOWED_HOSTS", "localhost").split(",") if h.strip()]
    host = next((h for h in hosts if h != "*"), "localhost")
    port = int(os.environ.get("GUNICORN_BIND", "0.0.0.0:8000").rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/admin/login/", headers={"Host": host, "X-Forwarded-Proto": "https"})
        status = connection.getresponse().status
    except OSError as error:
        return f"web: no answer on port {port}: {error}"
    finally:
        connection.close()
    return None if status < 500 else f"web: HTTP {status}"


def worker(name: str) -> str | None:
    from annotator.celery import app

    node = f"{name}@{socket.gethostname()}"
    replies = app.control.ping(destination=[node], timeout=10)
    return None if replies else f"worker: {node} did not answer a ping"


def beat() -> str | None:
    # With the DatabaseScheduler, beat records each send in the database; the
    # schedule check runs every LINEPROOF_SCHEDULE_CHECK_SECONDS, and beat
    # writes its bookkeeping back every few minutes.
    import django

    django.setup()
    from django.conf import settings
    from django.utils import timezone
    from django_celery_beat.models import PeriodicTask

    entry: dict[str, Any] = settings.CELERY_BEAT_SCHEDULE["training-schedule-check"]
    limit = timedelta(seconds=max(3 * float(entry["schedule"]), 900))
    task = PeriodicTask.objects.filter(name="training-schedule-check").first()
    if task is None or task.last_run_at is None:
        return "beat: the schedule check has never been sent"
    age = timezone.now() - task.last_run_at
    return None if age <= limit else f"beat: the schedule check was last sent {age} ago"


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings")
    checks = {"web": lambda: web(), "beat": lambda: beat(), "worker": lambda: worker(argv[2])}
    if len(argv) < 2 or argv[1] not in checks or (argv[1] == "worker" and len(argv) < 3):
        print(__doc__, file=sys.stderr)
        return 2
    problem = checks[argv[1]]()
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
