"""Tables, findings, plot and the markdown report of a simulation (:class:`benchmarks.al.simulation.Outcome`)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.al.costs import REVIEW_TIME, Summary, summarise
from benchmarks.al.simulation import Outcome, round_config
from recognition.selection import DEFAULT_STRATEGY


def _pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}%}"


def _num(value: float | None) -> str:
    return "not reached" if value is None else f"{value:,.0f}"


def _share(value: float | None, whole: float) -> str:
    return "–" if value is None or not whole else f"{value / whole:.0%}"


def groups(summaries: list[Summary]) -> dict[tuple[str, int], list[Summary]]:
    out: dict[tuple[str, int], list[Summary]] = {}
    for s in summaries:
        out.setdefault((s.dataset, s.batch), []).append(s)
    return out


def table(rows: list[Summary]) -> str:
    """One (dataset, batch) group: the cost of reaching random's final CER, in labels and in keystrokes."""
    random = next((s for s in rows if s.strategy == "random"), None)
    labels = random.labels[-1] if random else 0
    keys = random.mean_keystrokes[-1] if random else 0.0
    out = [
        "| strategy | seeds | final CER (mean ± sd) | labels to reach random's final CER | share of random's labels "
        "| keystrokes to reach | share of random's keystrokes | characters per picked line | edits per picked line "
        "| pseudo-labels per round |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in rows:
        out.append(
            f"| {s.strategy} | {s.seeds} | {s.mean_cer[-1]:.2%} ± {s.std_cer[-1]:.2%} | {_num(s.labels_to_reach)} "
            f"| {_share(s.labels_to_reach, labels)} | {_num(s.keystrokes_to_reach)} "
            f"| {_share(s.keystrokes_to_reach, keys)} "
            f"| {s.characters_per_line:.1f} | {s.edits_per_line:.1f} | {s.pseudo_per_round:.0f} |"
        )
    return "\n".join(out)


def curve_table(rows: list[Summary]) -> str:
    labels = rows[0].labels
    out = ["| strategy | " + " | ".join(f"{n} labels" for n in labels) + " |", "|---|" + "---|" * len(labels)]
    for s in rows:
        cells = " | ".join(
            f"{m:.1%} ± {d:.1%} ({k:,.0f} keys)"
            for m, d, k in zip(s.mean_cer, s.std_cer, s.mean_keystrokes, strict=True)
        )
        out.append(f"| {s.strategy} | {cells} |")
    return "\n".join(out)


def findings(rows: list[Summary]) -> list[str]:
    """Sentences generated from the numbers: who beat random, in labels and keystrokes, against the seed spread."""
    random = next((s for s in rows if s.strategy == "random"), None)
    if random is None:
        return ["- random was not run here, so nothing is compared against it."]
    out = []
    for s in rows:
        if s.strategy == "random":
            continue
        delta = s.mean_cer[-1] - random.mean_cer[-1]
        spread = random.std_cer[-1] + s.std_cer[-1]
        if min(s.seeds, random.seeds) < 2:
            verdict = "one seed: no spread to judge noise by"
        elif abs(delta) <= spread:
            verdict = f"within the seed spread (±{spread:.2%})"
        else:
            verdict = f"{'better' if delta < 0 else 'worse'} than random beyond the seed spread (±{spread:.2%})"
        out.append(
            f"- {s.strategy}: final CER {delta:+.2%} against random ({verdict}); "
            f"{_share(s.labels_to_reach, random.labels[-1])} of random's labels and "
            f"{_share(s.keystrokes_to_reach, random.mean_keystrokes[-1])} of its keystrokes to reach its final CER."
        )
    return out


def best_by_keystrokes(rows: list[Summary]) -> Summary | None:
    """Fewest keystrokes to reach random's final CER (ties and misses broken by the final CER)."""
    reached = [s for s in rows if s.keystrokes_to_reach is not None]
    if not reached:
        return None
    return min(reached, key=lambda s: (s.keystrokes_to_reach, s.mean_cer[-1]))


def auto_accept_table(outcome: Outcome) -> str:
    out = [
        "| dataset | model | lines labeled | test CER | test lines right | calibration | threshold (val) "
        "| test coverage | test line error among accepted | best coverage possible on test | review time saved |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def row(dataset: str, model: str, labeled: str, reports: list[dict[str, Any]]) -> str:
        def mean(key: str) -> float:
            return float(np.mean([r[key] for r in reports]))

        saved = float(np.mean([r["review"]["saved_share"] for r in reports]))
        errors = [r["test_error_among_accepted"] for r in reports if r["test_error_among_accepted"] is not None]
        thresholds = [r["val_threshold"] for r in reports if r["val_threshold"] is not None]
        return (
            f"| {dataset} | {model} | {labeled} | {_pct(mean('test_cer'))} | {_pct(mean('test_line_accuracy'))} "
            f"| {reports[0]['calibration']['method']} | {f'{np.mean(thresholds):.3f}' if thresholds else 'none'} "
            f"| {_pct(mean('test_coverage'))} | {_pct(float(np.mean(errors)) if errors else None)} "
            f"| {_pct(mean('test_best_coverage'))} | {_pct(saved)} |"
        )

    for dataset, base in outcome.bases.items():
        out.append(row(dataset, "base (zero-shot)", "0", [base]))
        finals: dict[tuple[int, str], list[dict[str, Any]]] = {}
        for c in outcome.curves:
            final = c.final_auto_accept
            if c.dataset == dataset and final is not None:
                finals.setdefault((c.labels[-1], c.strategy), []).append(final)
        for (labeled, strategy), reports in sorted(finals.items()):
            out.append(row(dataset, f"{strategy} final ({len(reports)} seeds)", str(labeled), reports))
    return "\n".join(out)


def first_picks_table(outcome: Outcome) -> str:
    """Per dataset, what each strategy picks first from the base: characters and keystrokes per line."""
    out = [
        "| dataset | strategy | characters per picked line | keystrokes per picked line | keystrokes per character |",
        "|---|---|---|---|---|",
    ]
    for dataset, base in outcome.bases.items():
        picks = base.get("first_picks")
        if not picks:
            continue
        for strategy, row in picks["strategies"].items():
            chars, edits = row["characters_per_line"], row["edits_per_line"]
            out.append(f"| {dataset} | {strategy} | {chars:.1f} | {edits:.1f} | {edits / chars if chars else 0:.2f} |")
    return "\n".join(out)


def plot(outcome: Outcome, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summaries, targets = summarise(outcome.curves)
    grouped = groups(summaries)
    fig, axes = plt.subplots(len(grouped), 2, figsize=(12, 4 * max(1, len(grouped))), dpi=100, squeeze=False)
    for (ax_labels, ax_keys), ((dataset, batch), rows) in zip(axes, grouped.items(), strict=True):
        for s in rows:
            style = {"color": "black", "linewidth": 2.2} if s.strategy == "random" else {"linewidth": 1.3}
            (line,) = ax_labels.plot(s.labels, s.mean_cer, marker="o", markersize=3, label=s.strategy, **style)
            ax_labels.fill_between(s.labels, s.min_cer, s.max_cer, color=line.get_color(), alpha=0.1)
            ax_keys.plot(
                s.mean_keystrokes, s.mean_cer, marker="o", markersize=3, **{**style, "color": line.get_color()}
            )
        for ax, xlabel in ((ax_labels, "labeled lines"), (ax_keys, "keystrokes (edits from the served reading)")):
            target = targets.get(f"{dataset}/{batch}")
            if target is not None:
                ax.axhline(target, color="grey", linestyle="--", linewidth=0.8)
            ax.set_xlabel(xlabel)
            ax.set_ylabel("test CER")
            ax.set_title(f"{dataset}, rounds of {batch}")
            ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
            ax.grid(alpha=0.3)
        ax_labels.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def budget_line(outcome: Outcome) -> str:
    s = outcome.settings
    counts = sorted({batch * r for batch, rounds in s.schedules for r in range(1, rounds + 1)})
    steps = ", ".join(f"{n} lines: {round_config(s, n, 0).max_steps}" for n in counts)
    config = round_config(s, counts[0], 0) if counts else None
    detail = (
        f" (lr {config.learning_rate:g} at {counts[0]} lines, "
        f"CNN frozen for the first {config.freeze_cnn_steps} steps, "
        f"early stopping checked every {config.eval_every} steps with patience {config.patience})"
        if config
        else ""
    )
    scale = "" if s.step_scale == 1.0 else f", scaled by {s.step_scale:g} (NOT the app's budget)"
    return f"step budget per training run (recognition.finetune.finetune_config{scale}): {steps}{detail}"


def markdown(outcome: Outcome, *, command: str, started: dt.datetime, commit: str, machine: str, plot_name: str) -> str:
    s = outcome.settings
    summaries, targets = summarise(outcome.curves)
    grouped = groups(summaries)
    text = [
        "# Active learning from the base model, measured in keystrokes",
        "",
        f"- command: `{command}` ({outcome.minutes:.0f} minutes; "
        f"commit {commit} at the start, {started:%Y-%m-%d %H:%M} UTC)",
        f"- machine: {machine}; jobs in parallel processes, 1 torch thread each",
        f"- start: `{s.base}` for every round of every strategy; each round trains from it on all lines labeled so far",
        f"- {budget_line(outcome)}; batch {round_config(s, 50, 0).batch_size}; no wall-clock ceiling",
        f"- data: pool = the train split; candidates = {s.candidates} seeded random unlabeled lines a round "
        f"(the same for every strategy of a seed); early stopping on {s.eval_lines} random validation lines "
        f"(the project's evaluation lines, not counted as labels); test CER (greedy) on a fixed seeded subset of "
        f"{s.test_lines or 'all'} test lines",
        f"- schedules: {', '.join(f'{r} rounds of {b}' for b, r in s.schedules)}; seeds: {s.seeds} "
        "(seed = candidate draws and training order)",
        "- keystrokes: Levenshtein edits from the model's reading when the line was served to its truth (NFC)",
        f"- self-training (`+self`): unpicked candidates at or above the auto-accept threshold of a calibration "
        f"fitted on the evaluation lines (line error <= {s.target_line_error:.0%} there), "
        f"at most {s.max_pseudo} a round, "
        f"loss weight {s.pseudo_weight:g}",
    ]
    if outcome.not_run:
        text.append(
            "- NOT run (started after the deadline, or unfinished when this report was made): "
            f"{len(outcome.not_run)} rounds: {'; '.join(outcome.not_run)}"
        )
    for (dataset, batch), rows in grouped.items():
        target = targets.get(f"{dataset}/{batch}")
        text += [
            "",
            f"## {dataset}, rounds of {batch} (target: random's final CER {_pct(target, 2)})",
            "",
            table(rows),
            "",
        ]
        text += findings(rows)
        best = best_by_keystrokes(rows)
        text += [
            f"- fewest keystrokes to the target: `{best.strategy}`" if best else "- no strategy reached the target",
            "",
            "CER after each round (mean ± sd over seeds; cumulative keystrokes in brackets):",
            "",
            curve_table(rows),
        ]
    text += [
        "",
        f"![CER against labels and keystrokes]({plot_name})",
        "",
        "## The first batch from the base, every strategy",
        "",
        "Seed 0's first candidates read by the base, and what each strategy picks from them (the same picks as "
        "round 1 of the jobs above); keystrokes = edits from the base's reading to the truth. No training: "
        "this is the typing each strategy asks for before any model learned from it.",
        "",
        first_picks_table(outcome),
        "",
        f"## Auto-accept at <= {s.target_line_error:.0%} line error",
        "",
        f"Calibration (`recognition.calibration.fit_calibration`, auto) and threshold fitted on {s.calibration_lines} "
        "validation lines (none of them evaluation lines); coverage and error measured on the test subset. "
        f"Review time saved = modelled seconds of the accepted test lines over those of all test lines; model: "
        f"{REVIEW_TIME.describe()} (assumed, not measured).",
        "",
        auto_accept_table(outcome),
        "",
    ]
    for dataset, base in outcome.bases.items():
        review = base["review"]
        text.append(
            f"- {dataset}, base: median modelled review {review['median_seconds']:.1f} s per line; "
            f"accepting {_pct(base['test_coverage'])} of lines saves "
            f"{review['hours_saved_per_1000']:.2f} h per 1,000 lines "
            "(lines not reviewed x median seconds)."
        )
    text += ["", f"recognition.selection.DEFAULT_STRATEGY at the time of the run: `{DEFAULT_STRATEGY}`.", ""]
    return "\n".join(text)


def to_json(outcome: Outcome) -> dict[str, Any]:
    summaries, targets = summarise(outcome.curves)
    return {
        "settings": asdict(outcome.settings),
        "minutes": outcome.minutes,
        "not_run": outcome.not_run,
        "targets": targets,
        "bases": outcome.bases,
        "summaries": [asdict(s) for s in summaries],
        "curves": [asdict(c) for c in outcome.curves],
    }
