"""A project's life after it was created (``services.project_create``): its
description and guidelines, archiving, and deleting it with its files.

All of it is for the project's admins. Deleting removes every row of the
project (the database cascades) and, once that has committed, every file the
rows named: page images, line crops, model checkpoints, exports and uploads
still waiting for an import. A rollback leaves the files where they were.
"""

from __future__ import annotations

import logging
from typing import TypedDict

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from annotator.errors import InvalidInputError
from annotator.models import ExportJob, ImportJob, Line, ModelVersion, Page, Project
from annotator.permissions import ADMIN_ROLES, AnyUser, membership_require
from annotator.selectors import training_schedule_name
from annotator.services.projects import _full_clean, project_languages_clean

logger = logging.getLogger(__name__)


class ProjectAbout(TypedDict, total=False):
    """What a project is (as opposed to how its model learns, ``ProjectSettings``); every key optional."""

    name: str
    description: str
    languages: list[str]
    script: str
    guidelines: str


def project_about_update(*, project: Project, user: AnyUser, changes: ProjectAbout) -> Project:
    """Project admins: change the name, description, languages, script or guidelines."""
    membership_require(project=project, user=user, roles=ADMIN_ROLES)
    values = dict(changes)
    if "languages" in values:
        values["languages"] = project_languages_clean(changes["languages"])
    with transaction.atomic():
        locked = Project.objects.select_for_update().get(pk=project.pk)
        changed = [name for name, value in values.items() if getattr(locked, name) != value]
        for name in changed:
            setattr(locked, name, values[name])
        _full_clean(locked, only=changed)
        if changed:
            locked.save(update_fields=changed)
    return locked


def project_archive_set(*, project: Project, user: AnyUser, archived: bool) -> Project:
    """Project admins: archive the project (it leaves every project list; nothing
    is removed) or bring it back."""
    membership_require(project=project, user=user, roles=ADMIN_ROLES)
    archived_at = (project.archived_at or timezone.now()) if archived else None
    Project.objects.filter(pk=project.pk).update(archived_at=archived_at)
    project.archived_at = archived_at
    return project


def project_files(*, project: Project) -> list[str]:
    """The storage names of every file of ``project``'s rows."""
    names: list[str] = []
    names += Page.objects.filter(document__project=project).values_list("image", flat=True)
    names += Line.objects.filter(project=project).values_list("crop", flat=True)
    names += ModelVersion.objects.filter(project=project).values_list("checkpoint", flat=True)
    names += ExportJob.objects.filter(project=project).values_list("file", flat=True)
    for files in ImportJob.objects.filter(project=project).values_list("files", flat=True):
        names += [str(name) for name in files or []]
    return sorted({name for name in names if name})


def project_delete(*, project: Project, user: AnyUser, confirm: str) -> None:
    """Project admins: delete the project, its rows and, after the commit, its
    files. ``confirm`` must repeat the project's name."""
    membership_require(project=project, user=user, roles=ADMIN_ROLES)
    if confirm != project.name:
        message = "Type the project's name to confirm deleting it."
        raise InvalidInputError(message, fields={"confirm": [message]})
    with transaction.atomic():
        locked = Project.objects.select_for_update().get(pk=project.pk)
        files = project_files(project=locked)
        PeriodicTask.objects.filter(name=training_schedule_name(project=locked)).delete()
        locked.delete()
        transaction.on_commit(lambda: storage_files_delete(names=files))


def storage_files_delete(*, names: list[str]) -> None:
    """Delete each named file from storage; one that cannot be deleted is logged, not fatal."""
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            logger.exception("Could not delete %s", name)
