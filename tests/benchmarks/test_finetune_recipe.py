"""The recipe benchmark: every variant changes the default recipe, and the table compares each with the default."""

from __future__ import annotations

from dataclasses import asdict

from benchmarks.finetune_recipe import VARIANTS, Cell, table
from recognition.finetune import DEFAULT_RECIPE, finetune_config


def test_every_variant_but_the_default_changes_the_budget_or_training_of_a_200_line_fine_tune() -> None:
    default = finetune_config(200, recipe=DEFAULT_RECIPE)
    for name, recipe in VARIANTS.items():
        if name == "default":
            assert recipe == DEFAULT_RECIPE
            continue
        assert asdict(recipe) != asdict(DEFAULT_RECIPE), name
        assert finetune_config(200, recipe=recipe) != default, name


def test_the_table_gives_each_variant_as_a_ratio_of_the_default_at_the_same_label_count() -> None:
    cells = [
        Cell("default", 200, cers=[0.40, 0.50], steps=[600, 600], seconds=[100.0, 110.0]),
        Cell("lr_x2", 200, cers=[0.36, 0.36], steps=[600, 600], seconds=[100.0, 100.0]),
        Cell("default", 50, cers=[0.60], steps=[200], seconds=[30.0]),
        Cell("lr_x2", 50, cers=[0.66], steps=[200], seconds=[30.0]),
    ]
    rows = table(cells).splitlines()
    assert "| 200 | lr_x2 | 36.00%, 36.00% | 36.00% | 0.800 | 600 | 100 |" in rows
    assert "| 50 | lr_x2 | 66.00% | 66.00% | 1.100 | 200 | 30 |" in rows
    assert "| 200 | default | 40.00%, 50.00% | 45.00% | 1.000 | 600 | 105 |" in rows
