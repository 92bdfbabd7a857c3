"""The pretraining sources are complete and allowed, and the built corpus is accounted for."""

from __future__ import annotations

import json
import re

from recognition.base import MODELS_DIR
from recognition.base.corpus import SOURCES_FILE, load_sources

ALLOWED = re.compile(r"^(CC0|CC BY 4\.0|CC BY-SA 4\.0|Public domain)")
BENCHMARK_AND_HELD_BACK = {
    "jschaefer738b/josephhookerhtr",
    "chreul/19th-century-fraktur-ocr",
    "htr-united/tapuscorpus",
    "alix-tz/peraire-ground-truth",
}


def test_every_line_source_names_its_repository_commit_licence_and_attribution() -> None:
    for source in load_sources()["line_sources"]:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", source["repo"]), source
        assert re.fullmatch(r"[0-9a-f]{40}", source["commit"]), source
        assert ALLOWED.match(source["licence"]), source
        for key in ("name", "attribution", "kind", "languages", "script", "format"):
            assert source[key], (source["name"], key)


def test_no_source_is_non_commercial_no_derivatives_or_kept_back() -> None:
    data = load_sources()
    for source in [*data["line_sources"], *data["text_sources"]]:
        assert "NC" not in source["licence"], source
        assert "ND" not in source["licence"], source
        assert source["repo"].lower() not in BENCHMARK_AND_HELD_BACK, source


def test_text_sources_and_fonts_are_pinned_and_licensed() -> None:
    data = load_sources()
    assert data["text_sources"]
    assert data["fonts"]
    for source in data["text_sources"]:
        assert re.fullmatch(r"[0-9a-f]{40}", source["commit"])
        assert source["file"]
        assert source["licence"]
    for font in data["fonts"]:
        assert font["package"].startswith("fonts-")
        assert font["licence"]


def test_the_shipped_base_cards_account_for_every_source() -> None:
    names = {s["name"] for s in load_sources()["line_sources"]}
    cards = sorted(MODELS_DIR.glob("*.json"))
    assert cards, f"no model card in {MODELS_DIR}"
    for card_path in cards:
        card = json.loads(card_path.read_text(encoding="utf-8"))
        assert {s["name"] for s in card["line_sources"]} == names, card_path
        for source in card["line_sources"]:
            assert source["lines"] > 0, source["name"]
            assert source["characters"] >= source["lines"], source["name"]
        assert (MODELS_DIR / f"{card['name']}.md").is_file()
        assert (MODELS_DIR / f"{card['name']}.pt").is_file()
    assert SOURCES_FILE.is_file()
