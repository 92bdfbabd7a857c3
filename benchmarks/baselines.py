"""External baselines for the line-recognition benchmark: kraken 7 and Tesseract 5.

The benchmark compares our recognizer with two established engines on the same
already-segmented line images (``/work/shared/datasets/<name>/lines``):

* **kraken 7.1.1**, trained from scratch with its *default* VGSL network on the
  dataset's train split (validated on the val split) for a fixed wall-clock
  budget, then run on the test split.  kraken lives in its own virtualenv
  (:func:`ensure_kraken`) because its torch/torchvision/lightning pins clash
  with ours; everything kraken-side runs as a child process of that venv's
  Python, driven by small scripts embedded in this module.
* **Tesseract 5** from Debian, off the shelf (no training), ``--psm 7`` (a
  single text line), ``eng`` for handwriting and ``frk`` for Fraktur.

Every runner reports wall seconds and the child's peak resident memory, taken
from ``os.wait4`` (``ru_maxrss``, KiB on Linux: the maximum of the child and
the descendants it reaped, e.g. data-loader workers), so that speed and
memory can be tabulated beside accuracy.

Scoring is left to the caller: the predict functions return ``{id: text}``
and :func:`read_references` gives the matching ground truth, ready for
``recognition.metrics.cer/wer/ser``.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "KRAKEN_VERSION",
    "TESSERACT_LANGS",
    "KrakenTrainResult",
    "PredictResult",
    "ProcessStats",
    "ensure_kraken",
    "ensure_tesseract",
    "kraken_predict",
    "kraken_train",
    "prepare_split",
    "read_references",
    "run_measured",
    "split_ids",
    "tesseract_predict",
]

KRAKEN_VERSION = "7.1.1"
# kraken pulls torch/torchvision from the index; the default torchvision build
# found there does not match the torch it gets ("operator torchvision::nms does
# not exist"), so a known-good pair is installed first.  Both lie in pip's
# configured find-links/local index on this machine.
_KRAKEN_TORCH_PINS = ("torch==2.14.1", "torchvision==0.29.1")

# Tesseract language per dataset: handwriting has no dedicated model, so the
# generic English one is the honest off-the-shelf choice.
TESSERACT_LANGS = {"hooker": "eng", "fraktur19": "frk"}

_IMAGE_SUFFIX = ".png"
_GT_SUFFIX = ".gt.txt"
_DEFAULT_SAMPLE_SEED = 0


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


def split_ids(
    dataset_dir: Path,
    split: str,
    limit: int | None = None,
    seed: int = _DEFAULT_SAMPLE_SEED,
) -> list[str]:
    """Return the line ids of one split, optionally a deterministic subset.

    With ``limit`` the subset is a seeded random sample (``random.Random(seed)``)
    kept in ``split.json`` order.  A sample rather than the first N ids because
    the splits are grouped by letter/book: the first N lines would come from
    only a few documents and misrepresent the split.
    """
    splits = json.loads((dataset_dir / "split.json").read_text(encoding="utf-8"))
    if split not in splits or not isinstance(splits[split], list):
        raise KeyError(f"{dataset_dir / 'split.json'} has no id list {split!r}")
    ids: list[str] = list(splits[split])
    if limit is None or limit >= len(ids):
        return ids
    if limit <= 0:
        raise ValueError(f"limit must be positive, got {limit}")
    chosen = set(random.Random(seed).sample(ids, limit))
    return [line_id for line_id in ids if line_id in chosen]


def prepare_split(dataset_dir: Path, split: str, work_dir: Path, limit: int | None = None) -> Path:
    """Build a folder of ``<id>.png`` + ``<id>.gt.txt`` symlinks for one split.

    This is the layout of kraken's ``ketos train -f path`` (image and
    transcription share the prefix up to the last extension) and needs no copy
    of the data.  The folder is ``work_dir/<dataset>/<split>[-<limit>]`` and is
    rebuilt on every call, so a stale subset never leaks into a run.  The
    subset rule is that of :func:`split_ids`.  Returns the folder.
    """
    dataset_dir = dataset_dir.resolve()
    ids = split_ids(dataset_dir, split, limit)
    name = split if limit is None else f"{split}-{limit}"
    out = work_dir / dataset_dir.name / name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    lines = dataset_dir / "lines"
    for line_id in ids:
        for suffix in (_IMAGE_SUFFIX, _GT_SUFFIX):
            source = lines / f"{line_id}{suffix}"
            if not source.is_file():
                raise FileNotFoundError(source)
            (out / f"{line_id}{suffix}").symlink_to(source)
    # The id order matters to callers that subset further; record it.
    (out / "ids.json").write_text(json.dumps(ids), encoding="utf-8")
    return out


def _split_items(split_dir: Path) -> list[tuple[str, Path]]:
    """(id, image path) pairs of a prepared split folder, in split order."""
    ids_file = split_dir / "ids.json"
    if ids_file.is_file():
        ids: list[str] = json.loads(ids_file.read_text(encoding="utf-8"))
    else:
        ids = sorted(p.name[: -len(_IMAGE_SUFFIX)] for p in split_dir.glob(f"*{_IMAGE_SUFFIX}"))
    # Absolute, because kraken runs with its output folder as cwd.
    split_dir = split_dir.absolute()
    return [(line_id, split_dir / f"{line_id}{_IMAGE_SUFFIX}") for line_id in ids]


def read_references(split_dir: Path) -> dict[str, str]:
    """Ground truth of a prepared split folder: id -> text without the final newline."""
    refs: dict[str, str] = {}
    for line_id, image in _split_items(split_dir):
        text = image.with_name(f"{line_id}{_GT_SUFFIX}").read_text(encoding="utf-8")
        # Only the line terminator is stripped; other whitespace is scored.
        refs[line_id] = text.removesuffix("\n").removesuffix("\r")
    return refs


# --------------------------------------------------------------------------
# Measured child processes
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessStats:
    """Outcome of one measured child process."""

    returncode: int
    wall_s: float
    peak_rss_kib: int
    # User + system CPU seconds of the child (and the descendants it reaped).
    cpu_s: float = 0.0


def run_measured(
    cmd: Sequence[str | Path],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    log_path: Path | None = None,
    timeout_s: float | None = None,
) -> ProcessStats:
    """Run ``cmd`` and return its exit code, wall time, peak RSS and CPU time.

    ``os.wait4`` reaps exactly this child and returns its own rusage, so the
    peak is not polluted by other children of the benchmark process.  Output
    goes to ``log_path`` (or is discarded) so that chatty progress bars cannot
    fill a pipe.  On ``timeout_s`` the child gets SIGINT first (kraken then
    writes an abort checkpoint), SIGKILL 60 s later.
    """
    log = open(log_path, "ab") if log_path is not None else subprocess.DEVNULL  # noqa: SIM115
    timers: list[threading.Timer] = []
    try:
        start = time.monotonic()
        proc = subprocess.Popen(
            [str(c) for c in cmd],
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        if timeout_s is not None:
            # Timers, not Popen.wait(timeout): wait() would reap the child and
            # its rusage (the peak RSS) would be lost to wait4.
            timers = [
                threading.Timer(timeout_s, proc.send_signal, (signal.SIGINT,)),
                threading.Timer(timeout_s + 60, proc.kill),
            ]
            for timer in timers:
                timer.daemon = True
                timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        for timer in timers:
            timer.cancel()
        if not isinstance(log, int):
            log.close()
    return ProcessStats(
        returncode=proc.returncode,
        wall_s=wall,
        peak_rss_kib=int(usage.ru_maxrss),
        cpu_s=float(usage.ru_utime + usage.ru_stime),
    )


def _run_checked(cmd: Sequence[str | Path], what: str, log_path: Path, **kwargs: object) -> ProcessStats:
    stats = run_measured(cmd, log_path=log_path, **kwargs)  # type: ignore[arg-type]
    if stats.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:] if log_path.exists() else ""
        raise RuntimeError(f"{what} failed with exit code {stats.returncode}; log {log_path}:\n{tail}")
    return stats


# --------------------------------------------------------------------------
# kraken
# --------------------------------------------------------------------------


def _venv_bin(venv_dir: Path, name: str) -> Path:
    return venv_dir / "bin" / name


def _kraken_works(venv_dir: Path) -> bool:
    """True when the venv imports torchvision's C ops and kraken, and ketos runs."""
    python = _venv_bin(venv_dir, "python")
    if not python.exists():
        return False
    probe = f"import torchvision.ops, kraken, importlib.metadata as m;assert m.version('kraken') == {KRAKEN_VERSION!r}"
    checks = [[str(python), "-c", probe], [str(_venv_bin(venv_dir, "ketos")), "--help"]]
    return all(subprocess.run(c, capture_output=True, check=False).returncode == 0 for c in checks)


