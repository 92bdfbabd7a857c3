"""Recognizer benchmark: Lineproof vs kraken 7 vs Tesseract 5 on real lines.

    python -m benchmarks.recognition            # both datasets, under an hour on 2 cores
    python -m benchmarks.recognition --quick    # hooker only, a few minutes

Every engine reads the same split folders (symlinks into ``../shared/datasets``)
in the same run. Lineproof and kraken train from scratch on the train split for
the same wall-clock budget, validating on the val split; Tesseract runs off the
shelf. Each engine runs as a child process, so its peak memory is its own
(``os.wait4``), and inference speed is taken over the whole process (start-up and
model loading included) for all of them alike. Scores come from one place,
``recognition.metrics``, on the raw texts.

Prints a table and writes ``benchmarks/RESULTS.md`` (with the commit, machine
and command that made it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from benchmarks.baselines import (
    TESSERACT_LANGS,
    ensure_kraken,
    ensure_tesseract,
    kraken_predict,
    kraken_train,
    prepare_split,
    read_references,
    run_measured,
    tesseract_predict,
)
from recognition.metrics import cer, ser, wer

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT.parent / "shared" / "datasets"
WORK = ROOT / "benchmarks" / ".work"
KRAKEN_VENV = ROOT / "benchmarks" / ".venv-kraken"


@dataclass(frozen=True)
class Plan:
    """What one dataset gets: training budget and how many lines of each split."""

    dataset: str
    minutes: float
    train_limit: int | None
    test_limit: int | None


FULL = (Plan("hooker", 12.0, None, None), Plan("fraktur19", 5.0, None, None))
QUICK = (Plan("hooker", 1.5, 1500, 150),)


@dataclass
class Row:
    dataset: str
    engine: str
    budget_min: float | None
    cer: float
    wer: float
    ser: float
    train_lines_per_s: float | None
    infer_lines_per_s: float
    peak_train_mb: float | None
    peak_infer_mb: float
    parameters: int | None
    note: str = ""


def _score(references: dict[str, str], hypotheses: dict[str, str]) -> tuple[float, float, float]:
    ids = sorted(references)
    refs = [references[i] for i in ids]
    hyps = [hypotheses.get(i, "") for i in ids]
    return cer(refs, hyps), wer(refs, hyps), ser(refs, hyps)


def _lineproof(plan: Plan, train_dir: Path, val_dir: Path, test_dir: Path, threads: int) -> list[Row]:
    out = WORK / "lineproof" / plan.dataset
    out.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    report = out / "train.json"
    stats = run_measured(
        [python, "-m", "recognition", "--output", report, "train", "--train", train_dir, "--val", val_dir,
         "--out", out, "--max-minutes", str(plan.minutes), "--threads", str(threads), "--quiet"],
        cwd=ROOT,
        log_path=out / "train.log",
    )  # fmt: skip
    if stats.returncode != 0:
        raise RuntimeError(f"Lineproof training failed, see {out / 'train.log'}")
    trained = json.loads(report.read_text(encoding="utf-8"))
    references = read_references(test_dir)
    rows = []
    for beam, engine in ((0, "Lineproof (greedy)"), (16, "Lineproof (beam 16 + char LM)")):
        result = out / f"eval-beam{beam}.json"
        infer = run_measured(
            [python, "-m", "recognition", "--output", result, "eval", "--model", out / "best.pt",
             "--lines", test_dir, "--beam", str(beam), "--threads", str(threads)],
            cwd=ROOT,
            log_path=out / f"eval-beam{beam}.log",
        )  # fmt: skip
        if infer.returncode != 0:
            raise RuntimeError(f"Lineproof evaluation failed, see {out}")
        predictions = json.loads(result.read_text(encoding="utf-8"))["predictions"]
        rows.append(
            Row(
                plan.dataset,
                engine,
                plan.minutes,
                *_score(references, predictions),
                train_lines_per_s=trained["train_lines_per_second"],
                infer_lines_per_s=len(predictions) / infer.wall_s,
                peak_train_mb=stats.peak_rss_kib / 1024,
                peak_infer_mb=infer.peak_rss_kib / 1024,
                parameters=trained["parameters"],
                note=f"{trained['epochs']} epochs, {trained['stopped_because']}",
            )
        )
    return rows


def _kraken(plan: Plan, train_dir: Path, test_dir: Path, threads: int) -> Row:
    venv = ensure_kraken(KRAKEN_VENV)
    # kraken validates at about 4 lines/s, so it picks its checkpoint on 200
    # val lines (a seeded sample) rather than spending minutes of the run on all.
    kraken_val = prepare_split(DATASETS / plan.dataset, "val", WORK / "splits", 200)
    trained = kraken_train(
        venv, train_dir, kraken_val, WORK / "kraken" / plan.dataset, minutes=plan.minutes, threads=threads
    )
    predicted = kraken_predict(venv, trained.model, test_dir, threads=threads)
    return Row(
        plan.dataset,
        "kraken 7.1.1 (default net)",
        plan.minutes,
        *_score(read_references(test_dir), predicted.texts),
        train_lines_per_s=trained.lines_per_s,
        infer_lines_per_s=predicted.lines_per_s,
        peak_train_mb=trained.peak_rss_kib / 1024,
        peak_infer_mb=predicted.peak_rss_kib / 1024,
        parameters=trained.parameters,
        note=f"{trained.epochs_completed} epochs",
    )


def _tesseract(plan: Plan, test_dir: Path) -> Row:
    lang = TESSERACT_LANGS[plan.dataset]
    ensure_tesseract((lang,))
    predicted = tesseract_predict(test_dir, lang)
    return Row(
        plan.dataset,
        f"Tesseract 5 (-l {lang}, off the shelf)",
        None,
        *_score(read_references(test_dir), predicted.texts),
        train_lines_per_s=None,
        infer_lines_per_s=predicted.lines_per_s,
        peak_train_mb=None,
        peak_infer_mb=predicted.peak_rss_kib / 1024,
        parameters=None,
    )


def _fmt(value: float | int | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def table(rows: list[Row]) -> str:
    head = (
        "| dataset | engine | budget (min) | test CER | WER | SER | train lines/s | infer lines/s "
        "| peak MB train / infer | parameters | note |"
    )
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        lines.append(
            f"| {r.dataset} | {r.engine} | {_fmt(r.budget_min, 'g')} | {r.cer:.2%} | {r.wer:.2%} | {r.ser:.2%} "
            f"| {_fmt(r.train_lines_per_s, '.1f')} | {r.infer_lines_per_s:.1f} "
            f"| {_fmt(r.peak_train_mb, '.0f')} / {r.peak_infer_mb:.0f} | {_fmt(r.parameters, ',')} | {r.note} |"
        )
    return "\n".join(lines)


def ratios(rows: list[Row]) -> str:
    """Lineproof against kraken on the same dataset, same run: the figures that travel between machines."""
    out = []
    for dataset in dict.fromkeys(r.dataset for r in rows):
        ours = next((r for r in rows if r.dataset == dataset and r.engine == "Lineproof (greedy)"), None)
        theirs = next((r for r in rows if r.dataset == dataset and r.engine.startswith("kraken")), None)
        if ours is None or theirs is None:
            continue
        train_ratio = (ours.train_lines_per_s or 0) / (theirs.train_lines_per_s or float("nan"))
        out.append(
            f"- {dataset}: Lineproof trains {train_ratio:.1f}x and reads "
            f"{ours.infer_lines_per_s / theirs.infer_lines_per_s:.1f}x as many lines per second as kraken; "
            f"test CER {ours.cer:.2%} vs {theirs.cer:.2%} at the same {ours.budget_min:g}-minute budget."
        )
    return "\n".join(out)


def _machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{len(os.sched_getaffinity(0))} cores ({model}), {platform.system()} {platform.release()}, no GPU used"


def _commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True)
        return sha.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="hooker only, 1.5-minute budgets, 1,500 train and 150 test lines"
    )
    parser.add_argument("--datasets", nargs="+", help="restrict to these datasets")
    parser.add_argument("--minutes", type=float, help="override every training budget")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--engines", nargs="+", default=["lineproof", "kraken", "tesseract"])
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "RESULTS.md"))
    args = parser.parse_args(argv)

    plans = [p for p in (QUICK if args.quick else FULL) if not args.datasets or p.dataset in args.datasets]
    rows: list[Row] = []
    started = dt.datetime.now(dt.UTC)
    for plan in plans:
        if args.minutes:
            plan = Plan(plan.dataset, args.minutes, plan.train_limit, plan.test_limit)
        dataset = DATASETS / plan.dataset
        if not dataset.is_dir():
            print(f"skipping {plan.dataset}: {dataset} not found", file=sys.stderr)
            continue
        train_dir = prepare_split(dataset, "train", WORK / "splits", plan.train_limit)
        val_dir = prepare_split(dataset, "val", WORK / "splits")
        test_dir = prepare_split(dataset, "test", WORK / "splits", plan.test_limit)
        print(f"{plan.dataset}: {plan.minutes:g}-minute budgets", file=sys.stderr, flush=True)
        if "lineproof" in args.engines:
            rows += _lineproof(plan, train_dir, val_dir, test_dir, args.threads)
        if "kraken" in args.engines:
            rows.append(_kraken(plan, train_dir, test_dir, args.threads))
        if "tesseract" in args.engines:
            rows.append(_tesseract(plan, test_dir))
        print(table(rows), file=sys.stderr, flush=True)

    minutes = (dt.datetime.now(dt.UTC) - started).total_seconds() / 60
    command = "python -m benchmarks.recognition " + " ".join(argv if argv is not None else sys.argv[1:])
    report = "\n".join(
        [
            "# Recognizer benchmark",
            "",
            f"- command: `{command.strip()}` ({minutes:.0f} minutes)",
            f"- commit: {_commit()}, {started:%Y-%m-%d %H:%M} UTC",
            f"- machine: {_machine()}",
            "- splits: each dataset's fixed `split.json`; train from scratch on train, pick the model on val, "
            "score on test" + (" (quick mode: 1,500 train, 150 test lines, 1.5-minute budgets)" if args.quick else ""),
            "",
            table(rows),
            "",
            ratios(rows),
            "",
        ]
    )
    print(report)
    Path(args.results).write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
