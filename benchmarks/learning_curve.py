"""Labels to accuracy: CER after 0, 50, 100, 200, 400, 800 and all labeled lines, from the base and from scratch.

    python -m benchmarks.learning_curve            # hooker and fraktur19, 2 seeds (hours on 2 cores)
    python -m benchmarks.learning_curve --quick    # hooker, 0/50/200 lines, 1 seed, 300 test lines (minutes)

For each dataset the fixed test split is read after fine-tuning on a seeded
subset of the train split. The subset is split the way a project splits its
lines: one in ten (at least 5) are the project's evaluation lines, which
early stopping watches; the rest train. Every run gets the budget one app
training run gets: ``recognition.finetune.finetune_config`` (optimizer steps
from the number of labels) with the app's wall-clock ceiling
(``LINEPROOF_TRAIN_MAX_MINUTES``, 10). "From the base" starts from the
shipped base model; "from scratch" trains the same network from random
weights with the same step budget and ceiling. In the same run: Tesseract 5
off the shelf, and kraken 7 trained from scratch on the same labels for the
wall-clock time Lineproof's fine-tune took (``--kraken-counts``).

With ``--pretrain-work DIR`` (the pretraining work folder) the base's own
held-out pages are read again after the largest fine-tune, to show what the
base kept of what it knew. Writes ``LEARNING_CURVE.md`` and ``LEARNING_CURVE.png`` (``--results``).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import baselines
from benchmarks.recognition import DATASETS, KRAKEN_VENV, WORK, _commit, _machine
from recognition.base import DEFAULT_BASE, base_path
from recognition.data import LineSample, load_split
from recognition.finetune import finetune_config
from recognition.infer import Recognizer
from recognition.metrics import cer
from recognition.model import PRESETS, ModelConfig
from recognition.train import TrainConfig, train

HERE = Path(__file__).parent
APP_MAX_MINUTES = 10.0
FULL_COUNTS = ("0", "50", "100", "200", "400", "800", "all")
QUICK_COUNTS = ("0", "50", "200")


@dataclass
class Point:
    dataset: str
    start: str  # "base" or "scratch"
    labels: int
    cers: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.cers)

    @property
    def spread(self) -> float:
        return statistics.pstdev(self.cers) if len(self.cers) > 1 else 0.0


def labeled_subset(train_lines: list[LineSample], count: int, seed: int) -> tuple[list[LineSample], list[LineSample]]:
    """A seeded sample of ``count`` lines, split into (train, eval) as a project splits it."""
    chosen = train_lines if count >= len(train_lines) else random.Random(seed).sample(train_lines, count)
    eval_count = max(5, len(chosen) // 10)
    return chosen[eval_count:], chosen[:eval_count]


def read_test(checkpoint: Path | str, test: list[LineSample]) -> float:
    predictions = Recognizer.load(checkpoint).predict([s.load() for s in test])
    return cer([s.text for s in test], [p.text for p in predictions])


def fine_tune(
    start: str, lines: list[LineSample], eval_lines: list[LineSample], out: Path, seed: int, max_minutes: float
) -> tuple[Path, float, int]:
    """One app-sized training run; returns the best checkpoint, its seconds and steps."""
    recipe = finetune_config(len(lines) + len(eval_lines), max_minutes=max_minutes)
    if start == "base":
        config, init, model_config = TrainConfig(**{**recipe.to_dict(), "seed": seed}), base_path(), None
    else:
        # From scratch: the same steps and ceiling, the from-scratch defaults otherwise.
        config = TrainConfig(
            max_steps=recipe.max_steps,
            max_minutes=max_minutes,
            max_epochs=10_000,
            seed=seed,
            eval_every=recipe.eval_every,
            patience=recipe.patience,
        )
        init, model_config = None, ModelConfig(num_classes=2, **PRESETS["cpu"])
    result = train(lines, eval_lines, out_dir=out, config=config, init=init, model_config=model_config)
    return result.best_checkpoint, result.seconds, result.steps


def run_dataset(
    dataset: str, counts: list[str], seeds: int, test_limit: int | None, max_minutes: float, starts: list[str]
) -> tuple[list[Point], dict[str, Path]]:
    splits = load_split(DATASETS / dataset)
    train_lines, test = splits["train"], splits["test"]
    if test_limit:
        test = random.Random(0).sample(test, min(test_limit, len(test)))
    points: list[Point] = []
    kept: dict[str, Path] = {}
    zero = Point(dataset, "base", 0, cers=[read_test("base", test)], seconds=[0.0], steps=[0])
    print(f"{dataset}: base alone, CER {zero.mean:.4f}", file=sys.stderr, flush=True)
    points.append(zero)
    for count_name in counts:
        if count_name == "0":
            continue
        count = len(train_lines) if count_name == "all" else int(count_name)
        for start in starts:
            point = Point(dataset, start, count)
            for seed in range(seeds):
                lines, eval_lines = labeled_subset(train_lines, count, seed)
                out = Path(tempfile.mkdtemp(prefix=f"lc-{dataset}-{start}-{count}-{seed}-", dir=WORK))
                best, seconds, steps = fine_tune(start, lines, eval_lines, out, seed, max_minutes)
                point.cers.append(read_test(best, test))
                point.seconds.append(seconds)
                point.steps.append(steps)
                kept[f"{start}-{count}"] = best
                print(
                    f"{dataset} {start} {count} lines seed {seed}: CER {point.cers[-1]:.4f} "
                    f"({steps} steps, {seconds:.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )
            points.append(point)
    return points, kept


def other_engines(
    dataset: str, points: list[Point], kraken_counts: list[int], test_limit: int | None, with_kraken: bool
) -> list[tuple[str, int | None, float, str]]:
    """Tesseract off the shelf and kraken at the same budget: (engine, labels, CER, note)."""
    rows: list[tuple[str, int | None, float, str]] = []
    test_dir = baselines.prepare_split(DATASETS / dataset, "test", WORK / "splits", test_limit)
    references = baselines.read_references(test_dir)
    lang = baselines.TESSERACT_LANGS[dataset]
    baselines.ensure_tesseract((lang,))
    predicted = baselines.tesseract_predict(test_dir, lang)
    rows.append(
        (
            f"Tesseract 5 -l {lang}",
            None,
            cer(list(references.values()), [predicted.texts.get(i, "") for i in references]),
            "off the shelf",
        )
    )
    if not with_kraken:
        return rows
    venv = baselines.ensure_kraken(KRAKEN_VENV)
    for count in kraken_counts:
        ours = next((p for p in points if p.start == "base" and p.labels == count), None)
        if ours is None:
            continue
        minutes = max(1.0, statistics.fmean(ours.seconds) / 60)
        train_dir = baselines.prepare_split(DATASETS / dataset, "train", WORK / "splits", count)
        val_dir = baselines.prepare_split(DATASETS / dataset, "val", WORK / "splits", 100)
        trained = baselines.kraken_train(
            venv, train_dir, val_dir, WORK / "kraken-lc" / f"{dataset}-{count}", minutes=minutes
        )
        kraken_read = baselines.kraken_predict(venv, trained.model, test_dir)
        rows.append(
            (
                "kraken 7.1.1 from scratch",
                count,
                cer(list(references.values()), [kraken_read.texts.get(i, "") for i in references]),
                f"{minutes:.1f} min, as Lineproof's fine-tune",
            )
        )
    return rows


def base_retention(pretrain_work: Path, checkpoint: Path) -> tuple[float, float]:
    """CER on the base's own held-out pages: the base, then the fine-tuned model."""
    from recognition.base.pretrain import PretrainConfig, corpus_samples

    _, by_source = corpus_samples(PretrainConfig(work_dir=pretrain_work, snapshots=Path(".")))
    lines = [s for group in by_source.values() for s in group]
    return read_test("base", lines), read_test(checkpoint, lines)