def ensure_kraken(venv_dir: Path) -> Path:
    """Create ``venv_dir`` with kraken installed, unless it already works; return it.

    A separate venv, because kraken pins lightning/scikit-image/scipy versions
    and a torch range that our own environment must not be forced into.  Order
    matters: the torch/torchvision pair goes in first (see
    ``_KRAKEN_TORCH_PINS``), then kraken, which accepts it.  Takes about 2
    minutes from local wheels and ~6 GB of disk (CUDA wheels, unused on CPU).
    """
    venv_dir = venv_dir.absolute()
    if _kraken_works(venv_dir):
        return venv_dir
    venv_dir.parent.mkdir(parents=True, exist_ok=True)
    log = venv_dir.parent / f"{venv_dir.name}-install.log"
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv_dir)], check=True)
    pip = [str(_venv_bin(venv_dir, "python")), "-m", "pip", "install", "--quiet"]
    _run_checked([*pip, *_KRAKEN_TORCH_PINS], "pip install torch", log)
    _run_checked([*pip, f"kraken=={KRAKEN_VERSION}"], "pip install kraken", log)
    if not _kraken_works(venv_dir):
        raise RuntimeError(f"kraken installed into {venv_dir} but does not import or run; see {log}")
    return venv_dir


# Runs inside the kraken venv.  It calls ketos's own `train` command unchanged
# (default network, default schedule) and only patches KrakenTrainer to add
# lightning's `max_time`, because ketos exposes no wall-clock limit.  When
# lightning's Timer fires it sets `should_stop`; the epoch loop then runs one
# last validation (min_epochs is 0), ModelCheckpoint keeps the best checkpoint
# and ketos converts the best one to `best_<score>.safetensors` as usual.
# A stats callback counts the lines actually trained and the parameters.
_KRAKEN_TRAIN_DRIVER = r"""
import datetime, json, sys, time
import kraken.train
from lightning.pytorch.callbacks import Callback

stats_path, max_seconds, args = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
stats = {"lines": 0, "steps": 0, "epochs": 0, "validations": 0, "val_s": 0.0,
         "params": 0, "train_start": None, "fit_s": None, "metrics": {}}
t0 = time.monotonic()

def dump():
    with open(stats_path, "w") as fp:
        json.dump(stats, fp)

class Stats(Callback):
    def on_fit_start(self, trainer, module):
        stats["params"] = sum(p.numel() for p in module.parameters())
        stats["train_start"] = time.monotonic() - t0
        dump()
    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        stats["lines"] += int(batch["image"].shape[0])
        stats["steps"] += 1
    def on_train_epoch_end(self, trainer, module):
        stats["epochs"] += 1
    def on_validation_start(self, trainer, module):
        self._v = time.monotonic()
    def on_validation_end(self, trainer, module):
        stats["val_s"] += time.monotonic() - self._v
        stats["validations"] += 1
        stats["metrics"] = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
        dump()
    def on_fit_end(self, trainer, module):
        stats["fit_s"] = time.monotonic() - t0 - stats["train_start"]
        dump()

_init = kraken.train.KrakenTrainer.__init__
def init(self, *a, **kw):
    kw["max_time"] = datetime.timedelta(seconds=max_seconds)
    kw["callbacks"] = list(kw.get("callbacks") or []) + [Stats()]
    _init(self, *a, **kw)
kraken.train.KrakenTrainer.__init__ = init

from kraken.ketos import cli
try:
    cli.main(args=args, prog_name="ketos", standalone_mode=False)
finally:
    dump()
"""


