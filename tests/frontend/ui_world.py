"""Projects for the browser tests, built in code: rendered line crops, an
active model whose readings are right but for one character it was unsure of."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth.models import User

from annotator.models import Line, Membership, ModelVersion, Prediction, Project
from annotator.services import line_priority_refresh
from tests.annotator.factories import make_member, make_project, make_rendered_lines

TEXTS = [
    "Received your letter of May 3",
    "the specimens arrived safely",
    "with the seeds from Madeira",
    "I send the ferns by Tuesday",
    "kindly return the drawings",
    "the Kew herbarium is closed",
    "Hooker asks after the mosses",
    "your obedient servant J. D.",
]
# Letters the model "misread" each line with, at the position given by the line's index.
WRONG = "oaeuiaoe"
# The project's alphabet (and the model's), not on a US keyboard: the UI offers them as keys.
SPECIALS = "æſ—"
ALPHABET_GROUPS = [{"name": "Letters", "characters": ["æ", "ſ"]}, {"name": "Punctuation", "characters": ["—"]}]
PASSWORD = "lineproof-ui-test"


@dataclass
class World:
    project: Project
    lines: list[Line]
    truth: dict[int, str]
    mistake_at: dict[int, int]
    model: ModelVersion
    users: dict[str, User] = field(default_factory=dict)


def misread(text: str, index: int) -> tuple[str, int]:
    """``text`` with one letter wrong (the model's reading) and where."""
    position = next(i for i in range(3 + index % 5, len(text)) if text[i].isalpha())
    wrong = WRONG[index % len(WRONG)]
    if wrong == text[position]:
        wrong = "x"
    return text[:position] + wrong + text[position + 1 :], position


def labeling_world(*, texts: list[str] | None = None) -> World:
    texts = texts or TEXTS
    project = make_project(
        name="Hooker correspondence", description="Letters to and from J. D. Hooker", alphabet_groups=ALPHABET_GROUPS
    )
    lines = make_rendered_lines(project, texts)
    model = ModelVersion.objects.create(
        project=project,
        status=ModelVersion.Status.ACTIVE,
        alphabet="".join(sorted(set("".join(texts)) | set(SPECIALS))),
        cer=0.083,
        wer=0.21,
        ser=0.62,
        train_lines=120,
    )
    truth: dict[int, str] = {}
    mistake_at: dict[int, int] = {}
    readings = []
    for index, (line, text) in enumerate(zip(lines, texts, strict=True)):
        reading, position = misread(text, index)
        confidences = [0.97] * len(reading)
        confidences[position] = 0.31
        if position + 2 < len(reading):
            confidences[position + 2] = 0.7
        step = line.width / len(reading)
        readings.append(
            Prediction(
                line=line,
                model_version=model,
                text=reading,
                confidence=0.42,
                char_confidences=confidences,
                spans=[[round(i * step), round((i + 1) * step)] for i in range(len(reading))],
                priority=1.0 - 0.05 * index,
                scores={"mean_log_prob": 1.0 - 0.05 * index},
            )
        )
        truth[line.pk] = text
        mistake_at[line.pk] = position
    Prediction.objects.bulk_create(readings)
    line_priority_refresh(project=project)
    return World(project=project, lines=lines, truth=truth, mistake_at=mistake_at, model=model)


def member(world: World, role: str = Membership.Role.LABELER, *, name: str, password: bool = False) -> User:
    user = make_member(world.project, role=role)
    user.username = name
    if password:
        user.set_password(PASSWORD)
    user.save()
    world.users[name] = user
    return user
