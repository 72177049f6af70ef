"""The robot fidelity: a station (a line and whoever runs its plan) behind one executor.

:class:`RobotExecutor` owns what every station shares: the robot thread, the retry policy
(:mod:`controller.execution.retry`), the documents of each attempt and their listeners. A
station runs one attempt: :class:`LocalStation` on a RunEngine in this process, or
:class:`controller.execution.queueserver.client.QueueServerStation` on a bluesky-queueserver
RE Manager.

The RunEngine lives in its own thread (the loop's main thread keeps dispatching
simulations meanwhile), so it is built without the SIGINT context manager, which only
works in the main thread; Ctrl-C is handled by the loop, which asks the engine to stop.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Protocol, Sequence

from bluesky import RunEngine

from controller.config.campaign import CampaignConfig
from controller.config.devices import line_limits
from controller.execution.protocol import DocumentCallback, RobotOutcome, RobotRunFailed, RunRequest
from controller.execution.retry import run_with_retries
from core import DeviceError, PluginError
from core.system import takes_station

__all__ = ["LocalStation", "RobotExecutor", "RobotOutcome", "RobotRunFailed", "Station", "build_line",
           "dry_run_truth", "make_robot_executor"]

#: Twin lines of further stations are seeded this far apart (station 0 keeps the campaign's seed).
STATION_SEED_STRIDE = 100_003


class Station(Protocol):
    """Where one robot attempt runs.

    Attributes:
        name: how records and documents name the station (``station-1``, ``station-2`` ...).
        limits: the line's limits (``devices.LineLimits``) recipes are checked against.
        time_scale: lab seconds per wall second (the retry backoff is lab time).
    """

    name: str
    limits: Any
    time_scale: float

    def check(self, recipe: dict[str, Any]) -> None:
        """Refuse a recipe the station cannot make (limits; an unreachable server)."""

    def run_once(self, recipe: dict[str, Any], run_id: str, md: dict[str, Any],
                 collect: DocumentCallback, info: dict[str, Any]) -> None:
        """Run the plan once; every document goes to ``collect``; ``info`` keeps what the
        attempt's record should (a queue item). Raises on a fault."""

    def request_stop(self) -> None: ...

    def close(self) -> None: ...


def dry_run_truth(config: CampaignConfig, recipe: dict[str, Any]) -> dict[str, Any] | None:
    """The hidden true properties of a recipe on the system's simulated line, or None when
    the system declares no truth.

    Only meaningful for dry runs: it answers "how good is the recommendation really?"
    with the twin's ground truth (no measurement noise), which no campaign ever sees.
    A real campaign (``[devices] dry_run = false``) has no hidden truth: always None.
    """
    if not config.devices.dry_run:
        return None
    truth = getattr(config.robot, "truth", None)
    if truth is None:
        return None
    return truth(recipe, seed=config.seed + 7919, limits=line_limits(config.robot, config.devices.limits),
                 batch_mass=config.devices.batch_mass)


def build_line(config: CampaignConfig, speedup: float, limits: Any, station: int = 0) -> Any:
    """The material system's line for this campaign (its ``[devices]`` settings say which).

    ``station``: which of the robot fidelity's ``stations`` (0-based). A system whose
    ``make_line`` takes ``station=`` builds that station's devices; otherwise further
    stations are twin lines of their own seed (dry runs on simulated devices only: the
    config refuses several stations on real devices such a system cannot tell apart).
    """
    kwargs: dict[str, Any] = {}
    if config.robot_stations > 1 and takes_station(config.robot):
        kwargs["station"] = station
    return config.robot.make_line(seed=config.seed + STATION_SEED_STRIDE * station, speedup=speedup, limits=limits,
                                  faults=config.devices.faults, settings=config.devices, **kwargs)


class LocalStation:
    """A synthesis line and the RunEngine in this process that drives it.

    Args:
        config: the campaign (its ``devices`` settings build the line).
        speedup: overrides ``config.devices.speedup`` (tests use large values); a real line
            (``dry_run = false``) runs in lab time and ignores both.
    """

    def __init__(self, config: CampaignConfig, speedup: float | None = None, station: int = 0):
        self.config = config
        self.name = f"station-{station + 1}"
        self.limits = line_limits(config.robot, config.devices.limits)
        speedup = (speedup or config.devices.speedup) if config.devices.dry_run else 1.0
        self.line = build_line(config, speedup, self.limits, station)
        self.time_scale = self.line.time_scale  # an IOC's own time scale on transport "epics"
        self._RE: RunEngine | None = None
        self._stop_requested = False

    def check(self, recipe: dict[str, Any]) -> None:
        """Raise :class:`core.LimitError` if any setpoint of the recipe is beyond the line's limits."""
        self.config.robot.check_recipe(recipe, self.limits, batch_mass=self.config.devices.batch_mass)

    def run_once(self, recipe, run_id, md, collect, info) -> None:
        if self._RE is None:
            self._RE = RunEngine({}, context_managers=[])
            # A failed run is recorded with its fault (device, kind, step) and retried per
            # policy; the engine's own "Run aborted" traceback on stderr would only bury that.
            self._RE.log.setLevel(logging.CRITICAL)
        token = self._RE.subscribe(collect)
        try:
            self._RE(self._unless_stopped(self.config.robot.plan(
                self.line, recipe, sample_id=run_id, md=md, batch_mass=self.config.devices.batch_mass,
                watchdog_factor=self.config.devices.watchdog_factor)))
        finally:
            self._RE.unsubscribe(token)

    def _unless_stopped(self, plan):
        """The plan, unless a stop came before the engine was running it: :meth:`request_stop`
        sets the flag before it looks at the engine's state, and the engine is running before
        this first line runs, so a stop is never lost between the two."""
        if self._stop_requested:
            raise DeviceError("stopped by the operator before the plan started")
        return (yield from plan)

    def request_stop(self) -> None:
        """Abort the running plan now, from any thread: the engine cancels the wait it is in,
        stops every device the plan set, and closes the run with exit status ``abort``."""
        self._stop_requested = True
        RE = self._RE
        if RE is not None and RE.state != "idle":
            try:
                RE.abort("stopped by the operator")
            except Exception:  # the run may end between the check and the call
                pass

    def close(self) -> None:
        close_line = getattr(self.line, "close", None)  # an EPICS line drops its channels
        if close_line is not None:
            close_line()


