"""Every benchmark, one after the other: ``python -m benchmarks [--quick] [names...]``.

    recognition      Lineproof vs kraken vs Tesseract on hooker and fraktur19 -> RESULTS.md
    active_learning  labels and keystrokes per strategy, from the base      -> ACTIVE_LEARNING.md
    queue            the labeling queue under load over HTTP                  -> QUEUE.md
    learning_curve   CER after 0..all labels, from the base and from scratch -> LEARNING_CURVE.md
    segmentation     page segmentation vs kraken and Tesseract on hooker-pages -> SEGMENTATION.md
    freshness        label to re-ranked queue, incremental vs full retraining -> FRESHNESS.md

Each prints its table and writes its markdown file; each also runs alone
(``python -m benchmarks.<name>``). The exit status is the worst of them.
"""

from __future__ import annotations

import argparse
import importlib
import sys

NAMES = ("recognition", "active_learning", "queue", "learning_curve", "segmentation", "freshness")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="each benchmark's quick mode")
    parser.add_argument("names", nargs="*", help=f"which ones, of {', '.join(NAMES)} (default: all)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(NAMES))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(NAMES)}")
    worst = 0
    for name in args.names or NAMES:
        print(f"\n=== benchmarks.{name}{' --quick' if args.quick else ''}", flush=True)
        module = importlib.import_module(f"benchmarks.{name}")
        worst = max(worst, int(module.main(["--quick"] if args.quick else [])))
    return worst


if __name__ == "__main__":
    sys.exit(main())
