"""The fine-tuning recipe, variant against variant: which choices buy CER from a few hundred labels.

    python -m benchmarks.finetune_recipe                       # hooker, 200 lines, 2 seeds, every variant
    python -m benchmarks.finetune_recipe --quick               # 50 lines, 1 seed, 3 variants, 200 test lines
    python -m benchmarks.finetune_recipe --variants default steps_x3 --counts 200 800

Each variant changes one field of ``recognition.finetune.DEFAULT_RECIPE`` and
fine-tunes the shipped base on the same seeded labeled subsets that
``benchmarks.learning_curve`` uses (one in ten lines held out for early
stopping), under the app's wall-clock ceiling; the fixed test split (or a
seeded sample of it) is read greedily. The table gives each variant's CER
next to the default's, as a ratio, so the runs compare within one machine
and one load.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from benchmarks.learning_curve import APP_MAX_MINUTES, labeled_subset, read_test
from benchmarks.recognition import DATASETS, WORK, _commit, _machine
from recognition.base import base_path
from recognition.data import load_split
from recognition.finetune import DEFAULT_RECIPE, FinetuneRecipe, finetune_config
from recognition.train import TrainConfig, train

HERE = Path(__file__).parent

# One changed field (or two that belong together) per variant, named for what it tries.
VARIANTS: dict[str, FinetuneRecipe] = {
    "default": DEFAULT_RECIPE,
    "steps_x3": replace(DEFAULT_RECIPE, steps_per_line_scale=DEFAULT_RECIPE.steps_per_line_scale * 3),
    "lr_x2": replace(DEFAULT_RECIPE, lr_few=DEFAULT_RECIPE.lr_few * 2, lr_many=DEFAULT_RECIPE.lr_many * 2),
    "lr_half": replace(DEFAULT_RECIPE, lr_few=DEFAULT_RECIPE.lr_few / 2, lr_many=DEFAULT_RECIPE.lr_many / 2),
    "no_freeze": replace(DEFAULT_RECIPE, freeze_fraction=0.0),
    "augment_strong": replace(DEFAULT_RECIPE, augment_few=1.8, augment_many=1.4),
    "no_early_stop": replace(DEFAULT_RECIPE, patience=1000),
    "steps_x3_lr_x2": replace(
        DEFAULT_RECIPE,
        steps_per_line_scale=DEFAULT_RECIPE.steps_per_line_scale * 3,
        lr_few=DEFAULT_RECIPE.lr_few * 2,
        lr_many=DEFAULT_RECIPE.lr_many * 2,
    ),
}
QUICK_VARIANTS = ("default", "lr_x2", "no_freeze")


@dataclass
class Cell:
    variant: str
    labels: int
    cers: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.cers)


def run_cell(variant: str, labels: int, seeds: int, dataset: str, test_limit: int | None, max_minutes: float) -> Cell:
    splits = load_split(DATASETS / dataset)
    test = splits["test"]
    if test_limit:
        test = random.Random(0).sample(test, min(test_limit, len(test)))
    cell = Cell(variant, labels)
    for seed in range(seeds):
        lines, eval_lines = labeled_subset(splits["train"], labels, seed)
        recipe = finetune_config(labels, max_minutes=max_minutes, recipe=VARIANTS[variant])
        config = TrainConfig(**{**recipe.to_dict(), "seed": seed})
        out = Path(tempfile.mkdtemp(prefix=f"recipe-{dataset}-{variant}-{labels}-{seed}-", dir=WORK))
        result = train(lines, eval_lines, out_dir=out, config=config, init=base_path())
        cell.cers.append(read_test(result.best_checkpoint, test))
        cell.steps.append(result.steps)
        cell.seconds.append(result.seconds)
        print(
            f"{dataset} {variant} {labels} lines seed {seed}: CER {cell.cers[-1]:.4f} "
            f"({result.steps} steps, {result.seconds:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
    return cell


def table(cells: list[Cell]) -> str:
    out = [
        "| labeled lines | variant | test CER (per seed) | mean | vs default | steps | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for labels in dict.fromkeys(c.labels for c in cells):
        default = next((c for c in cells if c.labels == labels and c.variant == "default"), None)
        for c in (c for c in cells if c.labels == labels):
            ratio = f"{c.mean / default.mean:.3f}" if default and default.mean else "—"
            per_seed = ", ".join(f"{x:.2%}" for x in c.cers)
            out.append(
                f"| {labels} | {c.variant} | {per_seed} | {c.mean:.2%} | {ratio} | "
                f"{statistics.fmean(c.steps):.0f} | {statistics.fmean(c.seconds):.0f} |"
            )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 lines, 1 seed, 3 variants, 200 test lines")
    parser.add_argument("--dataset", default="hooker")
    parser.add_argument("--counts", nargs="+", type=int, default=[200])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--test-limit", type=int, default=300, help="read a seeded sample of the test split")
    parser.add_argument("--max-minutes", type=float, default=APP_MAX_MINUTES)
    parser.add_argument("--results", type=Path, default=HERE / "FINETUNE_RECIPE.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.counts, args.seeds, args.variants, args.test_limit = [50], 1, list(QUICK_VARIANTS), 200
    if not (DATASETS / args.dataset / "split.json").exists():
        print(f"dataset missing under {DATASETS}: {args.dataset}", file=sys.stderr)
        return 2
    WORK.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    variants = ["default", *(v for v in args.variants if v != "default")]
    cells = [
        run_cell(v, labels, args.seeds, args.dataset, args.test_limit, args.max_minutes)
        for labels in args.counts
        for v in variants
    ]
    text = table(cells)
    print(text)
    if not args.quick:
        minutes = (time.perf_counter() - started) / 60
        command = " ".join(argv if argv is not None else sys.argv[1:])
        args.results.write_text(
            "# Fine-tuning recipe variants\n\n"
            f"Dataset `{args.dataset}`, from the shipped base; seeds {args.seeds}; test CER (greedy) on a "
            f"{args.test_limit}-line seeded sample of the test split; wall-clock ceiling {args.max_minutes:g} min. "
            f"Machine: {_machine()}. Commit {_commit()}. Took {minutes:.0f} min.\n\n"
            f"Command: `python -m benchmarks.finetune_recipe {command}`\n\n"
            "Variants (each changes the default `FinetuneRecipe` as named):\n\n"
            + "\n".join(f"- `{v}`: {asdict(VARIANTS[v])}" for v in variants if v != "default")
            + f"\n- `default`: {asdict(DEFAULT_RECIPE)}\n\n"
            + text
            + "\n",
            encoding="utf-8",
        )
        args.results.with_suffix(".json").write_text(json.dumps([asdict(c) for c in cells], indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