class RobotExecutor:
    """The robot fidelity's :class:`~controller.execution.protocol.Executor`: one or more
    stations, each making one sample at a time in a thread of its own, retried per the
    campaign's ``[retry]``. A sample goes to whichever station is free; its attempts record
    which station made them (``attempts[i]["station"]``, and ``station`` in each run's start
    document).

    Args:
        config: the campaign (its retry policy).
        stations: where attempts run (:class:`LocalStation` s, or a queue server's station).
    """

    def __init__(self, config: CampaignConfig, stations: Station | Sequence[Station]):
        self.config = config
        self.stations: list[Station] = list(stations) if isinstance(stations, (list, tuple)) else [stations]
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        for station in self.stations:
            self._free.put(station)
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=len(self.stations), thread_name_prefix="robot")
        self._document_listeners: list[DocumentCallback] = []

    @property
    def station(self) -> Station:
        """The first station (the only one, unless the robot fidelity has ``stations > 1``)."""
        return self.stations[0]

    @property
    def limits(self) -> Any:
        return self.station.limits

    def add_document_listener(self, callback: DocumentCallback) -> None:
        """``callback(name, doc)`` for every document of every run (e.g. a 0MQ publisher)."""
        self._document_listeners.append(callback)

    def check(self, recipe: dict[str, Any]) -> None:
        self.station.check(recipe)  # every station shares the campaign's limits

    def submit(self, request: RunRequest) -> Future:
        """Start making one sample; the future gives a :class:`RobotOutcome` or raises
        :class:`RobotRunFailed` once the retry policy gives up."""
        # Refuse before anything is queued: a plan that would exceed a limit never reaches a device.
        self.check(request.recipe)
        return self._pool.submit(self._run, request)

    def _run(self, request: RunRequest) -> RobotOutcome:
        station = self._free.get()  # as many threads as stations: one is free for every running sample
        try:
            def attempt(run_id: str, number: int, documents: list, info: dict) -> None:
                info["station"] = station.name
                station.run_once(request.recipe, run_id, {**request.md, "attempt": number, "station": station.name},
                                 self._collector(documents, request.on_document), info)
                if not any(name == "start" for name, _ in documents):
                    # not a fault of this sample: every run of this plan would end the same way
                    raise PluginError(f"material system {self.config.system!r}: robot.plan ran for {run_id} and made "
                                      "no documents (it opened no run), so nothing of the sample can be recorded; "
                                      "open one with bluesky.preprocessors.run_decorator")

            return run_with_retries(self.config.retry, attempt, request.sample_id, station.time_scale,
                                    self._stop, request.on_retry, record=getattr(self.config.robot, "record", None))
        finally:
            self._free.put(station)

    def _collector(self, documents: list, on_document: DocumentCallback | None) -> DocumentCallback:
        """The callback every document of a run goes through: kept for the record, passed to
        the caller's ``on_document`` (stored as it comes) and to the document listeners."""
        def collect(name, doc):
            documents.append((name, doc))
            if on_document is not None:
                on_document(name, doc)
            for listener in self._document_listeners:
                listener(name, doc)

        return collect

    def request_stop(self) -> None:
        """Ask every running plan to stop at the next checkpoint (the operator's stop, Ctrl-C)."""
        self._stop.set()
        for station in self.stations:
            station.request_stop()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for station in self.stations:
            station.close()


def make_robot_executor(config: CampaignConfig, speedup: float | None = None,
                        event_log: Callable[[str, dict[str, Any]], None] | None = None) -> RobotExecutor:
    """The robot executor the campaign's ``[devices] executor`` asks for: a :class:`LocalStation`
    (``local``) or a queue server's station (``queueserver``).

    ``event_log(kind, payload)`` records the station's own events (queue items ...).
    """
    if getattr(config.devices, "executor", "local") == "queueserver":
        from controller.execution.queueserver.client import QueueServerStation

        return RobotExecutor(config, QueueServerStation(config, speedup=speedup, event_log=event_log))
    return RobotExecutor(config, [LocalStation(config, speedup=speedup, station=i)
                                  for i in range(max(1, config.robot_stations))])
