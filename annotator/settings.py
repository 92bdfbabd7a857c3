"""The one settings module. Everything that differs between a laptop, CI and
production comes from the environment; every variable has a default that works
with nothing set up (SQLite in the repository root, DEBUG on)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: str) -> bool:
    return os.environ.get(name, default).strip().lower() in {"1", "true", "yes", "on"}


def envint(name: str, default: str) -> int:
    return int(os.environ.get(name, default))


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# The "django-insecure-" prefix makes `check --deploy` flag it (security.W009).
DEV_SECRET_KEY = "django-insecure-dev-only-secret-key-set-SECRET_KEY-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
DEBUG = envbool("DEBUG", "True")
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")

# --- Production (DEBUG off): HTTPS only ----------------------------------------
#
# The defaults fit docker/docker-compose.yml: gunicorn reachable only through a
# TLS-terminating reverse proxy that sets X-Forwarded-Proto (and drops a
# client's own). Each is one variable, so `manage.py check --deploy` passes
# with docker/.env.example. Plain HTTP on 127.0.0.1 (tests/deploy/test_smoke.py)
# sets SECURE_SSL_REDIRECT, SESSION_COOKIE_SECURE and CSRF_COOKIE_SECURE to false.
if not DEBUG and SECRET_KEY == DEV_SECRET_KEY:
    # Sessions and password-reset tokens signed with a key from a public
    # repository can be forged: refuse to start rather than run like that.
    raise ImproperlyConfigured("DEBUG is off but SECRET_KEY is not set; see docker/.env.example.")
_PRODUCTION = "false" if DEBUG else "true"
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", _PRODUCTION)
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", _PRODUCTION)
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", _PRODUCTION)
# Without it Django behind the proxy sees every request as http and
# SECURE_SSL_REDIRECT loops; with it and no proxy, a client could only fake
# https for its own request. Off where gunicorn faces clients directly.
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if envbool("SECURE_PROXY_SSL_HEADER", _PRODUCTION) else None
)
# Sent on https responses only. includeSubDomains and preload reach beyond
# this host, so they are the operator's choice (docker/.env.example turns them on).
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000")
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", "false")
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", "false")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "django_celery_beat",
    "annotator.apps.AnnotatorConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Every /api/ error in the API's one JSON shape, whoever answered it.
    "annotator.apis.common.ApiErrorMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
if not DEBUG:
    # gunicorn serves the collected static files itself (compressed, hashed
    # names cached forever): no separate static server in the deployment.
    # Development keeps runserver's own static handling.
    _after_security = MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1
    MIDDLEWARE.insert(_after_security, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "annotator.urls"
WSGI_APPLICATION = "annotator.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def database_config(url: str) -> dict[str, Any]:
    """A DATABASES entry from a URL: ``postgres://user@host:5432/name`` or
    ``sqlite:///relative/path.sqlite3`` (four slashes for an absolute path)."""
    config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True))
    if config["ENGINE"] == "django.db.backends.sqlite3":
        name = Path(config["NAME"])
        if not name.is_absolute():
            name = BASE_DIR / name
        config["NAME"] = str(name)
        # SQLite connections are cheap, and a kept one pins a file handle per thread.
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {
            # BEGIN IMMEDIATE takes the write lock when a transaction starts, so two
            # transactions never both read and then deadlock upgrading to write
            # ("database is locked" with no wait); the timeout makes writers queue.
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
        # A file, not Django's default in-memory test database: the queue tests
        # claim from many threads, which must all see one database.
        config["TEST"] = {"NAME": str(name.with_name(f"test_{name.name}"))}
    return config


DEFAULT_DATABASE_URL = "sqlite:///db.sqlite3"
# The tests choose their own database and broker in tests/settings.py.
DATABASE_URL = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
DATABASES = {"default": database_config(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Celery: training and re-scoring run in worker processes -----------------
#
# Processes: `celery -A annotator worker -Q interactive,default` (imports and
# exports, which people wait for, on their own queue so they never wait behind
# the re-scoring batches of `default`; re-scoring, schedule checks; any
# concurrency), `celery -A annotator worker -Q gpu --concurrency 1
# --prefetch-multiplier 1` (training, one run at a time) and `celery -A annotator
# beat --scheduler django_celery_beat.schedulers:DatabaseScheduler`.
#
# Broker: Redis when REDIS_URL is set. With nothing configured, kombu's
# filesystem transport under var/celery/: it needs no server and no extra
# package, and messages are files moved under a lock, so a separate worker
# process on the same machine (the only place a no-configuration setup runs)
# sees them. SQLAlchemy over SQLite would also work, but adds a dependency and a
# second writer to contend with SQLite's single write lock. Neither redelivers
# a message whose worker was SIGKILLed (Redis does, after the visibility
# timeout); the stale-heartbeat check of the beat task covers that case.
REDIS_URL = os.environ.get("REDIS_URL", "")
VAR_DIR = Path(os.environ.get("LINEPROOF_VAR_DIR", BASE_DIR / "var"))


def celery_broker(url: str) -> tuple[str, dict[str, Any]]:
    """The broker URL and its transport options: Redis, or with no URL the filesystem transport."""
    url = url or "filesystem://"
    if url.startswith("filesystem:"):
        folder = VAR_DIR / "celery" / "broker"
        return url, {
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "control_folder": str(VAR_DIR / "celery" / "control"),
            "store_processed": False,
        }
    if url.startswith(("redis:", "rediss:")):
        # An unacknowledged message (acks_late: the worker died mid-task) goes back
        # to the queue after this long; it must exceed the longest training run, or
        # a live run would be delivered a second time (harmless: the claim refuses
        # it, see jobs.training, but wasteful).
        return url, {"visibility_timeout": envint("LINEPROOF_BROKER_VISIBILITY_TIMEOUT", "7200")}
    return url, {}


CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = celery_broker(os.environ.get("CELERY_BROKER_URL") or REDIS_URL)
CELERY_TASK_DEFAULT_QUEUE = "default"
# A worker consuming several queues takes from them in turn, so an export queued
# behind hundreds of re-scoring batches is next once the running task ends.
CELERY_TASK_ROUTES = {
    "annotator.tasks.training_run_execute": {"queue": "gpu"},
    "annotator.tasks.import_job_run": {"queue": "interactive"},
    "annotator.tasks.export_job_run": {"queue": "interactive"},
    "annotator.tasks.resegment_job_run": {"queue": "interactive"},
}
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Tasks write their outcome to the database; nothing reads Celery results.
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Copied into django-celery-beat's tables when beat starts; admins change the
# interval, or add per-project "annotator.tasks.training_run_scheduled" tasks
# with kwargs {"project_id": N}, in the Django admin.
CELERY_BEAT_SCHEDULE = {
    "training-schedule-check": {
        "task": "annotator.tasks.training_schedule_check",
        "schedule": float(envint("LINEPROOF_SCHEDULE_CHECK_SECONDS", "300")),
    },
    # Cheap and frequent: jobs whose worker died (stale heartbeat) and job rows
    # whose message never reached a worker (jobs.recovery.jobs_recover).
    "jobs-recover": {
        "task": "annotator.tasks.jobs_recover",
        "schedule": float(envint("LINEPROOF_RECOVER_CHECK_SECONDS", "30")),
    },
}

# A new project starts from this shipped base model (recognition/base/models/<name>.pt):
# its version 1 is the base, so imported lines get readings before any training.
# Empty: new projects start from scratch (a first model of Project.model_preset).
LINEPROOF_BASE_MODEL = os.environ.get("LINEPROOF_BASE_MODEL", "latin-cpu")

# The kraken command for projects whose segmentation method is kraken (an
# optional backend: kraken lives in an install of its own). Empty: `kraken` on
# the PATH, if any; without it, choosing kraken is refused with a 400.
LINEPROOF_KRAKEN_CLI = os.environ.get("LINEPROOF_KRAKEN_CLI", "")

# Training jobs. A run's budget is in optimizer steps (recognition.finetune's
# recipe when it fine-tunes, LINEPROOF_TRAIN_MAX_STEPS for a first model from
# scratch), with LINEPROOF_TRAIN_MAX_MINUTES as a wall-clock ceiling: a busy
# machine gives fewer runs rather than worse ones. LINEPROOF_TRAIN_CONFIG (JSON)
# overrides any recognition.train.TrainConfig field, e.g. for tiny test runs.
LINEPROOF_TRAIN_MAX_MINUTES = float(os.environ.get("LINEPROOF_TRAIN_MAX_MINUTES", "10"))
LINEPROOF_TRAIN_MAX_STEPS = envint("LINEPROOF_TRAIN_MAX_STEPS", "3000")
LINEPROOF_TRAIN_THREADS = envint("LINEPROOF_TRAIN_THREADS", "0") or None
LINEPROOF_TRAIN_CONFIG: dict[str, Any] = json.loads(os.environ.get("LINEPROOF_TRAIN_CONFIG", "{}"))
LINEPROOF_TRAIN_MIN_TRAIN_LINES = envint("LINEPROOF_TRAIN_MIN_TRAIN_LINES", "20")
LINEPROOF_TRAIN_MIN_EVAL_LINES = envint("LINEPROOF_TRAIN_MIN_EVAL_LINES", "5")
# Running jobs (training runs, imports) write a heartbeat every
# LINEPROOF_HEARTBEAT_SECONDS from a thread of their own, whatever phase they are
# in. A running run whose heartbeat is older than LINEPROOF_TRAIN_STALE_SECONDS is
# taken for dead (its worker was killed): it is marked failed and retried, at
# most LINEPROOF_TRAIN_MAX_ATTEMPTS times.
LINEPROOF_HEARTBEAT_SECONDS = float(os.environ.get("LINEPROOF_HEARTBEAT_SECONDS", "5"))
LINEPROOF_TRAIN_STALE_SECONDS = float(os.environ.get("LINEPROOF_TRAIN_STALE_SECONDS", "60"))
# A job row (training run, import, export, re-scoring request) still queued this
# long after it was created or requested lost its message (the broker was down
# when it was sent): the recovery check sends it again. Claims make a duplicate
# a no-op.
LINEPROOF_JOB_UNSENT_SECONDS = float(os.environ.get("LINEPROOF_JOB_UNSENT_SECONDS", "60"))
LINEPROOF_TRAIN_MAX_ATTEMPTS = envint("LINEPROOF_TRAIN_MAX_ATTEMPTS", "3")
# After a failed run, the threshold trigger waits this long before trying again
# (a failing run would otherwise be restarted by every submit).
LINEPROOF_TRAIN_FAILURE_BACKOFF_SECONDS = float(os.environ.get("LINEPROOF_TRAIN_FAILURE_BACKOFF_SECONDS", "900"))
# Re-scoring after a promotion: lines per batch task, threads per inference.
# The first batch holds only the top of the queue (this many lines served
# next, and as many never scored), so it lands within seconds.
LINEPROOF_RESCORE_BATCH_SIZE = envint("LINEPROOF_RESCORE_BATCH_SIZE", "256")
LINEPROOF_RESCORE_HEAD_LINES = envint("LINEPROOF_RESCORE_HEAD_LINES", "32")
LINEPROOF_INFER_THREADS = envint("LINEPROOF_INFER_THREADS", "0") or None
# Imports: one upload's size, and what a zip may unpack to (members, bytes);
# checked before anything is stored. An import job without a heartbeat this
# long lost its worker and may be claimed again.
LINEPROOF_IMPORT_MAX_UPLOAD_BYTES = envint("LINEPROOF_IMPORT_MAX_UPLOAD_BYTES", str(512 * 2**20))
LINEPROOF_IMPORT_MAX_MEMBERS = envint("LINEPROOF_IMPORT_MAX_MEMBERS", "50000")
LINEPROOF_IMPORT_MAX_UNPACKED_BYTES = envint("LINEPROOF_IMPORT_MAX_UNPACKED_BYTES", str(4 * 2**30))
LINEPROOF_IMPORT_STALE_SECONDS = envint("LINEPROOF_IMPORT_STALE_SECONDS", "60")
# Decoded pixels, the real cost of an image (a 20 KB PNG may declare 12000 x 12000):
# one page (a 600 dpi A3 scan is 70 M; a JPEG beyond it is decoded at 1/2, 1/4 or
# 1/8 size instead), all the images of one upload request (checked in the web
# process from their headers alone) and all the pages one import job decodes.
LINEPROOF_IMPORT_MAX_PAGE_PIXELS = envint("LINEPROOF_IMPORT_MAX_PAGE_PIXELS", "100000000")
LINEPROOF_IMPORT_MAX_REQUEST_PIXELS = envint("LINEPROOF_IMPORT_MAX_REQUEST_PIXELS", "3000000000")
LINEPROOF_IMPORT_MAX_JOB_PIXELS = envint("LINEPROOF_IMPORT_MAX_JOB_PIXELS", "3000000000")
# Pages of one multi-page TIFF.
LINEPROOF_IMPORT_MAX_FILE_PAGES = envint("LINEPROOF_IMPORT_MAX_FILE_PAGES", "1000")
# Logins: failed attempts allowed per account and per client address in a
# window of LINEPROOF_LOGIN_THROTTLE_SECONDS (services.accounts), counted in the
# cache. The client address is REMOTE_ADDR, or behind LINEPROOF_PROXY_COUNT
# reverse proxies (one in production, docker/) the address the outermost one
# put in X-Forwarded-For.
LINEPROOF_LOGIN_MAX_FAILURES_PER_ACCOUNT = envint("LINEPROOF_LOGIN_MAX_FAILURES_PER_ACCOUNT", "5")
LINEPROOF_LOGIN_MAX_FAILURES_PER_ADDRESS = envint("LINEPROOF_LOGIN_MAX_FAILURES_PER_ADDRESS", "20")
LINEPROOF_LOGIN_THROTTLE_SECONDS = envint("LINEPROOF_LOGIN_THROTTLE_SECONDS", "300")
LINEPROOF_PROXY_COUNT = envint("LINEPROOF_PROXY_COUNT", "0" if DEBUG else "1")
# Shared counters (the login throttle): Redis when REDIS_URL is set, so every
# web process sees the same counts; this process's memory otherwise (the demo).
CACHES: dict[str, dict[str, Any]] = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": "lineproof"}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
# Local copies of stored files the recognizer reads by path (annotator/storage.py)
# when media live on remote storage.
LINEPROOF_CACHE_DIR = Path(os.environ.get("LINEPROOF_CACHE_DIR", VAR_DIR / "cache"))

# Who may create projects in the app: "all" (every user; they become its admin)
# or "staff" (Django staff only).
LINEPROOF_PROJECT_CREATORS = os.environ.get("LINEPROOF_PROJECT_CREATORS", "all").strip().lower()
if LINEPROOF_PROJECT_CREATORS not in {"all", "staff"}:
    raise ImproperlyConfigured('LINEPROOF_PROJECT_CREATORS must be "all" or "staff".')
# How long an invitation link stays valid (it is also single use).
LINEPROOF_INVITATION_DAYS = envint("LINEPROOF_INVITATION_DAYS", "7")
# How long a password-reset link stays valid (Django's token generator; it is
# also spent once the password changes).
PASSWORD_RESET_TIMEOUT = envint("PASSWORD_RESET_TIMEOUT", str(3 * 24 * 3600))
# Mail (invitations, password resets): printed on the console unless an SMTP
# server is configured (EMAIL_HOST), as in production.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_PORT = envint("EMAIL_PORT", "587")
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", "True")
EMAIL_USE_SSL = envbool("EMAIL_USE_SSL", "False")
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", "20")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Lineproof <lineproof@localhost>")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "static"))
# The browser UI (plain ES modules and CSS, no build step), served under static/ui/.
STATICFILES_DIRS = [("ui", BASE_DIR / "frontend")]
# Line crops and page images. Not served by a public MEDIA_URL route: crops go
# out through the API, which checks project membership.
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
MEDIA_URL = "media/"
# Upper bound on one uploaded page or crop; the recognizer checks pixel counts itself.
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("DATA_UPLOAD_MAX_MEMORY_SIZE", str(50 * 1024 * 1024))

