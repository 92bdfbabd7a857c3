"""Tests for recognition.codec: labels, normalisation, unknown characters, growth and serialisation."""

from __future__ import annotations

import pytest

from recognition.codec import BLANK, Codec, UnknownCharacterError, normalize_text

DECOMPOSED_E_ACUTE = "e\u0301"
PRECOMPOSED_E_ACUTE = "\u00e9"


@pytest.mark.parametrize(
    "text",
    ["hello world", "Kew, 12 June 1884.", "a", "café", "zzz aaa", "!?;:'-"],
)
def test_encode_then_decode_gives_back_the_text(text: str) -> None:
    codec = Codec.from_texts(["hello world", "Kew, 12 June 1884.", "café", "zzz aaa", "!?;:'-"])

    assert codec.decode(codec.encode(text)) == text


def test_blank_is_zero_and_characters_take_one_to_n_in_sorted_order() -> None:
    codec = Codec.from_texts(["cab", "b a"])

    assert BLANK == 0
    assert codec.alphabet == (" ", "a", "b", "c")
    assert codec.num_classes == 5
    assert codec.encode("a bc") == [2, 1, 3, 4]
    assert codec.encode("cba") == [4, 3, 2]


def test_codecs_built_from_the_same_characters_in_any_order_agree() -> None:
    first = Codec.from_texts(["zebra", "apple"])
    second = Codec.from_texts(["elppa", "arbez"])

    assert first == second
    assert first.encode("zap") == second.encode("zap")


def test_decode_skips_blanks() -> None:
    codec = Codec(("a", "b"))

    assert codec.decode([0, 1, 0, 0, 2, 0]) == "ab"
    assert codec.decode([]) == ""


def test_decomposed_and_precomposed_accents_encode_the_same() -> None:
    codec = Codec.from_texts([f"caf{DECOMPOSED_E_ACUTE}"])

    assert codec.alphabet == ("a", "c", "f", PRECOMPOSED_E_ACUTE)
    assert codec.encode(f"caf{DECOMPOSED_E_ACUTE}") == codec.encode(f"caf{PRECOMPOSED_E_ACUTE}")
    assert codec.decode(codec.encode(f"caf{DECOMPOSED_E_ACUTE}")) == f"caf{PRECOMPOSED_E_ACUTE}"


def test_normalize_text_applies_nfc_and_strips_surrounding_whitespace() -> None:
    text = f"  {DECOMPOSED_E_ACUTE}t{DECOMPOSED_E_ACUTE}\n"

    assert normalize_text(text) == f"{PRECOMPOSED_E_ACUTE}t{PRECOMPOSED_E_ACUTE}"


def test_unknown_characters_raise_an_error_listing_each_of_them_once() -> None:
    codec = Codec(("a", "b", "c"))

    with pytest.raises(UnknownCharacterError) as info:
        codec.encode("abxcyx")

    assert info.value.characters == ["x", "y"]
    assert "'x'" in str(info.value)
    assert "'y'" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_encoding_strips_surrounding_whitespace_but_keeps_inner_spaces() -> None:
    codec = Codec((" ", "a"))

    assert codec.encode("  a a \n") == [2, 1, 2]


def test_unknown_characters_are_dropped_when_asked() -> None:
    codec = Codec(("a", "b", "c"))

    assert codec.encode("abxcyx", on_unknown="drop") == [1, 2, 3]
    assert codec.encode("xyz", on_unknown="drop") == []


def test_unknown_lists_missing_characters_sorted() -> None:
    codec = Codec(("a",))

    assert codec.unknown("zay" + DECOMPOSED_E_ACUTE) == ["y", "z", PRECOMPOSED_E_ACUTE]
    assert codec.unknown("aaa") == []


def test_an_invalid_on_unknown_policy_is_rejected() -> None:
    codec = Codec(("a",))

    with pytest.raises(ValueError, match="on_unknown"):
        codec.encode("a", on_unknown="ignore")


@pytest.mark.parametrize("label", [3, 4, 100, -1])
def test_decode_rejects_labels_outside_the_alphabet(label: int) -> None:
    codec = Codec(("a", "b"))

    with pytest.raises(ValueError, match=f"label {label} outside 0..2"):
        codec.decode([1, label])


def test_extended_keeps_the_alphabet_sorted_and_maps_new_labels_to_old_ones() -> None:
    old = Codec(("b", "d", "f"))

    new, mapping = old.extended(["abc", "fg"])

    assert new.alphabet == ("a", "b", "c", "d", "f", "g")
    assert len(mapping) == new.num_classes
    assert mapping[0] == BLANK
    for new_label, char in enumerate(new.alphabet, start=1):
        expected = old.encode(char)[0] if char in old.alphabet else -1
        assert mapping[new_label] == expected, char
    assert mapping == [0, -1, 1, -1, 2, 3, -1]


def test_extended_with_nothing_new_is_the_identity() -> None:
    old = Codec(("a", "b"))

    new, mapping = old.extended(["abba", ""])

    assert new == old
    assert mapping == [0, 1, 2]


def test_extended_normalises_new_text() -> None:
    old = Codec(("a",))

    new, mapping = old.extended([DECOMPOSED_E_ACUTE])

    assert new.alphabet == ("a", PRECOMPOSED_E_ACUTE)
    assert mapping == [0, 1, -1]


def test_to_dict_and_from_dict_round_trip() -> None:
    codec = Codec.from_texts(["Dear Sir, " + PRECOMPOSED_E_ACUTE])

    data = codec.to_dict()
    again = Codec.from_dict(data)

    assert data == {"alphabet": list(codec.alphabet)}
    assert again == codec
    assert again.encode("Dear") == codec.encode("Dear")


def test_repeated_characters_in_the_alphabet_are_rejected() -> None:
    with pytest.raises(ValueError, match="repeated"):
        Codec(("a", "b", "a"))


def test_multi_character_alphabet_entries_are_rejected() -> None:
    with pytest.raises(ValueError, match="single characters"):
        Codec(("a", "bc"))
