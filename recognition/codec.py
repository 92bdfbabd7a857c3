"""Character codec: text <-> integer labels for CTC.

Label 0 is the CTC blank. Characters take labels 1..N in the order of the
sorted alphabet, so two codecs built from the same characters agree. Labels
are NFC-normalised before encoding, so a precomposed ``é`` and ``e`` followed
by a combining acute accent are the same character.

Unknown characters (not in the alphabet) are either dropped or raise, by the
caller's choice: training wants to know (and grow the alphabet), inference on
free text wants to carry on.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

BLANK = 0


class UnknownCharacterError(ValueError):
    """Raised when text holds characters the codec cannot encode."""

    def __init__(self, characters: Sequence[str]) -> None:
        self.characters = sorted(set(characters))
        shown = ", ".join(repr(c) for c in self.characters[:20])
        super().__init__(f"characters not in the alphabet: {shown}")


def normalize_text(text: str) -> str:
    """NFC-normalise and strip a label's trailing newline and surrounding whitespace."""
    return unicodedata.normalize("NFC", text).strip()


@dataclass(frozen=True)
class Codec:
    """Maps characters to CTC labels (1..N) and back; 0 is blank."""

    alphabet: tuple[str, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(set(self.alphabet)) != len(self.alphabet):
            raise ValueError("alphabet has repeated characters")
        for char in self.alphabet:
            if len(char) != 1:
                raise ValueError(f"alphabet entries must be single characters, got {char!r}")
        object.__setattr__(self, "_index", {c: i + 1 for i, c in enumerate(self.alphabet)})

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Codec:
        chars: set[str] = set()
        for text in texts:
            chars.update(normalize_text(text))
        return cls(tuple(sorted(chars)))

    @property
    def num_classes(self) -> int:
        """Output size of the network: the characters plus the blank."""
        return len(self.alphabet) + 1

    def unknown(self, text: str) -> list[str]:
        return sorted({c for c in normalize_text(text) if c not in self._index})

    def encode(self, text: str, *, on_unknown: str = "raise") -> list[int]:
        """Labels for ``text``; ``on_unknown`` is ``"raise"`` or ``"drop"``."""
        text = normalize_text(text)
        if on_unknown == "raise":
            missing = [c for c in text if c not in self._index]
            if missing:
                raise UnknownCharacterError(missing)
            return [self._index[c] for c in text]
        if on_unknown == "drop":
            return [self._index[c] for c in text if c in self._index]
        raise ValueError(f"on_unknown must be 'raise' or 'drop', not {on_unknown!r}")

    def decode(self, labels: Iterable[int]) -> str:
        """Text for already-collapsed labels; blanks are skipped."""
        out = []
        for label in labels:
            if label == BLANK:
                continue
            if not 0 < label <= len(self.alphabet):
                raise ValueError(f"label {label} outside 0..{len(self.alphabet)}")
            out.append(self.alphabet[label - 1])
        return "".join(out)

    def extended(self, texts: Iterable[str]) -> tuple[Codec, list[int]]:
        """A codec that also covers the characters in ``texts``.

        The alphabet stays sorted, so existing characters may move to new
        labels. Returns the new codec and, for each new label, the old label
        it came from (-1 for a new character; blank maps to blank); the
        caller uses that mapping to carry trained output weights across.
        """
        chars = set(self.alphabet)
        for text in texts:
            chars.update(normalize_text(text))
        codec = Codec(tuple(sorted(chars)))
        mapping = [BLANK] + [self._index.get(c, -1) for c in codec.alphabet]
        return codec, mapping

    def to_dict(self) -> dict[str, list[str]]:
        return {"alphabet": list(self.alphabet)}

    @classmethod
    def from_dict(cls, data: dict[str, list[str]]) -> Codec:
        return cls(tuple(data["alphabet"]))
