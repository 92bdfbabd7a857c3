"""The migrations say what the models say: a model change always comes with its migration."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_the_migrations_describe_the_models_exactly() -> None:
    out = io.StringIO()
    try:
        call_command("makemigrations", "annotator", check=True, dry_run=True, stdout=out)
    except SystemExit as exited:  # --check exits non-zero when a migration is missing
        raise AssertionError(f"models and migrations differ:\n{out.getvalue()}") from exited
