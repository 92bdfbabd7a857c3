"""Tests for recognition.data: line folders, ground truth, splits, datasets, collation and batching."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from recognition.augment import AugmentConfig
from recognition.codec import Codec
from recognition.data import (
    BucketBatchSampler,
    DataError,
    LineDataset,
    LineSample,
    collate,
    load_line_folder,
    load_split,
    prepare_images,
    read_ground_truth,
    width_sorted_batches,
)
from recognition.synthetic import render_line

DECOMPOSED = "cafe\u0301"
PRECOMPOSED = "caf\u00e9"


def _write_line(folder: Path, line_id: str, text: str, *, suffix: str = ".png", seed: int = 0) -> Path:
    """Render ``text``, save it as ``<id><suffix>`` with its ``<id>.gt.txt``; returns the image path."""
    folder.mkdir(parents=True, exist_ok=True)
    image_path = folder / f"{line_id}{suffix}"
    Image.fromarray(render_line(text, rng=np.random.default_rng(seed), height=24)).save(image_path)
    (folder / f"{line_id}.gt.txt").write_text(text + "\n", encoding="utf-8")
    return image_path


# --- load_line_folder ----------------------------------------------------------------------


def test_load_line_folder_pairs_images_with_ground_truth_sorted_by_id(tmp_path: Path) -> None:
    _write_line(tmp_path, "b_002", "Dear sir", seed=1)
    _write_line(tmp_path, "a_001", "Kew 1884.", seed=2)
    _write_line(tmp_path, "c_003", "thank you", suffix=".jpg", seed=3)

    samples = load_line_folder(tmp_path)

    assert [s.id for s in samples] == ["a_001", "b_002", "c_003"]
    assert [s.text for s in samples] == ["Kew 1884.", "Dear sir", "thank you"]
    assert [s.path for s in samples] == [tmp_path / "a_001.png", tmp_path / "b_002.png", tmp_path / "c_003.jpg"]
    for sample in samples:
        pixels = sample.load()
        assert pixels.dtype == np.uint8
        assert pixels.shape[0] == 24


def test_load_line_folder_ignores_images_without_ground_truth_and_orphan_ground_truth(tmp_path: Path) -> None:
    _write_line(tmp_path, "kept", "garden")
    _write_line(tmp_path, "no_gt", "plant")
    (tmp_path / "no_gt.gt.txt").unlink()
    (tmp_path / "no_image.gt.txt").write_text("seeds\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not ground truth", encoding="utf-8")

    samples = load_line_folder(tmp_path)

    assert [s.id for s in samples] == ["kept"]


def test_load_line_folder_with_ids_keeps_their_order_and_requires_each(tmp_path: Path) -> None:
    for index, line_id in enumerate(["x", "y", "z"]):
        _write_line(tmp_path, line_id, f"line {line_id}", seed=index)

    assert [s.id for s in load_line_folder(tmp_path, ids=["z", "x"])] == ["z", "x"]
    with pytest.raises(DataError, match=r"line w lacks its image or \.gt\.txt"):
        load_line_folder(tmp_path, ids=["x", "w"])


def test_load_line_folder_without_any_pairs_raises(tmp_path: Path) -> None:
    Image.fromarray(render_line("lonely")).save(tmp_path / "lonely.png")

    with pytest.raises(DataError, match=r"no <id>\.png"):
        load_line_folder(tmp_path)


def test_load_line_folder_on_a_missing_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a folder"):
        load_line_folder(tmp_path / "absent")


# --- read_ground_truth ---------------------------------------------------------------------


def test_read_ground_truth_accepts_a_utf8_bom(tmp_path: Path) -> None:
    path = tmp_path / "a.gt.txt"
    path.write_bytes(b"\xef\xbb\xbf" + "Ångström".encode())

    assert read_ground_truth(path) == "Ångström"


def test_read_ground_truth_rejects_latin1_bytes_naming_the_encoding_problem(tmp_path: Path) -> None:
    path = tmp_path / "a.gt.txt"
    path.write_bytes("café".encode("latin-1"))

    with pytest.raises(DataError, match=r"a\.gt\.txt: not UTF-8 text \(byte 3: b'\\xe9'\)"):
        read_ground_truth(path)


@pytest.mark.parametrize("content", ["first line\nsecond line\n", "one\r\ntwo", "a\n\nb\n"])
def test_read_ground_truth_rejects_more_than_one_line(tmp_path: Path, content: str) -> None:
    path = tmp_path / "a.gt.txt"
    path.write_bytes(content.encode())

    with pytest.raises(DataError, match="expected one line of text, found 2"):
        read_ground_truth(path)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("Dear sir,\n", "Dear sir,"),
        ("Dear sir,\r\n", "Dear sir,"),
        ("\nDear sir,\n\n", "Dear sir,"),
        ("  padded  \n", "padded"),
        ("", ""),
        ("\n", ""),
        (DECOMPOSED + "\n", PRECOMPOSED),
    ],
)
def test_read_ground_truth_strips_newlines_and_normalises_to_nfc(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "a.gt.txt"
    path.write_bytes(content.encode())

    assert read_ground_truth(path) == expected


def test_loaded_sample_text_is_nfc(tmp_path: Path) -> None:
    _write_line(tmp_path, "l1", "cafe")
    (tmp_path / "l1.gt.txt").write_text(DECOMPOSED, encoding="utf-8")

    assert load_line_folder(tmp_path)[0].text == PRECOMPOSED


# --- load_split ----------------------------------------------------------------------------


def _dataset(root: Path) -> Path:
    lines = root / "lines"
    for index in range(5):
        _write_line(lines, f"l{index}", f"line number {index}", seed=index)
    return root


def test_load_split_reads_each_split_in_file_order_from_the_lines_folder(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    (root / "split.json").write_text(json.dumps({"train": ["l3", "l0", "l1"], "val": ["l2"], "test": ["l4"]}))

    splits = load_split(root)

    assert {name: [s.id for s in samples] for name, samples in splits.items()} == {
        "train": ["l3", "l0", "l1"],
        "val": ["l2"],
        "test": ["l4"],
    }
    assert splits["val"][0].text == "line number 2"
    assert splits["val"][0].path == root / "lines" / "l2.png"


def test_load_split_leaves_out_empty_or_absent_splits(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    (root / "split.json").write_text(json.dumps({"train": ["l0"], "val": []}))

    assert list(load_split(root)) == ["train"]


def test_load_split_uses_the_dataset_folder_when_there_is_no_lines_folder(tmp_path: Path) -> None:
    _write_line(tmp_path, "only", "flora")
    split_file = tmp_path / "elsewhere.json"
    split_file.write_text(json.dumps({"test": ["only"]}))

    splits = load_split(tmp_path, split_file)

    assert [s.id for s in splits["test"]] == ["only"]


def test_load_split_with_a_missing_id_raises_naming_it(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    (root / "split.json").write_text(json.dumps({"train": ["l0", "ghost_17"]}))

    with pytest.raises(DataError, match="ghost_17"):
        load_split(root)


def test_load_split_without_a_split_file_raises(tmp_path: Path) -> None:
    root = _dataset(tmp_path)

    with pytest.raises(DataError, match=r"split\.json: cannot read split file"):
        load_split(root)


@pytest.mark.parametrize(
    "content",
    [
        b'{"train": ["l0", ',
        b"not json at all",
        b"",
        b'{"train": ["l\xe9"]}',
        b'["l0", "l1"]',
        b'"l0"',
        b"null",
        b'{"train": "l0"}',
        b'{"train": [0, 1]}',
        b'{"val": {"l0": true}}',
    ],
)
def test_load_split_with_a_malformed_split_file_raises_data_error(tmp_path: Path, content: bytes) -> None:
    root = _dataset(tmp_path)
    (root / "split.json").write_bytes(content)

    with pytest.raises(DataError, match=r"split\.json"):
        load_split(root)


# --- prepare_images ------------------------------------------------------------------------


def test_prepare_images_height_normalises_files_and_in_memory_pixels(tmp_path: Path) -> None:
    path = _write_line(tmp_path, "f", "from a file")
    pixels = np.full((10, 30), 255, np.uint8)
    samples = [LineSample("f", "from a file", path=path), LineSample("m", "in memory", image=pixels)]

    images = prepare_images(samples, 16)

    assert [image.shape[0] for image in images] == [16, 16]
    assert images[1].shape == (16, 48)
    assert all(image.dtype == np.uint8 for image in images)


def test_prepare_images_names_the_line_with_a_bad_image(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"garbage")

    with pytest.raises(DataError, match="line bad: "):
        prepare_images([LineSample("bad", "x", path=bad)], 16)


def test_sample_without_image_or_path_raises() -> None:
    with pytest.raises(DataError, match="neither an image nor a path"):
        LineSample("nothing", "x").load()


# --- LineDataset ---------------------------------------------------------------------------


def _images(widths: list[int], height: int = 8) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (height, width), dtype=np.uint8) for width in widths]


def test_line_dataset_items_are_one_channel_float_images_with_labels_and_index() -> None:
    codec = Codec.from_texts(["abc"])
    images = _images([12, 20])
    dataset = LineDataset(images, ["abc", "cab"], codec)

    assert len(dataset) == 2
    assert dataset.widths() == [12, 20]
    pixels, labels, index = dataset[1]
    assert pixels.shape == (1, 8, 20)
    assert pixels.dtype == torch.float32
    assert labels == [3, 1, 2]
    assert index == 1
    torch.testing.assert_close(pixels[0], torch.from_numpy((255.0 - images[1].astype(np.float32)) / 255.0))


def test_line_dataset_drops_unknown_characters() -> None:
    codec = Codec(("a", "b"))

    dataset = LineDataset(_images([5]), ["axb?"], codec)

    assert dataset[0][1] == [1, 2]


def test_line_dataset_rejects_mismatched_images_and_texts() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        LineDataset(_images([5, 6]), ["a"], Codec(("a",)))


def test_line_dataset_augmentation_keeps_the_height() -> None:
    dataset = LineDataset(_images([40], height=16), ["a"], Codec(("a",)), augment=AugmentConfig(), seed=3)

    pixels, _, _ = dataset[0]

    assert pixels.shape[:2] == (1, 16)
    assert pixels.dtype == torch.float32


# --- collate -------------------------------------------------------------------------------


def test_collate_pads_to_the_widest_line_with_zeros_and_concatenates_targets() -> None:
    items = [
        (torch.full((1, 4, 5), 0.5), [1, 2], 7),
        (torch.full((1, 4, 9), 0.25), [3], 2),
        (torch.full((1, 4, 7), 1.0), [], 4),
        (torch.full((1, 4, 3), 0.75), [2, 2, 1], 0),
    ]

    batch = collate(items)

    assert batch.images.shape == (4, 1, 4, 9)
    assert batch.images.dtype == torch.float32
    assert batch.widths.tolist() == [5, 9, 7, 3]
    for row, (image, _, _) in enumerate(items):
        width = image.shape[2]
        torch.testing.assert_close(batch.images[row, :, :, :width], image)
        assert (batch.images[row, :, :, width:] == 0).all()
    assert batch.targets.tolist() == [1, 2, 3, 2, 2, 1]
    assert batch.target_lengths.tolist() == [2, 1, 0, 3]
    assert int(batch.target_lengths.sum()) == batch.targets.numel()
    assert batch.targets.dtype == torch.long
    assert batch.indices == [7, 2, 4, 0]


def test_collate_of_dataset_items_feeds_ctc_loss() -> None:
    codec = Codec.from_texts(["abc"])
    dataset = LineDataset(_images([16, 24, 20]), ["ab", "cab", "c"], codec)
    batch = collate([dataset[i] for i in range(3)])
    steps = 6
    log_probs = torch.randn(steps, 3, codec.num_classes).log_softmax(2)

    loss = torch.nn.functional.ctc_loss(
        log_probs, batch.targets, torch.full((3,), steps, dtype=torch.long), batch.target_lengths
    )

    assert torch.isfinite(loss)


# --- batching ------------------------------------------------------------------------------


def _random_widths(n: int = 1000, seed: int = 0) -> list[int]:
    return np.random.default_rng(seed).integers(50, 2000, n).tolist()


def _mean_spread(widths: list[int], batches: list[list[int]]) -> float:
    return float(np.mean([max(widths[i] for i in b) - min(widths[i] for i in b) for b in batches]))


def test_bucket_sampler_covers_every_index_exactly_once_per_epoch() -> None:
    widths = _random_widths(1003)
    sampler = BucketBatchSampler(widths, 16, pool_batches=10)

    for _ in range(2):
        batches = list(sampler)
        flat = [i for batch in batches for i in batch]
        assert sorted(flat) == list(range(len(widths)))
        assert len(batches) == len(sampler) == 63
        assert all(len(batch) <= 16 for batch in batches)


def test_bucket_sampler_batches_have_much_less_width_spread_than_random_batches() -> None:
    widths = _random_widths()
    sampler = BucketBatchSampler(widths, 16, pool_batches=20)
    permutation = np.random.default_rng(1).permutation(len(widths)).tolist()
    random_batches = [permutation[i : i + 16] for i in range(0, len(widths), 16)]

    bucketed = _mean_spread(widths, list(sampler))
    random = _mean_spread(widths, random_batches)

    assert bucketed < random / 5


def test_bucket_sampler_order_differs_between_epochs_but_is_reproducible_by_seed() -> None:
    widths = _random_widths(500)
    sampler = BucketBatchSampler(widths, 8, seed=5, pool_batches=10)
    twin = BucketBatchSampler(widths, 8, seed=5, pool_batches=10)

    first, second = list(sampler), list(sampler)

    assert first != second
    assert first == list(twin)
    assert second == list(twin)


def test_bucket_sampler_state_restores_the_next_epoch() -> None:
    widths = _random_widths(200)
    sampler = BucketBatchSampler(widths, 8, seed=1)
    list(sampler)
    state = sampler.state()
    expected = list(sampler)

    restored = BucketBatchSampler(widths, 8, seed=99)
    restored.load_state(state)

    assert list(restored) == expected


def test_bucket_sampler_without_shuffle_is_fixed_and_width_sorted() -> None:
    widths = _random_widths(100)
    sampler = BucketBatchSampler(widths, 10, shuffle=False)

    batches = list(sampler)

    assert batches == list(sampler)
    flat = [widths[i] for batch in batches for i in batch]
    assert flat == sorted(widths)


@pytest.mark.parametrize(("n", "batch_size"), [(0, 4), (1, 4), (10, 3), (12, 4), (57, 8)])
def test_width_sorted_batches_are_sorted_and_complete(n: int, batch_size: int) -> None:
    widths = _random_widths(n, seed=n) if n else []

    batches = width_sorted_batches(widths, batch_size)

    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(n))
    assert [widths[i] for i in flat] == sorted(widths)
    assert all(len(batch) == batch_size for batch in batches[:-1])
    assert len(batches) == -(-n // batch_size)


def test_width_sorted_batches_keep_ties_in_index_order() -> None:
    assert width_sorted_batches([5, 3, 5, 3, 1], 2) == [[4, 1], [3, 0], [2]]
