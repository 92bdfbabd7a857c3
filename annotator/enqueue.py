"""Sending work to the workers, by task name.

Services and jobs enqueue through here instead of importing ``annotator.tasks``
(which imports them): the task modules stay at the top of the import graph and
the graph has no circle. Messages are sent when the transaction commits, so a
worker never looks for a row that is not there yet.

A broker that is down does not fail the write that enqueued: the row is stored,
the send is logged, and the periodic ``jobs_recover`` (every 30 s) sends
again every job row that no worker took within LINEPROOF_JOB_UNSENT_SECONDS
(``jobs.recovery.jobs_unsent_resend``). Claims are
compare-and-set, so a message sent twice runs once.
"""

from __future__ import annotations

import logging
from functools import partial

from django.db import transaction
from kombu.exceptions import KombuError

from annotator.celery import app

logger = logging.getLogger(__name__)

TRAINING_RUN_EXECUTE = "annotator.tasks.training_run_execute"
PREDICTIONS_REFRESH = "annotator.tasks.predictions_refresh"
PREDICTION_BATCH_STORE = "annotator.tasks.prediction_batch_store"
IMPORT_JOB_RUN = "annotator.tasks.import_job_run"
EXPORT_JOB_RUN = "annotator.tasks.export_job_run"
RESEGMENT_JOB_RUN = "annotator.tasks.resegment_job_run"

TaskArgument = int | list[int] | None


def task_send(name: str, *args: TaskArgument) -> bool:
    """Send ``name(*args)`` now; a broker error is logged, not raised. Returns
    whether the broker took the message."""
    try:
        # A signature finds the registered task when this process has one (so
        # task_always_eager and the tests' recorder apply) and falls back to
        # sending by name; routes (settings.CELERY_TASK_ROUTES) go by name.
        app.signature(name, args=args).apply_async()
    except (KombuError, OSError):
        logger.exception("could not send %s%s; the periodic check sends it again", name, args)
        return False
    return True


def tasks_send(name: str, argument_lists: list[tuple[TaskArgument, ...]]) -> bool:
    """Send ``name`` once per argument tuple, in order, stopping at the first
    message the broker refuses. Returns whether the broker took them all."""
    return all(task_send(name, *args) for args in argument_lists)


def task_send_on_commit(name: str, *args: TaskArgument) -> None:
    """Send ``name(*args)`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(partial(task_send, name, *args))
