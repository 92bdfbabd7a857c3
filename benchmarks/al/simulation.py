"""The rounds of the active-learning simulation, and auto-accept measured on held-out lines.

One job = (dataset, batch size, strategy, seed). Each round: read a seeded
random subset of the unlabeled pool (the candidates; the same lines for every
strategy of a seed) with the current model (``recognition.selection.pool_scores``,
the code the app's queue uses), pick ``batch`` lines (``select_batch``), count
the keystrokes from each picked line's reading to its truth, reveal the truth,
then train as the app's training run would: ``recognition.finetune.finetune_config``
for the number of labeled lines, from the base, on every line labeled so far,
with early stopping on the project's evaluation lines (a fixed random sample of
the validation split, labeled once, the same for every strategy). Then the
test CER on a fixed subset of the test split.

``<strategy>+self`` also trains on the model's own readings of unpicked
candidates once calibration says they are right: the calibration is fitted on
the evaluation lines with the model that read them, and the candidates at or
above the auto-accept threshold (``recognition.calibration.auto_accept_threshold``
at ``target_line_error``) join the round as pseudo-labels of loss weight
``pseudo_weight`` (the app's ``model_accepted_weight`` default).

Jobs run in parallel processes with one torch thread each; each writes its
``curve.json``, so a rerun resumes and a report can be made from what finished.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import sys
import time
import unicodedata
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.al.costs import SELF, Curve, keystrokes, review_savings
from recognition.base import resolve_checkpoint
from recognition.calibration import auto_accept_threshold, expected_calibration_error, fit_calibration
from recognition.data import LineSample, load_split
from recognition.decoding import greedy_decode
from recognition.finetune import finetune_config
from recognition.infer import Recognizer
from recognition.metrics import cer
from recognition.selection import STRATEGIES, pool_scores, select_batch
from recognition.train import TrainConfig, train


@dataclass(frozen=True)
class Settings:
    datasets: tuple[str, ...]
    strategies: tuple[str, ...]  # selection strategies, "<name>+self" for their self-training variant
    schedules: tuple[tuple[int, int], ...]  # (lines per round, rounds)
    seeds: int
    candidates: int  # unlabeled lines read and scored each round (a seeded random subset of the pool)
    test_lines: int  # fixed seeded subset of the test split (0 = all)
    eval_lines: int = 50  # the project's evaluation lines (the app's min_eval_lines default)
    calibration_lines: int = 200  # other validation lines: auto-accept's calibration (0 = all the rest)
    step_scale: float = 1.0  # share of finetune_config's step budget (1.0 = the app's)
    base: str = "base"  # the checkpoint every round trains from (recognition.base spec or a path)
    pseudo_weight: float = 0.5
    max_pseudo: int = 150  # pseudo-labeled lines per round at most
    target_line_error: float = 0.01

    def digest(self) -> str:
        """The work folder's name: what a job depends on beyond its (dataset, batch, rounds, strategy, seed)."""
        shared = {k: v for k, v in asdict(self).items() if k not in ("datasets", "strategies", "schedules", "seeds")}
        return hashlib.sha256(json.dumps(shared, sort_keys=True).encode()).hexdigest()[:10]


@dataclass(frozen=True)
class Data:
    pool: list[LineSample]
    eval: list[LineSample]  # early stopping, and the self-training calibration
    calibration: list[LineSample]  # auto-accept's calibration (validation lines, none of them eval lines)
    test: list[LineSample]


def seeded_subset(samples: Sequence[LineSample], n: int, seed: int) -> list[LineSample]:
    if n <= 0 or n >= len(samples):
        return list(samples)
    index = np.sort(np.random.default_rng(seed).choice(len(samples), n, replace=False))
    return [samples[i] for i in index]


def load_data(dataset: Path, settings: Settings) -> Data:
    split = load_split(dataset)
    evaluation = seeded_subset(split["val"], settings.eval_lines, 7)
    taken = {s.id for s in evaluation}
    rest = [s for s in split["val"] if s.id not in taken]
    return Data(
        pool=split["train"],
        eval=evaluation,
        calibration=seeded_subset(rest, settings.calibration_lines, 3),
        test=seeded_subset(split["test"], settings.test_lines, 11),
    )


def in_memory(samples: Sequence[LineSample]) -> list[LineSample]:
    return [s if s.image is not None else replace(s, image=s.load(), path=None) for s in samples]


