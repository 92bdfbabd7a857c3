"""Writes: a project's alphabet (the groups of special characters its virtual
keyboard offers) and its normalisation rules, and the normalisation itself.

Every text is NFC (``transcription_text_clean``). A project that does not keep
historical characters also has them replaced by their modern form on save
(``HISTORICAL_FORMS``: long s, r rotunda, the Latin ligatures...).
"""

from __future__ import annotations

import unicodedata
from typing import NoReturn, TypedDict

from django.db import transaction

from annotator.errors import InvalidInputError
from annotator.models import Project
from annotator.permissions import ADMIN_ROLES, AnyUser, membership_require

MAX_GROUPS = 12
MAX_GROUP_NAME = 40
MAX_GROUP_CHARACTERS = 60
# A key types one character, possibly with combining marks (q̃), or a lone mark.
MAX_KEY_CODE_POINTS = 4
# Historical characters and their modern form, for projects that do not keep them.
HISTORICAL_FORMS = {
    "ſ": "s",
    "ꝛ": "r",
    "ꝝ": "rum",
    "ﬀ": "ff",
    "ﬁ": "fi",
    "ﬂ": "fl",
    "ﬃ": "ffi",
    "ﬄ": "ffl",
    "ﬅ": "st",
    "ﬆ": "st",
    "ẜ": "s",
    "ẝ": "s",
}
_NOT_TEXT = frozenset({"Cc", "Cs", "Zl", "Zp", "Zs"})


class AlphabetGroup(TypedDict):
    name: str
    characters: list[str]


def text_modernise(text: str) -> str:
    """``text`` with historical characters replaced by their modern form, NFC."""
    return unicodedata.normalize("NFC", "".join(HISTORICAL_FORMS.get(char, char) for char in text))


def alphabet_groups_clean(groups: list[AlphabetGroup]) -> list[AlphabetGroup]:
    """The groups NFC-normalised, with duplicate keys dropped (the first stays);
    raises InvalidInputError naming the group and the key that is wrong."""
    if len(groups) > MAX_GROUPS:
        _refuse(f"A project has at most {MAX_GROUPS} groups of characters; this has {len(groups)}.")
    cleaned: list[AlphabetGroup] = []
    seen: set[str] = set()
    names: set[str] = set()
    for number, group in enumerate(groups, start=1):
        name = unicodedata.normalize("NFC", group["name"]).strip()
        if not name or len(name) > MAX_GROUP_NAME:
            _refuse(f"Group {number} needs a name of 1 to {MAX_GROUP_NAME} characters.")
        if name in names:
            _refuse(f"Two groups are called {name!r}; give each its own name.")
        names.add(name)
        if len(group["characters"]) > MAX_GROUP_CHARACTERS:
            _refuse(f"Group {name!r} has {len(group['characters'])} characters; at most {MAX_GROUP_CHARACTERS}.")
        keys: list[str] = []
        for raw in group["characters"]:
            key = unicodedata.normalize("NFC", raw)
            if not key or len(key) > MAX_KEY_CODE_POINTS:
                _refuse(
                    f"Group {name!r}: {raw!r} is not one character (a letter with its marks, "
                    f"or a lone mark, at most {MAX_KEY_CODE_POINTS} code points)."
                )
            bad = next((char for char in key if unicodedata.category(char) in _NOT_TEXT), None)
            if bad is not None:
                _refuse(f"Group {name!r}: U+{ord(bad):04X} is a space or control character, not a key to type.")
            if key not in seen:
                seen.add(key)
                keys.append(key)
        cleaned.append(AlphabetGroup(name=name, characters=keys))
    return cleaned


def project_alphabet_update(
    *, project: Project, user: AnyUser, groups: list[AlphabetGroup], keep_historical: bool
) -> Project:
    """Set ``project``'s keyboard groups and whether historical characters are
    kept (project admins only); returns the project as stored."""
    membership_require(project=project, user=user, roles=ADMIN_ROLES)
    cleaned = alphabet_groups_clean(groups)
    with transaction.atomic():
        Project.objects.filter(pk=project.pk).update(alphabet_groups=cleaned, keep_historical=keep_historical)
    return Project.objects.get(pk=project.pk)


def _refuse(message: str) -> NoReturn:
    raise InvalidInputError(message, fields={"groups": [message]})
