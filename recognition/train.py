"""The training loop: one explicit ``train()`` and a no-grad ``evaluate()``.

Written to be read top to bottom, nanoGPT-style. What it does that a demo
loop does not:

* AdamW with linear warm-up and cosine decay whose clock is the larger of
  "steps done / step budget" and "time spent / time budget", so a run given
  ``max_minutes`` anneals properly instead of being cut off at a high rate;
* gradient clipping, early stopping on validation CER, bf16 autocast on CUDA;
* ``best.pt`` (the best model so far) and ``last.pt`` (everything needed to
  resume), both written atomically;
* fine-tuning from a checkpoint, widening the output layer when the new data
  brings characters the old alphabet lacks, optionally with the CNN frozen
  for the first steps so new labels do not wreck good low-level features;
* a progress callback (the Celery task writes it to the database) that can
  also ask the loop to stop.
"""

from __future__ import annotations

import math
import random
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from recognition.augment import AugmentConfig, scaled
from recognition.calibration import fit_calibration
from recognition.checkpoint import checkpoint_dict, from_dict, load_checkpoint, save_atomic
from recognition.codec import Codec
from recognition.data import (
    BucketBatchSampler,
    LineDataset,
    LineSample,
    collate,
    prepare_images,
    width_sorted_batches,
)
from recognition.decoding import greedy_decode
from recognition.device import pick_device, set_threads
from recognition.lm import CharNGramLM
from recognition.metrics import cer, ser, wer
from recognition.model import CRNN, ModelConfig, count_parameters


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 16
    learning_rate: float = 3e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    min_lr_ratio: float = 0.02
    max_epochs: int = 200
    max_steps: int | None = None
    max_minutes: float | None = None
    # Evaluate every N steps; None means once an epoch, but not more often
    # than every 100 steps (tiny sets would otherwise spend their time on
    # evaluation and stop early inside CTC's initial all-blank plateau) nor
    # less often than every 500 (big sets still get checked).
    eval_every: int | None = None
    # Stop after this many evaluations without a better validation CER.
    patience: int = 10
    grad_clip: float = 5.0
    seed: int = 0
    augment: bool = True
    # Scales the chance of every augmentation step (recognition.augment.scaled):
    # a few hundred labels want more variety than thousands do.
    augment_strength: float = 1.0
    freeze_cnn_steps: int = 0
    amp: bool = True
    device: str | None = None
    threads: int | None = None
    lm_order: int = 6
    shortcut_weight: float = 0.1
    # Fit a confidence calibration (recognition.calibration) on the
    # validation lines with the best model and store it in best.pt.
    calibrate: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Progress:
    """What the progress callback sees, after every step and every evaluation."""

    step: int
    epoch: int
    loss: float
    learning_rate: float
    val_cer: float | None
    best_cer: float | None
    elapsed_seconds: float
    eta_seconds: float | None
    lines_per_second: float
    evaluated: bool


ProgressCallback = Callable[[Progress], "bool | None"]


@dataclass
class EvalResult:
    cer: float
    wer: float
    ser: float
    loss: float
    hypotheses: list[str]
    seconds: float
    # Per line p(labels | x) of the greedy output (the line confidence).
    confidences: list[float] = field(default_factory=list)

    def metrics(self) -> dict[str, float]:
        return {"cer": self.cer, "wer": self.wer, "ser": self.ser, "loss": self.loss}


