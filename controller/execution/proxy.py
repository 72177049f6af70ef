"""A 0MQ proxy that this process can stop, the JSON wire format of the documents that cross
it, and its CurveZMQ keys: the live stream publishes through it, and the queue server's
documents come back through it.

Nothing read from the network is unpickled: documents travel as JSON
(:func:`serialize_document` / :func:`deserialize_document`), so a forged message is at worst
parsed as data. With :class:`CurveKeys` the proxy's sockets are CurveZMQ servers and only
clients whose public key is in ``authorized_clients/`` get through.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

from core import ConfigError, FieldIssue

log = logging.getLogger(__name__)

LINGER_MS = 1000  # how long closing waits for queued messages to leave

#: File names in a key directory (``sdl stream keys DIR`` writes them; ``zmq.auth`` format).
SERVER_KEY = "server.key"
SERVER_SECRET = "server.key_secret"
CLIENT_KEY = "client.key"
CLIENT_SECRET = "client.key_secret"
AUTHORIZED = "authorized_clients"
_CLIENT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


# ------------------------------------------------------------------------------ wire format
def _plain(value: Any) -> Any:
    """``json.dumps``' fallback: numpy arrays become lists, numpy scalars numbers.

    Raises:
        TypeError: anything else JSON cannot hold (a publisher logs and drops that document
            rather than send a text that only looks like the value).
    """
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # numpy arrays and scalars
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def serialize_document(doc: Any) -> bytes:
    """One Bluesky document as UTF-8 JSON (bluesky ``Publisher(serializer=...)``).

    NaN and infinities are kept as JSON's ``NaN``/``Infinity`` extension, which Python's
    ``json.loads`` reads back: a reading that was NaN stays NaN.
    """
    return json.dumps(doc, default=_plain, separators=(",", ":")).encode()


def deserialize_document(data: bytes) -> dict[str, Any]:
    """The document of one message body (bluesky ``RemoteDispatcher(deserializer=...)``).

    Raises:
        ValueError: the body is not JSON, or not a JSON object (readers drop such messages).
    """
    doc = json.loads(data)
    if not isinstance(doc, dict):
        raise ValueError(f"a document must be a JSON object, got {type(doc).__name__}")
    return doc


# ------------------------------------------------------------------------------ CurveZMQ keys
@dataclass(frozen=True)
class CurveKeys:
    """The CurveZMQ keys of one stream, read from a key directory.

    Attributes:
        directory: where they were read.
        server_public, server_secret: the proxy's key pair (``server_secret`` None on a host
            that only publishes or subscribes).
        client_public, client_secret: this host's publishers' and subscribers' key pair.
    """

    directory: Path
    server_public: bytes
    server_secret: bytes | None
    client_public: bytes
    client_secret: bytes

    @classmethod
    def load(cls, directory: str | Path, field: str = "stream.curve_dir") -> CurveKeys:
        """Read ``server.key`` (+ ``server.key_secret`` if there) and ``client.key_secret``.

        Raises:
            ConfigError: a file is missing or is not a ``zmq.auth`` certificate (names ``field``).
        """
        import zmq.auth

        directory = Path(directory)
        try:
            server_public, server_secret = zmq.auth.load_certificate(
                directory / (SERVER_SECRET if (directory / SERVER_SECRET).exists() else SERVER_KEY))
            client_public, client_secret = zmq.auth.load_certificate(directory / CLIENT_SECRET)
        except (OSError, ValueError) as err:
            raise ConfigError(FieldIssue(field, f"{str(directory)!r} has no readable CurveZMQ keys ({err}); "
                                                f"create them with `sdl stream keys {directory}`"),
                              source="live stream settings") from err
        if client_secret is None:
            raise ConfigError(FieldIssue(field, f"{directory / CLIENT_SECRET} holds no secret key"),
                              source="live stream settings")
        return cls(directory, server_public, server_secret, client_public, client_secret)

    def secure_client(self, socket: zmq.Socket) -> None:
        """Make ``socket`` (before it connects) a CurveZMQ client of this stream's proxy."""
        socket.curve_publickey = self.client_public
        socket.curve_secretkey = self.client_secret
        socket.curve_serverkey = self.server_public

    def secure_server(self, socket: zmq.Socket) -> None:
        """Make ``socket`` (before it binds) a CurveZMQ server with the proxy's key pair."""
        if self.server_secret is None:
            raise ConfigError(FieldIssue("stream.curve_dir", f"{self.directory / SERVER_SECRET} is missing; only "
                                                             "the host that runs the proxy needs it"),
                              source="live stream settings")
        socket.curve_publickey = self.server_public
        socket.curve_secretkey = self.server_secret
        socket.curve_server = True