def round_config(settings: Settings, labeled: int, seed: int) -> TrainConfig:
    """The app's fine-tuning run for ``labeled`` lines (scaled by ``step_scale``), on one CPU thread.

    No wall-clock ceiling (the app's 10 minutes): steps, not a busy machine, decide the model.
    """
    config = replace(finetune_config(labeled), seed=seed, threads=1, device="cpu", calibrate=False)
    if settings.step_scale == 1.0:
        return config
    steps = max(10, round((config.max_steps or 0) * settings.step_scale))
    return replace(
        config,
        max_steps=steps,
        eval_every=max(5, steps // 10),
        warmup_steps=max(2, round(config.warmup_steps * settings.step_scale)),
        freeze_cnn_steps=round(config.freeze_cnn_steps * settings.step_scale),
    )


def read_lines(recognizer: Recognizer, samples: Sequence[LineSample]) -> tuple[list[str], np.ndarray]:
    """Greedy readings and raw line confidences (N,)."""
    decoded = [greedy_decode(f, recognizer.codec) for f in recognizer.log_probs([s.load() for s in samples])]
    return [d.text for d in decoded], np.array([d.confidence for d in decoded], dtype=np.float64)


def _right(truths: Sequence[str], readings: Sequence[str]) -> np.ndarray:
    nfc = unicodedata.normalize
    return np.array([nfc("NFC", t) == nfc("NFC", r) for t, r in zip(truths, readings, strict=True)], dtype=bool)


def auto_accept(
    recognizer: Recognizer,
    data: Data,
    *,
    target: float,
    test_readings: tuple[list[str], np.ndarray] | None = None,
) -> dict[str, Any]:
    """Calibrate on ``data.calibration``, pick the threshold there, measure on ``data.test``."""
    val_texts, val_conf = read_lines(recognizer, data.calibration)
    val_ok = _right([s.text for s in data.calibration], val_texts)
    test_texts, test_conf = test_readings or read_lines(recognizer, data.test)
    truths = [s.text for s in data.test]
    test_ok = _right(truths, test_texts)
    calibration = fit_calibration(val_conf, val_ok)
    val_cal, test_cal = calibration.apply(val_conf), calibration.apply(test_conf)
    threshold, val_coverage = auto_accept_threshold(val_cal, val_ok, max_line_error=target)
    accepted = test_cal >= threshold
    best_threshold, best_coverage = auto_accept_threshold(test_cal, test_ok, max_line_error=target)
    return {
        "calibration": calibration.to_dict(),
        "calibration_lines": len(data.calibration),
        "test_lines": len(data.test),
        "val_line_accuracy": float(val_ok.mean()) if val_ok.size else math.nan,
        "test_line_accuracy": float(test_ok.mean()) if test_ok.size else math.nan,
        "test_cer": cer(truths, test_texts),
        "test_ece_before": expected_calibration_error(test_conf, test_ok),
        "test_ece_after": expected_calibration_error(test_cal, test_ok),
        "target_line_error": target,
        "val_threshold": threshold if math.isfinite(threshold) else None,
        "val_coverage": val_coverage,
        "test_coverage": float(accepted.mean()) if test_ok.size else 0.0,
        "test_error_among_accepted": float(1 - test_ok[accepted].mean()) if accepted.any() else None,
        "test_best_coverage": best_coverage,
        "test_best_threshold": best_threshold if math.isfinite(best_threshold) else None,
        "review": review_savings(accepted.tolist(), truths, test_texts),
    }


def base_job(settings: Settings, dataset: str, data: Data, work: Path) -> dict[str, Any]:
    """The base model alone on one dataset: test CER, auto-accept and first picks (cached in ``base.json``)."""
    path = work / dataset / "base.json"
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    if report and ("first_picks" in report or not settings.schedules):
        return report
    recognizer = Recognizer.load(resolve_checkpoint(settings.base), device="cpu", threads=1)
    if not report:
        readings = read_lines(recognizer, data.test)
        report = auto_accept(recognizer, data, target=settings.target_line_error, test_readings=readings)
    if settings.schedules:
        report["first_picks"] = first_picks(recognizer, settings, data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2), encoding="utf-8")
    _log(f"[{dataset} base] test CER {report['test_cer']:.2%}, auto-accept coverage {report['test_coverage']:.1%}")
    return report


