"""Character n-gram LM and lexicon."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from recognition.lm import CharNGramLM, Lexicon

CORPUS = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat and a dog",
    "the mat is flat",
    "on the log sat a frog",
    "that cat, that hat",
]


@pytest.fixture(scope="module")
def lm() -> CharNGramLM:
    return CharNGramLM.fit(CORPUS, order=4)


@pytest.mark.parametrize("context", ["", "t", "th", "the c", "zq", "xyzzy", "the cat sat on the mat"])
def test_distribution_over_vocabulary_sums_to_one(lm: CharNGramLM, context: str) -> None:
    # The vocabulary is the training characters plus EOS and UNK.
    total = sum(math.exp(lm.log_prob(context, char)) for char in lm.vocabulary)
    assert total == pytest.approx(1.0, abs=1e-9)


def test_distribution_sums_to_one_with_estimated_discounts() -> None:
    texts = [f"line {i} of {i * 7 % 13} items" for i in range(200)]
    model = CharNGramLM.fit(texts, order=5)
    for context in ["", "line 1", "of 9 it", "qqq"]:
        total = sum(math.exp(model.log_prob(context, c)) for c in model.vocabulary)
        assert total == pytest.approx(1.0, abs=1e-9)


def test_prefers_seen_text_over_scrambled(lm: CharNGramLM) -> None:
    assert lm.score("the cat sat") > lm.score("teh cta sta")
    assert lm.log_prob("the c", "a") > lm.log_prob("the c", "o")


def test_predicts_line_end_after_seen_endings(lm: CharNGramLM) -> None:
    assert lm.log_prob("the mat is flat", lm.EOS) > lm.log_prob("the mat is fl", lm.EOS)


def test_unseen_character_gets_unk_probability(lm: CharNGramLM) -> None:
    assert lm.log_prob("the ", "Ж") == lm.log_prob("the ", lm.UNK)
    assert math.isfinite(lm.log_prob("the ", "Ж"))


def test_perplexity_lower_on_training_style_text(lm: CharNGramLM) -> None:
    assert lm.perplexity(["the cat sat on the log"]) < lm.perplexity(["xq zv wk pj"])


def test_plain_dict_round_trip_through_json_and_torch(lm: CharNGramLM, tmp_path: Path) -> None:
    data = lm.to_dict()
    restored = CharNGramLM.from_dict(json.loads(json.dumps(data)))
    path = tmp_path / "ckpt.pt"
    torch.save({"lm": data}, path)
    from_torch = CharNGramLM.from_dict(torch.load(path, weights_only=True)["lm"])
    for model in (restored, from_torch):
        assert model.order == lm.order
        assert model.vocabulary == lm.vocabulary
        for text in ["the cat", "zzz", ""]:
            assert model.score(text) == pytest.approx(lm.score(text), abs=1e-12)


def test_from_dict_rejects_other_formats() -> None:
    with pytest.raises(ValueError, match="format"):
        CharNGramLM.from_dict({"format": "something else"})


def test_order_one_is_a_smoothed_unigram() -> None:
    model = CharNGramLM.fit(["aab"], order=1)
    assert model.log_prob("", "a") == model.log_prob("b", "a")
    assert model.log_prob("", "a") > model.log_prob("", "b")


def test_lexicon_matches_case_and_edge_punctuation_insensitively() -> None:
    lexicon = Lexicon.from_texts(["The cat, sat."])
    assert lexicon.contains("cat")
    assert lexicon.contains("the")
    assert lexicon.contains("Sat!")
    assert lexicon.contains("...")
    assert not lexicon.contains("dog")
    assert "cat" in lexicon
    assert len(lexicon) == 3


def test_lexicon_from_file_and_dict_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "words.txt"
    path.write_text("alpha\nbeta gamma\n", encoding="utf-8")
    lexicon = Lexicon.from_file(path, case_sensitive=True)
    assert lexicon.contains("beta")
    assert not lexicon.contains("Beta")
    assert Lexicon.from_dict(json.loads(json.dumps(lexicon.to_dict()))) == lexicon


def test_rejects_discounts_that_break_normalisation() -> None:
    with pytest.raises(ValueError, match="discounts"):
        CharNGramLM.fit(["abc"], order=2, discounts=[(0.5, 1.0, 1.5), (1.5, 1.0, 1.0)])
    with pytest.raises(ValueError, match="discounts"):
        CharNGramLM.fit(["abc"], order=1, discounts=[(0.0, 1.0, 1.0)])
