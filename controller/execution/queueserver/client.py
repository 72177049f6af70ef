"""The robot fidelity on a bluesky-queueserver RE Manager: the instrument may live on another host.

:class:`QueueServerStation` is a :class:`controller.execution.robot.Station`: the
:class:`~controller.execution.robot.RobotExecutor` around it gives it the same thread, retry
policy and document listeners as a local RunEngine; only one attempt differs. Instead of a RunEngine thread in this process,
each attempt:

1. makes sure RE Manager answers and its worker environment is open (opens it if closed);
2. configures the simulated line of the profile (:mod:`devices.qserver_profile.startup`)
   with the campaign's settings (its material system by reference, seed, speedup, limits,
   faults) through ``function_execute``
   (idempotent: nothing is rebuilt when the line already has them);
3. adds the plan ``make_and_characterize`` to the queue with bluesky-queueserver-api
   (``REManagerAPI`` over 0MQ) and starts the queue;
4. follows the item (status polling) until it is in the history, while the run's documents
   arrive from the 0MQ proxy the profile publishes to (``[devices] qserver_data``); they are
   handed on as they come (stored, streamed), filtered by a request token in the start
   document's metadata;
5. turns the history entry into the outcome: a completed item gives the run's record
   (the system's ``record``), a failed one the device fault its stop document
   names (retried per ``[retry]``) or, without one, a :class:`QueueServerError`.

Every attempt keeps its queue item (``queue_item``: item uid, exit status, message, the
traceback's tail, run uids) in the sample's ``attempts``; the store's event log gets
``qserver_*`` events (environment opened, line configured, item added/started/finished,
RE Manager unreachable) and, when the campaign ends, the campaign's part of RE Manager's
history.

Starting one on this machine (Redis must run: ``redis-server --port 6379 --daemonize yes``)::

    python -m controller.execution.queueserver serve [--config CAMPAIGN.toml]

which starts a bluesky 0MQ proxy (``tcp://127.0.0.1:5567`` in, ``5568`` out) and
``start-re-manager`` with the project's startup profile; see README.md.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from core import DeviceFault, SDLError
from controller.config.campaign import CampaignConfig
from controller.records.samples import to_jsonable
from controller.config.devices import line_limits
from controller.config.queueserver import DEFAULT_CONTROL, DEFAULT_DATA
from controller.execution.queueserver.feed import DocumentFeed, REQUEST_KEY, _drain


log = logging.getLogger(__name__)

#: Redis keys of this project's RE Manager start with this (a shared Redis keeps queues apart).
REDIS_PREFIX = "sdl"

#: The plan, and the profile's functions, by their names in the startup module.
PLAN = "make_and_characterize"

CONFIGURE_FUNCTION = "configure_sim_line"

#: Seconds between status requests while an item runs.
POLL_S = 0.1

#: Seconds the documents may lag behind the history entry before they count as lost.
DOCUMENT_GRACE_S = 5.0

#: Seconds RE Manager may stay unreachable during a run before the attempt fails.
UNREACHABLE_GRACE_S = 20.0

#: Characters of a failed item's traceback kept with the sample.
TRACEBACK_TAIL = 4000

class QueueServerError(SDLError):
    """RE Manager refused a request, or an item ended without a device fault to blame.

    Not a device fault, so the retry policy does not retry it: a plan that fails for a
    reason other than a device (a limit, a bad parameter) fails the same way again.
    """

class QueueServerUnavailable(QueueServerError):
    """RE Manager does not answer at its control address (not started, wrong address, firewall)."""

def campaign_line_settings(config: CampaignConfig, speedup: float | None = None) -> dict[str, Any]:
    """The simulated line's settings record for a campaign (see :mod:`devices.qserver_profile.settings`)."""
    from devices.qserver_profile import line_settings_record

    return line_settings_record(config.system, config.seed, speedup or config.devices.speedup,
                                config.devices.limits, config.devices.faults)