def first_picks(recognizer: Recognizer, settings: Settings, data: Data) -> dict[str, Any]:
    """What each strategy would pick first from the base (seed 0, first schedule): no training needed.

    The same candidates and picks as round 1 of seed 0's jobs; per strategy the
    characters and keystrokes (edits from the base's reading) per picked line.
    """
    batch = settings.schedules[0][0]
    order = np.random.default_rng([0, batch, 1]).permutation(len(data.pool))
    candidates = in_memory([data.pool[i] for i in order[: settings.candidates]])
    readings, scores = pool_scores(recognizer, [s.load() for s in candidates], strategy="diversity", seed=1)
    out: dict[str, Any] = {"batch": batch, "candidates": len(candidates), "strategies": {}}
    # Every strategy, not only the ones trained: this costs one read of the candidates.
    for strategy in dict.fromkeys(s.removesuffix(SELF) for s in ("random", *settings.strategies, *STRATEGIES)):
        if strategy == "disagreement":
            continue  # needs MC dropout passes
        picks = select_batch(strategy, scores, batch, rng=np.random.default_rng([0, batch, 1, 1]))
        out["strategies"][strategy] = {
            "characters_per_line": float(np.mean([len(candidates[i].text) for i in picks])),
            "edits_per_line": float(np.mean([keystrokes(candidates[i].text, readings[i].text) for i in picks])),
            "ids": [candidates[i].id for i in picks],
        }
    return out


def _log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def _pseudo_labels(
    recognizer: Recognizer,
    data: Data,
    settings: Settings,
    candidates: Sequence[LineSample],
    texts: Sequence[str],
    confidences: np.ndarray,
    picked: set[int],
) -> list[LineSample]:
    """Unpicked candidates the calibration (fitted on the eval lines) puts at or above auto-accept's threshold."""
    eval_texts, eval_conf = read_lines(recognizer, data.eval)
    eval_ok = _right([s.text for s in data.eval], eval_texts)
    calibration = fit_calibration(eval_conf, eval_ok)
    threshold, _ = auto_accept_threshold(
        calibration.apply(eval_conf), eval_ok, max_line_error=settings.target_line_error
    )
    if not math.isfinite(threshold):
        return []
    calibrated = calibration.apply(confidences)
    sure = [i for i in np.argsort(-calibrated, kind="stable") if calibrated[i] >= threshold and i not in picked]
    return [replace(candidates[i], text=texts[i], weight=settings.pseudo_weight) for i in sure if texts[i]][
        : settings.max_pseudo
    ]


Job = tuple[str, int, int, str, int]  # (dataset, batch, rounds, strategy, seed)


def job_dir(work: Path, job: Job) -> Path:
    dataset, batch, rounds, strategy, seed = job
    return work / dataset / f"b{batch}x{rounds}" / strategy / f"seed{seed}"


def rounds_done(work: Path, job: Job) -> int:
    """Rounds of ``job`` already trained and tested (from its curve.json or state.json)."""
    for name in ("curve.json", "state.json"):
        path = job_dir(work, job) / name
        if path.exists():
            return len(json.loads(path.read_text(encoding="utf-8"))["labels"]) - 1
    return 0


def truncated(curve: Curve, rounds: int) -> Curve:
    """``curve`` cut to its first ``rounds`` rounds."""
    if len(curve.labels) - 1 <= rounds:
        return curve
    n = rounds + 1
    return replace(
        curve,
        labels=curve.labels[:n],
        cer=curve.cer[:n],
        keystrokes=curve.keystrokes[:n],
        characters=curve.characters[:n],
        steps=curve.steps[:rounds],
        pseudo=curve.pseudo[:rounds],
        auto_accept={k: v for k, v in curve.auto_accept.items() if int(k) <= rounds},
    )


def recognizer_for(checkpoint: Path) -> Recognizer:
    return Recognizer.load(checkpoint, device="cpu", threads=1)


