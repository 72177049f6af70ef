"""The lease a controller holds on its campaign: its owner string and a heartbeat.

A running controller writes ``campaigns.heartbeat`` every few seconds from a daemon thread on
a connection of its own. Another controller may take the campaign over when the holder is a
dead process on this host, or when its heartbeat is older than the lease timeout
(``$SDL_LEASE_TIMEOUT_S``, default 60 s), on any host: a controller that died on another
machine no longer keeps its campaign on a shared PostgreSQL.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
from typing import Callable

from core import StoreError

log = logging.getLogger(__name__)

LEASE_ENV = "SDL_LEASE_TIMEOUT_S"
OWNER_HOST_ENV = "SDL_OWNER_HOST"
DEFAULT_LEASE_TIMEOUT_S = 60.0


def lease_timeout(value: float | None = None) -> float:
    """The lease timeout in seconds: ``value``, else ``$SDL_LEASE_TIMEOUT_S``, else 60.

    Raises:
        StoreError: not a finite number > 0.
    """
    text = os.environ.get(LEASE_ENV) if value is None else value
    if text is None:
        return DEFAULT_LEASE_TIMEOUT_S
    try:
        seconds = float(text)
    except (TypeError, ValueError):
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise StoreError(f"{LEASE_ENV}={text!r}: the lease timeout is seconds, a finite number > 0 "
                         f"(default {DEFAULT_LEASE_TIMEOUT_S:g})")
    return seconds


def this_host() -> str:
    """This controller's host name in owner strings (``$SDL_OWNER_HOST`` overrides it)."""
    return os.environ.get(OWNER_HOST_ENV) or socket.gethostname()


def owner_id() -> str:
    """``host:pid`` of this process, the owner string of the campaign it runs."""
    return f"{this_host()}:{os.getpid()}"


def process_alive(owner: str) -> bool | None:
    """Whether the controller ``host:pid`` still runs; None when it cannot be told (another host)."""
    host, _, pid = owner.rpartition(":")
    if host != this_host():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, OverflowError):
        return None
    return True


def holds(owner: str, heartbeat: float | None, timeout_s: float, now: float) -> bool:
    """Whether ``owner`` still holds its lease: alive and beating. A holder whose heartbeat is
    older than ``timeout_s`` has lost it (dead or hung, on any host); one without a heartbeat
    (a controller older than the lease) holds it while its process is alive, and forever on
    another host, as before."""
    alive = process_alive(owner)
    if alive is False:
        return False
    if heartbeat is None:
        return True
    return now - heartbeat < timeout_s


class Heartbeat:
    """A daemon thread that renews a campaign's lease every ``interval_s``.

    Args:
        backend: a database connection of its own (never the store's, so a long transaction
            of the loop does not delay the beat).
        campaign, owner: the lease.
        interval_s: seconds between beats (a quarter of the timeout, at most 5 s).

    Attributes:
        lost: None while the lease holds; else why it was lost (another owner took it).
    """

    def __init__(self, backend, campaign: str, owner: str, interval_s: float,
                 on_lost: Callable[[str], None] | None = None):
        self.backend, self.campaign, self.owner, self.interval_s = backend, campaign, owner, interval_s
        self.lost: str | None = None
        self._on_lost = on_lost
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sdl-heartbeat-{campaign}", daemon=True)

    def start(self) -> "Heartbeat":
        self._thread.start()
        return self

    def beat(self) -> bool:
        """Renew the lease once; False when it is lost (recorded in :attr:`lost`)."""
        db = self.backend
        db.begin()
        try:
            cur = db.execute("UPDATE campaigns SET heartbeat=? WHERE name=? AND owner=?",
                             (time.time(), self.campaign, self.owner))
            taken = cur.rowcount != 1
            holder = db.execute("SELECT owner FROM campaigns WHERE name=?", (self.campaign,)).fetchone() if taken else None
        except BaseException:
            db.rollback()
            raise
        db.commit()
        if taken:
            self.lost = (f"the lease on campaign {self.campaign!r} was taken over by controller "
                         f"{holder[0] if holder and holder[0] else '(none)'}: its heartbeat had stopped for "
                         "longer than the lease timeout")
            if self._on_lost is not None:
                self._on_lost(self.lost)
        return not taken

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                if not self.beat():
                    return
            except Exception as err:  # noqa: BLE001 - a missed beat is retried; the timeout decides
                log.warning("campaign %s: heartbeat not written (%s); retrying in %.1f s", self.campaign, err,
                            self.interval_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
        self.backend.close()
