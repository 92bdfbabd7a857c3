"""Small builders for the annotator's world; each test makes only what it reads."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
from celery import Celery
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection

from annotator import enqueue
from annotator.models import Document, Line, Membership, ModelVersion, Page, Prediction, Project
from annotator.services import label_submit, line_claim, line_create, line_priority_refresh
from recognition.calibration import Calibration
from recognition.checkpoint import checkpoint_dict, save_atomic
from recognition.codec import Codec
from recognition.model import CRNN, PRESETS, ModelConfig
from recognition.synthetic import ALPHABET, render_line
from tests.processes import free_port

_serial = itertools.count(1)
_TASK_SEND = enqueue.task_send  # the real one, before any test records instead


def make_user(name: str | None = None) -> User:
    # No password: hashing one costs a PBKDF2 run per user; tests log in with force_login.
    return User.objects.create_user(username=name or f"user{next(_serial)}")


def make_project(**settings: Any) -> Project:
    """A project with no model: started from scratch (``base_model=""``), so
    tests see exactly the models they make. ``services.project_create`` makes
    one that starts from a base model."""
    # Queue tests look at training lines unless they ask for an eval split.
    defaults: dict[str, Any] = {
        "name": f"project {next(_serial)}",
        "eval_share": 0.0,
        "min_eval_lines": 0,
        "base_model": "",
    }
    return Project.objects.create(**{**defaults, **settings})


def make_member(project: Project, role: str = Membership.Role.LABELER, user: User | None = None) -> User:
    user = user or make_user()
    Membership.objects.create(project=project, user=user, role=role)
    return user


def make_document(project: Project, pages: int = 1) -> list[Page]:
    document = Document.objects.create(project=project, name=f"doc {next(_serial)}")
    return [
        Page.objects.create(document=document, number=n, image="pages/none.png", width=1000, height=1400)
        for n in range(1, pages + 1)
    ]


def make_lines(project: Project, count: int, *, page: Page | None = None, prefix: str = "") -> list[Line]:
    """Lines whose crops are names only (no file); tests that download one store it."""
    return [
        line_create(
            project=project,
            key=f"{prefix or f'p{project.pk}'}/line{n}",
            crop=f"lines/{project.pk}-{n}.png",
            width=400,
            height=32,
            page=page,
            reading_order=n,
        )
        for n in range(count)
    ]


def score_lines(lines: Sequence[Line], uncertainties: Sequence[float], *, status: str = "active") -> ModelVersion:
    """An active model that read ``lines`` with these uncertainties, copied onto the queue."""
    project = lines[0].project
    model = ModelVersion.objects.create(project=project, status=status, alphabet="abc")
    Prediction.objects.bulk_create(
        Prediction(
            line=line,
            model_version=model,
            text=f"guess {line.pk}",
            confidence=1.0 - u,
            char_confidences=[0.5, 0.9],
            spans=[[0, 10], [10, 20]],
            priority=u,
            scores={"mean_log_prob": u},
        )
        for line, u in zip(lines, uncertainties, strict=True)
    )
    line_priority_refresh(project=project)
    return model


def claim_with_ahead(project: Project, user: User) -> tuple[Line, Line]:
    """What the labeling page holds: the line it shows and one fetched ahead."""
    shown = line_claim(project=project, user=user)
    assert shown is not None
    ahead = line_claim(project=project, user=user, exclude=[shown.pk])
    assert ahead is not None
    return shown, ahead


def client_id() -> uuid.UUID:
    return uuid.uuid4()


def make_rendered_lines(
    project: Project, texts: Sequence[str], *, split: str = Line.Split.TRAIN, seed: int = 0, prefix: str = "r"
) -> list[Line]:
    """Lines whose crops are ``texts`` rendered (recognition.synthetic) and saved
    under MEDIA_ROOT, in the given split. The same seed renders the same images."""
    rng = np.random.default_rng(seed)
    lines = []
    for n, text in enumerate(texts):
        image = render_line(text, rng=rng, height=32, font=0)
        name = f"lines/{project.pk}/{prefix}{n}.png"
        path = Path(settings.MEDIA_ROOT) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), image)
        line = line_create(
            project=project,
            key=f"{prefix}/{n}",
            crop=name,
            width=image.shape[1],
            height=image.shape[0],
            reading_order=n,
        )
        Line.objects.filter(pk=line.pk).update(split=split)
        line.split = split
        lines.append(line)
    return lines


def verify(lines: Sequence[Line], texts: Sequence[str], *, user: User) -> None:
    """Label ``lines`` as ``user`` (a reviewer or admin: verified at once, no lease needed)."""
    for line, text in zip(lines, texts, strict=True):
        label_submit(line=line, user=user, text=text, client_id=uuid.uuid4())


def run_in_threads(work: Callable[[int], None], threads: int, *, timeout: float = 240) -> None:
    """Run ``work(n)`` on ``threads`` threads released together by a barrier, so
    they really race; each closes its own database connection; any error fails."""
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def body(index: int) -> None:
        try:
            start.wait()
            work(index)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    running = [threading.Thread(target=body, args=(n,)) for n in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in running), "a thread hung"
    assert not errors, errors


def write_tiny_checkpoint(path: Path) -> dict[str, Any]:
    """An untrained tiny model with an identity calibration (calibrated
    confidence = raw confidence) saved at ``path``; returns the calibration."""
    torch.manual_seed(0)
    codec = Codec.from_texts([ALPHABET])
    model = CRNN(ModelConfig(num_classes=codec.num_classes, **{**PRESETS["tiny"], "dropout": 0.0})).eval()
    calibration = Calibration("identity").to_dict()
    save_atomic(checkpoint_dict(model, codec, calibration=calibration), path)
    return calibration


def make_active_model(project: Project, *, accept_threshold: float | None = None) -> ModelVersion:
    """An active version whose checkpoint is an untrained tiny model (``write_tiny_checkpoint``)."""
    name = f"models/{project.pk}/{uuid.uuid4().hex}/best.pt"
    calibration = write_tiny_checkpoint(Path(settings.MEDIA_ROOT) / name)
    return ModelVersion.objects.create(
        project=project,
        checkpoint=name,
        alphabet=ALPHABET,
        status=ModelVersion.Status.ACTIVE,
        calibration=calibration,
        accept_threshold=accept_threshold,
    )


# What the training tests' projects learn: short lines a tiny model learns in a few hundred steps.
TRAINING_TEXTS = ("kew gardens", "dear sir", "seeds 1851", "yours truly", "the herbarium")


def tiny_config(**overrides: Any) -> dict[str, Any]:
    """LINEPROOF_TRAIN_CONFIG for training runs a test can afford (tiny preset, one thread)."""
    return {
        "batch_size": 5,
        "augment": False,
        "threads": 1,
        "warmup_steps": 10,
        "learning_rate": 1e-2,
        "max_steps": 200,
        "eval_every": 50,
        "patience": 100,
        "max_epochs": 1000,
        **overrides,
    }


class Broker:
    """The broker as a test sees it: ``down()`` sends through the real
    ``enqueue.task_send`` to a broker that refuses connections (a closed
    port), ``up()`` brings back the recorder of ``enqueued``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.recorder = enqueue.task_send
        self.closed = Celery("broker-down", broker=f"redis://127.0.0.1:{free_port()}/0", set_as_current=False)
        self.closed.conf.task_ignore_result = True

    def down(self) -> None:
        self.monkeypatch.setattr(enqueue, "app", self.closed)
        self.monkeypatch.setattr(enqueue, "task_send", _TASK_SEND)

    def up(self) -> None:
        self.monkeypatch.setattr(enqueue, "task_send", self.recorder)
