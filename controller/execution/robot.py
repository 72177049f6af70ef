"""The robot fidelity: a RunEngine driving the synthesis line's plan for one sample.

The RunEngine lives in its own thread (the scheduler's main thread keeps
dispatching simulations meanwhile), so it is built without the SIGINT context
manager, which only works in the main thread; Ctrl-C is handled by the
scheduler, which asks the engine to stop.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bluesky import RunEngine

from core import SDLError
from controller.config.campaign import CampaignConfig


@dataclass
class RobotOutcome:
    """A robot sample that was made: the last run's record and documents, and every attempt."""

    record: Any
    documents: list[tuple[str, dict]]
    attempts: list[dict[str, Any]] = field(default_factory=list)


class RobotRunFailed(SDLError):
    """Every attempt at a robot sample failed (or the fault was not worth retrying).

    Attributes:
        attempts: ``[{"run_uid", "fault"}]`` in order.
        fault: the last attempt's fault ``{device, kind, step, detail}`` (kind ``error`` if no device fault).
        record: the last attempt's partial ``RobotRunRecord`` (completed steps), or None.
    """

    def __init__(self, message: str, attempts: list[dict[str, Any]], record: Any = None):
        super().__init__(message)
        self.attempts = attempts
        self.fault = attempts[-1]["fault"] if attempts else None
        self.record = record


def line_limits(overrides: dict) -> Any:
    """The line's default limits with the campaign file's ``[devices.limits]`` applied."""
    from devices import DEFAULT_LIMITS

    return DEFAULT_LIMITS.with_ranges(overrides) if overrides else DEFAULT_LIMITS


def dry_run_truth(config: CampaignConfig, recipe: dict[str, Any], sample_id: str = "truth-check") -> dict[str, Any]:
    """Make the recipe once on a fresh simulated line and return its hidden true properties.

    Only meaningful for dry runs: it answers "how good is the recommendation really?"
    with the twin's ground truth (no measurement noise), which no campaign ever sees.
    """
    from devices import make_and_characterize, make_sim_line

    line = make_sim_line(seed=config.seed + 7919, speedup=1e6, limits=line_limits(config.devices.limits))
    RE = RunEngine({}, context_managers=[])
    RE(make_and_characterize(line, recipe, sample_id=sample_id, batch_mass=config.devices.batch_mass))
    return dict(line.simulation.samples[sample_id].truth.properties)


def build_line(config: CampaignConfig, speedup: float, limits: Any) -> Any:
    """The synthesis line the campaign's ``[devices] transport`` asks for: the in-process
    twins (``sim``) or the line's EPICS devices on the IOC at ``ioc_prefix`` (``epics``; its
    time scale comes from the IOC, ``speedup`` does not apply)."""
    devices = config.devices
    if getattr(devices, "transport", "sim") == "epics":
        from devices.epics import make_epics_line
        from devices.epics.settings import apply_ca_environment

        apply_ca_environment(devices.ca_addr_list, devices.ca_server_port)
        return make_epics_line(devices.ioc_prefix, limits=limits,
                               connection_timeout=float(devices.connection_timeout.to("s").magnitude))
    from devices import make_sim_line

    return make_sim_line(seed=config.seed, speedup=speedup, limits=limits, faults=devices.faults)


