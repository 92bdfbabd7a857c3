"""Active-learning simulation: how many labels each selection strategy needs on real handwriting.

    python -m benchmarks.active_learning                 # default run, about an hour on 2 cores
    python -m benchmarks.active_learning --quick         # 1 seed, 3 strategies, 2 rounds: a few minutes
    python -m benchmarks.active_learning --seeds 2 --strategies random ctc_nll diversity
    python -m benchmarks.active_learning --self-training beam_margin   # which strategies also run with pseudo-labels

On ``../shared/datasets/hooker`` (its fixed split): a random seed set of
labeled train lines trains a first model (one per seed, shared by every
strategy). Then, per (strategy, seed), rounds of: score a fixed-size random
candidate subset of the unlabeled pool with the current model
(``recognition.selection.pool_scores``, the code the app's queue uses), pick
a batch with ``select_batch``, reveal its ground truth, fine-tune the previous
round's model for a fixed number of optimizer steps (steps, not wall time,
so curves are comparable on a shared, noisy machine), and measure CER on a
fixed subset of the test split. Self-training runs (``<strategy>+self``) also
train each round on the model's own readings of its most confident unpicked
candidates, down-weighted (``LineSample.weight``). Independent jobs run in
parallel processes with one torch thread each.

Reports per strategy the CER-versus-labels curve (mean and spread over seeds),
its normalised area (the mean CER over the label range) and the labels needed
to reach the CER random sampling reaches with its full budget; plus the
calibration of the best strategy's final model (ECE before/after, coverage at
1% line error on the test split). Writes ``benchmarks/ACTIVE_LEARNING.md`` and
``benchmarks/active_learning.png``; work files under ``benchmarks/.work/al``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import multiprocessing
import os
import sys
import time
import unicodedata
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.recognition import _commit, _machine
from recognition.calibration import (
    auto_accept_threshold,
    expected_calibration_error,
    fit_calibration,
)
from recognition.data import LineSample, load_split
from recognition.decoding import greedy_decode
from recognition.infer import Recognizer
from recognition.metrics import cer
from recognition.model import ModelConfig
from recognition.selection import DEFAULT_STRATEGY, STRATEGIES, pool_scores, select_batch
from recognition.synthetic import random_text, render_line
from recognition.train import TrainConfig, train

ROOT = Path(__file__).resolve().parent.parent
DATASET = ROOT.parent / "shared" / "datasets" / "hooker"
WORK = ROOT / "benchmarks" / ".work" / "al"

# Between the "tiny" and "cpu" presets: on one core it trains about 5 steps/s
# (batch 16) on hooker lines and reads a line in about 4 ms.
SMALL_MODEL: dict[str, Any] = {
    "height": 32,
    "blocks": ((32, 2), (64, 2), (96, 1)),
    "lstm_hidden": 128,
    "lstm_layers": 1,
}
SELF = "+self"  # suffix of a self-training run's name
TINY_MODEL: dict[str, Any] = {"height": 32, "blocks": ((16, 2), (32, 2), (48, 1)), "lstm_hidden": 64, "lstm_layers": 1}


@dataclass(frozen=True)
class Settings:
    strategies: tuple[str, ...]
    seeds: int
    seed_labels: int  # random labeled lines the first model trains on
    batch: int  # lines labeled per round
    rounds: int
    candidates: int  # random unlabeled lines scored per round (the pool is too big to score every round)
    first_steps: int  # optimizer steps of the first model
    round_steps: int  # optimizer steps of each round's fine-tune
    test_lines: int  # fixed seeded subset of the test split scored every round
    val_lines: int  # validation lines train() checks (once, at the end of each fine-tune)
    model: dict[str, Any] = field(default_factory=lambda: dict(SMALL_MODEL))
    batch_size: int = 16
    learning_rate: float = 3e-3
    warmup_steps: int = 50
    augment: bool = True
    mc_samples: int = 4
    # Synthetic pretraining of a shared base model (0: start from scratch).
    pretrain_steps: int = 0
    pretrain_lines: int = 3000
    # Lines of val (calibration fit) and test (calibration report) for the final model; 0 = all.
    calibration_val_lines: int = 0
    calibration_test_lines: int = 0
    # Self-training: these strategies run a second time as "<name>+self", each
    # round adding the current model's readings of its `pseudo_lines` most
    # confident unpicked candidates as pseudo-labels of loss weight
    # `pseudo_weight` (read afresh every round, never counted as labels).
    self_training: tuple[str, ...] = ()
    pseudo_lines: int = 150
    pseudo_weight: float = 0.5

    @property
    def runs(self) -> tuple[str, ...]:
        """Every curve's name: the strategies, then the self-training variants."""
        return (*self.strategies, *(f"{name}{SELF}" for name in self.self_training))

    @property
    def budget(self) -> int:
        return self.seed_labels + self.rounds * self.batch