@dataclass
class TrainResult:
    best_checkpoint: Path
    last_checkpoint: Path
    best_cer: float
    steps: int
    epochs: int
    lines_trained: int
    seconds: float
    stopped_because: str
    parameters: int
    history: list[dict[str, float]] = field(default_factory=list)
    # Calibration.to_dict() stored in best.pt; None when not fitted.
    calibration: dict[str, Any] | None = None

    @property
    def lines_per_second(self) -> float:
        return self.lines_trained / self.seconds if self.seconds else 0.0


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@torch.no_grad()
def evaluate(
    model: CRNN,
    dataset: LineDataset,
    texts: Sequence[str],
    codec: Codec,
    *,
    device: torch.device,
    batch_size: int = 32,
) -> EvalResult:
    """Greedy-decode every line of ``dataset`` and score it against ``texts``."""
    start = time.perf_counter()
    was_training = model.training
    model.eval()
    ctc = nn.CTCLoss(blank=0, reduction="sum", zero_infinity=True)
    hypotheses = [""] * len(dataset)
    confidences = [0.0] * len(dataset)
    total_loss = 0.0
    for indices in width_sorted_batches(dataset.widths(), batch_size):
        batch = collate([dataset[i] for i in indices]).to(device)
        log_probs = model(batch.images, batch.widths).float()  # (T, B, C)
        lengths = model.output_lengths(batch.widths)
        total_loss += float(ctc(log_probs.cpu(), batch.targets, lengths.cpu(), batch.target_lengths))
        frames = log_probs.cpu().numpy()
        for row, index in enumerate(batch.indices):
            decoded = greedy_decode(frames[: int(lengths[row]), row], codec)
            hypotheses[index], confidences[index] = decoded.text, decoded.confidence
    model.train(was_training)
    return EvalResult(
        cer=cer(texts, hypotheses),
        wer=wer(texts, hypotheses),
        ser=ser(texts, hypotheses),
        loss=total_loss / max(1, len(dataset)),
        hypotheses=hypotheses,
        seconds=time.perf_counter() - start,
        confidences=confidences,
    )


def weighted_ctc(
    ctc: nn.CTCLoss,
    log_probs: torch.Tensor,
    targets: torch.Tensor,
    input_lengths: torch.Tensor,
    target_lengths: torch.Tensor,
    weights: torch.Tensor,
) -> torch.Tensor:
    """Weighted CTC loss of a batch: ``log_probs`` (T, B, C), ``weights`` (B,).

    ``ctc`` has ``reduction="none"``. Each line's loss per target character
    (as ``reduction="mean"`` takes it), times its weight, averaged over the
    batch: with all weights 1 this is exactly the mean reduction, and a line
    of weight 0.5 (a pseudo-label) pulls half as hard as a verified one.
    """
    per_line = ctc(log_probs, targets, input_lengths, target_lengths)  # (B,)
    per_char = per_line / target_lengths.clamp(min=1).to(per_line)
    return (per_char * weights.to(per_line)).mean()


def learning_rate(config: TrainConfig, step: int, progress: float) -> float:
    """Warm-up over ``warmup_steps``, then cosine from the peak to ``min_lr_ratio``."""
    warm = min(1.0, (step + 1) / max(1, config.warmup_steps))
    progress = min(1.0, max(0.0, progress))
    cosine = config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return config.learning_rate * warm * cosine


def _model_for(
    train_texts: Sequence[str],
    model_config: ModelConfig | None,
    init: Path | None,
    device: torch.device,
) -> tuple[CRNN, Codec, dict[str, Any]]:
    """A fresh model, or one fine-tuned from ``init`` with its alphabet grown to fit."""
    if init is None:
        codec = Codec.from_texts(train_texts)
        config = (model_config or ModelConfig(num_classes=codec.num_classes)).with_classes(codec.num_classes)
        return CRNN(config).to(device), codec, {"parent": None}
    loaded = load_checkpoint(init, device=device)
    model, codec = loaded.model, loaded.codec
    grown, mapping = codec.extended(train_texts)
    if grown != codec:
        model.widen_output(mapping)
        model.to(device)
    return model, grown, {"parent": str(init), "added_characters": sorted(set(grown.alphabet) - set(codec.alphabet))}