def run_job(
    settings: Settings,
    dataset: str,
    data: Data,
    batch: int,
    rounds: int,
    strategy: str,
    seed: int,
    work: Path,
    upto: int | None = None,
) -> Curve:
    """The rounds of one job up to round ``upto`` (default: all), resuming after the rounds in its ``state.json``.

    Writes ``state.json`` after every round and ``curve.json`` (with the final
    model's auto-accept) after the last; a finished job is read back.
    """
    upto = rounds if upto is None else min(upto, rounds)
    out = job_dir(work, (dataset, batch, rounds, strategy, seed))
    if (out / "curve.json").exists():
        return Curve(**json.loads((out / "curve.json").read_text(encoding="utf-8")))
    name = f"{dataset} b{batch} {strategy} s{seed}"
    plain = strategy.removesuffix(SELF)
    evaluation, test = in_memory(data.eval), in_memory(data.test)
    base = resolve_checkpoint(settings.base)
    if (out / "state.json").exists():
        curve = Curve(**json.loads((out / "state.json").read_text(encoding="utf-8")))
    else:
        # Round 0 is the base: its test CER is filled in by simulate() from base_job.
        curve = Curve(dataset, batch, strategy, seed, [0], [math.nan], [0], [0])
    by_id = {s.id: s for s in data.pool}
    labeled = [by_id[i] for i in curve.labeled_ids]
    checkpoint = Path(curve.final_checkpoint) if curve.final_checkpoint else base
    began = time.perf_counter() - curve.seconds
    test_readings: tuple[list[str], np.ndarray] | None = None
    for round_index in range(len(curve.labels), upto + 1):
        taken = {s.id for s in labeled}
        # The same seeded order of the pool for every strategy of this seed.
        order = np.random.default_rng([seed, batch, round_index]).permutation(len(data.pool))
        candidates = in_memory([data.pool[i] for i in order if data.pool[i].id not in taken][: settings.candidates])
        clock = time.perf_counter()
        recognizer = Recognizer.load(checkpoint, device="cpu", threads=1)
        readings, scores = pool_scores(recognizer, [s.load() for s in candidates], strategy=plain, seed=round_index)
        picks = select_batch(plain, scores, batch, rng=np.random.default_rng([seed, batch, round_index, 1]))
        picked = [candidates[i] for i in picks]
        curve.keystrokes.append(
            curve.keystrokes[-1] + sum(keystrokes(s.text, readings[i].text) for s, i in zip(picked, picks, strict=True))
        )
        curve.characters.append(curve.characters[-1] + sum(len(s.text) for s in picked))
        labeled += picked
        pseudo: list[LineSample] = []
        if plain != strategy:
            texts = [r.text for r in readings]
            pseudo = _pseudo_labels(
                recognizer, data, settings, candidates, texts, scores.confidence, set(picks.tolist())
            )
        scored = time.perf_counter() - clock
        result = train(
            labeled + pseudo,
            evaluation,
            out_dir=out / f"round{round_index}",
            config=round_config(settings, len(labeled), seed * 1000 + round_index),
            init=base,
        )
        checkpoint = result.best_checkpoint
        clock = time.perf_counter()
        test_readings = read_lines(recognizer_for(checkpoint), test)
        curve.labels.append(len(labeled))
        curve.cer.append(cer([s.text for s in test], test_readings[0]))
        curve.steps.append(result.steps)
        curve.pseudo.append(len(pseudo))
        report = auto_accept(
            recognizer_for(checkpoint), data, target=settings.target_line_error, test_readings=test_readings
        )
        curve.auto_accept[str(round_index)] = report
        _log(
            f"[{name}] round {round_index}: {len(labeled)} labels, {curve.keystrokes[-1]} keystrokes, "
            f"{len(pseudo)} pseudo, {result.steps} steps ({result.stopped_because}), test CER {curve.cer[-1]:.2%}; "
            f"auto-accept coverage {report['test_coverage']:.1%}; "
            f"seconds: scoring {scored:.0f}, training {result.seconds:.0f}, test {time.perf_counter() - clock:.0f}"
        )
        curve.seconds = time.perf_counter() - began
        curve.final_checkpoint = str(checkpoint)
        curve.labeled_ids = [s.id for s in labeled]
        out.mkdir(parents=True, exist_ok=True)
        (out / "state.json").write_text(json.dumps(asdict(curve), indent=2), encoding="utf-8")
    done = str(len(curve.labels) - 1)
    if done != "0" and done not in curve.auto_accept:
        # Rounds written before auto-accept was measured every round: measure the last one now.
        curve.auto_accept[done] = auto_accept(recognizer_for(checkpoint), data, target=settings.target_line_error)
        (out / "state.json").write_text(json.dumps(asdict(curve), indent=2), encoding="utf-8")
    if len(curve.labels) - 1 < rounds:
        return curve
    curve.seconds = time.perf_counter() - began
    (out / "curve.json").write_text(json.dumps(asdict(curve), indent=2), encoding="utf-8")
    return curve