DEFAULT = Settings(
    strategies=tuple(STRATEGIES),
    seeds=2,
    seed_labels=150,
    batch=150,
    rounds=5,
    candidates=800,
    first_steps=800,
    round_steps=300,
    test_lines=300,
    val_lines=60,
    # Measured on 300 hooker lines: 300 / 600 / 900 fine-tuning steps reach
    # 60% / 52% / 48% val CER from this base against 73% / 60% / 54% from
    # scratch; the base costs about 4 minutes once.
    pretrain_steps=1200,
    self_training=(DEFAULT_STRATEGY,),
)
QUICK = Settings(
    strategies=("random", DEFAULT_STRATEGY, "diversity"),
    self_training=(DEFAULT_STRATEGY,),
    pseudo_lines=40,
    seeds=1,
    seed_labels=60,
    batch=40,
    rounds=2,
    candidates=200,
    first_steps=400,
    round_steps=120,
    test_lines=100,
    val_lines=20,
    model=dict(TINY_MODEL),
    calibration_val_lines=150,
    calibration_test_lines=150,
)


@dataclass
class Curve:
    """One (strategy, seed) run: CER on the test subset after each round."""

    strategy: str
    seed: int
    labels: list[int]
    cer: list[float]
    seconds: float
    final_checkpoint: str
    labeled_ids: list[str]
    # Mean ground-truth characters of the lines the strategy picked (seed set
    # excluded): a strategy buying short lines gets fewer characters per label.
    picked_chars: float = math.nan


@dataclass
class StrategySummary:
    strategy: str
    labels: list[int]
    mean_cer: list[float]
    std_cer: list[float]
    min_cer: list[float]
    max_cer: list[float]
    auc: float  # normalised area under the mean curve: mean CER over the label range
    labels_to_reach: float | None  # to reach random's final mean CER; None = not reached
    seconds: float
    picked_chars: float = math.nan


@dataclass
class Report:
    settings: Settings
    curves: list[Curve]
    summaries: list[StrategySummary]
    target_cer: float | None  # random's final mean CER
    calibration: dict[str, Any]
    minutes: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": asdict(self.settings),
            "curves": [asdict(c) for c in self.curves],
            "summaries": [asdict(s) for s in self.summaries],
            "target_cer": self.target_cer,
            "calibration": self.calibration,
            "minutes": self.minutes,
        }


# ---------------------------------------------------------------- metrics on curves (pure)


def normalised_auc(labels: Sequence[float], values: Sequence[float]) -> float:
    """Trapezoid area under ``values`` over ``labels`` divided by the label range (a mean CER)."""
    x, y = np.asarray(labels, dtype=np.float64), np.asarray(values, dtype=np.float64)
    if len(x) < 2 or x[-1] == x[0]:
        return float(y.mean()) if len(y) else math.nan
    return float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)) / (x[-1] - x[0]))


def labels_to_reach(labels: Sequence[float], values: Sequence[float], target: float) -> float | None:
    """Labels at which the curve first falls to ``target``, linearly interpolated; None if it never does."""
    for i, value in enumerate(values):
        if value <= target:
            if i == 0:
                return float(labels[0])
            x0, x1, y0, y1 = labels[i - 1], labels[i], values[i - 1], values[i]
            return float(x0 + (x1 - x0) * (y0 - target) / (y0 - y1))
    return None


