"""A project's alphabet: its groups of special characters (the virtual keyboard
of the labeling and review pages) and its normalisation rules."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from annotator.errors import ForbiddenError, InvalidInputError
from annotator.models import Membership, ModelVersion, Project
from annotator.selectors import KEYBOARD_FROM_TEXTS, project_keyboard
from annotator.services import AlphabetGroup, label_submit, line_claim, project_alphabet_update
from tests.annotator.factories import make_lines, make_member, make_project, verify

pytestmark = pytest.mark.django_db

GROUPS = [
    AlphabetGroup(name="Long s and r", characters=["ſ", "ꝛ"]),
    AlphabetGroup(name="Abbreviations", characters=["q\u0303", "ꝑ", "ꝯ", "\u0303"]),
]


def as_user(user: object) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)  # type: ignore[arg-type]
    return client


def test_the_keyboard_is_the_projects_groups_then_verified_characters_not_the_models_alphabet() -> None:
    project = make_project()
    admin = make_member(project, Membership.Role.ADMIN)
    ModelVersion.objects.create(project=project, status="active", alphabet="abcÞðŋæ")
    project = project_alphabet_update(project=project, user=admin, groups=GROUPS, keep_historical=True)
    verify(make_lines(project, 2), ["Straße", "ſo"], user=admin)

    keyboard = project_keyboard(project=project)

    assert keyboard == [
        {"name": "Long s and r", "characters": ["ſ", "ꝛ"]},
        {"name": "Abbreviations", "characters": ["q̃", "ꝑ", "ꝯ", "\u0303"]},
        {"name": KEYBOARD_FROM_TEXTS, "characters": ["ß"]},
    ]


def test_groups_are_nfc_and_duplicates_dropped() -> None:
    project = make_project()
    admin = make_member(project, Membership.Role.ADMIN)
    decomposed = "e\u0301"  # é as e + combining acute

    saved = project_alphabet_update(
        project=project,
        user=admin,
        groups=[AlphabetGroup(name=" Accents ", characters=[decomposed, "é", "ſ"])],
        keep_historical=False,
    )

    assert saved.alphabet_groups == [{"name": "Accents", "characters": ["é", "ſ"]}]
    assert saved.keep_historical is False


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ([AlphabetGroup(name="", characters=["ſ"])], "needs a name"),
        ([AlphabetGroup(name="a", characters=["ſ"]), AlphabetGroup(name="a", characters=[])], "Two groups"),
        ([AlphabetGroup(name="Words", characters=["abbreviation"])], "not one character"),
        ([AlphabetGroup(name="Spaces", characters=["\u00a0"])], "space or control"),
        ([AlphabetGroup(name="Tabs", characters=["\t"])], "space or control"),
        ([AlphabetGroup(name=f"g{n}", characters=[]) for n in range(13)], "at most 12 groups"),
    ],
)
def test_bad_groups_are_refused_saying_what_is_wrong(groups: list[AlphabetGroup], message: str) -> None:
    project = make_project()
    admin = make_member(project, Membership.Role.ADMIN)
    with pytest.raises(InvalidInputError, match=message) as refused:
        project_alphabet_update(project=project, user=admin, groups=groups, keep_historical=True)
    assert "groups" in refused.value.fields
    assert Project.objects.get(pk=project.pk).alphabet_groups == []


def test_only_project_admins_change_the_alphabet() -> None:
    project = make_project()
    for role in (Membership.Role.LABELER, Membership.Role.REVIEWER):
        with pytest.raises(ForbiddenError):
            project_alphabet_update(
                project=project, user=make_member(project, role), groups=GROUPS, keep_historical=True
            )


def test_texts_are_nfc_and_historical_characters_modernised_only_when_not_kept() -> None:
    keep = make_project(keep_historical=True)
    modern = make_project(keep_historical=False)
    stored = []
    for project in (keep, modern):
        labeler = make_member(project)
        make_lines(project, 1)
        line = line_claim(project=project, user=labeler)
        assert line is not None
        typed = "Caſe\u0301 ﬁnal"  # long s, a decomposed é, the fi ligature
        stored.append(label_submit(line=line, user=labeler, text=typed, client_id=uuid.uuid4()).text)

    assert stored == ["Caſé ﬁnal", "Casé final"]


def test_the_alphabet_over_http() -> None:
    project = make_project()
    admin = as_user(make_member(project, Membership.Role.ADMIN))
    labeler = as_user(make_member(project))
    url = reverse("project-alphabet", args=[project.pk])
    body = {"groups": [{"name": "Ligatures", "characters": ["ﬀ", "ﬁ"]}], "keep_historical": True}

    refused = labeler.put(url, body, format="json")
    saved = admin.put(url, body, format="json")
    bad = admin.put(
        url, {"groups": [{"name": "x", "characters": ["two words"]}], "keep_historical": True}, format="json"
    )
    read = labeler.get(url).json()
    detail = labeler.get(reverse("project-detail", args=[project.pk])).json()

    assert refused.status_code == 403
    assert refused.json()["error"]["message"]
    assert saved.status_code == 200
    assert bad.status_code == 400
    assert "not one character" in bad.json()["error"]["message"]
    assert read["groups"] == body["groups"]
    assert (read["normalization"], read["keep_historical"]) == ("NFC", True)
    assert {"character": "ſ", "modern": "s"} in read["historical_forms"]
    assert detail["keyboard"] == body["groups"]
    assert detail["special_characters"] == "ﬀﬁ"
