"""Training data: line samples, folders, split files, batching.

Three sources give the same ``LineSample`` list:

* a folder of ``<id>.png`` + ``<id>.gt.txt`` pairs (the kraken/tesstrain
  convention; ``.jpg``/``.jpeg``/``.tif``/``.tiff`` images too),
* a dataset folder with a ``split.json`` of ``train``/``val``/``test`` id lists,
* in-memory samples built by the caller (the annotator passes decoded crops).

Images are decoded and height-normalised once, up front, and kept as uint8
arrays: re-decoding PNGs every epoch would cost more than the network on two
cores. Batches group lines of similar width so padding stays small.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from recognition.augment import AugmentConfig, augment_line
from recognition.codec import Codec, normalize_text
from recognition.images import ImageError, load_line_image, prepare_line, to_network_input

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
SPLITS = ("train", "val", "test")


class DataError(ValueError):
    """Training data that cannot be used, with the reason."""


@dataclass(frozen=True)
class LineSample:
    """One line: an id, its ground truth and either a file or decoded pixels.

    ``image`` is a (H, W) uint8 array, 255 = paper, when the caller already
    holds the pixels; otherwise ``path`` is read on demand. ``weight`` scales
    the line's training loss: 1 for verified text, less for a pseudo-label
    (the model's own confident reading, used in self-training).
    """

    id: str
    text: str
    path: Path | None = None
    image: np.ndarray | None = None
    weight: float = 1.0

    def load(self) -> np.ndarray:
        if self.image is not None:
            return self.image
        if self.path is None:
            raise DataError(f"line {self.id} has neither an image nor a path")
        return load_line_image(self.path)


def read_ground_truth(path: Path) -> str:
    """Text of a ``.gt.txt`` file: UTF-8 (a BOM is allowed), one line, NFC."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start}: {raw[exc.start : exc.start + 1]!r})") from exc
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > 1:
        raise DataError(f"{path}: expected one line of text, found {len(lines)}")
    return normalize_text(lines[0]) if lines else ""


def _image_for(folder: Path, line_id: str) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        candidate = folder / f"{line_id}{suffix}"
        if candidate.exists():
            return candidate
    return None


