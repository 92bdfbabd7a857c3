"""gunicorn settings for the web service (docker/docker-compose.yml; the smoke
test in tests/deploy/test_smoke.py starts gunicorn with this file too).

Each value can be changed by its environment variable without rebuilding.
"""

from __future__ import annotations

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# Processes x threads: a line submit is a few short queries, but an import
# upload (up to LINEPROOF_IMPORT_MAX_UPLOAD_BYTES) or a line image download can
# hold a thread for seconds, so threads keep one slow client from blocking a process.
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = 30
# Recycle processes now and then, so a slow leak never grows without bound.
max_requests = 2000
max_requests_jitter = 200
# The reverse proxy in front reaches gunicorn from another address (the Docker
# bridge); trust its X-Forwarded-* headers. Only the proxy can reach the port
# (the compose file publishes it on 127.0.0.1).
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "*")
accesslog = "-"
errorlog = "-"
# The heartbeat files go to memory, not the container's overlay filesystem.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# gunicorn 27's control socket (under $HOME) is not used here.
control_socket_disable = True