@dataclass(frozen=True)
class KrakenTrainResult:
    """A finished kraken training run.

    ``lines_trained`` counts training samples actually seen (all epochs), so
    ``lines_per_s`` is training throughput over the time spent in training
    steps (fit time minus validation time).
    """

    model: Path
    wall_s: float
    lines_trained: int
    epochs_completed: int
    train_s: float
    val_s: float
    parameters: int
    peak_rss_kib: int
    best_val_accuracy: float | None
    log: Path

    @property
    def lines_per_s(self) -> float:
        return self.lines_trained / self.train_s if self.train_s > 0 else 0.0


def _write_manifest(split_dir: Path, path: Path) -> Path:
    path.write_text("".join(f"{image}\n" for _, image in _split_items(split_dir)), encoding="utf-8")
    return path


def _best_checkpoint(out_dir: Path) -> Path | None:
    """Best ``checkpoint_<epoch>-<val_metric>.ckpt`` by its score (higher is better)."""
    scored: list[tuple[float, Path]] = []
    for ckpt in out_dir.glob("checkpoint_*-*.ckpt"):
        match = re.search(r"-(\d+\.\d+)\.ckpt$", ckpt.name)
        if match:
            scored.append((float(match.group(1)), ckpt))
    return max(scored)[1] if scored else None


