"""The live stream: a campaign's Bluesky documents and events on 0MQ, for monitors on other processes.

Wiring into the CLI (``controller/cli.py``)::

    # sdl run CONFIG.toml [--stream] / sdl resume CAMPAIGN [--stream]
    run.add_argument("--stream", action="store_true",
                     help="publish documents and events on 0MQ ($SDL_ZMQ_IN/$SDL_ZMQ_OUT; default 127.0.0.1:5577/5578)")
    run.add_argument("--no-proxy", action="store_true", help="with --stream: publish to a proxy that is already running")

    def cmd_run(args) -> int:
        ...
        runner = CampaignRunner(config, store_path=args.store, speedup=args.speedup, show_progress=not args.quiet)
        stream = None
        if args.stream:
            from controller.ui.stream import CampaignStream, StreamSettings
            stream = CampaignStream(StreamSettings(start_proxy=not args.no_proxy), campaign=config.name)
            stream.attach(runner)
        try:
            result = runner.run()
        finally:
            if stream is not None:
                stream.close()
        ...

    # sdl monitor [CAMPAIGN] [--store PATH] [--duration S]
    monitor = sub.add_parser("monitor", help="live view of a running campaign (needs `sdl run --stream`)")
    monitor.add_argument("campaign", nargs="?", help="only this campaign (default: whichever is running)")
    monitor.add_argument("--store", default=None, help=STORE_HELP)
    monitor.add_argument("--duration", type=float, default=None, help="exit after this many seconds")

    def cmd_monitor(args) -> int:
        from controller.ui.monitor import run_monitor
        from controller.ui.stream import StreamSettings

        return run_monitor(args.campaign, StreamSettings(start_proxy=False), args.store or default_store(),
                           duration_s=args.duration)

    COMMANDS["monitor"] = cmd_monitor

``StreamSettings()`` reads ``$SDL_ZMQ_IN`` / ``$SDL_ZMQ_OUT`` and raises :class:`core.ConfigError`
(exit status 2 through ``main``) when either is not ``tcp://host:port``.

What travels, through one bluesky ``Proxy`` (``proxy_in`` -> ``proxy_out``):

- Documents: bluesky's own ``Publisher(proxy_in, prefix=DOCUMENT_PREFIX)`` (pickle, as bluesky
  does by default), so a standard subscriber receives every document of every robot run::

      from bluesky.callbacks.zmq import RemoteDispatcher
      d = RemoteDispatcher("tcp://127.0.0.1:5578", prefix=b"sdl.documents")
      d.subscribe(print); d.start()

  Give the prefix: without one a dispatcher also tries to unpickle the JSON events, prints a
  warning for each and drops it.
- Campaign events: ``b"sdl.events <kind> <json>"`` (same framing as bluesky's ``prefix name body``),
  the JSON being ``{"kind", "campaign", "time" (s since epoch), ...payload}``: the runner's events
  (``campaign_started``, ``sample_dispatched``, ``sample_recorded``, ``sample_retried``,
  ``campaign_finished``/``_stopped``/``_failed``, ``recommendation``) and, from the documents,
  ``run_started`` / ``run_step`` (stream name such as ``cure`` and its devices) / ``run_finished``.
  Read them with :func:`subscribe_events`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import zmq

from controller.execution.proxy import StreamProxy

from core import ConfigError, FieldIssue

log = logging.getLogger(__name__)

DEFAULT_PROXY_IN = "tcp://127.0.0.1:5577"
DEFAULT_PROXY_OUT = "tcp://127.0.0.1:5578"
#: bluesky ``Publisher`` prefix of the documents (bytes, no space).
DOCUMENT_PREFIX = b"sdl.documents"
#: Topic of the JSON campaign events.
EVENT_TOPIC = b"sdl.events"
#: How long closing a socket may wait to hand queued messages over (ms); never forever,
#: so a proxy that went away cannot hang the controller's exit.
LINGER_MS = 1000

_ADDRESS = re.compile(r"^tcp://(?P<host>[^\s:/]+|\[[0-9a-fA-F:]+\]):(?P<port>\d{1,5})$")


def _address_issue(name: str, env: str, value: Any, allow_any_port: bool) -> FieldIssue | None:
    where = f"stream.{name} (or ${env})"
    match = _ADDRESS.match(value) if isinstance(value, str) else None
    if match is None:
        return FieldIssue(where, f"{value!r} is not a 0MQ tcp address; give tcp://HOST:PORT, "
                                 f"e.g. {DEFAULT_PROXY_IN if name == 'proxy_in' else DEFAULT_PROXY_OUT}")
    port = int(match["port"])
    if port == 0 and not allow_any_port:
        return FieldIssue(where, "port 0 (any free port) only works when the controller starts the proxy")
    if port > 65535:
        return FieldIssue(where, f"port {port} is outside 1 to 65535")
    return None


@dataclass(frozen=True)
class StreamSettings:
    """Where the live stream goes.

    Attributes:
        proxy_in: the proxy's input; publishers connect here (``$SDL_ZMQ_IN``, default
            ``tcp://127.0.0.1:5577``: localhost only).
        proxy_out: the proxy's output; subscribers connect here (``$SDL_ZMQ_OUT``, default
            ``tcp://127.0.0.1:5578``).
        start_proxy: the controller binds a bluesky ``Proxy`` on these addresses in a background
            thread; if they are taken (another controller's proxy, ``bluesky-0MQ-proxy``) it uses
            that one. Port 0 (tests) binds any free port; :attr:`CampaignStream.proxy_out` says which.

    Raises:
        ConfigError: an address is not ``tcp://host:port`` (every problem listed).
    """

    proxy_in: str = field(default_factory=lambda: os.environ.get("SDL_ZMQ_IN", DEFAULT_PROXY_IN))
    proxy_out: str = field(default_factory=lambda: os.environ.get("SDL_ZMQ_OUT", DEFAULT_PROXY_OUT))
    start_proxy: bool = True

    def __post_init__(self) -> None:
        issues = [issue for issue in (
            _address_issue("proxy_in", "SDL_ZMQ_IN", self.proxy_in, self.start_proxy),
            _address_issue("proxy_out", "SDL_ZMQ_OUT", self.proxy_out, self.start_proxy),
        ) if issue is not None]
        if not issues and self.proxy_in == self.proxy_out and not self.proxy_in.endswith(":0"):
            issues.append(FieldIssue("stream.proxy_out (or $SDL_ZMQ_OUT)",
                                     f"{self.proxy_out!r} is also proxy_in; the proxy needs two ports"))
        if not isinstance(self.start_proxy, bool):
            issues.append(FieldIssue("stream.start_proxy", f"{self.start_proxy!r} must be true or false"))
        if issues:
            raise ConfigError(issues, source="live stream settings")


def _json_safe(value: Any) -> Any:
    """Strict JSON (browsers reject NaN): non-finite floats become null, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if hasattr(value, "tolist"):
        return _json_safe(value.tolist())
    return str(value)


def encode_event(kind: str, event: dict[str, Any]) -> bytes:
    """``b"sdl.events <kind> <json>"``; the JSON holds ``kind`` too."""
    if not kind or " " in kind:
        raise ValueError(f"event kind {kind!r} must be a non-empty word without spaces")
    event = {"kind": kind, **event}
    event["kind"] = kind  # the topic's kind wins over a payload field of that name
    body = json.dumps(_json_safe(event), allow_nan=False, separators=(",", ":"))
    return b" ".join([EVENT_TOPIC, kind.encode(), body.encode()])


def decode_event(message: bytes) -> dict[str, Any] | None:
    """The event of one stream message, or None if it is not one."""
    try:
        topic, _kind, body = message.split(b" ", 2)
        if topic != EVENT_TOPIC:
            return None
        event = json.loads(body)
    except ValueError:
        return None
    return event if isinstance(event, dict) and "kind" in event else None


class CampaignStream:
    """Publishes one controller's Bluesky documents and campaign events to the 0MQ proxy.

    A display callback: a message that cannot be sent is logged and dropped, never raised into
    the campaign (0MQ PUB sockets drop rather than block when no one listens or a reader lags).

    Args:
        settings: addresses, and whether to start the proxy.
        campaign: the name put on events that do not carry one.
    """

    def __init__(self, settings: StreamSettings | None = None, campaign: str | None = None):
        from bluesky.callbacks.zmq import Publisher

        self.settings = settings or StreamSettings()
        self.campaign = campaign
        self.proxy = StreamProxy.bind_or_reuse(self.settings) if self.settings.start_proxy else None
        #: Where subscribers connect (the bound port when the settings said 0).
        self.proxy_out: str = self.proxy.proxy_out if self.proxy else self.settings.proxy_out
        self.proxy_in: str = self.proxy.proxy_in if self.proxy else self.settings.proxy_in
        self._lock = threading.Lock()  # documents come from the RunEngine thread, events from the loop
        try:
            self._publisher = Publisher(self.proxy_in, prefix=DOCUMENT_PREFIX)
            self._publisher._socket.setsockopt(zmq.LINGER, LINGER_MS)  # its default (-1) can hang close()
            self._context = zmq.Context()
            self._events = self._context.socket(zmq.PUB)
            self._events.setsockopt(zmq.LINGER, LINGER_MS)
            self._events.connect(self.proxy_in)
        except BaseException:
            if self.proxy is not None:
                self.proxy.close()
            raise
        self._runs: dict[str, dict[str, Any]] = {}  # run uid -> what the monitor needs from its start doc
        self._streams: dict[str, tuple[str, list[str], str | None]] = {}  # descriptor uid -> (stream, devices, run uid)
        self.dropped = 0
        self._closed = False

    # ---------------------------------------------------------------- publishing
    def document(self, name: str, doc: dict[str, Any]) -> None:
        """Publish one Bluesky document (and the ``run_*`` event it implies)."""
        if self._closed:
            return
        try:
            with self._lock:
                self._publisher(name, doc)
            self._run_event(name, doc)
        except Exception as err:  # noqa: BLE001 - a display callback must not stop a robot run
            self._drop(f"{name} document", err)

    def event(self, kind: str, payload: dict[str, Any]) -> None:
        """Publish one campaign event as JSON: ``{"kind", "campaign", "time", **payload}``."""
        if self._closed:
            return
        try:
            message = encode_event(kind, {"campaign": self.campaign, "time": time.time(), **payload})
            with self._lock:
                self._events.send(message, zmq.NOBLOCK)
        except Exception as err:  # noqa: BLE001 - a display callback must not stop a campaign
            self._drop(f"{kind} event", err)

    def attach(self, runner) -> None:
        """Publish everything a :class:`controller.loop.runner.CampaignRunner` emits."""
        if self.campaign is None:
            self.campaign = runner.config.name
        runner.add_document_listener(self.document)
        runner.add_listener(self.event)

    def _run_event(self, name: str, doc: dict[str, Any]) -> None:
        """What the monitor shows as "now": which run, which step (stream) and device."""
        if name == "start":
            run = {"run_uid": doc.get("uid"), "sample": doc.get("sample_id"), "fidelity": doc.get("fidelity"),
                   "attempt": doc.get("attempt")}
            if doc.get("campaign"):
                run["campaign"] = doc["campaign"]
            self._runs[doc.get("uid")] = run
            self.event("run_started", {**run, "streams": doc.get("streams")})
        elif name == "descriptor":
            keys = list(doc.get("object_keys") or {})
            devices = [d for d in keys if d != "ambient"] or keys  # every step also reads the room
            self._streams[doc.get("uid")] = (doc.get("name", "primary"), devices, doc.get("run_start"))
        elif name == "event":
            stream, devices, run_uid = self._streams.get(doc.get("descriptor"), ("?", [], None))
            run = self._runs.get(run_uid, {"run_uid": run_uid})
            self.event("run_step", {**run, "stream": stream, "devices": devices, "seq_num": doc.get("seq_num")})
        elif name == "stop":
            run_uid = doc.get("run_start")
            run = self._runs.pop(run_uid, {"run_uid": run_uid})
            self._streams = {k: v for k, v in self._streams.items() if v[2] != run_uid}
            self.event("run_finished", {**run, "exit_status": doc.get("exit_status"), "reason": doc.get("reason")})

    def _drop(self, what: str, err: Exception) -> None:
        self.dropped += 1
        level = logging.WARNING if self.dropped <= 3 else logging.DEBUG
        log.log(level, "live stream: %s not published (%s: %s); the campaign goes on", what, type(err).__name__, err)

    # ---------------------------------------------------------------- closing
    def close(self) -> None:
        """Hand queued messages to the proxy (up to ``LINGER_MS``), then stop the proxy if it is ours."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            self._events.close()
            self._context.term()
            self._publisher.close()
        if self.proxy is not None:
            self.proxy.close()

    def __enter__(self) -> CampaignStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class EventSubscription:
    """Campaign events read from the proxy's output, as dicts, oldest first.

    Args:
        address: the proxy's output (``StreamSettings().proxy_out``).
        campaign: only this campaign's events (None: every campaign's).

    Use it from one thread (0MQ sockets are not thread-safe); close it when done.
    """

    def __init__(self, address: str, campaign: str | None = None, topic: bytes = EVENT_TOPIC):
        self.address = address
        self.campaign = campaign
        self._topic = topic
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.SUB)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.connect(address)
        self._socket.setsockopt(zmq.SUBSCRIBE, topic + b" ")  # the space: not "sdl.events2"

    def receive(self, timeout_s: float | None = None) -> dict[str, Any] | None:
        """The next event (for the campaign), or None after ``timeout_s`` (None: wait forever)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not self._socket.poll(None if left is None else int(left * 1000)):
                return None
            event = decode_event(self._socket.recv())
            if event is not None and (self.campaign is None or event.get("campaign") == self.campaign):
                return event
            if deadline is not None and time.monotonic() >= deadline:
                return None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Every event, blocking until the next one; stop with ``break``."""
        while True:
            event = self.receive(None)
            if event is not None:
                yield event

    def close(self) -> None:
        self._socket.close()
        self._context.term()

    def __enter__(self) -> EventSubscription:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def subscribe_events(address: str | None = None, campaign: str | None = None,
                     topic: bytes = EVENT_TOPIC) -> EventSubscription:
    """Subscribe to campaign events at ``address`` (default: ``StreamSettings().proxy_out``).

    The subscription is live from about when this returns: events published before the
    connection is made are not replayed (0MQ PUB/SUB), so start monitors first or seed them
    from the store.
    """
    return EventSubscription(address or StreamSettings(start_proxy=False).proxy_out, campaign=campaign, topic=topic)
