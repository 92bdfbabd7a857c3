"""The active-learning simulation: keystroke costs, the to-reach arithmetic, and the rounds end to end."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from benchmarks.active_learning import parse_schedule
from benchmarks.al.costs import (
    REVIEW_TIME,
    Curve,
    keystrokes,
    normalised_auc,
    review_savings,
    summarise,
    x_to_reach,
)
from benchmarks.al.report import best_by_keystrokes, markdown, plot, table, to_json
from benchmarks.al.simulation import Data, Settings, round_config, simulate, truncated
from recognition.data import LineSample
from recognition.finetune import finetune_config
from recognition.infer import Recognizer
from recognition.metrics import edit_distance
from recognition.model import PRESETS, ModelConfig
from recognition.synthetic import random_text, render_line
from recognition.train import TrainConfig, train


def rendered(n: int, prefix: str, seed: int) -> list[LineSample]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        text = random_text(rng, min_words=1, max_words=2)
        out.append(LineSample(id=f"{prefix}{i}", text=text, image=render_line(text, rng=rng, height=32)))
    return out


def curve(strategy: str, seed: int, cers: list[float], keys: list[int], *, batch: int = 10) -> Curve:
    labels = [batch * i for i in range(len(cers))]
    return Curve("set", batch, strategy, seed, labels, cers, keys, [3 * n for n in labels])


def test_keystrokes_are_the_edits_from_the_reading_to_the_truth() -> None:
    assert keystrokes("the cat", "the cat") == 0
    assert keystrokes("the cat", "tha ct") == 2  # one substitution, one insertion
    assert keystrokes("abc", "") == 3  # an empty reading: type every character
    assert keystrokes("", "noise") == 5  # a reading of nothing: delete it all
    assert keystrokes("caf\u00e9", "cafe\u0301") == 0  # the same text in another Unicode form costs nothing


def test_x_to_reach_interpolates_labels_or_keystrokes_and_says_when_never() -> None:
    assert x_to_reach([0, 100, 200], [0.6, 0.4, 0.3], 0.5) == pytest.approx(50)
    assert x_to_reach([0, 900, 2100], [0.6, 0.4, 0.3], 0.35) == pytest.approx(900 + 1200 * 0.5)
    assert x_to_reach([0, 100], [0.3, 0.2], 0.5) == 0
    assert x_to_reach([0, 100], [0.6, 0.55], 0.5) is None
    assert normalised_auc([0, 100, 300], [0.6, 0.4, 0.4]) == pytest.approx((50 + 80) / 300)


def test_summary_counts_labels_and_keystrokes_to_reach_randoms_final_cer() -> None:
    curves = [
        curve("random", 0, [0.6, 0.5, 0.40], [0, 100, 200]),
        curve("random", 1, [0.6, 0.5, 0.44], [0, 120, 240]),
        # Reaches random's 42% halfway through its second round, but types more per line.
        curve("expected_errors", 0, [0.6, 0.46, 0.38], [0, 200, 400]),
    ]
    summaries, targets = summarise(curves)
    assert targets == {"set/10": pytest.approx(0.42)}
    by_name = {s.strategy: s for s in summaries}
    random, picked = by_name["random"], by_name["expected_errors"]
    assert random.mean_keystrokes == pytest.approx([0, 110, 220])
    assert random.std_cer[-1] == pytest.approx(0.02)
    assert random.labels_to_reach == pytest.approx(20)
    assert picked.labels_to_reach == pytest.approx(15)
    assert picked.keystrokes_to_reach == pytest.approx(300)
    assert picked.edits_per_line == pytest.approx(20)
    assert picked.characters_per_line == pytest.approx(3)
    # Fewer labels than random, but more keystrokes: by keystrokes random wins.
    assert best_by_keystrokes(summaries) is random
    assert "| expected_errors | 1 | 38.00% ± 0.00% | 15 | 75% | 300 | 136% |" in table(summaries)


def test_a_curve_cut_short_keeps_its_first_rounds_and_their_auto_accept() -> None:
    whole = curve("random", 0, [0.6, 0.5, 0.4], [0, 100, 200])
    whole.steps, whole.pseudo = [5, 6], [0, 0]
    whole.auto_accept = {"1": {"test_coverage": 0.1}, "2": {"test_coverage": 0.2}}
    cut = truncated(whole, 1)
    assert (cut.labels, cut.cer, cut.keystrokes, cut.steps) == ([0, 10], [0.6, 0.5], [0, 100], [5])
    assert cut.final_auto_accept == {"test_coverage": 0.1}
    assert truncated(whole, 2) is whole


def test_seeds_with_different_label_points_are_refused() -> None:
    with pytest.raises(ValueError, match="label points"):
        summarise([curve("random", 0, [0.6, 0.5], [0, 1]), curve("random", 1, [0.6, 0.5, 0.4], [0, 1, 2])])


def test_review_savings_count_the_accepted_lines_modelled_seconds() -> None:
    truths, readings = ["abcd", "abcd", "ab"], ["abcd", "xxxx", "ab"]
    seconds = [REVIEW_TIME.seconds(4, 0), REVIEW_TIME.seconds(4, 4), REVIEW_TIME.seconds(2, 0)]
    saved = review_savings([True, False, True], truths, readings)
    assert saved["saved_share"] == pytest.approx((seconds[0] + seconds[2]) / sum(seconds))
    assert saved["median_seconds"] == pytest.approx(seconds[0])
    assert saved["hours_saved_per_1000"] == pytest.approx(2 / 3 * 1000 * seconds[0] / 3600)
    assert review_savings([], [], [])["saved_share"] == 0.0


def test_each_round_gets_the_apps_fine_tuning_budget_for_its_labels() -> None:
    settings = Settings(datasets=(), strategies=(), schedules=(), seeds=1, candidates=1, test_lines=1)
    for lines in (50, 100, 150):
        app = finetune_config(lines)
        ours = round_config(settings, lines, seed=3)
        assert (ours.max_steps, ours.learning_rate, ours.freeze_cnn_steps) == (
            app.max_steps,
            app.learning_rate,
            app.freeze_cnn_steps,
        )
        assert (ours.seed, ours.threads, ours.max_minutes) == (3, 1, None)
    scaled = round_config(replace(settings, step_scale=0.2), 50, seed=0)
    assert scaled.max_steps == round(0.2 * (finetune_config(50).max_steps or 0))


def test_schedules_parse_as_batch_times_rounds() -> None:
    assert parse_schedule("50x3") == (50, 3)
    with pytest.raises(Exception, match="BATCHxROUNDS"):
        parse_schedule("fifty")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Data]]:
    """A tiny "base" that reads rendered lines a little, and a rendered dataset."""
    folder = tmp_path_factory.mktemp("al")
    config = TrainConfig(
        batch_size=8, learning_rate=1e-2, warmup_steps=10, max_steps=120, eval_every=120, patience=100, threads=1
    )
    model = ModelConfig(num_classes=2, **PRESETS["tiny"])
    base = train(rendered(60, "b", 9), rendered(6, "bv", 8), out_dir=folder / "base", config=config, model_config=model)
    data = Data(
        pool=rendered(30, "p", 0), eval=rendered(4, "e", 1), calibration=rendered(6, "c", 2), test=rendered(6, "t", 3)
    )
    return base.best_checkpoint, {"set": data}


def test_simulation_counts_labels_and_keystrokes_round_by_round(
    world: tuple[Path, dict[str, Data]], tmp_path: Path
) -> None:
    base, data = world
    settings = Settings(
        datasets=("set",),
        strategies=("random", "expected_edits", "near_duplicate_cap", "expected_errors+self"),
        schedules=((4, 2), (8, 1)),
        seeds=1,
        candidates=12,
        test_lines=0,
        eval_lines=4,
        calibration_lines=6,
        step_scale=0.05,  # 10 steps a round
        base=str(base),
    )
    outcome = simulate(settings, data, tmp_path / "work", workers=1)
    assert outcome.not_run == []
    assert [(c.batch, c.strategy) for c in outcome.curves] == [
        (4, "random"),
        (4, "expected_edits"),
        (4, "near_duplicate_cap"),
        (4, "expected_errors+self"),
        (8, "random"),
        (8, "expected_edits"),
        (8, "near_duplicate_cap"),
        (8, "expected_errors+self"),
    ]
    truth = {s.id: s.text for s in data["set"].pool}
    for c in outcome.curves:
        assert c.labels == ([0, 4, 8] if c.batch == 4 else [0, 8])
        assert c.cer[0] == outcome.bases["set"]["test_cer"]  # every curve starts at the base's reading
        assert len(set(c.labeled_ids)) == 8
        assert c.characters[-1] == sum(len(truth[i]) for i in c.labeled_ids)
        assert all(b >= a for a, b in zip(c.keystrokes, c.keystrokes[1:], strict=False))
        assert sorted(c.auto_accept) == [str(r) for r in range(1, len(c.labels))]  # every round's model
        final = c.final_auto_accept
        assert final is not None
        assert 0.0 <= final["test_coverage"] <= 1.0
        assert final["test_cer"] == pytest.approx(c.cer[-1])
        assert all(0 < steps <= 10 for steps in c.steps)
    # The first round's lines are served with the base's readings: their keystrokes are the edits from those.
    reader = Recognizer.load(base, device="cpu", threads=1)
    images = {s.id: s.load() for s in data["set"].pool}
    for c in outcome.curves:
        first = c.labeled_ids[: c.batch]
        readings = [p.text for p in reader.predict([images[i] for i in first])]
        assert c.keystrokes[1] == sum(keystrokes(truth[i], r) for i, r in zip(first, readings, strict=True))

    # The base's first picks are round 1's picks, without training.
    first = outcome.bases["set"]["first_picks"]
    assert first["batch"] == 4
    for c in outcome.curves:
        if c.batch == 4:
            assert first["strategies"][c.strategy.removesuffix("+self")]["ids"] == c.labeled_ids[:4]

    # A rerun reads the finished jobs back instead of training again.
    began = time.perf_counter()
    again = simulate(settings, data, tmp_path / "work", workers=1, run=False)
    assert [c.cer for c in again.curves] == [c.cer for c in outcome.curves]
    assert time.perf_counter() - began < 60

    text = markdown(again, command="test", started=dt.datetime.now(dt.UTC), commit="x", machine="m", plot_name="p.png")
    assert "## set, rounds of 4" in text
    assert "## set, rounds of 8" in text
    assert "| expected_edits |" in text
    assert "| set | near_duplicate_cap |" in text
    assert "Auto-accept" in text
    assert json.loads(json.dumps(to_json(again)))["curves"][0]["strategy"] == "random"
    assert plot(again, tmp_path / "al.png").read_bytes()[:4] == b"\x89PNG"


def test_no_job_starts_after_the_deadline(world: tuple[Path, dict[str, Data]], tmp_path: Path) -> None:
    base, data = world
    settings = Settings(
        datasets=("set",),
        strategies=("random",),
        schedules=((4, 1),),
        seeds=2,
        candidates=8,
        test_lines=0,
        eval_lines=4,
        calibration_lines=6,
        step_scale=0.05,
        base=str(base),
    )
    outcome = simulate(settings, data, tmp_path / "work", workers=1, start_until=time.time() - 1)
    assert outcome.curves == []
    assert outcome.not_run == ["set b4x1 random seed 0 round 1", "set b4x1 random seed 1 round 1"]


def test_keystroke_counts_agree_with_plain_levenshtein() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        a = "".join(rng.choice(list("abc "), size=rng.integers(0, 8)))
        b = "".join(rng.choice(list("abc "), size=rng.integers(0, 8)))
        assert keystrokes(a, b) == edit_distance(a, b)