def kraken_train(
    kraken_venv: Path,
    train_dir: Path,
    val_dir: Path,
    out_dir: Path,
    *,
    minutes: float,
    threads: int = 2,
    batch_size: int | None = None,
    workers: int = 1,
    seed: int = 42,
    extra_args: Sequence[str] = (),
) -> KrakenTrainResult:
    """Train kraken's default recognition network for ``minutes`` of wall clock.

    ``train_dir``/``val_dir`` are folders from :func:`prepare_split`; the val
    split is passed with ``-e`` so kraken validates (and picks its best
    checkpoint) on it instead of carving a partition out of train.

    Budget: lightning's ``max_time`` is injected (see ``_KRAKEN_TRAIN_DRIVER``)
    and counts from trainer start, so dataset loading before it (~seconds) and
    the final validation pass plus conversion after it are *not* in the budget;
    ``wall_s`` reports the true total.  The early-stopping rule stays on (as
    kraken defaults) but cannot trigger in a short budget.  As a backstop the
    process is interrupted at 1.5x the budget + 5 min and the best checkpoint
    saved so far is converted.

    ``batch_size=None`` keeps kraken's default (1); ``threads`` sets ketos's
    OpenMP/BLAS pool (its default is 1, which would waste the second core).
    """
    kraken_venv = kraken_venv.absolute()
    out_dir = out_dir.absolute()
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    driver = out_dir / "train_driver.py"
    driver.write_text(_KRAKEN_TRAIN_DRIVER, encoding="utf-8")
    stats_path, log = out_dir / "train_stats.json", out_dir / "train.log"
    args = [
        "--device", "cpu",
        "--threads", str(threads),
        "--workers", str(workers),
        "--seed", str(seed),
        "-v",  # verbose mode disables the rich progress bar, which floods the log
        "train",
        "-f", "path",
        "-o", str(out_dir),
        "-t", str(_write_manifest(train_dir, out_dir / "train.txt")),
        "-e", str(_write_manifest(val_dir, out_dir / "val.txt")),
    ]  # fmt: skip
    if batch_size is not None:
        args += ["-B", str(batch_size)]
    args += list(extra_args)
    budget_s = minutes * 60.0
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    proc = run_measured(
        [
            _venv_bin(kraken_venv, "python"),
            driver,
            stats_path,
            f"{budget_s:.1f}",
            *args,
        ],
        env=env,
        cwd=out_dir,
        log_path=log,
        timeout_s=budget_s * 1.5 + 300,
    )
    models = sorted(out_dir.glob("best_*.safetensors"))
    if not models:
        # Interrupted by the backstop (or ketos failed after saving something):
        # convert the best checkpoint ourselves.
        ckpt = _best_checkpoint(out_dir)
        if ckpt is None:
            tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise RuntimeError(f"kraken training produced no checkpoint (exit {proc.returncode}); {log}:\n{tail}")
        target = out_dir / "best_fallback.safetensors"
        _run_checked(
            [_venv_bin(kraken_venv, "ketos"), "convert", "-o", target, ckpt],
            "ketos convert",
            log,
        )
        models = [target]
    stats = json.loads(stats_path.read_text(encoding="utf-8"))
    fit_s = stats["fit_s"] if stats["fit_s"] is not None else proc.wall_s - (stats["train_start"] or 0.0)
    metrics = stats.get("metrics", {})
    return KrakenTrainResult(
        model=models[-1],
        wall_s=proc.wall_s,
        lines_trained=int(stats["lines"]),
        epochs_completed=int(stats["epochs"]),
        train_s=max(fit_s - stats["val_s"], 0.0),
        val_s=float(stats["val_s"]),
        parameters=int(stats["params"]),
        peak_rss_kib=proc.peak_rss_kib,
        best_val_accuracy=metrics.get("val_accuracy", metrics.get("val_metric")),
        log=log,
    )


