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


# --- incremental runs ---------------------------------------------------------


@dataclass(frozen=True)
class IncrementalRecipe:
    """A short warm-start fine-tune of a model that already learned the
    project: it sees the lines verified since that model was trained (new)
    and a replay sample of older verified lines, for a small step budget.

    * **Passes over the new lines, not over everything**: the budget is
      ``new_line_passes`` passes over the new lines, mixed with
      ``replay_ratio`` times as many older lines (which keep the model from
      drifting towards the last few dozen lines: forgetting), so it grows with
      the new lines only and a run takes seconds to a minute on a CPU
      whatever the project's size.
    * **A low learning rate** (a short warm-up, then the usual cosine decay):
      the model is already near a good solution for this material; a rate
      for adapting a base would undo it in a few steps.
    * **No CNN freeze**: the low-level features were adapted by the full run
      before; freezing would only slow the new lines' effect.
    * **Two evaluations** (midway and at the end): the best of them is the
      candidate, judged against the active model as any run is.
    """

    new_line_passes: float = 8.0
    replay_ratio: float = 2.0
    max_replay_lines: int = 400
    min_steps: int = 30
    max_steps: int = 300
    learning_rate: float = 3e-4
    warmup_steps: int = 5
    augment_strength: float = 1.0
    evaluations: int = 2
    batch_size: int = 16


DEFAULT_INCREMENTAL = IncrementalRecipe()


def incremental_replay_lines(new_lines: int, old_lines: int, recipe: IncrementalRecipe = DEFAULT_INCREMENTAL) -> int:
    """How many older verified lines an incremental run replays beside ``new_lines`` new ones."""
    wanted = round(recipe.replay_ratio * max(0, new_lines))
    return max(0, min(old_lines, wanted, recipe.max_replay_lines))


def incremental_steps(new_lines: int, replay_lines: int, recipe: IncrementalRecipe = DEFAULT_INCREMENTAL) -> int:
    """Optimizer steps of an incremental run: ``new_line_passes`` passes over the
    new lines, whose batches also carry the replayed ones, within the bounds."""
    seen = recipe.new_line_passes * (max(0, new_lines) + max(0, replay_lines))
    steps = math.ceil(seen / recipe.batch_size)
    return max(recipe.min_steps, min(recipe.max_steps, steps))


def incremental_config(
    new_lines: int,
    replay_lines: int,
    *,
    max_minutes: float | None = None,
    recipe: IncrementalRecipe = DEFAULT_INCREMENTAL,
    base: TrainConfig | None = None,
) -> TrainConfig:
    """The TrainConfig of an incremental run over ``new_lines`` new and
    ``replay_lines`` replayed lines (``base`` gives the other fields)."""
    if new_lines < 1:
        raise ValueError("an incremental run needs at least one new line")
    steps = incremental_steps(new_lines, replay_lines, recipe)
    return replace(
        base or TrainConfig(),
        max_steps=steps,
        max_epochs=10_000,
        max_minutes=max_minutes,
        learning_rate=recipe.learning_rate,
        warmup_steps=min(recipe.warmup_steps, steps),
        freeze_cnn_steps=0,
        augment_strength=recipe.augment_strength,
        eval_every=max(1, math.ceil(steps / recipe.evaluations)),
        patience=recipe.evaluations,
        batch_size=recipe.batch_size,
    )