# ---------------------------------------------------------------------------------------------
class QueueServerStation:
    """A robot station whose plans run on a bluesky-queueserver RE Manager (a
    :class:`controller.execution.robot.Station`; :class:`~controller.execution.robot.RobotExecutor`
    adds the thread, the retries and the document listeners).

    Args:
        config: the campaign; ``config.devices.qserver_control`` / ``qserver_data`` say where
            RE Manager and the document proxy are.
        speedup: overrides ``config.devices.speedup`` for the simulated line (tests).
        event_log: ``callback(kind, payload)`` for the ``qserver_*`` events (the campaign
            passes the store's ``log_event``); called from the robot thread.
        control, data: override the campaign's addresses.
        timeout_s: the longest one item may take, wall seconds; default from the robot
            fidelity's ``expected_duration`` x ``watchdog_factor`` / speedup, plus 120 s.
    """

    def __init__(self, config: CampaignConfig, speedup: float | None = None,
                 event_log: Callable[[str, dict[str, Any]], None] | None = None,
                 control: str | None = None, data: str | None = None, timeout_s: float | None = None):
        self.config = config
        self.name = "station-1"  # one RE Manager drives one line (the config refuses more stations)
        self.limits = line_limits(config.robot, config.devices.limits)
        self.speedup = speedup or config.devices.speedup
        self.time_scale = self.speedup  # the profile's simulated line runs this much faster than the lab
        self.control = control or getattr(config.devices, "qserver_control", DEFAULT_CONTROL)
        self.data = data or getattr(config.devices, "qserver_data", DEFAULT_DATA)
        self.line_settings = campaign_line_settings(config, self.speedup)
        from devices.qserver_profile import settings_key

        self.settings_key = settings_key(self.line_settings)
        self.timeout_s = timeout_s or self._default_timeout()
        self._event_log = event_log
        self._stop_requested = False
        self._api_lock = threading.RLock()
        self._api = None
        self._feed = DocumentFeed(self.data)
        self._item_requests: dict[str, str] = {}  # item uid -> request token, of every item this station added
        self._configured = False
        self._closed = False

    def _default_timeout(self) -> float:
        robot = next((f for f in self.config.fidelities if f.kind == "robot"), None)
        nominal = float(robot.expected_duration.to("s").magnitude) if robot is not None and robot.expected_duration else 4 * 3600.0
        return nominal * self.config.devices.watchdog_factor / self.speedup + 120.0

    # -- plumbing -----------------------------------------------------------------------------
    def _log(self, kind: str, payload: dict[str, Any]) -> None:
        if self._event_log is None:
            return
        try:
            self._event_log(kind, to_jsonable(payload))
        except Exception as err:  # noqa: BLE001 - the record of a queue event must not end a run
            log.warning("could not record %s: %s", kind, err)

    def _client(self):
        if self._api is None:
            from bluesky_queueserver_api.zmq import REManagerAPI

            self._api = REManagerAPI(zmq_control_addr=self.control, timeout_recv=2.0, timeout_send=1.0)
        return self._api

    def _request(self, what: str, call: Callable[[Any], Any]) -> Any:
        """One request to RE Manager; unreachable -> :class:`QueueServerUnavailable`,
        refused -> :class:`QueueServerError` (both naming ``what`` and the address)."""
        from bluesky_queueserver_api.comm_base import RequestFailedError, RequestTimeoutError

        with self._api_lock:
            try:
                return call(self._client())
            except RequestTimeoutError as err:
                raise QueueServerUnavailable(
                    f"RE Manager does not answer at {self.control} ({what}); start it with "
                    "`python -m controller.execution.queueserver serve` or set [devices] qserver_control") from err
            except RequestFailedError as err:
                raise QueueServerError(f"RE Manager at {self.control} refused {what}: {err}") from err

    def status(self) -> dict[str, Any]:
        """RE Manager's status (raises :class:`QueueServerUnavailable`)."""
        return self._request("status", lambda api: api.status(reload=True))

    # -- the Station interface ----------------------------------------------------------------
    def check(self, recipe: dict[str, Any]) -> None:
        """Refuse a recipe beyond the limits, or any recipe while RE Manager is unreachable
        (a refusal costs nothing; three in a row stop the campaign)."""
        self.config.robot.check_recipe(recipe, self.limits, batch_mass=self.config.devices.batch_mass)
        self.status()

    def run_once(self, recipe, run_id, md, collect, info) -> None:
        """One attempt as one queue item; ``info`` becomes the attempt's ``queue_item``."""
        info.update({"item_uid": None, "request": uuid.uuid4().hex, "control": self.control})
        inbox = self._feed.expect(info["request"])
        documents: list[tuple[str, dict]] = []
        forward = collect

        def collect(name, doc):
            documents.append((name, doc))
            forward(name, doc)

        try:
            self._prepare()
            item = self._plan_item(recipe, run_id, {**to_jsonable(md), REQUEST_KEY: info["request"]})
            reply = self._request("item_add", lambda api: api.item_add(item))
            info["item_uid"] = reply["item"]["item_uid"]
            self._item_requests[info["item_uid"]] = info["request"]
            self._log("qserver_item_added", {"sample": run_id, "attempt": md.get("attempt"), **info})
            self._start_queue(info["item_uid"])
            result = self._follow(info["item_uid"], inbox, collect, documents)
            info.update(_result_summary(result))
            self._log("qserver_item_finished", {"sample": run_id, "attempt": md.get("attempt"), **info})
            self._settle(result, documents, info)
        except QueueServerUnavailable as err:
            info.setdefault("error", str(err))
            self._log("qserver_unreachable", {"sample": run_id, **info})
            raise DeviceFault("queueserver", "disconnect", str(err)) from err
        finally:
            self._feed.forget(info["request"])

    # -- one attempt ---------------------------------------------------------------------------
    def _prepare(self) -> None:
        """The worker environment open, and the profile's line configured with the campaign's settings."""
        status = self.status()
        if not status.get("worker_environment_exists"):
            self._request("environment_open", lambda api: api.environment_open())
            self._wait_idle("opening the worker environment", timeout_s=120.0)
            status = self.status()
            if not status.get("worker_environment_exists"):
                raise QueueServerError(
                    f"RE Manager at {self.control} could not open its worker environment; its log says why "
                    "(is it started with --startup-module devices.qserver_profile.startup?)")
            self._log("qserver_environment_opened", {"control": self.control, "manager": status.get("msg")})
        # The first attempt of this station starts a fresh line, as a local station would.
        result = self._execute_function(CONFIGURE_FUNCTION, self.line_settings, rebuild=not self._configured)
        self._configured = True
        if result.get("key") != self.settings_key:
            raise QueueServerError(f"the profile configured its line as {result.get('key')}, expected "
                                   f"{self.settings_key}: the startup profile differs from this controller's")
        if result.get("rebuilt"):
            self._log("qserver_line_configured", {"key": self.settings_key, "settings": self.line_settings})

    def _wait_idle(self, what: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.status().get("manager_state") == "idle":
                return
            time.sleep(POLL_S)
        raise QueueServerError(f"RE Manager at {self.control} was still busy after {timeout_s:g} s {what}")

    def _execute_function(self, name: str, *args: Any, **kwargs: Any) -> Any:
        from bluesky_queueserver_api import BFunc

        reply = self._request(f"function {name}", lambda api: api.function_execute(BFunc(name, *args, **kwargs)))
        task = reply["task_uid"]
        deadline = time.monotonic() + 60.0
        while time.monotonic() < deadline:
            answer = self._request(f"the result of {name}", lambda api: api.task_result(task))
            if answer.get("status") == "completed":
                result = answer.get("result") or {}
                if not result.get("success"):
                    raise QueueServerError(f"{name} failed on RE Manager: {result.get('msg')}\n"
                                           f"{(result.get('traceback') or '')[-TRACEBACK_TAIL:]}")
                return result.get("return_value")
            time.sleep(POLL_S / 2)
        raise QueueServerError(f"{name} did not finish on RE Manager at {self.control} within 60 s")

    def _plan_item(self, recipe, run_id, md):
        from bluesky_queueserver_api import BPlan

        return BPlan(PLAN, to_jsonable(recipe), run_id, md=md,
                     batch_mass=to_jsonable(self.config.devices.batch_mass),
                     watchdog_factor=float(self.config.devices.watchdog_factor), line_settings=self.settings_key)

    def _start_queue(self, item_uid: str) -> None:
        """Start the queue if it is not running and nothing but our item's predecessors wait in it.

        An idle manager with other items ahead of ours means the queue was stopped (an operator,
        or an item that failed: RE Manager puts it back at the front); starting it would run
        those items again, so the attempt fails instead.
        """
        deadline = time.monotonic() + 60.0
        while True:
            state = self.status().get("manager_state")
            if state == "executing_queue":
                return  # running already (other clients' items first): ours comes in turn
            if state == "idle":
                break
            if time.monotonic() > deadline:
                raise QueueServerError(f"RE Manager at {self.control} stayed {state!r} for 60 s; item {item_uid} "
                                       "was left in its queue")
            time.sleep(POLL_S)
        queued = []
        for item in self._queue_items():
            if self._is_mine(item) and item.get("item_uid") != item_uid:
                self._remove(item["item_uid"])  # an earlier attempt of ours that RE Manager put back
            else:
                queued.append(item.get("item_uid"))
        if queued and queued[0] != item_uid:
            self._remove_from_queue(item_uid)
            raise QueueServerError(f"RE Manager's queue is stopped with {queued.index(item_uid) if item_uid in queued else len(queued)} "
                                   f"other item(s) ahead of ours; start or clear it there (item {item_uid} withdrawn)")
        try:
            self._request("queue_start", lambda api: api.queue_start())
        except QueueServerUnavailable:
            raise
        except QueueServerError:  # started by someone else between the two requests
            if self.status().get("manager_state") == "idle":
                raise

    def _follow(self, item_uid: str, inbox: queue.Queue, collect, documents: list) -> dict[str, Any]:
        """Wait for the item to reach the history, passing its documents on as they arrive.

        Returns:
            The item's history entry ``result`` (``exit_status``, ``run_uids``, ``msg``, ``traceback``...).
        """
        deadline = time.monotonic() + self.timeout_s
        history_uid = None
        started = stop_sent = False
        unreachable_since = idle_since = None
        while True:
            _drain(inbox, collect, wait_s=POLL_S)
            try:
                status = self.status()
                unreachable_since = None
            except QueueServerUnavailable:
                unreachable_since = unreachable_since or time.monotonic()
                if time.monotonic() - unreachable_since > UNREACHABLE_GRACE_S:
                    raise
                continue
            if status.get("running_item_uid") == item_uid and not started:
                started = True
                self._log("qserver_item_started", {"item_uid": item_uid})
            if status.get("plan_history_uid") != history_uid:
                history_uid = status.get("plan_history_uid")
                entry = self._history_entry(item_uid)
                if entry is not None:
                    self._withdraw_failed(item_uid, (entry.get("result") or {}).get("exit_status"))
                    return self._documents_of(entry.get("result") or {}, inbox, collect, documents)
            if (self._stop_requested or time.monotonic() > deadline) and not stop_sent:
                if status.get("running_item_uid") != item_uid:
                    self._remove_from_queue(item_uid)
                    why = "stopped by the operator" if self._stop_requested else "timed out"
                    raise QueueServerError(f"{why} before item {item_uid} ran; taken off RE Manager's queue")
                self._stop_running(item_uid)
                stop_sent = True
                if not self._stop_requested:
                    raise DeviceFault("queueserver", "timeout",
                                      f"item {item_uid} did not finish within {self.timeout_s:.0f} s; stopped")
            if not status.get("worker_environment_exists"):
                raise QueueServerError(f"RE Manager's worker environment closed while item {item_uid} waited or ran")
            # Idle with our item still queued and never started: the queue stopped ahead of it.
            if status.get("manager_state") == "idle" and status.get("items_in_queue", 0) and not started:
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > 2.0 and self._queued(item_uid):
                    self._start_queue(item_uid)  # ours first: start; others first: withdraw and fail
                    idle_since = None
            else:
                idle_since = None

    def _history_entry(self, item_uid: str) -> dict[str, Any] | None:
        history = self._request("history_get", lambda api: api.history_get())
        for entry in reversed(history.get("items", [])):
            if entry.get("item_uid") == item_uid:
                return entry
        return None

    def _documents_of(self, result: dict[str, Any], inbox: queue.Queue, collect, documents: list) -> dict[str, Any]:
        """Wait (up to :data:`DOCUMENT_GRACE_S`) for the stop documents of the item's runs."""
        expected = set(result.get("run_uids") or [])

        def missing() -> set[str]:
            return expected - {doc.get("run_start") for name, doc in documents if name == "stop"}

        deadline = time.monotonic() + DOCUMENT_GRACE_S
        _drain(inbox, collect, wait_s=0)
        while missing() and time.monotonic() < deadline:
            _drain(inbox, collect, wait_s=POLL_S)
        result = dict(result)
        result["documents_missing"] = sorted(missing())
        return result

    def _settle(self, result: dict[str, Any], documents: list, info: dict[str, Any]) -> None:
        """Return if the item made the sample; raise what went wrong otherwise."""
        status = result.get("exit_status")
        record = self.config.robot.record(documents) if any(n == "start" for n, _ in documents) else None
        if status == "completed" and record is not None and not result["documents_missing"]:
            return
        if status == "completed":
            raise QueueServerError(
                f"item {info['item_uid']} completed (runs {result.get('run_uids')}) but its documents did not "
                f"arrive from {self.data}: is the 0MQ proxy running, and does the profile publish to it "
                "($SDL_QSERVER_PUBLISH)?")
        if self._stop_requested:
            raise QueueServerError(f"stopped by the operator (item {info['item_uid']} {status})")
        if record is not None and record.fault is not None:
            fault = record.fault
            raise DeviceFault(fault["device"], fault["kind"], fault["detail"], fault["step"])
        raise QueueServerError(f"item {info['item_uid']} {status} on RE Manager: "
                                       f"{result.get('msg') or 'no message'}")

    def _stop_running(self, item_uid: str) -> None:
        """Stop our running item: pause at once (the plan has no checkpoint, so the run ends), then stop."""
        try:
            self._request("re_pause", lambda api: api.re_pause("immediate"))
            deadline = time.monotonic() + 10.0
            while time.monotonic() < deadline:
                state = self.status().get("manager_state")
                if state == "paused":
                    self._request("re_stop", lambda api: api.re_stop())
                    return
                if state == "idle":
                    return
                time.sleep(POLL_S)
        except QueueServerError as err:
            log.warning("could not stop item %s: %s", item_uid, err)

    def _withdraw_failed(self, item_uid: str, exit_status: str | None) -> None:
        """RE Manager puts an item that did not complete back at the queue's front (as a new item,
        just after the old one enters the history): take it off, so nothing runs it again."""
        if exit_status == "completed":
            return
        request = self._item_requests.get(item_uid)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            again = [item["item_uid"] for item in self._queue_items()
                     if item.get("item_uid") == item_uid or _request_of(item) == request]
            if again:
                for uid in again:
                    self._remove(uid)
                return
            time.sleep(POLL_S / 2)

    def _queue_items(self) -> list[dict[str, Any]]:
        return self._request("queue_get", lambda api: api.queue_get()).get("items", [])

    def _is_mine(self, item: dict[str, Any]) -> bool:
        return item.get("item_uid") in self._item_requests or _request_of(item) in self._item_requests.values()

    def _queued(self, item_uid: str) -> bool:
        return any(item.get("item_uid") == item_uid for item in self._queue_items())

    def _remove(self, item_uid: str) -> None:
        self._request("item_remove", lambda api: api.item_remove(uid=item_uid))

    def _remove_from_queue(self, item_uid: str) -> None:
        if self._queued(item_uid):
            self._remove(item_uid)

    # -- stopping and closing ------------------------------------------------------------------
    def request_stop(self) -> None:
        """Ask the running item to stop; the robot thread sends the pause and stop to RE Manager."""
        self._stop_requested = True

    def history(self) -> list[dict[str, Any]]:
        """This station's items in RE Manager's history: uid, sample, exit status, message, run uids."""
        mine = set(self._item_requests)
        history = self._request("history_get", lambda api: api.history_get())
        out = []
        for entry in history.get("items", []):
            if entry.get("item_uid") in mine:
                args = entry.get("args") or [None, None]
                out.append({"item_uid": entry["item_uid"], "sample": args[1] if len(args) > 1 else None,
                            **_result_summary(entry.get("result") or {})})
        return out

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._item_requests:
            try:
                self._log("qserver_history", {"control": self.control, "items": self.history()})
            except QueueServerError as err:
                self._log("qserver_history", {"control": self.control, "error": str(err)})
        self._feed.close()
        if self._api is not None:
            self._api.close()

def _request_of(item: dict[str, Any]) -> str | None:
    """The controller's request token in a queue item's metadata, if any."""
    md = (item.get("kwargs") or {}).get("md") or {}
    return md.get(REQUEST_KEY) if isinstance(md, dict) else None

def _result_summary(result: dict[str, Any]) -> dict[str, Any]:
    """What a sample keeps of a history entry's ``result``."""
    out = {key: result.get(key) for key in ("exit_status", "msg", "run_uids", "time_start", "time_stop")}
    if result.get("traceback"):
        out["traceback"] = result["traceback"][-TRACEBACK_TAIL:]
    if result.get("documents_missing"):
        out["documents_missing"] = result["documents_missing"]
    return out