# Where uploads, line crops and exports live: MEDIA_ROOT by default, or an
# S3-compatible bucket (AWS, MinIO, Ceph...) when LINEPROOF_S3_BUCKET is set, so
# web and workers on different machines share them. Credentials come from
# boto3's own chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or an instance role).
LINEPROOF_S3_BUCKET = os.environ.get("LINEPROOF_S3_BUCKET", "")
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if LINEPROOF_S3_BUCKET:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": LINEPROOF_S3_BUCKET,
            "location": os.environ.get("LINEPROOF_S3_PREFIX", ""),
            "endpoint_url": os.environ.get("LINEPROOF_S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("LINEPROOF_S3_REGION") or None,
            # MinIO and most self-hosted servers want "path"; AWS takes either.
            "addressing_style": os.environ.get("LINEPROOF_S3_ADDRESSING_STYLE") or None,
            # Private objects; the API streams crops after its membership check.
            "default_acl": None,
            "querystring_auth": True,
            # Like FileSystemStorage: a name already taken gets a suffix, never
            # replaces another line's crop.
            "file_overwrite": False,
        },
    }
if not DEBUG:
    # Hashed, compressed copies made by collectstatic (the image runs it at
    # build), which whitenoise serves with far-future cache headers.
    STORAGES["staticfiles"] = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}

# The browsable API is a debugging aid; production speaks JSON only.
API_RENDERERS = ["rest_framework.renderers.JSONRenderer"]
if DEBUG:
    API_RENDERERS.append("rest_framework.renderers.BrowsableAPIRenderer")

REST_FRAMEWORK = {
    # Token first so an anonymous request gets 401 with a WWW-Authenticate header
    # (DRF takes the header from the first class; session auth has none -> 403).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": API_RENDERERS,
    # DRF's, with bounds on a body's size and nesting.
    "DEFAULT_PARSER_CLASSES": ["annotator.apis.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "annotator.apis.common.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Lineproof annotator API",
    "DESCRIPTION": "Labeling queue for active-learning OCR: claim a line, transcribe it, submit.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # One enum for the segmentation methods, whether a field is named method or segmentation_method.
    "ENUM_NAME_OVERRIDES": {"SegmentationMethodEnum": "recognition.pages.methods.SEGMENT_METHODS"},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
