"""The pure parts of ``benchmarks.freshness``: how long each label waited for a
model that learned from it, the statistics and the report (no Django, no processes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Plan:
    minutes: float  # labeling per mode
    pool: int  # unlabeled training lines
    seconds_per_line: float  # each labeler's pace
    labelers: int = 5
    threshold: int = 50
    eval_lines: int = 60
    first_lines: int = 100
    test_lines: int = 200
    drain_minutes: float = 12.0  # at most this long for the last run after labeling stops


@dataclass(frozen=True)
class Promotion:
    snapshot: float  # the version's data snapshot (ModelVersion.created_at), epoch seconds
    reranked: float  # when the top of the queue was first ranked by it


@dataclass(frozen=True)
class Wait:
    seconds: float
    censored: bool  # no model had learned from it by the end: seconds is a lower bound


def fresh_after(moment: float, promotions: Sequence[Promotion]) -> float | None:
    """When the top of the queue was first ranked by a promoted model whose data includes ``moment``."""
    times = [p.reranked for p in promotions if p.snapshot >= moment]
    return min(times) if times else None


def waits(moments: Sequence[float], promotions: Sequence[Promotion], end: float) -> list[Wait]:
    """For each moment (a trigger, a label): how long until ``fresh_after``, or until ``end`` (censored)."""
    out = []
    for moment in moments:
        fresh = fresh_after(moment, promotions)
        out.append(Wait(end - moment, True) if fresh is None else Wait(fresh - moment, False))
    return out


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float("nan")


@dataclass
class Outcome:
    mode: str
    triggers: list[Wait]
    labels: list[Wait]
    runs: list[dict[str, Any]]  # kind, status, decision, queue_s, train_s, rerank_s
    verified: int
    final_cer: float
    load: list[float] = field(default_factory=list)  # 1-minute load average, sampled

    def summary(self) -> dict[str, Any]:
        def stat(items: list[Wait], q: float) -> float:
            return percentile([w.seconds for w in items], q)

        done = [r for r in self.runs if r["status"] == "succeeded"]
        return {
            "triggers": len(self.triggers),
            "fresh_p50": stat(self.triggers, 50),
            "fresh_p95": stat(self.triggers, 95),
            "censored": sum(w.censored for w in self.triggers),
            "label_p50": stat(self.labels, 50),
            "label_p95": stat(self.labels, 95),
            "incremental_runs": sum(r["kind"] == "incremental" for r in self.runs),
            "full_runs": sum(r["kind"] == "full" for r in self.runs),
            "promoted": sum(r["decision"] == "promoted" for r in done),
            "train_s": percentile([r["train_s"] for r in done], 50),
            "rerank_s": percentile([r["rerank_s"] for r in done if r["rerank_s"] is not None], 50),
            "verified": self.verified,
            "final_cer": self.final_cer,
            "load": percentile(self.load, 50),
        }


ROWS = (
    ("threshold runs triggered", "triggers", "{:.0f}"),
    ("freshness p50 (trigger to top of queue re-ranked)", "fresh_p50", "{:.0f} s"),
    ("freshness p95", "fresh_p95", "{:.0f} s"),
    ("triggers never fresh by the end (counted to the end)", "censored", "{:.0f}"),
    ("every verified label: p50", "label_p50", "{:.0f} s"),
    ("every verified label: p95", "label_p95", "{:.0f} s"),
    ("runs: incremental / full", None, ""),
    ("runs promoted", "promoted", "{:.0f}"),
    ("median run (claim to finish)", "train_s", "{:.0f} s"),
    ("median promotion to top of queue re-ranked", "rerank_s", "{:.1f} s"),
    ("lines verified by the labelers", "verified", "{:.0f}"),
    ("held-out CER at the end", "final_cer", "{:.2%}"),
    ("median 1-minute load average", "load", "{:.1f}"),
)


def table(summaries: dict[str, dict[str, Any]]) -> str:
    """The markdown table: one column per mode, and incremental / full where both ran."""
    modes = list(summaries)
    ratio = "incremental" in summaries and "full" in summaries
    lines = ["| | " + " | ".join(modes) + (" | incremental / full |" if ratio else " |")]
    lines.append("|---" * (len(modes) + 1 + ratio) + "|")
    for label, key, fmt in ROWS:
        if key is None:
            cells = [f"{s['incremental_runs']} / {s['full_runs']}" for s in summaries.values()]
            lines.append(f"| {label} | " + " | ".join(cells) + (" | |" if ratio else " |"))
            continue
        cells = [fmt.format(s[key]) if np.isfinite(s[key]) else "-" for s in summaries.values()]
        row = f"| {label} | " + " | ".join(cells) + " |"
        if ratio:
            a, b = summaries["incremental"][key], summaries["full"][key]
            row += f" {a / b:.2f} |" if key.startswith(("fresh", "label", "train", "final")) and b else " |"
        lines.append(row)
    return "\n".join(lines)


def report(
    outcomes: list[Outcome], plan: Plan, *, seconds: float, start_cer: float, base_cer: float, command: str
) -> str:
    from benchmarks.recognition import _commit, _machine

    summaries = {o.mode: o.summary() for o in outcomes}
    lines = [
        "# Freshness: from the Nth verified label to the queue re-ranked by a model that learned from it",
        "",
        f"Machine: {_machine()}, shared with other work: median 1-minute load average "
        + ", ".join(f"{o.mode} {s['load']:.1f}" for o, s in zip(outcomes, summaries.values(), strict=True))
        + f". Commit {_commit()}. Took {seconds / 60:.0f} min.",
        "",
        f"Command: `{command}`",
        "",
        f"Setup: `hooker`, base `latin-cpu`; {plan.eval_lines} evaluation lines (validation split) and a first "
        f"{plan.first_lines} training lines verified, a first full run from the base on them, then {plan.pool} "
        f"unlabeled pool lines; {plan.labelers} labelers through the API, one line every {plan.seconds_per_line:g} s "
        f"each (±25%), for {plan.minutes:g} minutes per mode; retraining after every {plan.threshold} verified "
        "lines. Real `celery worker` processes (training: queue `gpu`, one at a time; re-scoring: `default`), Redis "
        "broker, PostgreSQL. Held-out CER on the first "
        f"{plan.test_lines} test lines: base {base_cer:.2%}, first model (the start of both modes) {start_cer:.2%}.",
        "",
        table(summaries),
        "",
        "Runs (threshold-triggered, in order): kind, decision, seconds from claim to finish, seconds from promotion "
        "to the top of the queue re-ranked.",
        "",
    ]
    for outcome in outcomes:
        described = [
            f"{r['kind'][0]} {r['decision'] or r['status']} {r['train_s'] or 0:.0f}s"
            + (f"/{r['rerank_s']:.1f}s" if r["rerank_s"] is not None else "")
            for r in outcome.runs
        ]
        lines.append(f"- {outcome.mode}: " + ", ".join(described))
    return "\n".join(lines) + "\n"
