from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from recognition.checkpoint import CheckpointError, checkpoint_dict, load_checkpoint, save_atomic
from recognition.codec import Codec
from recognition.decoding import ctc_log_likelihood
from recognition.infer import Recognizer
from recognition.model import CRNN
from recognition.train import (
    Progress,
    TrainConfig,
    TrainResult,
    learning_rate,
    train,
    weighted_ctc,
)

from .conftest import TINY_TEXTS, tiny_model_config, tiny_samples, tiny_train_config


def test_training_overfits_a_few_lines_and_decoding_reproduces_them(tiny_run: TrainResult) -> None:
    losses = [entry["loss"] for entry in tiny_run.history]
    assert losses[-1] < losses[0] / 5
    assert tiny_run.best_cer < 0.05
    recognizer = Recognizer.load(tiny_run.best_checkpoint, device="cpu", threads=1)
    predictions = recognizer.predict([sample.load() for sample in tiny_samples()])
    assert sum(p.text == text for p, text in zip(predictions, TINY_TEXTS, strict=True)) >= 3


def test_prediction_spans_and_confidences_line_up_with_the_text(tiny_checkpoint: Path) -> None:
    recognizer = Recognizer.load(tiny_checkpoint, device="cpu", threads=1)
    image = tiny_samples()[0].load()
    [prediction] = recognizer.predict([image])
    assert len(prediction.spans) == len(prediction.text) == len(prediction.char_confidences)
    starts = [start for start, _ in prediction.spans]
    assert starts == sorted(starts)
    assert all(0 <= start < end <= image.shape[1] for start, end in prediction.spans)
    assert all(0.0 <= c <= 1.0 for c in prediction.char_confidences)
    assert 0.0 <= prediction.confidence <= 1.0


def test_beam_search_with_the_checkpoint_language_model_reads_the_lines(tiny_checkpoint: Path) -> None:
    recognizer = Recognizer.load(tiny_checkpoint, device="cpu", threads=1)
    assert recognizer.lm is not None
    predictions = recognizer.predict([s.load() for s in tiny_samples()], beam_width=8)
    assert sum(p.text == text for p, text in zip(predictions, TINY_TEXTS, strict=True)) >= 3


def test_checkpoint_round_trip_rebuilds_the_same_model(tiny_checkpoint: Path, tmp_path: Path) -> None:
    loaded = load_checkpoint(tiny_checkpoint)
    copy = save_atomic(checkpoint_dict(loaded.model, loaded.codec, metrics=loaded.metrics), tmp_path / "copy.pt")
    again = load_checkpoint(copy)
    assert again.codec == loaded.codec
    assert again.config == loaded.config
    images = torch.rand(2, 1, loaded.config.height, 96)
    with torch.no_grad():
        assert torch.equal(loaded.model(images), again.model(images))