def train(
    train_samples: Sequence[LineSample],
    val_samples: Sequence[LineSample],
    *,
    out_dir: Path | str,
    config: TrainConfig = TrainConfig(),
    model_config: ModelConfig | None = None,
    init: Path | str | None = None,
    resume: bool = False,
    progress: ProgressCallback | None = None,
) -> TrainResult:
    """Train (or fine-tune from ``init``, or resume from ``out_dir/last.pt``).

    Returns where the best checkpoint is and how the run went. The best
    checkpoint is the one with the lowest validation CER; it also carries a
    character n-gram LM built from the training texts for beam search.
    """
    if not train_samples:
        raise ValueError("no training lines")
    if not val_samples:
        raise ValueError("no validation lines: early stopping and model choice need some")
    wall_start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    best_path, last_path = out / "best.pt", out / "last.pt"
    set_threads(config.threads)
    seed_everything(config.seed)
    device = pick_device(config.device)
    use_amp = config.amp and device.type == "cuda"

    train_texts = [s.text for s in train_samples]
    weights = torch.tensor([s.weight for s in train_samples], dtype=torch.float32)  # (N,)
    if not bool(torch.all(torch.isfinite(weights) & (weights > 0))):
        raise ValueError("every training line needs a finite weight > 0")
    state: dict[str, Any] | None = None
    if resume and last_path.exists():
        resumed = load_checkpoint(last_path, device=device)
        model, codec, lineage = resumed.model, resumed.codec, dict(resumed.meta.get("lineage", {}))
        state = resumed.training
        # Resuming with new characters is fine-tuning, and wants the same widening.
        grown, mapping = codec.extended(train_texts)
        if grown != codec:
            model.widen_output(mapping)
            model.to(device)
            codec = grown
            state = None
    else:
        model, codec, lineage = _model_for(train_texts, model_config, Path(init) if init else None, device)
    model.train()

    height, binarize = model.config.height, model.config.binarize
    train_images = prepare_images(train_samples, height, binarize=binarize)
    val_images = prepare_images(val_samples, height, binarize=binarize)
    train_set = LineDataset(
        train_images,
        train_texts,
        codec,
        augment=scaled(AugmentConfig(), config.augment_strength) if config.augment else None,
        seed=config.seed,
    )
    val_texts = [s.text for s in val_samples]
    val_set = LineDataset(val_images, val_texts, codec)
    sampler = BucketBatchSampler(train_set.widths(), config.batch_size, seed=config.seed)
    loader = DataLoader(train_set, batch_sampler=sampler, collate_fn=collate, num_workers=0)

    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    ctc = nn.CTCLoss(blank=0, reduction="none", zero_infinity=True)
    steps_per_epoch = len(sampler)
    step_budget = config.max_steps or config.max_epochs * steps_per_epoch
    time_budget = config.max_minutes * 60 if config.max_minutes else None
    eval_every = config.eval_every or min(500, max(100, steps_per_epoch))

    step, epoch, lines_trained, elapsed_before = 0, 0, 0, 0.0
    best_cer, evals_since_best = math.inf, 0
    history: list[dict[str, float]] = []
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        step, epoch = int(state["step"]), int(state["epoch"])
        lines_trained, elapsed_before = int(state["lines_trained"]), float(state["elapsed_seconds"])
        best_cer, evals_since_best = float(state["best_cer"]), int(state["evals_since_best"])
        history = list(state["history"])
        sampler.load_state(state["sampler"])
        torch.set_rng_state(state["torch_rng"])
        train_set.rng.bit_generator.state = state["data_rng"]

    def elapsed() -> float:
        return elapsed_before + time.perf_counter() - wall_start

    def budget_used() -> float:
        used = step / step_budget
        if time_budget:
            used = max(used, elapsed() / time_budget)
        return used

    # The LM learns from verified text only: a pseudo-label would teach it the model's own mistakes.
    lm = CharNGramLM.fit([s.text for s in train_samples if s.weight >= 1.0], order=config.lm_order)
    meta_base = {
        "lineage": lineage,
        "train_lines": len(train_samples),
        "val_lines": len(val_samples),
        "train_config": config.to_dict(),
        "parameters": count_parameters(model),
        "device": device.type,
    }

    def save(path: Path, metrics: dict[str, float], with_training: bool) -> None:
        training = None
        if with_training:
            training = {
                "optimizer": optimizer.state_dict(),
                "step": step,
                "epoch": epoch,
                "lines_trained": lines_trained,
                "elapsed_seconds": elapsed(),
                "best_cer": best_cer,
                "evals_since_best": evals_since_best,
                "history": history,
                "sampler": sampler.state(),
                "torch_rng": torch.get_rng_state(),
                "data_rng": train_set.rng.bit_generator.state,
            }
        meta = {**meta_base, "step": step, "epoch": epoch, "lines_trained": lines_trained, "seconds": elapsed()}
        save_atomic(checkpoint_dict(model, codec, metrics=metrics, meta=meta, lm=lm, training=training), path)

    frozen = False
    if config.freeze_cnn_steps > step:
        model.cnn.requires_grad_(False)
        frozen = True

    stopped_because = "epochs"
    last_loss, last_val_cer = math.nan, None
    rate_window: list[tuple[float, int]] = []
    done = False
    while not done and epoch < config.max_epochs:
        for batch in loader:
            if frozen and step >= config.freeze_cnn_steps:
                model.cnn.requires_grad_(True)
                frozen = False
            lr = learning_rate(config, step, budget_used())
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = batch.to(device)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
                # Unpacked: batches are width-bucketed, so padding is slight,
                # and packed LSTMs cost a third more on CPU.
                log_probs, shortcut = model.forward_train(batch.images)  # (T, B, C) each
            # CTC in float32: its forward-backward sums underflow in bf16.
            targets, lengths = batch.targets.to(device), model.output_lengths(batch.widths)
            line_weights, target_lengths = weights[batch.indices], batch.target_lengths  # (B,) each
            loss = weighted_ctc(ctc, log_probs.float(), targets, lengths, target_lengths, line_weights)
            if shortcut is not None:
                shortcut_loss = weighted_ctc(ctc, shortcut.float(), targets, lengths, target_lengths, line_weights)
                loss = loss + config.shortcut_weight * shortcut_loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            step += 1
            lines_trained += len(batch.indices)
            last_loss = float(loss.detach())

            now = elapsed()
            rate_window = [*rate_window[-49:], (now, lines_trained)]
            rate = (rate_window[-1][1] - rate_window[0][1]) / max(1e-9, rate_window[-1][0] - rate_window[0][0])
            out_of_time = time_budget is not None and now >= time_budget
            out_of_steps = step >= step_budget
            evaluated = step % eval_every == 0 or out_of_time or out_of_steps
            if evaluated:
                result = evaluate(model, val_set, val_texts, codec, device=device, batch_size=config.batch_size * 2)
                last_val_cer = result.cer
                history.append({"step": step, "epoch": epoch, "loss": last_loss, **result.metrics(), "seconds": now})
                if result.cer < best_cer:
                    best_cer, evals_since_best = result.cer, 0
                    save(best_path, result.metrics(), with_training=False)
                else:
                    evals_since_best += 1
                save(last_path, result.metrics(), with_training=True)
                model.train()
            used = budget_used()
            eta = (elapsed() / used - elapsed()) if used > 0 else None
            report = Progress(
                step=step,
                epoch=epoch,
                loss=last_loss,
                learning_rate=lr,
                val_cer=last_val_cer,
                best_cer=best_cer if math.isfinite(best_cer) else None,
                elapsed_seconds=elapsed(),
                eta_seconds=eta,
                lines_per_second=rate,
                evaluated=evaluated,
            )
            if progress is not None and progress(report) is False:
                stopped_because, done = "cancelled", True
            elif evaluated and evals_since_best >= config.patience:
                stopped_because, done = "early_stopping", True
            elif out_of_time:
                stopped_because, done = "time_budget", True
            elif out_of_steps:
                stopped_because, done = "steps", True
            if done:
                break
        else:
            epoch += 1

    if not best_path.exists():
        # Cancelled before the first evaluation: still leave a usable model.
        result = evaluate(model, val_set, val_texts, codec, device=device)
        best_cer = result.cer
        save(best_path, result.metrics(), with_training=False)
        save(last_path, result.metrics(), with_training=True)
    calibration = _calibrate(best_path, val_set, val_texts, device) if config.calibrate else None
    return TrainResult(
        best_checkpoint=best_path,
        last_checkpoint=last_path,
        best_cer=best_cer,
        steps=step,
        epochs=epoch,
        lines_trained=lines_trained,
        seconds=elapsed(),
        stopped_because=stopped_because,
        parameters=count_parameters(model),
        history=history,
        calibration=calibration,
    )


def _calibrate(best_path: Path, val_set: LineDataset, val_texts: Sequence[str], device: torch.device) -> dict[str, Any]:
    """Fit the best model's confidence calibration on the validation lines and store it in ``best_path``.

    A line counts as correct when its greedy reading equals the ground truth
    after NFC. Rewritten atomically, like every checkpoint write.
    """
    data = torch.load(best_path, map_location="cpu", weights_only=True)
    best = from_dict(data, device=device, name=str(best_path))
    result = evaluate(best.model, val_set, val_texts, best.codec, device=device)
    correct = [_nfc(ref) == _nfc(hyp) for ref, hyp in zip(val_texts, result.hypotheses, strict=True)]
    calibration = fit_calibration(result.confidences, correct).to_dict()
    data["calibration"] = calibration
    save_atomic(data, best_path)
    return calibration


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def with_overrides(config: TrainConfig, **overrides: Any) -> TrainConfig:
    """``config`` with the non-None ``overrides`` applied (for the CLI)."""
    return replace(config, **{k: v for k, v in overrides.items() if v is not None})
