"""The pretraining recipe: corpus -> synthetic lines -> one long, resumable ``train()`` -> a shipped base.

``python -m recognition pretrain --work DIR`` does every step that is not
done yet, so the same command resumes after a stop: the corpus is cut once
(``corpus.build_corpus``), the synthetic lines are rendered once
(``render.render_corpus``), and training continues from ``DIR/run/last.pt``
with its time budget counting the minutes already spent. ``--ship NAME``
then writes the best model as an fp16 base with its model card.

The alphabet is what the corpus uses often enough to learn: characters seen
fewer than ``min_char_count`` times are rare abbreviation marks and stray
symbols, and the lines that hold them are left out rather than taught as
noise. Validation is the corpus's held-out pages, capped per source so every
source counts and one evaluation stays short.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from recognition.base import MODELS_DIR, resolve_checkpoint
from recognition.base.corpus import build_corpus, load_sources
from recognition.base.render import render_corpus
from recognition.checkpoint import load_checkpoint, save_atomic
from recognition.data import LineSample, load_line_folder, load_split
from recognition.infer import Recognizer
from recognition.metrics import cer
from recognition.model import PRESETS, ModelConfig
from recognition.train import Progress, TrainConfig, train


@dataclass(frozen=True)
class PretrainConfig:
    work_dir: Path
    # Where the source snapshots are (``<owner>+<name>/repo`` Git directories);
    # a missing one is cloned from GitHub.
    snapshots: Path
    synthetic_lines: int = 30_000
    preset: str = "cpu"
    height: int | None = None
    min_char_count: int = 25
    # Validation during training is kept short (an evaluation costs training
    # time); the model card reads more lines per source.
    val_lines_per_source: int = 40
    card_val_lines_per_source: int = 150
    max_minutes: float = 90.0
    max_steps: int | None = None
    batch_size: int = 16
    learning_rate: float = 2e-3
    eval_every: int = 1500
    seed: int = 0
    # Continue from a model (``base:latin-cpu``) rather than from random
    # weights: more compute for a shipped base without its optimizer state.
    # Give such a run another seed, or it sees the lines in the first run's order.
    init: str | None = None
    warmup_steps: int = 500
    device: str | None = None
    threads: int | None = None
    workers: int = 2

    @property
    def corpus_dir(self) -> Path:
        return self.work_dir / "corpus"

    @property
    def run_dir(self) -> Path:
        return self.work_dir / "run"


def prepare_corpus(config: PretrainConfig) -> None:
    """Cut the real lines and render the synthetic ones, each only once."""
    corpus = config.corpus_dir
    if not (corpus / "manifest.json").exists():
        build_corpus(corpus, config.snapshots, workers=config.workers)
    if not (corpus / "synthetic.json").exists():
        split = json.loads((corpus / "split.json").read_text(encoding="utf-8"))
        texts = [s.text for s in load_line_folder(corpus / "lines", ids=split["train"])]
        stats = render_corpus(
            corpus,
            config.snapshots,
            count=config.synthetic_lines,
            corpus_texts=texts,
            seed=config.seed,
            workers=config.workers,
        )
        print(f"synthetic: {stats}", file=sys.stderr, flush=True)


def corpus_samples(
    config: PretrainConfig, *, val_per_source: int | None = None
) -> tuple[list[LineSample], dict[str, list[LineSample]]]:
    """Training lines (real and synthetic) and validation lines per source, rare characters left out."""
    per_source = val_per_source or config.val_lines_per_source
    corpus = config.corpus_dir
    splits = load_split(corpus)
    synthetic_ids = json.loads((corpus / "synthetic.json").read_text(encoding="utf-8"))["ids"]
    synthetic = load_line_folder(corpus / "lines", ids=synthetic_ids)
    train_lines = [*splits["train"], *synthetic]
    counts = Counter(char for sample in train_lines for char in sample.text)
    alphabet = {char for char, n in counts.items() if n >= config.min_char_count}
    keep = [s for s in train_lines if s.text and set(s.text) <= alphabet]
    val_by_source: dict[str, list[LineSample]] = {}
    for sample in splits["val"]:
        if sample.text and set(sample.text) <= alphabet:
            val_by_source.setdefault(sample.id.split("/", 1)[0], []).append(sample)
    capped = {
        source: lines[:: max(1, len(lines) // per_source)][:per_source]
        for source, lines in sorted(val_by_source.items())
    }
    return keep, capped


def _log_progress(progress: Progress) -> None:
    if progress.evaluated or progress.step % 200 == 0:
        print(
            f"{time.strftime('%H:%M:%S')} step {progress.step} loss {progress.loss:.3f} "
            f"lr {progress.learning_rate:.2e} "
            f"val CER {progress.val_cer} best {progress.best_cer} {progress.lines_per_second:.1f} lines/s",
            file=sys.stderr,
            flush=True,
        )


def pretrain(config: PretrainConfig) -> dict[str, Any]:
    """Run (or resume) pretraining; returns where the best model is and how it went."""
    prepare_corpus(config)
    train_lines, val_by_source = corpus_samples(config)
    val_lines = [s for lines in val_by_source.values() for s in lines]
    print(f"pretraining on {len(train_lines)} lines, validating on {len(val_lines)}", file=sys.stderr, flush=True)
    sizes = {"height": config.height} if config.height else {}
    model_config = ModelConfig(**{**PRESETS[config.preset], "num_classes": 2, **sizes})
    train_config = TrainConfig(
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_steps,
        max_minutes=config.max_minutes,
        max_steps=config.max_steps,
        max_epochs=1000,
        eval_every=config.eval_every,
        # A long run on ever-new lines: no early stop, the time budget ends it.
        patience=10_000,
        seed=config.seed,
        device=config.device,
        threads=config.threads,
        lm_order=5,
    )
    result = train(
        train_lines,
        val_lines,
        out_dir=config.run_dir,
        config=train_config,
        model_config=model_config,
        init=config.init,
        resume=True,
        progress=_log_progress,
    )
    summary = {
        "best_checkpoint": str(result.best_checkpoint),
        "best_val_cer": result.best_cer,
        "steps": result.steps,
        "lines_trained": result.lines_trained,
        "seconds": round(result.seconds, 1),
        "stopped_because": result.stopped_because,
        "train_lines": len(train_lines),
        "val_lines": len(val_lines),
    }
    (config.work_dir / "pretrain.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return summary


def validation_cer_by_source(checkpoint: Path, val_by_source: dict[str, list[LineSample]]) -> dict[str, float]:
    recognizer = Recognizer.load(checkpoint)
    result = {}
    for source, lines in val_by_source.items():
        predictions = recognizer.predict([s.load() for s in lines])
        result[source] = cer([s.text for s in lines], [p.text for p in predictions])
    return result


def _git_commit() -> str:
    done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent)
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def ship_base(config: PretrainConfig, name: str, *, command: Sequence[str]) -> Path:
    """Write the best pretrained model as ``models/<name>.pt`` (fp16 weights) with its card ``<name>.md``."""
    best = config.run_dir / "best.pt"
    data = torch.load(best, map_location="cpu", weights_only=True)
    loaded = load_checkpoint(best)
    _, val_by_source = corpus_samples(config, val_per_source=config.card_val_lines_per_source)
    per_source = validation_cer_by_source(best, val_by_source)
    manifest = json.loads((config.corpus_dir / "manifest.json").read_text(encoding="utf-8"))
    synthetic = json.loads((config.corpus_dir / "synthetic.json").read_text(encoding="utf-8"))
    meta = dict(data.get("meta", {}))
    train_config = meta.get("train_config", {})
    pretrained_by = (
        f"python -m recognition pretrain --work {config.work_dir} --snapshots {config.snapshots} "
        f"--max-minutes {train_config.get('max_minutes')}"
    )
    if config.init:
        pretrained_by += f" --init {config.init} --lr {config.learning_rate} --seed {config.seed}"
    stage = {
        "command": pretrained_by,
        "steps": meta.get("step"),
        "lines_trained": meta.get("lines_trained"),
        "seconds": meta.get("seconds"),
        "device": meta.get("device"),
        "validation_cer": data.get("metrics", {}).get("cer"),
    }
    # A run continued from a shipped base adds to its compute: the card keeps every stage.
    stages = [*_base_card(config.init).get("stages", []), stage] if config.init else [stage]
    card = {
        "name": name,
        "pretrained_by": pretrained_by,
        "made_by": " ".join(command),
        "commit": _git_commit(),
        "pretrain_config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
        "model_config": data["model_config"],
        "parameters": meta.get("parameters"),
        "alphabet": "".join(loaded.codec.alphabet),
        "training": {
            "steps": sum(s["steps"] or 0 for s in stages),
            "lines_trained": sum(s["lines_trained"] or 0 for s in stages),
            "seconds": sum(s["seconds"] or 0 for s in stages),
            "device": ", ".join(sorted({str(s["device"]) for s in stages})),
        },
        "stages": stages,
        "validation_cer": data.get("metrics", {}).get("cer"),
        "validation_cer_by_source": per_source,
        "line_sources": manifest["line_sources"],
        "synthetic": {k: v for k, v in synthetic.items() if k != "ids"},
        "text_sources": load_sources()["text_sources"],
        "fonts": load_sources()["fonts"],
    }
    # fp16 halves the file; the loader casts back to float32 on load_state_dict.
    data["state_dict"] = {k: v.half() if v.is_floating_point() else v for k, v in data["state_dict"].items()}
    data["training"] = None
    # No character LM: one fitted on a dozen sources in four languages would pull
    # a project's readings toward the corpus's French; each project's first
    # fine-tune fits its own LM on its own text. It is also most of the file.
    data["lm"] = None
    data["meta"] = {**meta, "base": name, "card": card}
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    path = save_atomic(data, MODELS_DIR / f"{name}.pt")
    (MODELS_DIR / f"{name}.json").write_text(json.dumps(card, indent=1, ensure_ascii=False), encoding="utf-8")
    (MODELS_DIR / f"{name}.md").write_text(model_card_markdown(card), encoding="utf-8")
    return path


def _base_card(spec: str) -> dict[str, Any]:
    """The card of the model a run continued from (the shipped JSON beside it, else the
    one in its checkpoint), with its training as a first stage if it predates stages."""
    beside = resolve_checkpoint(spec).with_suffix(".json")
    if beside.exists():
        card = json.loads(beside.read_text(encoding="utf-8"))
    else:
        card = dict(load_checkpoint(spec).meta.get("card", {}))
    if card and not card.get("stages"):
        first = {"command": card.get("pretrained_by"), **card.get("training", {})}
        card["stages"] = [{**first, "validation_cer": card.get("validation_cer")}]
    return card


def model_card_markdown(card: dict[str, Any]) -> str:
    training = card["training"]
    hours = (training.get("seconds") or 0) / 3600
    lines = [
        f"# Base model `{card['name']}`",
        "",
        "A CNN + BiLSTM + CTC line recognizer for Latin-script handwriting and print, the starting point of "
        "every Lineproof project (`base:" + card["name"] + "`).",
        "",
        "## Training",
        f"- Commands: `{card['pretrained_by']}`, then `{card['made_by']}` at commit `{card['commit']}`.",
        f"- Compute: {training.get('steps')} optimizer steps, {training.get('lines_trained')} lines, "
        f"{hours:.2f} hours on {training.get('device')}.",
        *[
            f"  - stage {n}: `{stage['command']}`: {stage['steps']} steps, {stage['lines_trained']} lines, "
            f"{(stage['seconds'] or 0) / 3600:.2f} hours, validation CER {stage['validation_cer'] or 0:.4f}"
            for n, stage in enumerate(card.get("stages", []), start=1)
        ],
        f"- Network: {card['parameters']} parameters, input height {card['model_config']['height']} px, "
        f"blocks {card['model_config']['blocks']}, LSTM {card['model_config']['lstm_layers']} x "
        f"{card['model_config']['lstm_hidden']}.",
        f"- Validation CER (held-out pages of every source): {card['validation_cer']:.4f}.",
        "",
        "## Validation CER by source",
        "",
        "Held-out pages (one in 25, by a hash of the page's path); sources too small to have one are absent.",
        "",
        "| source | CER |",
        "|---|---|",
        *[f"| {source} | {value:.4f} |" for source, value in card["validation_cer_by_source"].items()],
        "",
        "## Sources and licences",
        "",
        "| source | repository @ commit | kind | languages | licence | pages | lines | characters |",
        "|---|---|---|---|---|---|---|---|",
        *[
            f"| {s['name']} | {s['repo']} @ `{s['commit'][:10]}` | {s['kind']} | {', '.join(s['languages'])} | "
            f"{s['licence']} | {s['pages']} | {s['lines']} | {s['characters']} |"
            for s in card["line_sources"]
        ],
        "",
        "Attribution:",
        "",
        *[f"- {s['attribution']}." for s in card["line_sources"]],
        "",
        f"Synthetic lines: {card['synthetic']['lines']} lines, {card['synthetic']['characters']} characters, "
        f"{card['synthetic']['fonts']} font files from Debian's packages "
        f"({', '.join(f['package'] for f in card['fonts'])}), text from public-domain books "
        f"({', '.join(t['repo'] for t in card['text_sources'])}) and the corpus's own training lines.",
        "",
        "Left out on purpose: the benchmark collections `hooker` (JosephHookerHTR) and `fraktur19` "
        "(19th-century-fraktur-OCR / GT4HistOCR), and HTR-United/tapuscorpus and alix-tz/peraire-ground-truth.",
        "",
        "## Alphabet",
        "",
        "```",
        card["alphabet"],
        "```",
        "",
    ]
    return "\n".join(lines)