def test_atomic_save_keeps_the_old_checkpoint_when_the_write_dies(
    tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "best.pt"
    target.write_bytes(tiny_checkpoint.read_bytes())
    before = target.read_bytes()
    loaded = load_checkpoint(tiny_checkpoint)

    def dies_halfway(obj: object, handle: object) -> None:
        handle.write(b"half a checkpoint")  # type: ignore[attr-defined]
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", dies_halfway)
    with pytest.raises(OSError, match="disk full"):
        save_atomic(checkpoint_dict(loaded.model, loaded.codec), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]


def test_loading_something_that_is_not_a_checkpoint_says_so(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(garbage)
    other = tmp_path / "other.pt"
    torch.save({"format": "something else"}, other)
    with pytest.raises(CheckpointError, match="not a Lineproof checkpoint"):
        load_checkpoint(other)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_widening_the_output_keeps_the_weights_of_known_characters() -> None:
    old_codec = Codec(("a", "c"))
    model = CRNN(tiny_model_config().with_classes(old_codec.num_classes))
    old_weight = model.head.weight.detach().clone()
    new_codec, mapping = old_codec.extended(["abc"])
    model.widen_output(mapping)
    assert model.head.out_features == new_codec.num_classes == 4
    for char in "ac":
        new_label = new_codec.encode(char)[0]
        old_label = old_codec.encode(char)[0]
        assert torch.equal(model.head.weight[new_label], old_weight[old_label])
    assert torch.equal(model.head.weight[0], old_weight[0])


def test_fine_tuning_on_new_characters_grows_the_alphabet(tiny_checkpoint: Path, tmp_path: Path) -> None:
    new_lines = tiny_samples(("quiz 7", "zebra 9", "kew gardens"), seed=3)
    result = train(
        new_lines,
        new_lines,
        out_dir=tmp_path,
        init=tiny_checkpoint,
        config=tiny_train_config(max_steps=20, eval_every=10, freeze_cnn_steps=10),
    )
    parent = load_checkpoint(tiny_checkpoint)
    child = load_checkpoint(result.best_checkpoint)
    assert set(parent.codec.alphabet) < set(child.codec.alphabet)
    assert {"q", "z", "7", "9"} <= set(child.codec.alphabet)
    assert list(child.codec.alphabet) == sorted(child.codec.alphabet)
    assert child.meta["lineage"]["parent"] == str(tiny_checkpoint)
    assert sorted(child.meta["lineage"]["added_characters"]) == sorted(
        set(child.codec.alphabet) - set(parent.codec.alphabet)
    )


def test_frozen_cnn_does_not_move_during_the_first_steps(tiny_checkpoint: Path, tmp_path: Path) -> None:
    lines = tiny_samples()
    result = train(
        lines, lines, out_dir=tmp_path, init=tiny_checkpoint, config=tiny_train_config(max_steps=5, freeze_cnn_steps=5)
    )
    parent, child = load_checkpoint(tiny_checkpoint), load_checkpoint(result.best_checkpoint)
    conv = "cnn.0.conv.weight"
    assert torch.equal(parent.model.state_dict()[conv], child.model.state_dict()[conv])
    assert not torch.equal(parent.model.state_dict()["head.weight"], child.model.state_dict()["head.weight"])


def test_resume_continues_where_the_last_checkpoint_stopped(tmp_path: Path) -> None:
    lines = tiny_samples()
    first = train(
        lines,
        lines,
        out_dir=tmp_path,
        config=tiny_train_config(max_steps=20, eval_every=10),
        model_config=tiny_model_config(),
    )
    assert first.steps == 20
    second = train(lines, lines, out_dir=tmp_path, config=tiny_train_config(max_steps=40, eval_every=10), resume=True)
    assert second.steps == 40
    assert [h["step"] for h in second.history] == [10, 20, 30, 40]
    assert second.lines_trained == 40 * len(lines)


def test_seeded_runs_give_identical_weights(tmp_path: Path) -> None:
    lines = tiny_samples()
    config = tiny_train_config(max_steps=8, eval_every=8, augment=True)
    runs = [
        train(lines, lines, out_dir=tmp_path / name, config=config, model_config=tiny_model_config()) for name in "ab"
    ]
    a, b = (load_checkpoint(r.best_checkpoint).model.state_dict() for r in runs)
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_progress_callback_sees_every_step_and_can_cancel(tmp_path: Path) -> None:
    seen: list[Progress] = []

    def callback(progress: Progress) -> bool:
        seen.append(progress)
        return progress.step < 7

    lines = tiny_samples()
    result = train(
        lines, lines, out_dir=tmp_path, config=tiny_train_config(), model_config=tiny_model_config(), progress=callback
    )
    assert result.stopped_because == "cancelled"
    assert [p.step for p in seen] == list(range(1, 8))
    assert all(p.eta_seconds is not None and p.lines_per_second >= 0 for p in seen)
    # Cancelled before any evaluation, the run still leaves a loadable model.
    assert load_checkpoint(result.best_checkpoint).codec.alphabet


def test_time_budget_ends_the_run(tmp_path: Path) -> None:
    lines = tiny_samples()
    config = tiny_train_config(max_steps=100_000, max_minutes=0.02)
    result = train(lines, lines, out_dir=tmp_path, config=config, model_config=tiny_model_config())
    assert result.stopped_because == "time_budget"
    assert result.seconds < 30


def test_early_stopping_stops_when_validation_does_not_improve(tmp_path: Path) -> None:
    lines = tiny_samples()
    unrelated = tiny_samples(("zzzz qqqq",), seed=9)
    config = tiny_train_config(max_steps=10_000, eval_every=2, patience=3, learning_rate=0.0)
    result = train(lines, unrelated, out_dir=tmp_path, config=config, model_config=tiny_model_config())
    assert result.stopped_because == "early_stopping"
    assert result.steps == 8


def test_learning_rate_warms_up_then_decays_to_the_floor() -> None:
    config = TrainConfig(learning_rate=1.0, warmup_steps=10, min_lr_ratio=0.1)
    warm = [learning_rate(config, step, 0.0) for step in range(10)]
    assert warm == sorted(warm)
    assert math.isclose(warm[-1], 1.0)
    decay = [learning_rate(config, 100, p / 10) for p in range(11)]
    assert decay == sorted(decay, reverse=True)
    assert math.isclose(decay[-1], 0.1)


def test_weighted_ctc_with_unit_weights_is_the_mean_reduction_and_scales_per_line() -> None:
    torch.manual_seed(0)
    log_probs = torch.randn(12, 3, 5).log_softmax(-1)  # (T, B, C)
    targets = torch.tensor([1, 2, 3, 4, 4, 1, 2, 3, 1])
    input_lengths, target_lengths = torch.tensor([12, 10, 12]), torch.tensor([2, 4, 3])
    per_line = nn.CTCLoss(blank=0, reduction="none", zero_infinity=True)

    def loss(weights: list[float]) -> float:
        return float(weighted_ctc(per_line, log_probs, targets, input_lengths, target_lengths, torch.tensor(weights)))

    mean = nn.CTCLoss(blank=0, reduction="mean", zero_infinity=True)(log_probs, targets, input_lengths, target_lengths)
    assert loss([1.0, 1.0, 1.0]) == pytest.approx(float(mean), rel=1e-6)
    per_char = per_line(log_probs, targets, input_lengths, target_lengths) / target_lengths
    assert loss([1.0, 0.5, 1.0]) == pytest.approx(float(mean) - 0.5 * float(per_char[1]) / 3, rel=1e-6)


def test_a_down_weighted_pseudo_label_pulls_less_than_a_verified_one(tmp_path: Path) -> None:
    # One image, two contradicting texts: the verified one and a wrong
    # pseudo-label. The lighter the pseudo-label, the more the trained model
    # prefers the verified text.
    [line] = tiny_samples(("minimum",))
    pseudo = replace(line, id="pseudo", text="maximum")
    config = tiny_train_config(max_steps=40, eval_every=40)
    preference = {}
    for weight in (1.0, 0.1):
        out = tmp_path / str(weight)
        train(
            [line, replace(pseudo, weight=weight)], [line], out_dir=out, config=config, model_config=tiny_model_config()
        )
        recognizer = Recognizer.load(out / "last.pt", device="cpu", threads=1)
        [log_probs] = recognizer.outputs([line.load()]).log_probs  # (T, C)
        codec = recognizer.codec
        preference[weight] = ctc_log_likelihood(log_probs, codec.encode("minimum")) - ctc_log_likelihood(
            log_probs, codec.encode("maximum")
        )
    assert preference[0.1] > preference[1.0] + 1.0


@pytest.mark.parametrize("weight", [0.0, -1.0, math.nan])
def test_training_refuses_a_weight_that_is_not_positive(tmp_path: Path, weight: float) -> None:
    [line] = tiny_samples(("minimum",))
    with pytest.raises(ValueError, match="weight"):
        train([replace(line, weight=weight)], [line], out_dir=tmp_path, config=tiny_train_config(max_steps=1))


def test_training_refuses_to_start_without_lines(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no training lines"):
        train([], tiny_samples(), out_dir=tmp_path)
    with pytest.raises(ValueError, match="no validation lines"):
        train(tiny_samples(), [], out_dir=tmp_path)
