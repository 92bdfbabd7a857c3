"""The freshness benchmark's pure parts: which promoted model a label waited
for, censoring at the end, the statistics and the side-by-side table."""

from __future__ import annotations

import math

from benchmarks.freshness_report import Outcome, Promotion, Wait, fresh_after, table, waits


def test_a_label_waits_for_the_first_re_ranking_by_a_model_whose_snapshot_includes_it() -> None:
    promotions = [Promotion(snapshot=100.0, reranked=160.0), Promotion(snapshot=200.0, reranked=230.0)]
    assert fresh_after(90.0, promotions) == 160.0
    assert fresh_after(100.0, promotions) == 160.0, "verified at the snapshot: in it"
    assert fresh_after(150.0, promotions) == 230.0, "verified while the first model trained: the next one"
    assert fresh_after(250.0, promotions) is None


def test_the_earliest_re_ranking_counts_whatever_the_order_of_promotions() -> None:
    promotions = [Promotion(snapshot=300.0, reranked=400.0), Promotion(snapshot=120.0, reranked=180.0)]
    assert fresh_after(100.0, promotions) == 180.0


def test_a_label_no_model_learned_from_by_the_end_counts_until_the_end_and_is_marked() -> None:
    promotions = [Promotion(snapshot=100.0, reranked=160.0)]
    assert waits([40.0, 150.0], promotions, end=500.0) == [Wait(120.0, False), Wait(350.0, True)]


def outcome(mode: str, trigger_seconds: list[float], cer: float, kinds: list[str]) -> Outcome:
    runs = [
        {"kind": kind, "status": "succeeded", "decision": "promoted", "train_s": 60.0, "rerank_s": 2.0}
        for kind in kinds
    ]
    return Outcome(
        mode=mode,
        triggers=[Wait(s, False) for s in trigger_seconds],
        labels=[Wait(s, False) for s in trigger_seconds],
        runs=runs,
        verified=100,
        final_cer=cer,
        load=[2.0, 4.0],
    )


def test_the_summary_and_the_table_put_the_modes_side_by_side_with_ratios() -> None:
    incremental = outcome("incremental", [60.0, 80.0, 100.0], 0.40, ["incremental", "incremental", "full"])
    full = outcome("full", [300.0, 400.0, 500.0], 0.38, ["full"] * 3)
    summary = incremental.summary()
    assert summary["fresh_p50"] == 80.0
    assert math.isclose(summary["fresh_p95"], 98.0)
    assert (summary["incremental_runs"], summary["full_runs"], summary["promoted"]) == (2, 1, 3)
    assert summary["load"] == 3.0

    text = table({"incremental": summary, "full": full.summary()})
    rows = {row.split(" | ")[0].lstrip("| "): row for row in text.splitlines()}
    assert rows["freshness p50 (trigger to top of queue re-ranked)"].endswith("| 80 s | 400 s | 0.20 |")
    assert rows["runs: incremental / full"].startswith("| runs: incremental / full | 2 / 1 | 0 / 3 |")
    assert rows["held-out CER at the end"].endswith("| 40.00% | 38.00% | 1.05 |")


def test_a_mode_with_no_trigger_shows_dashes_not_nan() -> None:
    empty = Outcome(mode="full", triggers=[], labels=[], runs=[], verified=0, final_cer=0.5)
    assert "nan" not in table({"full": empty.summary()})