def create_stream_keys(directory: str | Path, client: str | None = None) -> list[Path]:
    """Write a stream's keys into ``directory``; the files written (secret ones are mode 0600).

    Without ``client``: the proxy's pair (``server.key``, ``server.key_secret``), this host's
    client pair (``client.key``, ``client.key_secret``) and ``authorized_clients/client.key``;
    existing keys are kept. With ``client``: one more client pair ``NAME.key``/``NAME.key_secret``
    for another host, its public key authorized (copy ``server.key`` and that pair, renamed
    ``client.key``/``client.key_secret``, to the other host's key directory).
    """
    import zmq.auth

    if client is not None and (not _CLIENT_NAME.match(client) or client in ("server", "client")):
        raise ConfigError(FieldIssue("stream keys --client", f"{client!r} must be letters, digits, '-' or '_' "
                                                             "(not 'server' or 'client')"), source="sdl stream keys")
    directory = Path(directory)
    authorized = directory / AUTHORIZED
    authorized.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name in ([client] if client else ["server", "client"]):
        if (directory / f"{name}.key_secret").exists():
            continue  # never replace a key others already hold
        public, secret = (Path(p) for p in zmq.auth.create_certificates(directory, name))
        secret.chmod(0o600)
        written += [public, secret]
        if name != "server":
            written.append(Path(shutil.copy(public, authorized / public.name)))
    return written


# ------------------------------------------------------------------------------ the proxy
class StreamProxy:
    """A 0MQ forwarder (SUB ``proxy_in`` -> PUB ``proxy_out``, like bluesky's ``Proxy``) in a
    daemon thread of this process, stoppable.

    bluesky's ``Proxy.start()`` blocks in ``zmq.device`` and cannot be stopped from another
    thread without hanging context termination, so the sockets are forwarded here with
    ``zmq.proxy_steerable``, which a control message ends.

    Args:
        proxy_in, proxy_out: ``tcp://host:port`` to bind (port 0: any free port).
        keys: CurveZMQ: both sockets become servers and a ZAP authenticator admits only the
            public keys in ``keys.directory / "authorized_clients"``.

    Raises:
        zmq.ZMQError: an address cannot be bound (e.g. ``EADDRINUSE``).
    """

    def __init__(self, proxy_in: str, proxy_out: str, keys: CurveKeys | None = None):
        self._context = zmq.Context()
        self._auth = None
        sockets: list[zmq.Socket] = []
        try:
            if keys is not None:
                from zmq.auth.thread import ThreadAuthenticator

                self._auth = ThreadAuthenticator(self._context)
                self._auth.start()
                self._auth.configure_curve(domain="*", location=str(keys.directory / AUTHORIZED))
            self._frontend = self._context.socket(zmq.SUB)
            sockets.append(self._frontend)
            self._backend = self._context.socket(zmq.PUB)
            sockets.append(self._backend)
            for socket, address in ((self._frontend, proxy_in), (self._backend, proxy_out)):
                if keys is not None:
                    keys.secure_server(socket)
                socket.bind(address)
            self._frontend.setsockopt(zmq.SUBSCRIBE, b"")
        except BaseException:
            for socket in sockets:
                socket.close(linger=0)
            if self._auth is not None:
                self._auth.stop()
            self._context.term()
            raise
        #: The bound addresses (port 0 resolved).
        self.proxy_in: str = self._frontend.getsockopt_string(zmq.LAST_ENDPOINT)
        self.proxy_out: str = self._backend.getsockopt_string(zmq.LAST_ENDPOINT)
        self.secure = keys is not None
        control = f"inproc://sdl-proxy-control-{id(self)}"
        self._control = self._context.socket(zmq.PAIR)
        self._control.bind(control)
        self._peer = self._context.socket(zmq.PAIR)
        self._peer.connect(control)
        self._thread = threading.Thread(target=self._forward, name="sdl-zmq-proxy", daemon=True)
        self._thread.start()

    @classmethod
    def bind_or_reuse(cls, settings, keys: CurveKeys | None = None) -> StreamProxy | None:
        """A new proxy on ``settings.proxy_in`` / ``settings.proxy_out``, or None if something already listens there."""
        try:
            return cls(settings.proxy_in, settings.proxy_out, keys=keys)
        except zmq.ZMQError as err:
            if err.errno == zmq.EADDRINUSE:
                log.info("a 0MQ proxy already listens on %s / %s; publishing to it",
                         settings.proxy_in, settings.proxy_out)
                return None
            raise ConfigError(FieldIssue(
                "stream.proxy_in / stream.proxy_out",
                f"cannot bind a 0MQ proxy on {settings.proxy_in} and {settings.proxy_out}: {err}; give local "
                "addresses ($SDL_ZMQ_IN, $SDL_ZMQ_OUT) or start the proxy elsewhere and pass start_proxy=False",
            ), source="live stream settings") from err

    def _forward(self) -> None:
        frontend, backend = self._frontend, self._backend
        try:
            zmq.proxy_steerable(frontend, backend, None, self._peer)
            # Forward what already arrived, so closing right after a campaign loses no last event.
            while frontend.poll(50):
                backend.send(frontend.recv())
        except zmq.ZMQError as err:  # pragma: no cover - only if the context is torn down under us
            log.warning("0MQ proxy stopped: %s", err)
        finally:
            frontend.close(linger=0)
            backend.close(linger=LINGER_MS)
            self._peer.close(linger=0)

    def close(self) -> None:
        if self._thread.is_alive():
            self._control.send(b"TERMINATE")
            self._thread.join(timeout=5 + LINGER_MS / 1000)
        self._control.close(linger=0)
        if self._auth is not None:
            self._auth.stop()  # its sockets live on our context: stop it before terminating
            self._auth = None
        if not self._thread.is_alive():
            self._context.term()
