"""The fine-tuning recipe: how to adapt a base model to a collection from few labels.

One function, :func:`finetune_config`, turns "how many labeled lines" into a
``TrainConfig``. The choices and why:

* **Budget in optimizer steps**, growing sub-linearly with the labels
  (``steps_per_line_power``): 50 lines are learned in a few hundred steps,
  thousands need a few thousand. Steps, not minutes, so a busy machine gives
  the same model later rather than a worse model on time; ``max_minutes``
  is only a ceiling.
* **CNN frozen for a warm-up** (a fifth of the steps, at most 300): the new
  output rows and the LSTM settle before gradients reach the base's
  low-level features, which few labels would otherwise wreck.
* **A lower peak learning rate than from scratch**, lower still for fewer
  lines: the base is already near a good solution.
* **Stronger augmentation for fewer lines**: a hundred lines of one hand
  need the variety that thousands bring by themselves.
* **Early stopping on the project's evaluation lines**, checked ten times a
  run, with patience for three checks.

New characters grow the output layer and keep the old rows
(``Codec.extended`` + ``CRNN.widen_output`` in ``train()``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from recognition.train import TrainConfig


@dataclass(frozen=True)
class FinetuneRecipe:
    min_steps: int = 200
    max_steps: int = 4000
    steps_per_line_scale: float = 25.0
    steps_per_line_power: float = 0.6
    freeze_fraction: float = 0.2
    max_freeze_steps: int = 300
    # Peak learning rate from few labels (<= few_lines) to many (>= many_lines), log-interpolated.
    few_lines: int = 50
    many_lines: int = 2000
    lr_few: float = 5e-4
    lr_many: float = 1.5e-3
    augment_few: float = 1.3
    augment_many: float = 1.0
    evaluations: int = 10
    patience: int = 3
    batch_size: int = 16


DEFAULT_RECIPE = FinetuneRecipe()


def _between(lines: int, recipe: FinetuneRecipe, few: float, many: float) -> float:
    """``few`` at recipe.few_lines or fewer, ``many`` at recipe.many_lines or more, log-linear between."""
    if lines <= recipe.few_lines:
        return few
    if lines >= recipe.many_lines:
        return many
    t = math.log(lines / recipe.few_lines) / math.log(recipe.many_lines / recipe.few_lines)
    return few + t * (many - few)


def finetune_steps(lines: int, recipe: FinetuneRecipe = DEFAULT_RECIPE) -> int:
    steps = round(recipe.steps_per_line_scale * max(1, lines) ** recipe.steps_per_line_power)
    return max(recipe.min_steps, min(recipe.max_steps, steps))


def finetune_config(
    lines: int,
    *,
    max_minutes: float | None = None,
    recipe: FinetuneRecipe = DEFAULT_RECIPE,
    base: TrainConfig | None = None,
) -> TrainConfig:
    """The TrainConfig that fine-tunes a base model on ``lines`` labeled lines (``base`` gives the other fields)."""
    if lines < 1:
        raise ValueError("fine-tuning needs at least one labeled line")
    steps = finetune_steps(lines, recipe)
    return replace(
        base or TrainConfig(),
        max_steps=steps,
        max_epochs=10_000,
        max_minutes=max_minutes,
        learning_rate=_between(lines, recipe, recipe.lr_few, recipe.lr_many),
        warmup_steps=max(20, steps // 20),
        freeze_cnn_steps=min(recipe.max_freeze_steps, round(steps * recipe.freeze_fraction)),
        augment_strength=_between(lines, recipe, recipe.augment_few, recipe.augment_many),
        eval_every=max(25, steps // recipe.evaluations),
        patience=recipe.patience,
        batch_size=recipe.batch_size,
    )
