"""Watching the store for an operator's stop request while the loop is busy.

The loop heeds operators between its steps, and a step can be a model fit of several seconds;
a robot plan must not run on that long after the operator said stop. :class:`StopWatch` is a
daemon thread on a database connection of its own (like the lease's heartbeat) that looks
for an unhandled stop request of one campaign every ``interval_s`` and calls back once. It
only reads: the loop still handles the request (marks it, records who asked).
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

log = logging.getLogger(__name__)

#: Seconds between two looks at the store: well inside the one second a stop may take to reach a plan.
STOP_POLL_S = 0.1


class StopWatch:
    """A daemon thread that calls ``on_stop(request)`` once an operator asks ``campaign`` to stop.

    Args:
        backend: a database connection of its own (never the store's: a long write of the loop
            must not delay the stop).
        campaign: the campaign watched.
        on_stop: called once, in this thread, with the request (``{"id", "operator", "note", ...}``).
        interval_s: seconds between looks.

    Attributes:
        fired: the request it called back with, or None.
    """

    def __init__(self, backend, campaign: str, on_stop: Callable[[dict], None], interval_s: float = STOP_POLL_S):
        self.backend, self.campaign, self.on_stop, self.interval_s = backend, campaign, on_stop, interval_s
        self.fired: dict | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sdl-stopwatch-{campaign}", daemon=True)

    def start(self) -> "StopWatch":
        self._thread.start()
        return self

    def look(self) -> dict | None:
        """The oldest unhandled stop request of the campaign, or None."""
        row = self.backend.execute("SELECT * FROM controls WHERE campaign=? AND action='stop' AND handled IS NULL "
                                   "ORDER BY id LIMIT 1", (self.campaign,)).fetchone()
        return dict(row) if row is not None else None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                request = self.look()
            except Exception as err:  # noqa: BLE001 - a missed look is retried; the loop's own poll remains
                log.warning("campaign %s: could not look for a stop request (%s)", self.campaign, err)
                continue
            if request is not None:
                self.fired = request
                try:
                    self.on_stop(request)
                except Exception:  # noqa: BLE001 - the loop still carries the request out between steps
                    log.exception("campaign %s: acting on the stop request failed", self.campaign)
                return

    def close(self) -> None:
        """Stop watching and release the connection."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        self.backend.close()
