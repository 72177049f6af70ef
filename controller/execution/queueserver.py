"""The robot fidelity on a bluesky-queueserver RE Manager: the instrument may live on another host.

:class:`QueueServerRobot` has the interface of :class:`controller.execution.robot.RobotCell`
(``check``, ``submit``, ``add_document_listener``, ``request_stop``, ``close``) and the same
retry policy; only one attempt differs. Instead of a RunEngine thread in this process,
each attempt:

1. makes sure RE Manager answers and its worker environment is open (opens it if closed);
2. configures the simulated line of the profile (:mod:`devices.qserver_profile.startup`)
   with the campaign's settings (seed, speedup, limits, faults) through ``function_execute``
   (idempotent: nothing is rebuilt when the line already has them);
3. adds the plan ``make_and_characterize`` to the queue with bluesky-queueserver-api
   (``REManagerAPI`` over 0MQ) and starts the queue;
4. follows the item (status polling) until it is in the history, while the run's documents
   arrive from the 0MQ proxy the profile publishes to (``[devices] qserver_data``); they are
   handed on as they come (stored, streamed), filtered by a request token in the start
   document's metadata;
5. turns the history entry into the outcome: a completed item gives the run's record
   (:func:`devices.steps_from_documents`), a failed one the device fault its stop document
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

import argparse
import json
import logging
import os
import pickle
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

from core import ConfigError, DeviceFault, FieldIssue, SDLError
from controller.config.campaign import CampaignConfig
from controller.records.samples import to_jsonable
from controller.execution.robot import RobotCell, RobotRunFailed, line_limits

log = logging.getLogger(__name__)

EXECUTORS = ("local", "queueserver")
DEFAULT_CONTROL = "tcp://127.0.0.1:60615"
DEFAULT_INFO = "tcp://127.0.0.1:60625"
DEFAULT_DATA_IN = "tcp://127.0.0.1:5567"
DEFAULT_DATA = "tcp://127.0.0.1:5568"
DEFAULT_REDIS = "127.0.0.1:6379"
#: Redis keys of this project's RE Manager start with this (a shared Redis keeps queues apart).
REDIS_PREFIX = "sdl"
#: The plan, and the profile's functions, by their names in the startup module.
PLAN = "make_and_characterize"
CONFIGURE_FUNCTION = "configure_sim_line"
#: Same prefix as the profile's Publisher and the live stream (``controller.ui.stream.DOCUMENT_PREFIX``).
DOCUMENT_PREFIX = b"sdl.documents"
#: Start-document key carrying the controller's request token (routes documents to their attempt).
REQUEST_KEY = "sdl_request"
#: Seconds between status requests while an item runs.
POLL_S = 0.1
#: Seconds the documents may lag behind the history entry before they count as lost.
DOCUMENT_GRACE_S = 5.0
#: Seconds RE Manager may stay unreachable during a run before the attempt fails.
UNREACHABLE_GRACE_S = 20.0
#: Characters of a failed item's traceback kept with the sample.
TRACEBACK_TAIL = 4000

_ADDRESS = re.compile(r"^tcp://(?P<host>[^\s:/]+|\[[0-9a-fA-F:]+\]|\*):(?P<port>\d{1,5})$")


class QueueServerError(SDLError):
    """RE Manager refused a request, or an item ended without a device fault to blame.

    Not a device fault, so the retry policy does not retry it: a plan that fails for a
    reason other than a device (a limit, a bad parameter) fails the same way again.
    """


class QueueServerUnavailable(QueueServerError):
    """RE Manager does not answer at its control address (not started, wrong address, firewall)."""


def address_issue(field_name: str, value: Any, example: str) -> FieldIssue | None:
    """A problem with a ``tcp://HOST:PORT`` address, or None."""
    match = _ADDRESS.match(value) if isinstance(value, str) else None
    if match is None:
        return FieldIssue(field_name, f"{value!r} is not a 0MQ tcp address; give tcp://HOST:PORT, e.g. {example}")
    if not 1 <= int(match["port"]) <= 65535:
        return FieldIssue(field_name, f"port {match['port']} is outside 1 to 65535")
    return None