# Runs inside the kraken venv: one process, model loaded once, each whole line
# image recognised as a single bbox line (what `kraken ocr --no-segmentation`
# does per image, minus a process and a model load per line).
_KRAKEN_PREDICT_DRIVER = r"""
import json, sys, torch
from kraken.configs import RecognitionInferenceConfig
from kraken.containers import BBoxLine, Segmentation
from kraken.lib.util import open_image
from kraken.tasks import RecognitionTaskModel

model_path, items_path, out_path, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
torch.set_num_threads(threads)
model = RecognitionTaskModel.load_model(model_path)
# num_line_workers=0: extract in-process; a worker pool per one-line image costs more than it saves.
config = RecognitionInferenceConfig(num_line_workers=0)
with open(items_path) as fp:
    items = json.load(fp)
with open(out_path, "w", encoding="utf-8") as out:
    for line_id, path in items:
        im = open_image(path)
        seg = Segmentation(type="bbox", imagename=path, text_direction="horizontal-lr", script_detection=False,
                           lines=[BBoxLine(id=line_id, bbox=(0, 0, im.width, im.height))])
        text = "".join(record.prediction for record in model.predict(im=im, segmentation=seg, config=config))
        out.write(json.dumps({"id": line_id, "text": text}, ensure_ascii=False) + "\n")
"""


@dataclass(frozen=True)
class PredictResult:
    """Hypotheses of one engine on one split, with cost figures.

    ``wall_s`` includes process start and model loading (the cost a user pays);
    ``peak_rss_kib`` is the largest single process's peak, or for sharded
    Tesseract runs the sum over the concurrently running shards.
    """

    texts: dict[str, str]
    wall_s: float
    peak_rss_kib: int

    @property
    def lines_per_s(self) -> float:
        return len(self.texts) / self.wall_s if self.wall_s > 0 else 0.0


def kraken_predict(kraken_venv: Path, model: Path, test_dir: Path, *, threads: int = 2) -> PredictResult:
    """Recognise every line of a prepared split folder with a kraken model."""
    items = [(line_id, str(image)) for line_id, image in _split_items(test_dir)]
    work = model.absolute().parent / f"predict-{test_dir.parent.name}-{test_dir.name}"
    work.mkdir(parents=True, exist_ok=True)
    driver, items_path, out_path = (
        work / "predict_driver.py",
        work / "items.json",
        work / "predictions.jsonl",
    )
    driver.write_text(_KRAKEN_PREDICT_DRIVER, encoding="utf-8")
    items_path.write_text(json.dumps(items), encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    stats = _run_checked(
        [
            _venv_bin(kraken_venv.absolute(), "python"),
            driver,
            model.absolute(),
            items_path,
            out_path,
            str(threads),
        ],
        "kraken prediction",
        work / "predict.log",
        env=env,
    )
    texts: dict[str, str] = {}
    for row in out_path.read_text(encoding="utf-8").splitlines():
        record = json.loads(row)
        texts[record["id"]] = record["text"]
    missing = {line_id for line_id, _ in items} - texts.keys()
    if missing:
        raise RuntimeError(f"kraken gave no output for {len(missing)} lines, e.g. {sorted(missing)[:3]}")
    return PredictResult(texts=texts, wall_s=stats.wall_s, peak_rss_kib=stats.peak_rss_kib)


# --------------------------------------------------------------------------
# Tesseract
# --------------------------------------------------------------------------


def _tesseract_langs() -> set[str]:
    result = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True, check=True)
    return {line.strip() for line in result.stdout.splitlines()[1:] if line.strip()}


