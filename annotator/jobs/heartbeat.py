"""A job's heartbeat, written from a thread of its own while the job works.

Training writes progress after its steps, but a run also loads data, judges,
uploads and promotes, and an import decodes and segments pages: phases that can
outlast the stale limit without a callback. The heartbeat thread writes every
LINEPROOF_HEARTBEAT_SECONDS whatever the job is doing, so a live job never looks
dead and a dead one (its process gone, thread and all) goes stale within the
limit (``jobs.recovery``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType

from django.conf import settings
from django.db import DatabaseError, connection

logger = logging.getLogger(__name__)


class Heartbeat:
    """``with Heartbeat(touch):`` calls ``touch()`` at once and then every
    ``interval`` seconds until the block ends. ``touch`` writes the heartbeat
    and returns False when the job is no longer running (cancelled, or declared
    dead and replaced); beating then stops. ``beats`` counts the writes."""

    def __init__(self, touch: Callable[[], bool], *, interval: float | None = None) -> None:
        self.touch = touch
        self.interval = settings.LINEPROOF_HEARTBEAT_SECONDS if interval is None else interval
        self.beats = 0
        self.beaten = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    alive = self.touch()
                except DatabaseError:
                    # A database blip: the next beat tries again, well within the stale limit.
                    logger.warning("heartbeat not written", exc_info=True)
                    alive = True
                else:
                    self.beats += 1
                    self.beaten.set()
                if not alive:
                    return
                self._stop.wait(self.interval)
        finally:
            # This thread's own connection, which Django opened for it.
            connection.close()