def load_line_folder(folder: Path | str, *, ids: Sequence[str] | None = None) -> list[LineSample]:
    """Samples from ``<id>.<image>`` + ``<id>.gt.txt`` pairs in ``folder``.

    With ``ids`` only those lines, in that order, and a missing one is an
    error; without, every ground-truth file that has an image, sorted by id.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder")
    if ids is None:
        ids = sorted(p.name[: -len(".gt.txt")] for p in folder.glob("*.gt.txt"))
        wanted_strictly = False
    else:
        wanted_strictly = True
    samples = []
    for line_id in ids:
        image_path = _image_for(folder, line_id)
        gt_path = folder / f"{line_id}.gt.txt"
        if image_path is None or not gt_path.exists():
            if wanted_strictly:
                raise DataError(f"{folder}: line {line_id} lacks its image or .gt.txt")
            continue
        samples.append(LineSample(id=line_id, text=read_ground_truth(gt_path), path=image_path))
    if not samples:
        raise DataError(f"{folder}: no <id>.png + <id>.gt.txt pairs found")
    return samples


def load_split(dataset: Path | str, split_file: Path | str | None = None) -> dict[str, list[LineSample]]:
    """Train/val/test samples of a dataset folder with ``split.json``.

    Images are looked up in ``<dataset>/lines`` when that exists, else in
    ``<dataset>`` itself.
    """
    dataset = Path(dataset)
    split_path = Path(split_file) if split_file else dataset / "split.json"
    try:
        split = json.loads(split_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{split_path}: cannot read split file ({exc})") from exc
    if not isinstance(split, dict):
        raise DataError(f"{split_path}: expected an object of train/val/test id lists, got {type(split).__name__}")
    for name in SPLITS:
        ids = split.get(name)
        if ids is not None and not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
            raise DataError(f"{split_path}: {name!r} must be a list of line ids (strings)")
    folder = dataset / "lines" if (dataset / "lines").is_dir() else dataset
    return {name: load_line_folder(folder, ids=split[name]) for name in SPLITS if split.get(name)}


def prepare_images(
    samples: Sequence[LineSample], height: int, *, binarize: bool = False, threads: int = 2
) -> list[np.ndarray]:
    """Decode and height-normalise every sample: a list of (height, W) uint8 arrays."""

    def one(sample: LineSample) -> np.ndarray:
        try:
            return prepare_line(sample.load(), height, binarize_input=binarize)
        except ImageError as exc:
            raise DataError(f"line {sample.id}: {exc}") from exc

    # PNG decoding and cv2.resize release the GIL, so threads overlap well.
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        return list(pool.map(one, samples))


class LineDataset(Dataset[tuple[torch.Tensor, list[int], int]]):
    """Height-normalised lines with their labels; augments when asked.

    An item is ``(image, labels, index)``: image (1, H, W) float32 with ink
    high, labels the codec's ints.
    """

    def __init__(
        self,
        images: Sequence[np.ndarray],
        texts: Sequence[str],
        codec: Codec,
        *,
        augment: AugmentConfig | None = None,
        seed: int = 0,
    ) -> None:
        if len(images) != len(texts):
            raise ValueError("images and texts differ in length")
        self.images = list(images)
        self.labels = [codec.encode(text, on_unknown="drop") for text in texts]
        self.augment = augment
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.images)

    def widths(self) -> list[int]:
        return [image.shape[1] for image in self.images]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, list[int], int]:
        image = self.images[index]
        if self.augment is not None and self.augment.enabled:
            image = augment_line(image, self.rng, self.augment)
        pixels = torch.from_numpy(to_network_input(image)).unsqueeze(0)
        return pixels, self.labels[index], index


@dataclass
class Batch:
    """Padded images (B, 1, H, W_max), true widths (B,), CTC targets.

    ``targets`` is the concatenation of every line's labels (sum of
    ``target_lengths``), the layout ``nn.CTCLoss`` takes.
    """

    images: torch.Tensor
    widths: torch.Tensor
    targets: torch.Tensor
    target_lengths: torch.Tensor
    indices: list[int]

    def to(self, device: torch.device) -> Batch:
        return Batch(
            self.images.to(device, non_blocking=True),
            self.widths.to(device),
            self.targets,
            self.target_lengths,
            self.indices,
        )


def collate(items: Sequence[tuple[torch.Tensor, list[int], int]]) -> Batch:
    height = items[0][0].shape[1]
    max_width = max(image.shape[2] for image, _, _ in items)
    images = torch.zeros(len(items), 1, height, max_width)
    for row, (image, _, _) in enumerate(items):
        images[row, :, :, : image.shape[2]] = image
    widths = torch.tensor([image.shape[2] for image, _, _ in items], dtype=torch.long)
    targets = torch.tensor([label for _, labels, _ in items for label in labels], dtype=torch.long)
    target_lengths = torch.tensor([len(labels) for _, labels, _ in items], dtype=torch.long)
    return Batch(images, widths, targets, target_lengths, [index for _, _, index in items])


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of similar-width lines, in a fresh random order each epoch.

    Lines are shuffled, cut into pools of ``pool_batches`` batches, sorted by
    width inside each pool and batched; so a batch holds neighbours in width
    (little padding) while the epoch order stays random.
    """

    def __init__(
        self, widths: Sequence[int], batch_size: int, *, seed: int = 0, pool_batches: int = 50, shuffle: bool = True
    ) -> None:
        self.widths = np.asarray(widths)
        self.batch_size = batch_size
        self.pool = batch_size * pool_batches
        self.shuffle = shuffle
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.widths) / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        order = self.rng.permutation(len(self.widths)) if self.shuffle else np.arange(len(self.widths))
        batches: list[list[int]] = []
        for start in range(0, len(order), self.pool):
            pool = order[start : start + self.pool]
            pool = pool[np.argsort(self.widths[pool], kind="stable")]
            batches.extend(pool[i : i + self.batch_size].tolist() for i in range(0, len(pool), self.batch_size))
        if self.shuffle:
            batches = [batches[i] for i in self.rng.permutation(len(batches))]
        yield from batches

    def state(self) -> dict[str, object]:
        return {"rng": self.rng.bit_generator.state}

    def load_state(self, state: dict[str, object]) -> None:
        self.rng.bit_generator.state = cast("dict[str, Any]", state["rng"])


def width_sorted_batches(widths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Index batches in width order, for evaluation and inference."""
    order = np.argsort(np.asarray(widths), kind="stable")
    return [order[i : i + batch_size].tolist() for i in range(0, len(order), batch_size)]
