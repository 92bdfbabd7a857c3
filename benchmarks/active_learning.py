"""Active learning from the base model, measured in labels and in keystrokes.

    python -m benchmarks.active_learning --quick       # hooker, 1 seed, 1 round of 50, a fifth of the steps: minutes
    python -m benchmarks.active_learning               # hooker + fraktur19, 3 seeds, 3 rounds of 50 and 1 of 150
    python -m benchmarks.active_learning --datasets hooker --seeds 1 --start-until 19:00
    python -m benchmarks.active_learning --report-only  # the report from the jobs that finished (same flags)

Every round of every strategy trains as the app's training run would:
``recognition.finetune.finetune_config(labeled lines)`` from the shipped base
model, on all lines labeled so far (see :mod:`benchmarks.al.simulation`).
A picked line costs the keystrokes from the model's reading, when it was
served, to the truth; each strategy is reported by the labels and the
keystrokes it needs to reach random sampling's final CER. Auto-accept is
measured on held-out test lines from the base and from each final model.

The default costs about (261 + 396 + 505 + 505) optimizer steps per
(dataset, strategy, seed): about 60,000 steps for 6 strategies x 2 datasets x
3 seeds. Measured on 2 cores shared by four workers: 2.4 to 4.6 s a step for
one hooker process, about 10 s on fraktur19 (lines 2.6 times wider): days.
Pick what fits with the flags and say so in the results.
Writes ``ACTIVE_LEARNING.md``, ``ACTIVE_LEARNING.json`` and ``active_learning.png``
in ``benchmarks/``; work files (resumable) under ``benchmarks/.work/al2``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from benchmarks.al.costs import SELF
from benchmarks.al.report import markdown, plot, to_json
from benchmarks.al.simulation import Settings, load_data, simulate
from benchmarks.recognition import DATASETS, WORK, _commit, _machine
from recognition.selection import STRATEGIES

HERE = Path(__file__).resolve().parent
# Random, expected errors and the four variants the issue asks for.
AL_STRATEGIES = (
    "random",
    "expected_errors",
    "diversity",
    "near_duplicate_cap",
    "expected_edits",
    f"expected_errors{SELF}",
)
DEFAULT = Settings(
    datasets=("hooker", "fraktur19"),
    strategies=AL_STRATEGIES,
    schedules=((50, 3), (150, 1)),
    seeds=3,
    candidates=400,
    test_lines=300,
)
QUICK = Settings(
    datasets=("hooker",),
    strategies=AL_STRATEGIES,
    schedules=((50, 1),),
    seeds=1,
    candidates=100,
    test_lines=60,
    eval_lines=20,
    calibration_lines=60,
    step_scale=0.2,
)


def parse_schedule(text: str) -> tuple[int, int]:
    """``"50x3"`` -> (50, 3): rounds of 50 lines, 3 of them."""
    batch, _, rounds = text.partition("x")
    try:
        parsed = (int(batch), int(rounds))
    except ValueError:
        raise argparse.ArgumentTypeError(f"schedule {text!r} is not BATCHxROUNDS, e.g. 50x3") from None
    if min(parsed) < 1:
        raise argparse.ArgumentTypeError(f"schedule {text!r} needs a batch and rounds of at least 1")
    return parsed


def start_until(text: str) -> float:
    """``"HH:MM"`` today (UTC) as a ``time.time()`` value."""
    hour, minute = (int(part) for part in text.split(":"))
    now = dt.datetime.now(dt.UTC)
    return now.replace(hour=hour, minute=minute, second=0, microsecond=0).timestamp()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="hooker, 1 seed, 1 round of 50, 20%% of the step budget")
    parser.add_argument("--datasets", nargs="+", help="of ../shared/datasets")
    parser.add_argument("--seeds", type=int)
    parser.add_argument(
        "--strategies", nargs="+", choices=[*STRATEGIES, *(f"{s}{SELF}" for s in STRATEGIES)], help="random first"
    )
    parser.add_argument("--schedules", nargs="+", type=parse_schedule, help="BATCHxROUNDS, e.g. 50x3 150x1")
    parser.add_argument("--candidates", type=int)
    parser.add_argument("--test-lines", type=int)
    parser.add_argument("--step-scale", type=float, help="share of the app's step budget (default 1)")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--start-until", type=start_until, help="HH:MM UTC: start no job after this")
    parser.add_argument("--report-only", action="store_true", help="run nothing; report the jobs that finished")
    parser.add_argument("--work", type=Path, default=WORK / "al2")
    parser.add_argument("--results", type=Path, help="default ACTIVE_LEARNING.md (--quick: in the work folder)")
    parser.add_argument("--plot", type=Path, help="default active_learning.png (--quick: in the work folder)")
    parser.add_argument("--json", type=Path, help="default ACTIVE_LEARNING.json (--quick: in the work folder)")
    args = parser.parse_args(argv)

    settings = QUICK if args.quick else DEFAULT
    overrides = {
        "datasets": tuple(args.datasets) if args.datasets else None,
        "seeds": args.seeds,
        "strategies": tuple(args.strategies) if args.strategies else None,
        "schedules": tuple(args.schedules) if args.schedules else None,
        "candidates": args.candidates,
        "test_lines": args.test_lines,
        "step_scale": args.step_scale,
    }
    settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    # A quick run is a smoke test: it never overwrites the committed results.
    out = args.work if args.quick else HERE
    results = args.results or out / ("QUICK.md" if args.quick else "ACTIVE_LEARNING.md")
    plot_path = args.plot or out / ("quick.png" if args.quick else "active_learning.png")
    json_path = args.json or out / ("QUICK.json" if args.quick else "ACTIVE_LEARNING.json")
    started, commit = dt.datetime.now(dt.UTC), _commit()
    data = {name: load_data(DATASETS / name, settings) for name in settings.datasets}
    work = args.work / settings.digest()
    outcome = simulate(
        settings, data, work, workers=args.workers, start_until=args.start_until, run=not args.report_only
    )
    command = "python -m benchmarks.active_learning " + " ".join(argv if argv is not None else sys.argv[1:])
    json_path.write_text(json.dumps(to_json(outcome), indent=2), encoding="utf-8")
    plot(outcome, plot_path)
    text = markdown(
        outcome, command=command.strip(), started=started, commit=commit, machine=_machine(), plot_name=plot_path.name
    )
    results.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
