"""Command line: ``python -m recognition train | eval | predict | export | demo | corpus | pretrain | ship-base``.

Data is given either as a dataset folder with ``split.json`` (``--data``) or
as line folders of ``<id>.png`` + ``<id>.gt.txt`` (``--train``/``--val``/
``--lines``). Results go to stdout as JSON; progress goes to stderr. Wherever a checkpoint
is expected (``--init``, ``--model``), ``base`` names the default shipped base
model and ``base:<name>`` another one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recognition.base.pretrain import PretrainConfig, prepare_corpus, pretrain, ship_base
from recognition.checkpoint import CheckpointError, load_checkpoint
from recognition.data import DataError, LineSample, load_line_folder, load_split
from recognition.export import export_all
from recognition.images import ImageError, load_line_image
from recognition.infer import Recognizer
from recognition.metrics import cer, ser, wer
from recognition.model import PRESETS, ModelConfig
from recognition.synthetic import random_text, render_line
from recognition.train import Progress, TrainConfig, train, with_overrides


def _samples(args: argparse.Namespace, split: str, folder: str | None) -> list[LineSample]:
    if folder:
        return load_line_folder(folder)
    if args.data:
        splits = load_split(args.data, args.split_file)
        if split not in splits:
            raise DataError(f"{args.data}: split file has no {split!r} lines")
        return splits[split]
    raise DataError(f"give --data or a folder for the {split} lines")


def _print_progress(progress: Progress) -> None:
    if progress.evaluated:
        eta = f"{progress.eta_seconds / 60:.1f} min" if progress.eta_seconds is not None else "?"
        print(
            f"step {progress.step} epoch {progress.epoch} loss {progress.loss:.3f} "
            f"val CER {progress.val_cer:.4f} best {progress.best_cer:.4f} "
            f"{progress.lines_per_second:.1f} lines/s ETA {eta}",
            file=sys.stderr,
            flush=True,
        )


def cmd_train(args: argparse.Namespace) -> dict[str, Any]:
    train_samples = _samples(args, "train", args.train)
    val_samples = _samples(args, "val", args.val)
    if args.limit:
        train_samples = train_samples[: args.limit]
    config = with_overrides(
        TrainConfig(),
        max_minutes=args.max_minutes,
        max_epochs=args.max_epochs,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        seed=args.seed,
        freeze_cnn_steps=args.freeze_cnn_steps,
        device=args.device,
        threads=args.threads,
        patience=args.patience,
        augment=False if args.no_augment else None,
    )
    preset = PRESETS[args.preset]
    sizes = {"height": args.height} if args.height else {}
    model_config = ModelConfig(**{**preset, "num_classes": 2, "binarize": args.binarize, **sizes})
    result = train(
        train_samples,
        val_samples,
        out_dir=args.out,
        config=config,
        model_config=model_config,
        init=args.init,
        resume=args.resume,
        progress=None if args.quiet else _print_progress,
    )
    return {
        "best_checkpoint": str(result.best_checkpoint),
        "best_val_cer": result.best_cer,
        "steps": result.steps,
        "epochs": result.epochs,
        "lines_trained": result.lines_trained,
        "seconds": round(result.seconds, 1),
        "train_lines_per_second": round(result.lines_per_second, 2),
        "parameters": result.parameters,
        "stopped_because": result.stopped_because,
    }


def cmd_eval(args: argparse.Namespace) -> dict[str, Any]:
    samples = _samples(args, args.split, args.lines)
    recognizer = Recognizer.load(args.model, device=args.device, threads=args.threads)
    images = [s.load() for s in samples]
    start = time.perf_counter()
    predictions = recognizer.predict(images, batch_size=args.batch_size, beam_width=args.beam)
    seconds = time.perf_counter() - start
    refs = [s.text for s in samples]
    hyps = [p.text for p in predictions]
    per_line = {"predictions": {s.id: h for s, h in zip(samples, hyps, strict=True)}} if args.output else {}
    return {
        "lines": len(samples),
        "cer": cer(refs, hyps),
        "wer": wer(refs, hyps),
        "ser": ser(refs, hyps),
        "seconds": round(seconds, 2),
        "lines_per_second": round(len(samples) / seconds, 2) if seconds else None,
        **per_line,
    }


def cmd_predict(args: argparse.Namespace) -> list[dict[str, Any]]:
    recognizer = Recognizer.load(args.model, device=args.device, threads=args.threads)
    results: list[dict[str, Any]] = []
    readable: list[tuple[int, Any]] = []
    for path in args.images:
        try:
            readable.append((len(results), load_line_image(path)))
            results.append({"path": path})
        except ImageError as exc:
            results.append({"path": path, "error": str(exc)})
    predictions = recognizer.predict([image for _, image in readable], beam_width=args.beam)
    for (slot, _), prediction in zip(readable, predictions, strict=True):
        results[slot].update(prediction.to_dict())
    return results


def cmd_export(args: argparse.Namespace) -> dict[str, Any]:
    loaded = load_checkpoint(args.model)
    written = export_all(loaded, args.out, tuple(args.format))
    return {"written": [str(p) for p in written]}


def cmd_demo(args: argparse.Namespace) -> dict[str, Any]:
    """Train on rendered lines, evaluate on held-out rendered lines, read a few back."""
    rng = np.random.default_rng(args.seed or 0)

    def lines(count: int, prefix: str) -> list[LineSample]:
        texts = [random_text(rng) for _ in range(count)]
        return [LineSample(id=f"{prefix}{i}", text=t, image=render_line(t, rng=rng)) for i, t in enumerate(texts)]

    train_lines, val_lines, test_lines = lines(args.lines, "train"), lines(60, "val"), lines(60, "test")
    out = Path(args.out)
    print(f"training on {len(train_lines)} rendered lines for up to {args.max_minutes} min ...", file=sys.stderr)
    config = TrainConfig(max_minutes=args.max_minutes, eval_every=100, patience=6, threads=args.threads)
    result = train(train_lines, val_lines, out_dir=out, config=config, progress=_print_progress)
    recognizer = Recognizer.load(result.best_checkpoint, threads=args.threads)
    predictions = recognizer.predict([s.load() for s in test_lines])
    refs, hyps = [s.text for s in test_lines], [p.text for p in predictions]
    return {
        "checkpoint": str(result.best_checkpoint),
        "train_lines": len(train_lines),
        "seconds": round(result.seconds, 1),
        "stopped_because": result.stopped_because,
        "test": {"lines": len(refs), "cer": cer(refs, hyps), "wer": wer(refs, hyps), "ser": ser(refs, hyps)},
        "examples": [{"truth": s.text, **p.to_dict()} for s, p in zip(test_lines[:3], predictions[:3], strict=True)],
    }


def _pretrain_config(args: argparse.Namespace) -> PretrainConfig:
    overrides = {
        "max_minutes": getattr(args, "max_minutes", None),
        "max_steps": getattr(args, "max_steps", None),
        "synthetic_lines": args.synthetic_lines,
        "preset": getattr(args, "preset", None),
        "height": getattr(args, "height", None),
        "device": getattr(args, "device", None),
        "threads": getattr(args, "threads", None),
        "init": getattr(args, "init", None),
        "learning_rate": getattr(args, "lr", None),
        "seed": getattr(args, "seed", None),
        "warmup_steps": getattr(args, "warmup_steps", None),
    }
    return PretrainConfig(
        work_dir=Path(args.work),
        snapshots=Path(args.snapshots),
        **{k: v for k, v in overrides.items() if v is not None},
    )


def cmd_corpus(args: argparse.Namespace) -> dict[str, Any]:
    config = _pretrain_config(args)
    prepare_corpus(config)
    manifest = json.loads((config.corpus_dir / "manifest.json").read_text(encoding="utf-8"))
    return {k: v for k, v in manifest.items() if k != "line_sources"} | {
        "sources": {s["name"]: s["lines"] for s in manifest["line_sources"]}
    }


def cmd_pretrain(args: argparse.Namespace) -> dict[str, Any]:
    return pretrain(_pretrain_config(args))


def cmd_ship_base(args: argparse.Namespace) -> dict[str, Any]:
    path = ship_base(_pretrain_config(args), args.name, command=["python", "-m", "recognition", *sys.argv[1:]])
    return {"base": str(path), "size_bytes": path.stat().st_size}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m recognition", description=__doc__.splitlines()[0])
    parser.add_argument("--output", help="also write the JSON result to this file (eval: with per-line text)")
    sub = parser.add_subparsers(dest="command", required=True)

    def data_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data", help="dataset folder with split.json (and lines/)")
        p.add_argument("--split-file", help="split file, default <data>/split.json")
        p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when present)")
        p.add_argument("--threads", type=int, help="CPU threads (default: all cores)")

    p = sub.add_parser("train", help="train or fine-tune a model")
    data_args(p)
    p.add_argument("--train", help="folder of training line pairs")
    p.add_argument("--val", help="folder of validation line pairs")
    p.add_argument("--out", required=True, help="run folder for best.pt and last.pt")
    p.add_argument("--init", help="checkpoint to fine-tune from")
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.pt")
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    p.add_argument("--height", type=int)
    p.add_argument("--binarize", action="store_true", help="Otsu-binarise lines before scaling (new models only)")
    p.add_argument("--max-minutes", type=float)
    p.add_argument("--max-epochs", type=int)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--patience", type=int)
    p.add_argument("--freeze-cnn-steps", type=int)
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--limit", type=int, help="use only the first N training lines")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="CER/WER/SER of a model on labelled lines")
    data_args(p)
    p.add_argument("--model", required=True)
    p.add_argument("--lines", help="folder of line pairs (instead of --data)")
    p.add_argument("--split", default="test")
    p.add_argument("--beam", type=int, default=0, help="beam width (0: greedy)")
    p.add_argument("--batch-size", type=int, default=32)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("predict", help="read line images, print JSON")
    p.add_argument("--model", required=True)
    p.add_argument("images", nargs="+")
    p.add_argument("--beam", type=int, default=0)
    p.add_argument("--device")
    p.add_argument("--threads", type=int)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("demo", help="train and evaluate on rendered lines (no data needed)")
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--lines", type=int, default=800)
    p.add_argument("--max-minutes", type=float, default=4.0)
    p.add_argument("--seed", type=int)
    p.add_argument("--threads", type=int)
    p.set_defaults(func=cmd_demo)

    def pretrain_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--work", default="runs/pretrain", help="corpus, synthetic lines and the run go here")
        p.add_argument(
            "--snapshots",
            default="../.mirror",
            help="folder of source snapshots (<owner>+<name>/repo Git dirs); missing ones are cloned",
        )
        p.add_argument("--synthetic-lines", type=int)

    p = sub.add_parser("corpus", help="build the pretraining corpus (real lines + synthetic lines)")
    pretrain_args(p)
    p.set_defaults(func=cmd_corpus)

    p = sub.add_parser("pretrain", help="build the corpus if needed, then train (or resume) a base model")
    pretrain_args(p)
    p.add_argument("--max-minutes", type=float)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--preset", choices=sorted(PRESETS))
    p.add_argument("--height", type=int)
    p.add_argument("--device")
    p.add_argument("--threads", type=int)
    p.add_argument("--init", help="continue from this model (base:latin-cpu) instead of random weights")
    p.add_argument("--lr", type=float, help="peak learning rate (default 2e-3)")
    p.add_argument("--warmup-steps", type=int)
    p.add_argument("--seed", type=int, help="line order and augmentation (use a new one with --init)")
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser("ship-base", help="write the pretrained model as a shipped fp16 base with its card")
    pretrain_args(p)
    p.add_argument("--name", required=True)
    # As given to `pretrain`: a run continued from a base adds its stage to that base's card.
    p.add_argument("--init", help="the model the run continued from (base:latin-cpu)")
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.set_defaults(func=cmd_ship_base)

    p = sub.add_parser("export", help="write TorchScript and ONNX")
    p.add_argument("--model", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--format", nargs="+", choices=["torchscript", "onnx"], default=["torchscript", "onnx"])
    p.set_defaults(func=cmd_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.func(args)
    except (DataError, ImageError, CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(result, ensure_ascii=False, indent=2)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    print(text)
    if isinstance(result, list) and any("error" in r for r in result):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
