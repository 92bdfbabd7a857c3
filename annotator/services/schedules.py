"""Retraining schedules: a django-celery-beat ``PeriodicTask`` per project that
runs ``annotator.tasks.training_run_scheduled`` with kwargs {"project_id": N} on
an interval. Beat (DatabaseScheduler) notices the change on its next tick."""

from __future__ import annotations

import json

from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from annotator.errors import InvalidInputError
from annotator.models import Project
from annotator.permissions import ADMIN_ROLES, AnyUser, membership_require
from annotator.selectors import (
    TRAINING_SCHEDULE_TASK,
    TrainingSchedule,
    training_schedule_get,
    training_schedule_name,
    training_schedule_task,
)

# A retrain every few minutes would only queue runs behind each other; a month
# is the longest interval worth a schedule.
SCHEDULE_MIN_MINUTES = 5
SCHEDULE_MAX_MINUTES = 60 * 24 * 31


def training_schedule_set(
    *, project: Project, user: AnyUser, every_minutes: int | None, enabled: bool
) -> TrainingSchedule:
    """Set (or with ``every_minutes`` None, remove) the project's retraining
    schedule; project admins only. A scheduled run starts only when lines were
    verified since the last model, so a short interval costs nothing idle."""
    membership_require(project=project, user=user, roles=ADMIN_ROLES)
    if every_minutes is not None and not SCHEDULE_MIN_MINUTES <= every_minutes <= SCHEDULE_MAX_MINUTES:
        message = (
            f"Retrain every {SCHEDULE_MIN_MINUTES} to {SCHEDULE_MAX_MINUTES} minutes "
            f"(31 days), or leave it empty for no schedule; got {every_minutes}."
        )
        raise InvalidInputError(message, fields={"every_minutes": [message]})
    with transaction.atomic():
        task = training_schedule_task(project=project)
        if every_minutes is None:
            if task is not None:
                task.delete()
            return training_schedule_get(project=project)
        interval = IntervalSchedule.objects.filter(every=every_minutes, period=IntervalSchedule.MINUTES).first()
        if interval is None:
            interval = IntervalSchedule.objects.create(every=every_minutes, period=IntervalSchedule.MINUTES)
        if task is None:
            task = PeriodicTask(
                name=training_schedule_name(project=project),
                task=TRAINING_SCHEDULE_TASK,
                kwargs=json.dumps({"project_id": project.pk}),
                description=f"Retrain {project.name} when lines were verified since the last model.",
            )
        task.interval = interval
        task.crontab = None
        task.solar = None
        task.clocked = None
        task.one_off = False
        task.enabled = enabled
        task.save()
    return training_schedule_get(project=project)