class RobotCell:
    """One synthesis line and the RunEngine that drives it.

    Args:
        config: the campaign (its ``devices`` settings build the line).
        speedup: overrides ``config.devices.speedup`` (tests use large values).
    """

    def __init__(self, config: CampaignConfig, speedup: float | None = None):
        self.config = config
        self.limits = line_limits(config.devices.limits)
        self.line = build_line(config, speedup or config.devices.speedup, self.limits)
        self.speedup = self.line.time_scale  # an IOC's own time scale on transport "epics"
        self._stop_requested = False
        self._stop_event = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="robot")
        self._RE: RunEngine | None = None
        self._document_listeners: list = []

    def add_document_listener(self, callback) -> None:
        """``callback(name, doc)`` for every document of every run (e.g. a 0MQ publisher)."""
        self._document_listeners.append(callback)

    def check(self, recipe: dict[str, Any]) -> None:
        """Raise :class:`core.LimitError` if any setpoint of the recipe is beyond the line's limits."""
        from devices import check_recipe_limits

        check_recipe_limits(recipe, self.limits, batch_mass=self.config.devices.batch_mass)

    def submit(self, recipe: dict[str, Any], sample_id: str, md: dict[str, Any], on_document=None,
               on_retry=None) -> Future:
        """Start making one sample; the future gives a :class:`RobotOutcome` or raises
        :class:`RobotRunFailed` once the retry policy gives up.

        Args:
            on_document: ``callback(name, doc)`` for each document of each attempt, as emitted.
            on_retry: ``callback(attempt, fault, delay_s)`` before each retry.
        """
        # Refuse before anything is queued: a plan that would exceed a limit never reaches a device.
        self.check(recipe)
        return self._pool.submit(self._run, recipe, sample_id, md, on_document, on_retry)

    def _run(self, recipe, sample_id, md, on_document, on_retry):
        """Make the sample, retrying retryable device faults with exponential backoff.

        Each attempt is a new run on a new vial (``<sample_id>-r<attempt>`` on the tracker):
        a half-cured film cannot be resumed.
        """
        from devices import fault_from_exception, steps_from_documents

        policy = self.config.retry
        delay = float(policy.backoff.to("s").magnitude) / self.speedup
        attempts: list[dict[str, Any]] = []
        for attempt in range(1, policy.retries + 2):
            if attempt > 1 and self._stop_requested:
                raise RobotRunFailed(f"stopped by the operator before attempt {attempt}", attempts)
            run_id = sample_id if attempt == 1 else f"{sample_id}-r{attempt}"
            documents: list[tuple[str, dict]] = []
            try:
                self._run_once(recipe, run_id, {**md, "attempt": attempt}, documents, on_document)
            except Exception as exc:  # noqa: BLE001 - classified below
                fault = fault_from_exception(exc)
                record = steps_from_documents(documents) if documents else None
                info = fault.as_dict() if fault is not None else {"device": None, "kind": "error", "step": None,
                                                                  "detail": f"{type(exc).__name__}: {exc}"}
                attempts.append({"run_uid": record.run_uid if record else None, "fault": info})
                give_up = (fault is None or fault.kind not in policy.retryable or attempt > policy.retries
                           or self._stop_requested)
                if give_up:
                    why = ("not retryable" if fault is not None and fault.kind not in policy.retryable
                           else f"after {attempt} attempt{'s' if attempt > 1 else ''}")
                    raise RobotRunFailed(f"{fault or exc} ({why})", attempts, record) from exc
                if on_retry is not None:
                    on_retry(attempt, info, delay)
                self._stop_event.wait(delay)  # a stop request ends the backoff at once
                delay *= 2
                continue
            record = steps_from_documents(documents)
            attempts.append({"run_uid": record.run_uid, "fault": None})
            return RobotOutcome(record, documents, attempts)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _collector(self, documents: list, on_document):
        """The callback every document of a run goes through: kept for the record, passed to
        the caller's ``on_document`` (stored as it comes) and to the document listeners."""
        def collect(name, doc):
            documents.append((name, doc))
            if on_document is not None:
                on_document(name, doc)
            for listener in self._document_listeners:
                listener(name, doc)

        return collect

    def _run_once(self, recipe, run_id, md, documents, on_document) -> None:
        from devices import make_and_characterize

        if self._RE is None:
            self._RE = RunEngine({}, context_managers=[])
            # A failed run is recorded with its fault (device, kind, step) and retried per
            # policy; the engine's own "Run aborted" traceback on stderr would only bury that.
            self._RE.log.setLevel(logging.CRITICAL)

        token = self._RE.subscribe(self._collector(documents, on_document))
        try:
            self._RE(make_and_characterize(self.line, recipe, sample_id=run_id, md=md,
                                           batch_mass=self.config.devices.batch_mass,
                                           watchdog_factor=self.config.devices.watchdog_factor))
        finally:
            self._RE.unsubscribe(token)

    def request_stop(self) -> None:
        """Ask a running plan to stop at the next checkpoint (Ctrl-C in the scheduler)."""
        self._stop_requested = True
        self._stop_event.set()
        RE = self._RE
        if RE is not None and RE.state != "idle":
            try:
                RE.request_pause(defer=False)
                RE.stop()
            except Exception:  # the run may end between the check and the call
                pass

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        close_line = getattr(self.line, "close", None)  # an EPICS line drops its channels
        if close_line is not None:
            close_line()


def make_robot_cell(config: CampaignConfig, speedup: float | None = None, event_log=None) -> RobotCell:
    """The robot cell the campaign's ``[devices] executor`` asks for: ``local`` (:class:`RobotCell`)
    or ``queueserver`` (:class:`controller.execution.queueserver.QueueServerRobot`).

    ``event_log(kind, payload)`` records the executor's own events (queue items ...).
    """
    if getattr(config.devices, "executor", "local") == "queueserver":
        from controller.execution.queueserver import QueueServerRobot

        return QueueServerRobot(config, speedup=speedup, event_log=event_log)
    return RobotCell(config, speedup=speedup)
