"""A bluesky 0MQ proxy that this process can stop: the live stream publishes through it, and
the queue server's documents come back through it."""

from __future__ import annotations

import logging
import threading

import zmq

from core import ConfigError, FieldIssue

log = logging.getLogger(__name__)

LINGER_MS = 1000  # how long closing waits for queued messages to leave


class StreamProxy:
    """A bluesky ``Proxy`` forwarding in a daemon thread of this process, stoppable.

    bluesky's ``Proxy.start()`` blocks in ``zmq.device`` and cannot be stopped from another
    thread without hanging context termination, so its bound sockets are forwarded here with
    ``zmq.proxy_steerable``, which a control message ends.
    """

    def __init__(self, proxy_in: str, proxy_out: str):
        from bluesky.callbacks.zmq import Proxy

        self._proxy = Proxy(proxy_in, proxy_out)  # binds both, or raises zmq.ZMQError
        self.proxy_in: str = self._proxy.in_port  # the bound addresses (port 0 resolved)
        self.proxy_out: str = self._proxy.out_port
        ctx = self._proxy._context
        control = f"inproc://sdl-proxy-control-{id(self)}"
        self._control = ctx.socket(zmq.PAIR)
        self._control.bind(control)
        self._peer = ctx.socket(zmq.PAIR)
        self._peer.connect(control)
        self._thread = threading.Thread(target=self._forward, name="sdl-zmq-proxy", daemon=True)
        self._thread.start()

    @classmethod
    def bind_or_reuse(cls, settings) -> StreamProxy | None:
        """A new proxy on ``settings.proxy_in`` / ``settings.proxy_out``, or None if something already listens there."""
        try:
            return cls(settings.proxy_in, settings.proxy_out)
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
        frontend, backend = self._proxy._frontend, self._proxy._backend
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
        if not self._thread.is_alive():
            self._proxy._context.term()
        self._proxy.closed = True
