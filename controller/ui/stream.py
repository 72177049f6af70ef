"""The live stream: a campaign's Bluesky documents and events on 0MQ, for monitors on other processes.

The CLI wires it in ``controller/ui/cli/campaigns.py`` (``sdl run|resume --stream
[--stream-remote] [--stream-keys DIR]``, ``sdl monitor``, ``sdl stream keys DIR``).
:class:`StreamSettings` reads ``$SDL_ZMQ_IN`` / ``$SDL_ZMQ_OUT`` / ``$SDL_ZMQ_CURVE_DIR`` and raises
:class:`core.ConfigError` (exit status 2 through ``main``) for an address that is not
``tcp://host:port``, or not loopback without ``allow_remote``, or remote without keys.

What travels, through one proxy (``proxy_in`` -> ``proxy_out``, :class:`StreamProxy`); nothing
is pickled, so a forged message is at worst parsed as data:

- Documents: bluesky's own ``Publisher(proxy_in, prefix=DOCUMENT_PREFIX,
  serializer=serialize_document)`` (JSON; numpy values as lists and numbers), so a standard
  subscriber given a JSON deserializer receives every document of every robot run::

      from bluesky.callbacks.zmq import RemoteDispatcher
      from controller.ui.stream import document_deserializer   # or json.loads
      d = RemoteDispatcher("tcp://127.0.0.1:5578", prefix=b"sdl.documents", deserializer=document_deserializer)
      d.subscribe(print); d.start()

- Campaign events: ``b"sdl.events <kind> <json>"`` (same framing as bluesky's ``prefix name body``),
  the JSON being ``{"kind", "campaign", "time" (s since epoch), ...payload}``: the runner's events
  (``campaign_started``, ``sample_dispatched``, ``sample_recorded``, ``sample_retried``,
  ``campaign_finished``/``_stopped``/``_failed``, ``recommendation``) and, from the documents,
  ``run_started`` / ``run_step`` (stream name such as ``cure`` and its devices) / ``run_finished``.
  Read them with :func:`subscribe_events`; a message that is not a JSON event is dropped with a
  logged warning.

With ``curve_dir`` (CurveZMQ) the proxy's sockets are servers with ``server.key_secret`` and
admit only the public keys in ``authorized_clients/``; our publishers and subscribers use
``client.key_secret`` and ``server.key`` (bluesky: ``curve_config=ClientCurve(...)``).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import zmq

from controller.execution.proxy import (
    CLIENT_SECRET, SERVER_KEY, CurveKeys, StreamProxy, deserialize_document, serialize_document,
)

from core import ConfigError, FieldIssue

log = logging.getLogger(__name__)

DEFAULT_PROXY_IN = "tcp://127.0.0.1:5577"
DEFAULT_PROXY_OUT = "tcp://127.0.0.1:5578"
#: bluesky ``Publisher`` prefix of the documents (bytes, no space).
DOCUMENT_PREFIX = b"sdl.documents"
#: Topic of the JSON campaign events.
EVENT_TOPIC = b"sdl.events"
#: How many malformed messages a subscription warns about before it logs them at debug level
#: (a flood of forged messages must not flood the log).
MALFORMED_WARNINGS = 10
#: Reads a document message's body: ``RemoteDispatcher(out, prefix=DOCUMENT_PREFIX,
#: deserializer=document_deserializer)``; JSON only, never pickle.
document_deserializer = deserialize_document
#: How long closing a socket may wait to hand queued messages over (ms); never forever,
#: so a proxy that went away cannot hang the controller's exit.
LINGER_MS = 1000

_ADDRESS = re.compile(r"^tcp://(?P<host>[^\s:/]+|\[[0-9a-fA-F:]+\]):(?P<port>\d{1,5})$")
_LOOPBACK_NAMES = {"localhost", "[::1]"}


def _is_loopback(host: str) -> bool:
    """127.0.0.0/8, ``[::1]`` or ``localhost``; any other name or address may leave the host."""
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to a network interface


def _address_issue(name: str, env: str, value: Any, allow_any_port: bool, allow_remote: bool) -> FieldIssue | None:
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
    host = match["host"]
    if not allow_remote and not _is_loopback(host):
        every = " listens on every interface" if host in ("0.0.0.0", "*", "[::]") else " is not a loopback address"
        return FieldIssue(where, f"{host}{every}; the stream stays on 127.0.0.1 unless allowed "
                                 "(--stream-remote / StreamSettings(allow_remote=True), with CurveZMQ keys)")
    return None


def _env_dir() -> str | None:
    return os.environ.get("SDL_ZMQ_CURVE_DIR") or None


@dataclass(frozen=True)
class StreamSettings:
    """Where the live stream goes, and whether it is encrypted.

    Attributes:
        proxy_in: the proxy's input; publishers connect here (``$SDL_ZMQ_IN``, default
            ``tcp://127.0.0.1:5577``: localhost only).
        proxy_out: the proxy's output; subscribers connect here (``$SDL_ZMQ_OUT``, default
            ``tcp://127.0.0.1:5578``).
        start_proxy: the controller binds the proxy on these addresses in a background
            thread; if they are taken (another controller's proxy, ``bluesky-0MQ-proxy``) it uses
            that one. Port 0 (tests) binds any free port; :attr:`CampaignStream.proxy_out` says which.
        allow_remote: addresses other than loopback are accepted (``--stream-remote``); they
            need ``curve_dir``, and :meth:`exposure_warning` says so.
        curve_dir: a key directory (``sdl stream keys DIR``; ``$SDL_ZMQ_CURVE_DIR``): the proxy's
            sockets are CurveZMQ servers, publishers and subscribers its authorized clients.

    Raises:
        ConfigError: an address is not ``tcp://host:port``, is not loopback without
            ``allow_remote``, leaves the host without keys, or the keys cannot be read (every
            problem listed).
    """

    proxy_in: str = field(default_factory=lambda: os.environ.get("SDL_ZMQ_IN", DEFAULT_PROXY_IN))
    proxy_out: str = field(default_factory=lambda: os.environ.get("SDL_ZMQ_OUT", DEFAULT_PROXY_OUT))
    start_proxy: bool = True
    allow_remote: bool = False
    curve_dir: str | None = field(default_factory=_env_dir)

    def __post_init__(self) -> None:
        issues = []
        for name in ("start_proxy", "allow_remote"):
            if not isinstance(getattr(self, name), bool):
                issues.append(FieldIssue(f"stream.{name}", f"{getattr(self, name)!r} must be true or false"))
        if issues:
            raise ConfigError(issues, source="live stream settings")
        issues = [issue for issue in (
            _address_issue("proxy_in", "SDL_ZMQ_IN", self.proxy_in, self.start_proxy, self.allow_remote),
            _address_issue("proxy_out", "SDL_ZMQ_OUT", self.proxy_out, self.start_proxy, self.allow_remote),
        ) if issue is not None]
        if not issues and self.proxy_in == self.proxy_out and not self.proxy_in.endswith(":0"):
            issues.append(FieldIssue("stream.proxy_out (or $SDL_ZMQ_OUT)",
                                     f"{self.proxy_out!r} is also proxy_in; the proxy needs two ports"))
        if not issues and self.remote and self.curve_dir is None:
            issues.append(FieldIssue("stream.curve_dir (or $SDL_ZMQ_CURVE_DIR)",
                                     "a stream that leaves the host needs CurveZMQ keys: create them with "
                                     "`sdl stream keys DIR` and give --stream-keys DIR"))
        if issues:
            raise ConfigError(issues, source="live stream settings")
        if self.curve_dir is not None:
            self.keys()  # unreadable keys fail here, before anything binds

    @property
    def remote(self) -> bool:
        """True if either address may leave this host."""
        return any(not _is_loopback(_ADDRESS.match(a)["host"]) for a in (self.proxy_in, self.proxy_out))

    def keys(self) -> CurveKeys | None:
        """The CurveZMQ keys of ``curve_dir`` (None without one).

        Raises:
            ConfigError: the directory lacks ``server.key`` or ``client.key_secret``.
        """
        if self.curve_dir is None:
            return None
        return CurveKeys.load(self.curve_dir, field="stream.curve_dir (or $SDL_ZMQ_CURVE_DIR)")

    def exposure_warning(self) -> str | None:
        """One line to print when the stream is reachable from other hosts, else None."""
        if not self.remote:
            return None
        return (f"warning: the 0MQ stream {self.proxy_in} / {self.proxy_out} is reachable from other hosts; "
                f"only clients with keys authorized in {self.curve_dir} get through")


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
        from bluesky.callbacks.zmq import ClientCurve, Publisher

        self.settings = settings or StreamSettings()
        self.campaign = campaign
        keys = self.settings.keys()
        self.proxy = StreamProxy.bind_or_reuse(self.settings, keys) if self.settings.start_proxy else None
        #: Where subscribers connect (the bound port when the settings said 0).
        self.proxy_out: str = self.proxy.proxy_out if self.proxy else self.settings.proxy_out
        self.proxy_in: str = self.proxy.proxy_in if self.proxy else self.settings.proxy_in
        self._lock = threading.Lock()  # documents come from the RunEngine thread, events from the loop
        try:
            curve = None if keys is None else ClientCurve(Path(keys.directory) / CLIENT_SECRET,
                                                          Path(keys.directory) / SERVER_KEY)
            self._publisher = Publisher(self.proxy_in, prefix=DOCUMENT_PREFIX, serializer=serialize_document,
                                        curve_config=curve)
            self._publisher._socket.setsockopt(zmq.LINGER, LINGER_MS)  # its default (-1) can hang close()
            self._context = zmq.Context()
            self._events = self._context.socket(zmq.PUB)
            self._events.setsockopt(zmq.LINGER, LINGER_MS)
            if keys is not None:
                keys.secure_client(self._events)
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

    def __init__(self, address: str, campaign: str | None = None, topic: bytes = EVENT_TOPIC,
                 keys: CurveKeys | None = None):
        self.address = address
        self.campaign = campaign
        self._topic = topic
        self.malformed = 0
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.SUB)
        self._socket.setsockopt(zmq.LINGER, 0)
        if keys is not None:
            keys.secure_client(self._socket)
        self._socket.connect(address)
        self._socket.setsockopt(zmq.SUBSCRIBE, topic + b" ")  # the space: not "sdl.events2"

    def receive(self, timeout_s: float | None = None) -> dict[str, Any] | None:
        """The next event (for the campaign), or None after ``timeout_s`` (None: wait forever)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not self._socket.poll(None if left is None else int(left * 1000)):
                return None
            message = self._socket.recv()
            event = decode_event(message)
            if event is None:
                self._malformed(message)
            elif (self.campaign is None or event.get("campaign") == self.campaign):
                return event
            if deadline is not None and time.monotonic() >= deadline:
                return None

    def _malformed(self, message: bytes) -> None:
        """Drop a message that is not a JSON event, with one warning line (a flood of them: debug)."""
        self.malformed += 1
        level = logging.WARNING if self.malformed <= MALFORMED_WARNINGS else logging.DEBUG
        log.log(level, "live stream: dropped a message on %s that is not a JSON event (%d bytes: %r)",
                self.address, len(message), message[:60])

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
                     topic: bytes = EVENT_TOPIC, keys: CurveKeys | None = None) -> EventSubscription:
    """Subscribe to campaign events at ``address`` (default: ``StreamSettings().proxy_out``);
    ``keys``: a CurveZMQ stream's keys (``StreamSettings().keys()``).

    The subscription is live from about when this returns: events published before the
    connection is made are not replayed (0MQ PUB/SUB), so start monitors first or seed them
    from the store.
    """
    return EventSubscription(address or StreamSettings(start_proxy=False).proxy_out, campaign=campaign, topic=topic,
                             keys=keys)