def summarise(curves: Sequence[Curve], strategies: Sequence[str]) -> tuple[list[StrategySummary], float | None]:
    """Per strategy mean/spread over seeds; the target is random's final mean CER (None without random)."""
    grouped = {s: [c for c in curves if c.strategy == s] for s in strategies}
    target = None
    if grouped.get("random"):
        target = float(np.mean([c.cer[-1] for c in grouped["random"]]))
    out = []
    for strategy, runs in grouped.items():
        if not runs:
            continue
        values = np.array([c.cer for c in runs])  # (seeds, points)
        labels = runs[0].labels
        mean = values.mean(axis=0)
        out.append(
            StrategySummary(
                strategy=strategy,
                labels=list(labels),
                mean_cer=mean.tolist(),
                std_cer=values.std(axis=0).tolist(),
                min_cer=values.min(axis=0).tolist(),
                max_cer=values.max(axis=0).tolist(),
                auc=normalised_auc(labels, mean),
                labels_to_reach=None if target is None else labels_to_reach(labels, mean.tolist(), target),
                seconds=float(np.mean([c.seconds for c in runs])),
                picked_chars=float(np.mean([c.picked_chars for c in runs])),
            )
        )
    return out, target


# ---------------------------------------------------------------- the simulation


@dataclass(frozen=True)
class Data:
    pool: list[LineSample]
    val: list[LineSample]
    test: list[LineSample]


def _seeded_subset(samples: Sequence[LineSample], n: int, seed: int) -> list[LineSample]:
    if n <= 0 or n >= len(samples):
        return list(samples)
    index = np.sort(np.random.default_rng(seed).choice(len(samples), n, replace=False))
    return [samples[i] for i in index]


def load_hooker(settings: Settings, dataset: Path = DATASET) -> Data:
    split = load_split(dataset)
    return Data(pool=split["train"], val=split["val"], test=split["test"])


def _in_memory(samples: Sequence[LineSample]) -> list[LineSample]:
    return [s if s.image is not None else LineSample(id=s.id, text=s.text, image=s.load()) for s in samples]


