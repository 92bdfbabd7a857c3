"""The settings the test suite runs with (pytest-django's DJANGO_SETTINGS_MODULE
in pyproject.toml): the app's own, pointed at the test servers.

Tests default to PostgreSQL, because the queue's row locking is only exercised
there (pytest-django creates test_<name> itself): LINEPROOF_TEST_DATABASE_URL,
then DATABASE_URL, then the local server. The broker is a dedicated Redis
database the end-to-end tests flush (LINEPROOF_TEST_REDIS_URL); the other tests
record what is enqueued instead of sending it (tests/annotator/conftest.py).
"""

from __future__ import annotations

import os

from annotator.settings import *  # noqa: F403
from annotator.settings import celery_broker, database_config

DEFAULT_TEST_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/13"

DATABASE_URL = os.environ.get("LINEPROOF_TEST_DATABASE_URL") or os.environ.get(
    "DATABASE_URL", DEFAULT_TEST_DATABASE_URL
)
DATABASES = {"default": database_config(DATABASE_URL)}
REDIS_URL = os.environ.get("LINEPROOF_TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL)
CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = celery_broker(REDIS_URL)
# Each test process's own memory: the tests clear it, and never touch a real Redis cache.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# The browser tests' live server lets a test's database be flushed only once its
# requests are done (tests/live_gate.py).
MIDDLEWARE = ["tests.live_gate.LiveServerGate", *MIDDLEWARE]  # noqa: F405