def executor_settings(raw: dict[str, Any]) -> tuple[dict[str, Any], list[FieldIssue]]:
    """``[devices]``' ``executor``, ``qserver_control`` and ``qserver_data``, validated.

    Returns:
        The three values (defaults filled in) and the problems found, each naming its field.
    """
    values = {
        "executor": raw.get("executor", "local"),
        "qserver_control": raw.get("qserver_control", DEFAULT_CONTROL),
        "qserver_data": raw.get("qserver_data", DEFAULT_DATA),
    }
    issues = []
    if values["executor"] not in EXECUTORS:
        issues.append(FieldIssue("devices.executor", f"{values['executor']!r} is not one of {', '.join(EXECUTORS)} "
                                                     "(local: a RunEngine in this process; queueserver: RE Manager)"))
    if values["executor"] == "queueserver" and raw.get("transport", "sim") != "sim":
        issues.append(FieldIssue("devices.executor", f"the queue server's startup profile runs the simulated twins; "
                                                     f"transport = {raw.get('transport')!r} needs executor = \"local\""))
    for key, example in (("qserver_control", DEFAULT_CONTROL), ("qserver_data", DEFAULT_DATA)):
        issue = address_issue(f"devices.{key}", values[key], example)
        if issue is None and "*" in values[key]:
            issue = FieldIssue(f"devices.{key}", f"{values[key]!r}: the controller connects, so give a host, not '*'")
        if issue is not None:
            issues.append(issue)
    return values, issues


def campaign_line_settings(config: CampaignConfig, speedup: float | None = None) -> dict[str, Any]:
    """The simulated line's settings record for a campaign (see :mod:`devices.qserver_profile.settings`)."""
    from devices.qserver_profile import line_settings_record

    return line_settings_record(config.seed, speedup or config.devices.speedup, config.devices.limits,
                                config.devices.faults)


# ---------------------------------------------------------------------------------------------
class DocumentFeed:
    """Bluesky documents from a 0MQ proxy, routed to the attempts that wait for them.

    A daemon thread reads the proxy's output (messages ``prefix name pickle(doc)``, as bluesky's
    ``Publisher`` sends them) and puts each document of a run whose start document carries a
    registered request token (``start[REQUEST_KEY]``) on that token's queue. Documents of other
    runs (other clients of the same RE Manager) are dropped; a document seen twice (uid) is
    passed on once.

    The proxy's output carries pickles: connect only to a proxy on a network you trust.
    """

    def __init__(self, address: str, prefix: bytes = DOCUMENT_PREFIX):
        self.address = address
        self._prefix = prefix
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.SUB)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.connect(address)
        self._socket.setsockopt(zmq.SUBSCRIBE, prefix + b" ")
        self._lock = threading.Lock()
        self._queues: dict[str, queue.Queue] = {}
        self._run_token: dict[str, str] = {}
        self._descriptor_run: dict[str, str] = {}
        self._seen: dict[str, set[str]] = {}  # token -> document uids passed on
        self._closed = threading.Event()
        self.received = 0
        self._thread = threading.Thread(target=self._loop, name="qserver-documents", daemon=True)
        self._thread.start()

    def expect(self, token: str) -> queue.Queue:
        """A queue that will receive ``(name, doc)`` of every run started with ``md[REQUEST_KEY] == token``."""
        with self._lock:
            self._seen.setdefault(token, set())
            return self._queues.setdefault(token, queue.Queue())

    def forget(self, token: str) -> None:
        with self._lock:
            self._queues.pop(token, None)
            self._seen.pop(token, None)
            runs = [uid for uid, t in self._run_token.items() if t == token]
            for uid in runs:
                self._run_token.pop(uid, None)
            self._descriptor_run = {d: r for d, r in self._descriptor_run.items() if r not in runs}

    def _loop(self) -> None:
        while not self._closed.is_set():
            try:
                if not self._socket.poll(100):
                    continue
                message = self._socket.recv()
            except zmq.ZMQError:  # closed under us
                return
            try:
                _prefix, name, body = message.split(b" ", 2)
                doc = pickle.loads(body)  # noqa: S301 - bluesky's own wire format; see the class docstring
                self._route(name.decode(), doc)
            except Exception as err:  # noqa: BLE001 - one bad message must not end the feed
                log.warning("qserver document feed: dropped a message (%s: %s)", type(err).__name__, err)

    def _route(self, name: str, doc: dict) -> None:
        self.received += 1
        with self._lock:
            if name == "start":
                token = doc.get(REQUEST_KEY)
                if token not in self._queues:
                    return
                self._run_token[doc["uid"]] = token
                run = doc["uid"]
            elif name == "descriptor":
                run = doc.get("run_start")
                if run in self._run_token:
                    self._descriptor_run[doc["uid"]] = run
            elif name in ("event", "event_page"):
                run = self._descriptor_run.get(doc.get("descriptor"))
            else:  # stop, resource, datum ...
                run = doc.get("run_start")
            token = self._run_token.get(run) if run is not None else None
            target = self._queues.get(token) if token is not None else None
            uid = doc.get("uid")
            if target is not None and uid is not None and name != "event_page":
                seen = self._seen.setdefault(token, set())
                if uid in seen:  # the same document through two paths (e.g. a republishing stream)
                    return
                seen.add(uid)
        if target is not None:
            target.put((name, doc))

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=2)
        self._socket.close(linger=0)
        self._context.term()