def table(points: list[Point], extra: dict[str, list[tuple[str, int | None, float, str]]]) -> str:
    out = []
    for dataset in dict.fromkeys(p.dataset for p in points):
        out += [
            f"### {dataset}",
            "",
            "| labeled lines | from the base | from scratch | steps | seconds (base) |",
            "|---|---|---|---|---|",
        ]
        by_labels: dict[int, dict[str, Point]] = {}
        for p in points:
            if p.dataset == dataset:
                by_labels.setdefault(p.labels, {})[p.start] = p
        for labels, pair in sorted(by_labels.items()):
            base, scratch = pair.get("base"), pair.get("scratch")

            def cell(p: Point | None) -> str:
                if p is None:
                    return "—"
                spread = f" ± {p.spread:.2%}" if len(p.cers) > 1 else ""
                return f"{p.mean:.2%}{spread}"

            steps = f"{statistics.fmean(base.steps):.0f}" if base else "—"
            seconds = f"{statistics.fmean(base.seconds):.0f}" if base else "—"
            out.append(f"| {labels} | {cell(base)} | {cell(scratch)} | {steps} | {seconds} |")
        for engine, engine_labels, value, note in extra.get(dataset, []):
            out.append(f"| {engine_labels or 0} | {engine}: {value:.2%} | | | {note} |")
        out.append("")
    return "\n".join(out)


