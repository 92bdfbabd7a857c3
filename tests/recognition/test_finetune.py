"""The fine-tuning recipe scales with the labels, and fine-tuning keeps what the model knew."""

from __future__ import annotations

from pathlib import Path

import pytest

from recognition.checkpoint import load_checkpoint
from recognition.finetune import (
    FinetuneRecipe,
    IncrementalRecipe,
    finetune_config,
    finetune_steps,
    incremental_config,
    incremental_replay_lines,
    incremental_steps,
)
from recognition.infer import Recognizer
from recognition.metrics import cer
from recognition.train import train

from .conftest import TINY_TEXTS, tiny_samples, tiny_train_config


def test_more_labels_get_more_steps_a_higher_rate_and_less_augmentation() -> None:
    few, many = finetune_config(50), finetune_config(2000)
    assert few.max_steps is not None
    assert many.max_steps is not None
    assert few.max_steps < many.max_steps
    assert few.learning_rate < many.learning_rate
    assert few.augment_strength > many.augment_strength
    assert 0 < few.freeze_cnn_steps < few.max_steps


def test_the_step_budget_is_bounded_both_ways() -> None:
    recipe = FinetuneRecipe()
    assert finetune_steps(1, recipe) == recipe.min_steps
    assert finetune_steps(10**6, recipe) == recipe.max_steps
    assert finetune_steps(200) < finetune_steps(800) < finetune_steps(5000)


def test_the_wall_clock_is_only_a_ceiling() -> None:
    config = finetune_config(200, max_minutes=3.0)
    assert config.max_steps == finetune_steps(200)
    assert config.max_minutes == 3.0


def test_no_labels_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one labeled line"):
        finetune_config(0)


def test_an_incremental_budget_grows_with_the_new_lines_not_with_the_project() -> None:
    recipe = IncrementalRecipe()
    fifty = incremental_config(50, incremental_replay_lines(50, 100))
    fifty_in_a_big_project = incremental_config(50, incremental_replay_lines(50, 5000))
    assert fifty.max_steps == fifty_in_a_big_project.max_steps
    assert fifty.max_steps is not None
    assert recipe.min_steps <= fifty.max_steps < finetune_steps(150)
    assert incremental_steps(1, 0) == recipe.min_steps
    assert incremental_steps(10**5, 400) == recipe.max_steps
    assert incremental_steps(50, 100) < incremental_steps(150, 300)


def test_replay_is_a_share_of_the_new_lines_bounded_by_what_there_is_and_by_the_cap() -> None:
    recipe = IncrementalRecipe(replay_ratio=2.0, max_replay_lines=400)
    assert incremental_replay_lines(50, 1000, recipe) == 100
    assert incremental_replay_lines(50, 30, recipe) == 30
    assert incremental_replay_lines(1000, 10**5, recipe) == 400
    assert incremental_replay_lines(0, 1000, recipe) == 0


def test_an_incremental_run_warm_starts_gently_and_evaluates_twice() -> None:
    config = incremental_config(50, 100, max_minutes=2.0)
    assert config.learning_rate < finetune_config(50).learning_rate
    assert config.freeze_cnn_steps == 0
    assert config.max_minutes == 2.0
    assert config.max_steps is not None
    assert config.eval_every is not None
    assert config.eval_every * IncrementalRecipe().evaluations >= config.max_steps > config.eval_every
    with pytest.raises(ValueError, match="at least one new line"):
        incremental_config(0, 100)


@pytest.mark.slow
def test_fine_tuning_adds_new_characters_without_losing_the_old_ones(tiny_checkpoint: Path, tmp_path: Path) -> None:
    old = tiny_samples()
    new_texts = ("zebra quiz 42", "jam & wax")
    base_alphabet = set(load_checkpoint(tiny_checkpoint).codec.alphabet)
    assert set("".join(new_texts)) - base_alphabet, "the new lines must bring characters the base lacks"
    # The new collection, as a project would label it: new lines plus some of the kind the base knew.
    lines = [*tiny_samples(new_texts, seed=1), *old]
    config = tiny_train_config(max_steps=250, freeze_cnn_steps=20, learning_rate=5e-3, patience=100)
    result = train(lines, lines, out_dir=tmp_path, config=config, init=tiny_checkpoint)

    tuned = load_checkpoint(result.best_checkpoint)
    assert base_alphabet < set(tuned.codec.alphabet)
    assert set("".join(new_texts)) <= set(tuned.codec.alphabet)
    reader = Recognizer.load(result.best_checkpoint)
    old_reading = [p.text for p in reader.predict([s.load() for s in old])]
    assert cer(list(TINY_TEXTS), old_reading) < 0.1
