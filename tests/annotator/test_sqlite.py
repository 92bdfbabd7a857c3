"""The claim tests (and those marked ``sqlite``) again, on SQLite, in a child pytest:
one process has one database configuration, and SQLite takes the compare-and-set
claim path and search's substring fallback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

HERE = Path(__file__).parent


def test_claim_tests_pass_on_sqlite(tmp_path: Path) -> None:
    if connection.vendor == "sqlite":
        pytest.skip("this session runs on SQLite already, claim tests included")
    env = {**os.environ, "LINEPROOF_TEST_DATABASE_URL": f"sqlite:///{tmp_path / 'lineproof.sqlite3'}"}
    env.pop("PYTEST_ADDOPTS", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-m", "claim or sqlite", "-p", "no:cacheprovider", str(HERE)],
        cwd=HERE.parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=500,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert " passed" in result.stdout