def _train_config(settings: Settings, steps: int, seed: int, *, threads: int = 1) -> TrainConfig:
    return TrainConfig(
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        warmup_steps=min(settings.warmup_steps, max(1, steps // 4)),
        max_steps=steps,
        max_epochs=1_000_000,
        # One validation at the end: the model after a fixed number of steps
        # is the round's model, whatever the validation says.
        eval_every=steps,
        patience=1_000_000,
        seed=seed,
        augment=settings.augment,
        threads=threads,
        device="cpu",
        calibrate=False,
    )


def _read(recognizer: Recognizer, images: Sequence[np.ndarray]) -> tuple[list[str], list[float]]:
    """Greedy texts and line confidences."""
    decoded = [greedy_decode(frames, recognizer.codec) for frames in recognizer.log_probs(images)]
    return [d.text for d in decoded], [d.confidence for d in decoded]


def _test_cer(checkpoint: Path, test: Sequence[LineSample]) -> float:
    recognizer = Recognizer.load(checkpoint, device="cpu", threads=1)
    texts, _ = _read(recognizer, [s.load() for s in test])
    return cer([s.text for s in test], texts)


def pretrain_base(settings: Settings, work: Path, *, threads: int = 2) -> Path:
    """A model trained on rendered lines (recognition.synthetic), cached by its settings."""
    digest = hashlib.sha256(json.dumps(settings.model, sort_keys=True).encode()).hexdigest()[:10]
    key = f"base-{settings.pretrain_steps}-{settings.pretrain_lines}-{digest}"
    out = work / key
    if (out / "best.pt").exists():
        return out / "best.pt"
    rng = np.random.default_rng(12345)
    height = int(settings.model.get("height", 32))
    samples = []
    for i in range(settings.pretrain_lines):
        text = random_text(rng)
        samples.append(LineSample(id=f"synth{i}", text=text, image=render_line(text, rng=rng, height=height)))
    cut = max(1, len(samples) // 20)
    config = replace(_train_config(settings, settings.pretrain_steps, 0, threads=threads), warmup_steps=100)
    train(samples[cut:], samples[:cut], out_dir=out, config=config, model_config=_model_config(settings))
    return out / "best.pt"


def _model_config(settings: Settings) -> ModelConfig:
    return ModelConfig(num_classes=2, **settings.model)


def first_model(settings: Settings, seed: int, data: Data, work: Path, base: Path | None) -> tuple[Path, list[str]]:
    """Train the seed-set model of one seed; returns its checkpoint and the seed set's ids."""
    seed_set = _seeded_subset(data.pool, settings.seed_labels, 1000 + seed)
    out = work / f"seed{seed}" / "round0"
    val = _seeded_subset(data.val, settings.val_lines, 7)
    train(
        _in_memory(seed_set),
        _in_memory(val),
        out_dir=out,
        config=_train_config(settings, settings.first_steps, seed),
        model_config=_model_config(settings),
        init=base,
    )
    return out / "best.pt", [s.id for s in seed_set]


def run_strategy(
    settings: Settings, strategy: str, seed: int, data: Data, work: Path, start: Path, seed_ids: Sequence[str]
) -> Curve:
    """All rounds of one (strategy, seed) job, from the shared first model.

    ``strategy`` may end in ``+self``: the strategy plus self-training.
    """
    began = time.perf_counter()
    name, strategy = strategy, strategy.removesuffix(SELF)
    self_training = name != strategy
    by_id = {s.id: s for s in data.pool}
    test = _in_memory(_seeded_subset(data.test, settings.test_lines, 11))
    val = _in_memory(_seeded_subset(data.val, settings.val_lines, 7))
    labeled = list(seed_ids)
    images: dict[str, np.ndarray] = {}

    def image(line_id: str) -> np.ndarray:
        if line_id not in images:
            images[line_id] = by_id[line_id].load()
        return images[line_id]

    checkpoint = start
    labels, cers = [len(labeled)], [_test_cer(checkpoint, test)]
    out = work / f"seed{seed}" / name
    for round_index in range(1, settings.rounds + 1):
        taken = set(labeled)
        # Candidates: the same seeded order of the pool for every strategy,
        # skipping lines this strategy already labeled.
        order = np.random.default_rng([seed, round_index]).permutation(len(data.pool))
        candidates = [data.pool[i].id for i in order if data.pool[i].id not in taken][: settings.candidates]
        recognizer = Recognizer.load(checkpoint, device="cpu", threads=1)
        predictions, scores = pool_scores(
            recognizer,
            [image(i) for i in candidates],
            strategy=strategy,
            mc_samples=settings.mc_samples,
            seed=round_index,
        )
        picks = select_batch(strategy, scores, settings.batch, rng=np.random.default_rng([seed, round_index, 1]))
        labeled += [candidates[i] for i in picks]
        samples = [LineSample(id=i, text=by_id[i].text, image=image(i)) for i in labeled]
        if self_training:
            chosen = set(picks.tolist())
            sure = [i for i in np.argsort(-scores.confidence, kind="stable") if i not in chosen and predictions[i].text]
            samples += [
                LineSample(
                    id=candidates[i],
                    text=predictions[i].text,
                    image=image(candidates[i]),
                    weight=settings.pseudo_weight,
                )
                for i in sure[: settings.pseudo_lines]
            ]
        round_dir = out / f"round{round_index}"
        train(
            samples,
            val,
            out_dir=round_dir,
            config=_train_config(settings, settings.round_steps, seed * 100 + round_index),
            init=checkpoint,
        )
        checkpoint = round_dir / "best.pt"
        labels.append(len(labeled))
        cers.append(_test_cer(checkpoint, test))
        print(
            f"[{name} seed {seed}] round {round_index}: {labels[-1]} labels, test CER {cers[-1]:.2%}",
            file=sys.stderr,
            flush=True,
        )
    picked = [len(by_id[i].text) for i in labeled[len(seed_ids) :]]
    chars = float(np.mean(picked)) if picked else math.nan
    return Curve(name, seed, labels, cers, time.perf_counter() - began, str(checkpoint), labeled, chars)


def calibration_report(checkpoint: Path, data: Data, settings: Settings, *, target: float = 0.01) -> dict[str, Any]:
    """Fit the final model's calibration on val, report ECE and auto-accept coverage on test."""
    recognizer = Recognizer.load(checkpoint, device="cpu", threads=1)

    def confidences(samples: Sequence[LineSample]) -> tuple[np.ndarray, np.ndarray]:
        texts, conf = _read(recognizer, [s.load() for s in samples])
        nfc = [unicodedata.normalize("NFC", t) for t in (s.text for s in samples)]
        correct = [unicodedata.normalize("NFC", t) == r for t, r in zip(texts, nfc, strict=True)]
        return np.asarray(conf), np.asarray(correct, dtype=bool)

    val_conf, val_ok = confidences(_seeded_subset(data.val, settings.calibration_val_lines, 3))
    test_conf, test_ok = confidences(_seeded_subset(data.test, settings.calibration_test_lines, 3))
    calibration = fit_calibration(val_conf, val_ok)
    val_cal, test_cal = calibration.apply(val_conf), calibration.apply(test_conf)
    threshold, val_coverage = auto_accept_threshold(val_cal, val_ok, max_line_error=target)
    accepted = test_cal >= threshold
    test_threshold, test_coverage = auto_accept_threshold(test_cal, test_ok, max_line_error=target)
    return {
        "checkpoint": str(checkpoint),
        "calibration": calibration.to_dict(),
        "val_lines": int(val_conf.size),
        "test_lines": int(test_conf.size),
        "test_line_accuracy": float(test_ok.mean()) if test_ok.size else math.nan,
        "test_ece_before": expected_calibration_error(test_conf, test_ok),
        "test_ece_after": expected_calibration_error(test_cal, test_ok),
        "target_line_error": target,
        "val_threshold": threshold if math.isfinite(threshold) else None,
        "val_coverage": val_coverage,
        "test_coverage_at_val_threshold": float(accepted.mean()) if test_ok.size else 0.0,
        "test_error_at_val_threshold": float(1 - test_ok[accepted].mean()) if accepted.any() else None,
        "test_coverage_at_target": test_coverage,
        "test_threshold_at_target": test_threshold if math.isfinite(test_threshold) else None,
    }


def simulate(settings: Settings, data: Data, work: Path, *, workers: int = 2) -> Report:
    """Run every (strategy, seed) job, in ``workers`` processes (in this one when workers == 1)."""
    began = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    base = pretrain_base(settings, work, threads=max(1, workers)) if settings.pretrain_steps else None
    seeds = list(range(settings.seeds))
    # Disagreement's extra dropout passes make it the longest job: start it first.
    strategies = sorted(settings.runs, key=lambda s: s != "disagreement")
    curves: list[Curve] = []
    if workers <= 1:
        firsts = {seed: first_model(settings, seed, data, work, base) for seed in seeds}
        for seed in seeds:
            for strategy in strategies:
                curves.append(run_strategy(settings, strategy, seed, data, work, *firsts[seed]))
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            first_jobs = {seed: pool.submit(first_model, settings, seed, data, work, base) for seed in seeds}
            jobs: list[Future[Curve]] = []
            for seed in seeds:
                start, seed_ids = first_jobs[seed].result()
                jobs += [
                    pool.submit(run_strategy, settings, strategy, seed, data, work, start, seed_ids)
                    for strategy in strategies
                ]
            curves = [job.result() for job in jobs]
    order = {s: i for i, s in enumerate(settings.runs)}
    curves.sort(key=lambda c: (order[c.strategy], c.seed))
    summaries, target = summarise(curves, settings.runs)
    best = min(summaries, key=lambda s: s.auc)
    best_curve = next(c for c in curves if c.strategy == best.strategy and c.seed == 0)
    calibration = {"strategy": best.strategy, **calibration_report(Path(best_curve.final_checkpoint), data, settings)}
    return Report(settings, curves, summaries, target, calibration, (time.perf_counter() - began) / 60)


# ---------------------------------------------------------------- output


def _pct(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.2%}"


def table(report: Report) -> str:
    random_budget = report.settings.budget
    lines = [
        "| strategy | final CER (mean ± sd) | area under CER curve (normalised) "
        "| labels to reach random's final CER | share of random's labels | characters per picked line |",
        "|---|---|---|---|---|---|",
    ]
    for s in report.summaries:
        reach = s.labels_to_reach
        lines.append(
            f"| {s.strategy} | {s.mean_cer[-1]:.2%} ± {s.std_cer[-1]:.2%} | {s.auc:.2%} "
            f"| {'not reached' if reach is None else f'{reach:.0f}'} "
            f"| {'–' if reach is None else f'{reach / random_budget:.0%}'} | {s.picked_chars:.1f} |"
        )
    return "\n".join(lines)


def curve_table(report: Report) -> str:
    labels = report.summaries[0].labels
    lines = ["| strategy | " + " | ".join(str(n) for n in labels) + " |", "|---|" + "---|" * len(labels)]
    for s in report.summaries:
        cells = " | ".join(f"{m:.1%} ± {d:.1%}" for m, d in zip(s.mean_cer, s.std_cer, strict=True))
        lines.append(f"| {s.strategy} | {cells} |")
    return "\n".join(lines)


def findings(report: Report) -> str:
    """Plain sentences on who beat random; generated from the numbers, so they cannot drift from them."""
    random_summary = next((s for s in report.summaries if s.strategy == "random"), None)
    if random_summary is None:
        return "- random was not run, so nothing is compared against it."
    out = []
    for s in report.summaries:
        if s.strategy == "random":
            continue
        delta = s.auc - random_summary.auc
        spread = float(np.mean(random_summary.std_cer) + np.mean(s.std_cer))
        if report.settings.seeds < 2:
            verdict = "one seed: no spread to judge noise by"
        elif delta < -spread:
            verdict = "better than random given the seed spread"
        elif delta > spread:
            verdict = "worse than random given the seed spread"
        else:
            verdict = "within the seed spread of random"
        reach = s.labels_to_reach
        reached = (
            f"reaches random's final CER with {reach:.0f} labels ({reach / report.settings.budget:.0%} of random's)"
            if reach is not None
            else "does not reach random's final CER within the budget"
        )
        out.append(
            f"- {s.strategy}: area {s.auc:.2%} vs random {random_summary.auc:.2%} "
            f"({delta:+.2%}; {verdict}, ±{spread:.2%}); {reached}."
        )
    return "\n".join(out)


def plot(report: Report, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    for s in report.summaries:
        style = {"color": "black", "linewidth": 2.2} if s.strategy == "random" else {"linewidth": 1.4}
        (line,) = ax.plot(s.labels, s.mean_cer, marker="o", markersize=3, label=s.strategy, **style)
        ax.fill_between(s.labels, s.min_cer, s.max_cer, color=line.get_color(), alpha=0.12)
    if report.target_cer is not None:
        ax.axhline(report.target_cer, color="grey", linestyle="--", linewidth=0.8, label="random's final CER")
    ax.set_xlabel("labeled lines")
    ax.set_ylabel("test CER (greedy)")
    ax.set_title(f"hooker: CER vs labels ({report.settings.seeds} seeds; mean, band = min..max)")
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def markdown(report: Report, *, command: str, started: dt.datetime, plot_path: Path, commit: str = "") -> str:
    """The report; ``commit`` is the code the run started from (default: now)."""
    s = report.settings
    cal = report.calibration
    calib = cal["calibration"]
    base = (
        f"a shared base pretrained for {s.pretrain_steps} steps on {s.pretrain_lines} rendered lines "
        "(recognition.synthetic, Hershey fonts; cached under benchmarks/.work/al)"
        if s.pretrain_steps
        else "scratch"
    )
    return "\n".join(
        [
            "# Active-learning simulation",
            "",
            f"- command: `{command}` ({report.minutes:.0f} minutes)",
            f"- commit: {commit or _commit()} at the start, {started:%Y-%m-%d %H:%M} UTC",
            f"- machine: {_machine()}; jobs in parallel processes, 1 torch thread each",
            f"- data: `hooker` fixed split; pool = the train split; test CER on a fixed seeded subset of "
            f"{s.test_lines} test lines; "
            f"each fine-tune validates once on {s.val_lines} val lines",
            f"- model: {s.model}, starting from {base}",
            f"- schedule: {s.seed_labels} random seed lines, first model {s.first_steps} steps; then {s.rounds} "
            f"rounds of {s.batch} lines picked from {s.candidates} random unlabeled candidates, each followed by "
            f"{s.round_steps} fine-tuning steps (batch {s.batch_size}, lr {s.learning_rate:g}, "
            f"augmentation {'on' if s.augment else 'off'}) from the previous round's model; "
            f"{s.seeds} seed(s) (seed = seed set, candidate draws, training order), MC dropout {s.mc_samples} passes",
            (
                f"- self-training (`{'`, `'.join(s.runs[len(s.strategies) :])}`): the strategy, plus each round "
                f"the model's own readings of its {s.pseudo_lines} most confident unpicked candidates as "
                f"pseudo-labels of loss weight {s.pseudo_weight:g} (not counted as labels)"
                if s.self_training
                else "- self-training: not run"
            ),
            f"- budget: {s.budget} labels for every strategy; random's final mean CER "
            f"{_pct(report.target_cer)} is the target the other strategies try to reach with fewer",
            "",
            table(report),
            "",
            "Area = trapezoid area under the mean CER-vs-labels curve divided by the label range (lower is better). "
            "Labels to reach: first point where the mean curve falls to random's final mean CER, linearly "
            "interpolated between rounds.",
            "",
            findings(report),
            f"- lowest area: `{min(report.summaries, key=lambda x: x.auc).strategy}`; "
            f"recognition.selection.DEFAULT_STRATEGY is `{DEFAULT_STRATEGY}`.",
            "",
            f"![CER vs labels]({plot_path.name})",
            "",
            "## CER after each round (mean ± sd over seeds; columns = labeled lines)",
            "",
            curve_table(report),
            "",
            "## Calibration of the best strategy's final model",
            "",
            f"- model: `{cal['strategy']}` (lowest area), seed 0, final round",
            f"- fitted on {cal['val_lines']} val lines: method `{calib['method']}`; "
            f"line accuracy on {cal['test_lines']} test lines {_pct(cal['test_line_accuracy'])}",
            f"- test ECE before {_pct(cal['test_ece_before'])}, after {_pct(cal['test_ece_after'])}",
            f"- auto-accept at {cal['target_line_error']:.0%} line error: threshold chosen on val "
            f"{cal['val_threshold'] if cal['val_threshold'] is not None else 'none (accept nothing)'} "
            f"gives test coverage {_pct(cal['test_coverage_at_val_threshold'])} with test line error "
            f"{_pct(cal['test_error_at_val_threshold'])}; the best possible on the test split itself is "
            f"{_pct(cal['test_coverage_at_target'])} coverage",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 3 strategies, 2 small rounds, tiny model")
    parser.add_argument("--seeds", type=int, help="seeds per strategy")
    parser.add_argument("--strategies", nargs="+", choices=list(STRATEGIES))
    parser.add_argument(
        "--self-training",
        nargs="*",
        choices=list(STRATEGIES),
        help="strategies to run again with pseudo-labels (none: no self-training)",
    )
    parser.add_argument("--no-pretrain", action="store_true", help="start from scratch, not the synthetic base")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--dataset", type=Path, default=DATASET)
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "ACTIVE_LEARNING.md")
    parser.add_argument("--plot", type=Path, default=ROOT / "benchmarks" / "active_learning.png")
    args = parser.parse_args(argv)

    settings = QUICK if args.quick else DEFAULT
    if args.seeds:
        settings = replace(settings, seeds=args.seeds)
    if args.strategies:
        settings = replace(settings, strategies=tuple(args.strategies))
    if args.self_training is not None:
        settings = replace(settings, self_training=tuple(args.self_training))
    if args.no_pretrain:
        settings = replace(settings, pretrain_steps=0)
    started, commit = dt.datetime.now(dt.UTC), _commit()
    work = args.work / ("quick" if args.quick else "default")
    report = simulate(settings, load_hooker(settings, args.dataset), work, workers=args.workers)
    command = "python -m benchmarks.active_learning " + " ".join(argv if argv is not None else sys.argv[1:])
    (work / "report.json").write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    plot(report, args.plot)
    text = markdown(report, command=command.strip(), started=started, plot_path=args.plot, commit=commit)
    args.results.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