# ---------------------------------------------------------------------------------------------
class QueueServerRobot(RobotCell):
    """The robot fidelity executed by a bluesky-queueserver RE Manager.

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
        # RobotCell.__init__ would build a local line; this cell's line lives in RE Manager.
        self.config = config
        self.limits = line_limits(config.devices.limits)
        self.speedup = speedup or config.devices.speedup
        self.control = control or getattr(config.devices, "qserver_control", DEFAULT_CONTROL)
        self.data = data or getattr(config.devices, "qserver_data", DEFAULT_DATA)
        self.line_settings = campaign_line_settings(config, self.speedup)
        from devices.qserver_profile import settings_key

        self.settings_key = settings_key(self.line_settings)
        self.timeout_s = timeout_s or self._default_timeout()
        self._event_log = event_log
        self._stop_requested = False
        self._stop_event = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="robot")
        self._RE = None
        self._document_listeners: list = []
        self._api_lock = threading.RLock()
        self._api = None
        self._feed = DocumentFeed(self.data)
        self._attempt_items: list[dict[str, Any]] = []
        self._item_requests: dict[str, str] = {}  # item uid -> request token, of every item this cell added
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

    # -- the RobotCell interface --------------------------------------------------------------
    def check(self, recipe: dict[str, Any]) -> None:
        """Refuse a recipe beyond the limits, or any recipe while RE Manager is unreachable
        (a refusal costs nothing; three in a row stop the campaign)."""
        super().check(recipe)
        self.status()

    def _run(self, recipe, sample_id, md, on_document, on_retry):
        """RobotCell's retry loop, with each attempt's queue item added to its entry in ``attempts``."""
        self._attempt_items = []
        try:
            outcome = super()._run(recipe, sample_id, md, on_document, on_retry)
        except RobotRunFailed as err:
            self._merge(err.attempts)
            raise
        self._merge(outcome.attempts)
        return outcome

    def _merge(self, attempts: list[dict[str, Any]]) -> None:
        for attempt, item in zip(attempts, self._attempt_items):
            attempt["queue_item"] = item

    def _run_once(self, recipe, run_id, md, documents, on_document) -> None:
        info: dict[str, Any] = {"item_uid": None, "request": uuid.uuid4().hex, "control": self.control}
        self._attempt_items.append(info)
        inbox = self._feed.expect(info["request"])

        collect = self._collector(documents, on_document)

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
        # The first attempt of this cell starts a fresh line, as a local RobotCell would.
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
        from devices import steps_from_documents

        status = result.get("exit_status")
        record = steps_from_documents(documents) if any(n == "start" for n, _ in documents) else None
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
        self._stop_event.set()

    def history(self) -> list[dict[str, Any]]:
        """This cell's items in RE Manager's history: uid, sample, exit status, message, run uids."""
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
        self._pool.shutdown(wait=True)
        if self._item_requests:
            try:
                self._log("qserver_history", {"control": self.control, "items": self.history()})
            except QueueServerError as err:
                self._log("qserver_history", {"control": self.control, "error": str(err)})
        self._feed.close()
        if self._api is not None:
            self._api.close()


def _drain(inbox: queue.Queue, collect, wait_s: float) -> None:
    """Pass every document waiting in ``inbox`` to ``collect``; wait up to ``wait_s`` for the first."""
    try:
        item = inbox.get(timeout=wait_s) if wait_s > 0 else inbox.get_nowait()
    except queue.Empty:
        return
    while True:
        collect(*item)
        try:
            item = inbox.get_nowait()
        except queue.Empty:
            return


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


# ---------------------------------------------------------------------------------------------
@dataclass
class LocalQueueServer:
    """A 0MQ document proxy (thread) and RE Manager (subprocess) with the project's profile.

    Redis is a service of its own: it must already answer at ``redis``.

    Args:
        control: RE Manager's control address (``tcp://*:60615`` serves other hosts).
        info: RE Manager's info address (console output).
        data_in, data_out: the document proxy's input (the profile publishes there) and output
            (controllers subscribe there); port 0 picks a free port (see :attr:`data_out`).
        redis: Redis address ``host:port``.
        lists_dir: where RE Manager keeps the generated list of plans and devices, its log and
            the line settings file.
        line_settings: a settings record the profile starts with (``$SDL_LINE_SETTINGS``).
        start_proxy: False when a proxy already runs (e.g. ``bluesky-0MQ-proxy 5567 5568``).
    """

    control: str = DEFAULT_CONTROL
    info: str = DEFAULT_INFO
    data_in: str = DEFAULT_DATA_IN
    data_out: str = DEFAULT_DATA
    redis: str = DEFAULT_REDIS
    lists_dir: str | Path = "runs/qserver"
    line_settings: dict[str, Any] | None = None
    start_proxy: bool = True

    def __post_init__(self) -> None:
        self._open_requested = False
        self._proxy = None
        self._process: subprocess.Popen | None = None
        self._log_file = None

    @property
    def log_path(self) -> Path:
        return Path(self.lists_dir) / "re_manager.log"

    def start(self, timeout_s: float = 60.0, open_environment: bool = False) -> LocalQueueServer:
        """Start the proxy and RE Manager; return once RE Manager answers (and, with
        ``open_environment``, once its worker environment is open, so the first plan need not wait).

        Raises:
            QueueServerUnavailable: Redis does not answer, or RE Manager did not come up (its log's tail).
        """
        from bluesky_queueserver_api.zmq import REManagerAPI

        from controller.ui.stream import StreamProxy
        from devices.qserver_profile import PERMISSIONS_FILE, STARTUP_MODULE

        _check_redis(self.redis)
        probe = self.control.replace("*", "127.0.0.1")
        api = REManagerAPI(zmq_control_addr=probe, timeout_recv=1.0, timeout_send=0.5)
        try:
            other = api.status(reload=True)
        except Exception:  # noqa: BLE001 - nothing answers there: the address is free for ours
            other = None
        if other is not None:
            api.close()
            raise QueueServerError(f"an RE Manager ({other.get('msg')}) already answers at {probe}; stop it or "
                                   "give another --control address")
        lists = Path(self.lists_dir)
        lists.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        if self.start_proxy:
            try:
                self._proxy = StreamProxy(self.data_in, self.data_out)
            except zmq.ZMQError as err:
                api.close()
                raise QueueServerError(f"cannot bind the document proxy on {self.data_in} / {self.data_out}: {err}; "
                                       "give other --data-in/--data-out, or --no-proxy if one runs there") from err
            self.data_in, self.data_out = self._proxy.proxy_in, self._proxy.proxy_out
        env["SDL_QSERVER_PUBLISH"] = self.data_in.replace("*", "127.0.0.1")
        if self.line_settings is not None:
            path = lists / "line_settings.json"
            path.write_text(json.dumps(self.line_settings, indent=1))
            env["SDL_LINE_SETTINGS"] = str(path.resolve())
        command = [*_re_manager_command(),
                   "--startup-module", STARTUP_MODULE,
                   "--user-group-permissions", str(PERMISSIONS_FILE),
                   "--existing-plans-devices", str((lists / "existing_plans_and_devices.yaml").resolve()),
                   "--redis-addr", self.redis, "--redis-name-prefix", REDIS_PREFIX,
                   "--zmq-control-addr", self.control, "--zmq-info-addr", self.info]
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in close()
        # Ctrl-C (SIGINT to its process group) is how RE Manager shuts down cleanly; a shell that
        # started us in the background ignores SIGINT, and children would inherit that.
        self._process = subprocess.Popen(command, stdout=self._log_file, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True,
                                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = asked = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    break
                try:
                    status = api.status(reload=True)
                except Exception:  # noqa: BLE001 - not up yet
                    time.sleep(0.3)
                    continue
                if not open_environment or status.get("worker_environment_exists"):
                    return self
                if status.get("manager_state") == "idle":
                    if self._open_requested and time.monotonic() - asked > 1.0:
                        break  # it was asked, went idle, and has no environment: the startup code failed
                    if not self._open_requested:
                        api.environment_open()
                        self._open_requested, asked = True, time.monotonic()
                time.sleep(0.3)
        finally:
            api.close()
        tail = self.log_path.read_text(errors="replace")[-2000:]
        self.close()
        what = "open its worker environment" if self._open_requested else "answer"
        raise QueueServerUnavailable(f"RE Manager did not {what} at {probe} within {timeout_s:g} s; "
                                     f"its log ({self.log_path}) ends:\n{tail}")

    def close(self) -> None:
        """Stop RE Manager (SIGINT, then SIGKILL after 15 s) and the proxy."""
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGINT)
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait(timeout=5)
        self._process = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._proxy is not None:
            self._proxy.close()
            self._proxy = None

    def wait(self) -> int:
        """Block until RE Manager exits; its exit status."""
        return self._process.wait() if self._process is not None else 0

    def __enter__(self) -> LocalQueueServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


def _re_manager_command() -> list[str]:
    beside = Path(sys.executable).with_name("start-re-manager")
    found = str(beside) if beside.exists() else shutil.which("start-re-manager")
    if found is None:
        raise QueueServerError("start-re-manager is not installed; `pip install bluesky-queueserver`")
    return [found]


def _check_redis(address: str) -> None:
    host, _, port = address.partition(":")
    port = (port.split("/")[0] or "6379")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=2) as conn:
            conn.sendall(b"PING\r\n")
            if not conn.recv(16).startswith(b"+PONG"):
                raise OSError("no PONG")
    except (OSError, ValueError) as err:
        raise QueueServerUnavailable(
            f"Redis does not answer at {address} ({err}); RE Manager keeps its queue there. Start it with "
            f"`redis-server --port {port} --daemonize yes` (Debian package redis-server)") from err


# ---------------------------------------------------------------------------------------------
def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m controller.execution.queueserver",
                                     description="RE Manager with the synthesis line's startup profile")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start a 0MQ document proxy and RE Manager; Ctrl-C stops both")
    serve.add_argument("--config", help="campaign file whose [devices] the line starts with (the controller "
                                        "configures it anyway) and whose qserver_control/qserver_data are used")
    serve.add_argument("--control", help=f"RE Manager's control address (default {DEFAULT_CONTROL}; "
                                          "tcp://*:60615 for other hosts)")
    serve.add_argument("--info", default=DEFAULT_INFO, help=f"RE Manager's info address (default {DEFAULT_INFO})")
    serve.add_argument("--data-in", default=DEFAULT_DATA_IN, help="document proxy input (the profile publishes here)")
    serve.add_argument("--data-out", help=f"document proxy output (default {DEFAULT_DATA})")
    serve.add_argument("--no-proxy", action="store_true", help="a 0MQ proxy already runs at --data-in/--data-out")
    serve.add_argument("--redis", default=DEFAULT_REDIS, help=f"Redis address (default {DEFAULT_REDIS})")
    serve.add_argument("--lists-dir", default="runs/qserver",
                       help="RE Manager's list of plans and devices, log and line settings (default runs/qserver)")
    settings = sub.add_parser("line-settings", help="print a campaign's line settings as JSON ($SDL_LINE_SETTINGS)")
    settings.add_argument("config")
    return parser


def main(argv: list[str] | None = None) -> int:
    from controller.config.campaign import load_config

    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config) if args.config else None
        if args.command == "line-settings":
            print(json.dumps(campaign_line_settings(config), indent=1))
            return 0
        control = args.control or (config.devices.qserver_control if config else DEFAULT_CONTROL)
        data_out = args.data_out or (config.devices.qserver_data if config else DEFAULT_DATA)
        issues = [issue for issue in (address_issue("--control", control, DEFAULT_CONTROL),
                                      address_issue("--data-in", args.data_in, DEFAULT_DATA_IN),
                                      address_issue("--data-out", data_out, DEFAULT_DATA)) if issue]
        if issues:
            raise ConfigError(issues, source="command line")
        server = LocalQueueServer(control=control, info=args.info, data_in=args.data_in, data_out=data_out,
                                  redis=args.redis, lists_dir=args.lists_dir, start_proxy=not args.no_proxy,
                                  line_settings=campaign_line_settings(config) if config else None)
        server.start(open_environment=True)
    except SDLError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"RE Manager answers at {server.control}; documents: proxy in {server.data_in}, out {server.data_out}; "
          f"log {server.log_path}. Ctrl-C stops it.", flush=True)
    # `kill` (SIGTERM) and Ctrl-C stop RE Manager alike; SIGINT too when a shell started us in the background.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        server.close()


if __name__ == "__main__":
    sys.exit(main())