@dataclass
class Outcome:
    settings: Settings
    curves: list[Curve]
    bases: dict[str, dict[str, Any]]  # dataset -> base_job's report
    not_run: list[str]  # jobs left out (report-only, or the deadline came first)
    minutes: float


def simulate(
    settings: Settings,
    data: dict[str, Data],
    work: Path,
    *,
    workers: int = 2,
    start_until: float | None = None,
    run: bool = True,
) -> Outcome:
    """The base on every dataset, then every job of ``settings``, round by round; finished rounds are read back.

    Work is scheduled one round at a time, round ``r`` of every dataset,
    schedule and strategy before any round ``r + 1`` (of a seed), so a run
    cut short still compares strategies over the rounds all of them
    finished: each (dataset, batch) group of curves is cut to its shortest
    curve. Jobs run in ``workers`` processes (in this one when ``workers`` <= 1).
    ``start_until``: a ``time.time()`` after which no round starts (running
    ones finish). ``run=False`` only reads what finished (the bases are read
    or run).
    """
    began = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    bases: dict[str, dict[str, Any]] = {}
    latest: dict[Job, Curve] = {}
    not_run: list[str] = []
    most = max((rounds for _, rounds in settings.schedules), default=0)
    steps: list[tuple[Job, int]] = [
        ((dataset, batch, rounds, strategy, seed), upto)
        for seed in range(settings.seeds)
        for upto in range(1, most + 1)
        for dataset in settings.datasets
        for batch, rounds in settings.schedules
        if upto <= rounds
        for strategy in settings.strategies
    ]
    pending: list[str | tuple[Job, int]] = [*settings.datasets, *steps]

    def label(item: str | tuple[Job, int]) -> str:
        if isinstance(item, str):
            return f"{item} base"
        (dataset, batch, rounds, strategy, seed), upto = item
        return f"{dataset} b{batch}x{rounds} {strategy} seed {seed} round {upto}"

    def startable(item: str | tuple[Job, int]) -> bool:
        if isinstance(item, str):
            return True
        job, upto = item
        return rounds_done(work, job) >= upto or (run and (start_until is None or time.time() < start_until))

    def call(item: str | tuple[Job, int]) -> tuple[Any, ...]:
        if isinstance(item, str):
            return (base_job, settings, item, data[item], work)
        (dataset, batch, rounds, strategy, seed), upto = item
        return (run_job, settings, dataset, data[dataset], batch, rounds, strategy, seed, work, upto)

    def keep(item: str | tuple[Job, int], result: Any) -> None:
        if isinstance(item, str):
            bases[item] = result
        else:
            latest[item[0]] = result

    def next_item(busy: set[Job]) -> str | tuple[Job, int] | None:
        """The first pending item whose job has no round running (a round needs the one before)."""
        for index, item in enumerate(pending):
            if isinstance(item, str) or item[0] not in busy:
                return pending.pop(index)
        return None

    if workers <= 1:
        for item in pending:
            if startable(item):
                function, *args = call(item)
                keep(item, function(*args))
            else:
                not_run.append(label(item))
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            running: dict[Future[Any], str | tuple[Job, int]] = {}
            while pending or running:
                while len(running) < workers:
                    busy = {item[0] for item in running.values() if not isinstance(item, str)}
                    chosen = next_item(busy)
                    if chosen is None:
                        break
                    if startable(chosen):
                        running[pool.submit(*call(chosen))] = chosen
                    else:
                        not_run.append(label(chosen))
                if not running:
                    continue
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    item = running.pop(future)
                    keep(item, future.result())
                    _log(f"done: {label(item)}")
    curves = _comparable([latest[job] for job in dict.fromkeys(job for job, _ in steps) if job in latest])
    for curve in curves:
        curve.cer[0] = bases[curve.dataset]["test_cer"]  # round 0 is the base, read once per dataset
    return Outcome(settings, curves, bases, not_run, (time.perf_counter() - began) / 60)


def _comparable(curves: list[Curve]) -> list[Curve]:
    """Each (dataset, batch) group cut to the rounds every curve in it finished; groups with none dropped."""
    shortest: dict[tuple[str, int], int] = {}
    for c in curves:
        key = (c.dataset, c.batch)
        shortest[key] = min(shortest.get(key, len(c.labels) - 1), len(c.labels) - 1)
    return [truncated(c, shortest[(c.dataset, c.batch)]) for c in curves if shortest[(c.dataset, c.batch)] > 0]
