"""``manage.py demo``: an admin, a labeler and a demo project to try Lineproof on.

The project starts from the shipped base model (services.project_create), so
its lines are read and ranked as soon as the import lands. The lines are
rendered here (recognition.synthetic: OpenCV's Hershey fonts, no font files
needed) and go in through the real import path, as a zip a worker imports:
some lines arrive with their text, so the first run fine-tunes the base as
soon as the import lands; the rest wait for labelers; and two rendered pages
are cut into lines by the page segmenter. Running it again changes nothing.
"""

from __future__ import annotations

import io
import os
import zipfile
from typing import Any

import cv2
import numpy as np
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from annotator.models import Membership, Project
from annotator.services import import_job_create, project_create
from recognition.synthetic import random_text, render_line

DEMO_PROJECT = "Demo: rendered lines"
# Lines that come with their text, so a first model trains right after the import.
WITH_TEXT = 120


def _png(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    return encoded.tobytes()


def _lines_zip(count: int, rng: np.random.Generator) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for n in range(count):
            text = random_text(rng)
            archive.writestr(f"lines/{n:05d}.png", _png(render_line(text, rng=rng, height=48)))
            if n < WITH_TEXT:
                archive.writestr(f"lines/{n:05d}.gt.txt", text + "\n")
    return buffer.getvalue()


def _page(rng: np.random.Generator, lines: int = 12) -> bytes:
    """A page of rendered lines on white, as a scan would hold them."""
    page = np.full((120 + lines * 70, 1400), 255, dtype=np.uint8)
    for n in range(lines):
        image = render_line(random_text(rng, min_words=4, max_words=8), rng=rng, height=40)[:, :1300]
        y = 60 + n * 70
        page[y : y + image.shape[0], 50 : 50 + image.shape[1]] = np.minimum(
            page[y : y + image.shape[0], 50 : 50 + image.shape[1]], image
        )
    return _png(page)


class Command(BaseCommand):
    help = "Create the admin, a labeler and the demo project (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--lines", type=int, default=400, help="rendered lines in the demo project (0: none)")
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args: Any, **options: Any) -> None:
        password = os.environ.get("LINEPROOF_ADMIN_PASSWORD", "lineproof")
        admin = self._user("admin", password, staff=True)
        labeler = self._user("labeler", password, staff=False)
        if options["lines"] <= 0:
            return
        with transaction.atomic():
            project = Project.objects.filter(name=DEMO_PROJECT).first()
            created = project is None
            if project is None:
                project = project_create(
                    name=DEMO_PROJECT,
                    description="Rendered lines to try the labeling loop on, read by the base model from the "
                    "start. Label lines; every 50 verified lines the model retrains and the queue re-ranks.",
                    retrain_threshold=50,
                    min_eval_lines=10,
                )
            Membership.objects.get_or_create(project=project, user=admin, defaults={"role": Membership.Role.ADMIN})
            Membership.objects.get_or_create(project=project, user=labeler, defaults={"role": Membership.Role.LABELER})
        if created:
            rng = np.random.default_rng(options["seed"])
            files = [
                SimpleUploadedFile("demo-lines.zip", _lines_zip(options["lines"], rng), "application/zip"),
                SimpleUploadedFile("demo-page-1.png", _page(rng), "image/png"),
                SimpleUploadedFile("demo-page-2.png", _page(rng), "image/png"),
            ]
            job = import_job_create(project=project, user=admin, files=files)
            self.stdout.write(f"Demo project created; import {job.pk} queued for the worker.")
        self.stdout.write(f"Log in as admin / {password} (project admin) or labeler / {password} (labeler).")

    def _user(self, name: str, password: str, *, staff: bool) -> User:
        # An e-mail address, so the password-reset path works in the demo (the link is printed on the console).
        defaults = {"is_staff": staff, "is_superuser": staff, "email": f"{name}@example.org"}
        user, created = User.objects.get_or_create(username=name, defaults=defaults)
        if created:
            user.set_password(password)
            user.save()
        return user
