"""The queue load benchmark runs end to end against PostgreSQL and gunicorn and
reports its checks (run as a process: it sets up Django for itself)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.queue import QUICK

ROOT = Path(__file__).resolve().parent.parent.parent

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def test_quick_queue_benchmark_serves_every_line_once_and_writes_its_table(tmp_path: Path) -> None:
    results = tmp_path / "QUEUE.md"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.queue", "--quick", "--results", str(results)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = results.read_text(encoding="utf-8")
    for scenario in QUICK:
        labeled = scenario.labelers * scenario.lines_each
        row = next(line for line in text.splitlines() if line.startswith(f"| {scenario.name} |"))
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert cells[1] == str(labeled)
        assert cells[8:] == ["0", f"{labeled} of {labeled}", "0"], row