def plot(points: list[Point], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(p.dataset for p in points))
    fig, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 4.5), dpi=110, squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        for start, style in (("base", "o-"), ("scratch", "s--")):
            series = sorted((p.labels, p.mean) for p in points if p.dataset == dataset and p.start == start)
            if series:
                ax.plot([max(1, x) for x, _ in series], [y for _, y in series], style, label=f"from {start}")
        ax.set_xscale("log")
        ax.set_title(dataset)
        ax.set_xlabel("labeled lines (0 plotted at 1)")
        ax.set_ylabel("test CER")
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="hooker, 0/50/200 lines, 1 seed, 300 test lines")
    parser.add_argument("--datasets", nargs="+", default=["hooker", "fraktur19"])
    parser.add_argument("--counts", nargs="+", default=list(FULL_COUNTS))
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--starts", nargs="+", choices=["base", "scratch"], default=["base", "scratch"])
    parser.add_argument("--test-limit", type=int, help="read a seeded sample of the test split")
    parser.add_argument("--max-minutes", type=float, default=APP_MAX_MINUTES, help="wall-clock ceiling per run")
    parser.add_argument("--no-kraken", action="store_true")
    parser.add_argument("--kraken-counts", nargs="+", type=int, default=[200])
    parser.add_argument("--pretrain-work", type=Path, help="pretraining work folder: check what the base kept")
    parser.add_argument("--results", type=Path, default=HERE / "LEARNING_CURVE.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.datasets, args.counts, args.seeds, args.test_limit, args.no_kraken = (
            ["hooker"],
            list(QUICK_COUNTS),
            1,
            300,
            True,
        )
    missing = [d for d in args.datasets if not (DATASETS / d / "split.json").exists()]
    if missing:
        print(f"datasets missing under {DATASETS}: {', '.join(missing)}", file=sys.stderr)
        return 2
    WORK.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    points: list[Point] = []
    extra: dict[str, list[tuple[str, int | None, float, str]]] = {}
    retention = ""
    for dataset in args.datasets:
        dataset_points, kept = run_dataset(
            dataset, args.counts, args.seeds, args.test_limit, args.max_minutes, args.starts
        )
        points += dataset_points
        extra[dataset] = other_engines(dataset, dataset_points, args.kraken_counts, args.test_limit, not args.no_kraken)
        largest = max((p.labels for p in dataset_points if p.start == "base" and p.labels), default=0)
        if args.pretrain_work and largest:
            before, after = base_retention(args.pretrain_work, kept[f"base-{largest}"])
            retention += (
                f"- {dataset}, after fine-tuning on {largest} lines: CER on the base's own held-out pages "
                f"{before:.2%} (base) -> {after:.2%}.\n"
            )
    text = table(points, extra)
    print(text)
    minutes = (time.perf_counter() - started) / 60
    if not args.quick:
        plot(points, args.results.with_suffix(".png"))
        args.results.write_text(
            "# Labels to accuracy\n\n"
            f"Base model `{DEFAULT_BASE}`; every run gets one app training run's budget "
            f"(`recognition.finetune.finetune_config`: optimizer steps from the number of labels, ceiling "
            f"{args.max_minutes:g} min). Seeds: {args.seeds}; CER is the mean (± population std over seeds) on the "
            f"{'whole' if not args.test_limit else f'{args.test_limit}-line sample of the'} test split, "
            "greedy decoding. "
            f"Machine: {_machine()}. Commit {_commit()}. Took {minutes:.0f} min.\n\n"
            f"Command: `python -m benchmarks.learning_curve {' '.join(argv if argv is not None else sys.argv[1:])}`\n\n"
            + text
            + "\n"
            + (f"\n## What the base kept\n\n{retention}" if retention else "")
            + f"\n![CER against labeled lines]({args.results.with_suffix('.png').name})\n",
            encoding="utf-8",
        )
        (args.results.with_suffix(".json")).write_text(
            json.dumps([p.__dict__ for p in points], indent=1), encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
