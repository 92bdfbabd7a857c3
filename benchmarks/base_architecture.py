"""Which network reads best per CPU-second? ``python -m benchmarks.base_architecture [--quick]``.

Trains each candidate network on the pretraining corpus (``python -m
recognition corpus`` builds it) for the same wall-clock budget, one after
the other in one run on the same cores, and compares their CER on the
corpus's held-out pages. Candidates: the ``cpu`` preset at 32 and at 48 px,
a wider LSTM, and a narrower, cheaper CNN. The winner is the base model's
architecture. Results go to ``BASE_ARCHITECTURE.md``.

The budget must carry every network well past CTC's initial all-blank
plateau: at 4 minutes a network sees about a hundred batches of the corpus's
long lines on 2 cores and reads nothing yet, so the default is 20 minutes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recognition.base.pretrain import PretrainConfig, corpus_samples
from recognition.model import PRESETS, ModelConfig
from recognition.train import TrainConfig, train

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Candidate:
    name: str
    sizes: dict[str, Any]


CANDIDATES = (
    Candidate("cpu, 32 px", {**PRESETS["cpu"]}),
    Candidate("cpu, 48 px", {**PRESETS["cpu"], "height": 48}),
    Candidate("cpu, 32 px, LSTM 256", {**PRESETS["cpu"], "lstm_hidden": 256}),
    Candidate("narrow CNN, 32 px", {**PRESETS["cpu"], "blocks": ((24, 2), (48, 2), (64, 1), (96, 1))}),
)


def run(work: Path, minutes: float, train_limit: int | None) -> list[dict[str, Any]]:
    config = PretrainConfig(work_dir=work, snapshots=Path("."))
    train_lines, val_by_source = corpus_samples(config)
    val_lines = [s for lines in val_by_source.values() for s in lines]
    if train_limit:
        train_lines = train_lines[:: max(1, len(train_lines) // train_limit)][:train_limit]
    rows = []
    for candidate in CANDIDATES:
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            result = train(
                train_lines,
                val_lines,
                out_dir=out,
                config=TrainConfig(max_minutes=minutes, eval_every=10**9, patience=10**6, calibrate=False),
                model_config=ModelConfig(num_classes=2, **candidate.sizes),
            )
            rows.append(
                {
                    "name": candidate.name,
                    "cer": result.best_cer,
                    "steps": result.steps,
                    "lines_per_second": result.lines_per_second,
                    "parameters": result.parameters,
                    "seconds": time.perf_counter() - start,
                }
            )
        print(f"{candidate.name}: CER {rows[-1]['cer']:.4f}, {result.steps} steps", file=sys.stderr, flush=True)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    reference = rows[0]
    lines = [
        "| network | parameters | steps | train lines/s | vs first | held-out CER |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = row["lines_per_second"] / reference["lines_per_second"] if reference["lines_per_second"] else 0
        lines.append(
            f"| {row['name']} | {row['parameters']:,} | {row['steps']} | {row['lines_per_second']:.1f} | "
            f"{ratio:.2f}x | {row['cer']:.2%} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("runs/pretrain"), help="pretraining work folder")
    parser.add_argument("--minutes", type=float, default=20.0, help="wall-clock budget per network")
    parser.add_argument("--quick", action="store_true", help="1 minute per network on 3,000 lines")
    parser.add_argument("--results", type=Path, default=HERE / "BASE_ARCHITECTURE.md")
    args = parser.parse_args(argv)
    if not (args.work / "corpus" / "synthetic.json").exists():
        print(f"no pretraining corpus in {args.work}: run python -m recognition corpus first", file=sys.stderr)
        return 2
    minutes, limit = (1.0, 3000) if args.quick else (args.minutes, None)
    rows = run(args.work, minutes, limit)
    text = table(rows)
    print(text)
    if not args.quick:
        args.results.write_text(
            "# Base model architecture: accuracy per CPU-second\n\n"
            f"Each network trained {minutes:g} minutes on the pretraining corpus, one after the other on the "
            "same 2 cores; CER on the corpus's held-out pages (greedy). "
            f"Command: `python -m benchmarks.base_architecture --minutes {minutes:g}`.\n\n" + text + "\n",
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