def ensure_tesseract(langs: Sequence[str] = ("eng", "frk")) -> None:
    """Install Tesseract 5 and the ``langs`` models from Debian when missing.

    Debian bookworm ships tesseract-ocr 5.3.0 with the 4.1.0 ``tessdata_fast``
    models (``tesseract-ocr-<lang>``); ``frk`` is the Fraktur model.
    """
    have = _tesseract_langs() if shutil.which("tesseract") else set()
    missing = [lang for lang in langs if lang not in have]
    if shutil.which("tesseract") and not missing:
        return
    if shutil.which("apt-get") is None:
        raise RuntimeError(
            "Tesseract (or languages " + ", ".join(missing) + ") missing and apt-get is unavailable: install "
            "tesseract-ocr " + " ".join(f"tesseract-ocr-{lang}" for lang in missing) + " by other means"
        )
    packages = ["tesseract-ocr", *(f"tesseract-ocr-{lang}" for lang in missing)]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Needs root; the clear error from apt is better than guessing about sudo.
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
        check=True,
        env=env,
    )
    still = [lang for lang in langs if lang not in _tesseract_langs()]
    if still:
        raise RuntimeError(f"Tesseract languages still missing after apt-get install: {still}")


def tesseract_predict(test_dir: Path, lang: str, *, jobs: int = 2) -> PredictResult:
    """Recognise every line of a prepared split folder with stock Tesseract.

    ``--psm 7`` treats each image as one text line.  Rather than one process
    (and model load) per line, the lines are cut into ``jobs`` contiguous
    shards; each shard is a list file given to one tesseract process, which
    writes one text per image separated by form feeds (``page_separator``,
    emitted before every page but the first), in list order, so outputs map
    back to ids by position.  The count is checked; a shard whose count is
    off is redone line by line.  ``OMP_THREAD_LIMIT=1`` because the shards
    already occupy the cores and tesseract's OpenMP threads only contend.
    """
    items = _split_items(test_dir)
    work = test_dir.parent / f"tesseract-{lang}-{test_dir.name}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    jobs = max(1, min(jobs, len(items)))
    shards = [items[i::jobs] for i in range(jobs)]  # interleaved so shards take similar time
    start = time.monotonic()
    procs: list[tuple[list[tuple[str, Path]], Path, subprocess.Popen[bytes]]] = []
    for n, shard in enumerate(shards):
        listing = work / f"shard{n}.txt"
        listing.write_text("".join(f"{image.absolute()}\n" for _, image in shard), encoding="utf-8")
        base = work / f"shard{n}"
        cmd = ["tesseract", str(listing), str(base), "-l", lang, "--psm", "7"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append((shard, base, proc))
    texts: dict[str, str] = {}
    peak = 0
    for shard, base, proc in procs:
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        peak += int(usage.ru_maxrss)  # shards run concurrently, so their peaks add up
        pages = base.with_suffix(".txt").read_text(encoding="utf-8").split("\f") if proc.returncode == 0 else []
        if len(pages) != len(shard):
            pages = [_tesseract_one(image, lang, env) for _, image in shard]
        for (line_id, _), page in zip(shard, pages, strict=True):
            texts[line_id] = _clean_tesseract(page)
    wall = time.monotonic() - start
    return PredictResult(texts=texts, wall_s=wall, peak_rss_kib=peak)


def _tesseract_one(image: Path, lang: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        ["tesseract", str(image), "stdout", "-l", lang, "--psm", "7"],
        env=env,
        capture_output=True,
        check=True,
    )
    return result.stdout.decode("utf-8", errors="replace")


def _clean_tesseract(page: str) -> str:
    """One line of text from Tesseract's page output.

    With ``--psm 7`` the page is a single line plus newline(s); should it ever
    split the line, the parts are joined by a space, like words on one line.
    """
    return " ".join(part.strip() for part in page.splitlines() if part.strip())
