"""A background loop in a daemon thread, for the gateway's database-claimed workers."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class PeriodicWorker:
    """Calls `work` until stopped; waits `poll_seconds` whenever it found nothing to do. An
    error is logged and the loop goes on: the work stays in the database for the next round."""

    def __init__(self, name: str, work: Callable[[], int]) -> None:
        self.name = name
        self._work = work
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, poll_seconds: float) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    done = self._work()
                except Exception:
                    log.exception("%s worker error", self.name)
                    done = 0
                if not done:
                    self._stop.wait(poll_seconds)

        self._thread = threading.Thread(target=loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
