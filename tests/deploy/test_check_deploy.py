"""Production settings: `manage.py check --deploy` with docker/.env.example,
what DEBUG off switches on, and what a zero-configuration run keeps.

Each case runs Django in a subprocess with exactly the environment given,
since settings are read once per process from the environment.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
ENV_EXAMPLE = ROOT / "docker" / ".env.example"
SHOW = """
import json
from django.conf import settings
from django.core.files.storage import storages
print(json.dumps({
    "debug": settings.DEBUG,
    "ssl_redirect": settings.SECURE_SSL_REDIRECT,
    "secure_cookies": [settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE],
    "proxy_header": settings.SECURE_PROXY_SSL_HEADER,
    "hsts": settings.SECURE_HSTS_SECONDS,
    "whitenoise": "whitenoise.middleware.WhiteNoiseMiddleware" in settings.MIDDLEWARE,
    "static_storage": type(storages["staticfiles"]).__name__,
    "media_storage": type(storages["default"]).__name__,
    "bucket": getattr(storages["default"], "bucket_name", None),
    "endpoint": getattr(storages["default"], "endpoint_url", None),
    "database": settings.DATABASES["default"]["ENGINE"],
}))
"""


def example_env() -> dict[str, str]:
    """The uncommented KEY=value lines of docker/.env.example."""
    lines = ENV_EXAMPLE.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if re.match(r"^[A-Z][A-Z0-9_]*=", line))


def django(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Only PATH and HOME from this process: no DEBUG, DATABASE_URL or
    # PYTEST_VERSION (which makes settings pick the test database) leaks in.
    base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, str(ROOT / "manage.py"), *args]
    return subprocess.run(command, cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120)


def settings_with(env: dict[str, str]) -> dict[str, Any]:
    done = django("shell", "-c", SHOW, env=env)
    assert done.returncode == 0, done.stderr
    shown: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return shown


def test_check_deploy_passes_without_warnings_with_the_example_env() -> None:
    done = django("check", "--deploy", "--fail-level", "WARNING", env=example_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_check_deploy_flags_the_development_defaults() -> None:
    # The same check run on the zero-configuration settings is not a no-op:
    # it finds DEBUG on, the development key and plain-HTTP cookies.
    done = django("check", "--deploy", "--fail-level", "WARNING", env={})
    assert done.returncode != 0
    for warning in ("security.W018", "security.W009", "security.W012", "security.W016", "security.W008"):
        assert warning in done.stderr, warning


def test_debug_off_turns_on_https_whitenoise_and_hashed_static_files() -> None:
    shown = settings_with(
        {"DEBUG": "false", "SECRET_KEY": "k" * 10 + "-a-production-key-for-this-test-only-0123456789"}
    )
    assert shown["debug"] is False
    assert shown["ssl_redirect"] is True
    assert shown["secure_cookies"] == [True, True]
    assert shown["proxy_header"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert shown["hsts"] == 31536000
    assert shown["whitenoise"] is True
    assert shown["static_storage"] == "CompressedManifestStaticFilesStorage"


def test_zero_configuration_keeps_the_development_setup() -> None:
    shown = settings_with({})
    assert shown["debug"] is True
    assert (shown["ssl_redirect"], shown["secure_cookies"], shown["proxy_header"], shown["hsts"]) == (
        False,
        [False, False],
        None,
        0,
    )
    assert shown["whitenoise"] is False
    assert shown["static_storage"] == "StaticFilesStorage"
    assert shown["media_storage"] == "FileSystemStorage"
    assert shown["database"] == "django.db.backends.sqlite3"


def test_production_refuses_to_start_with_the_development_secret_key() -> None:
    done = django("check", env={"DEBUG": "false"})
    assert done.returncode != 0
    assert "SECRET_KEY is not set" in done.stderr


def test_an_s3_bucket_moves_media_to_s3_compatible_storage() -> None:
    shown = settings_with(
        {"LINEPROOF_S3_BUCKET": "lineproof-media", "LINEPROOF_S3_ENDPOINT_URL": "http://127.0.0.1:9000"}
    )
    assert (shown["media_storage"], shown["bucket"]) == ("S3Storage", "lineproof-media")
    assert shown["endpoint"] == "http://127.0.0.1:9000"
