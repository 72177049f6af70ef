"""Bluesky documents from RE Manager's 0MQ proxy, routed to the attempts that wait for them."""

from __future__ import annotations

import logging
import queue
import threading

import zmq

from controller.execution.proxy import deserialize_document

log = logging.getLogger(__name__)


#: Same prefix as the profile's Publisher and the live stream (``controller.ui.stream.DOCUMENT_PREFIX``).
DOCUMENT_PREFIX = b"sdl.documents"

#: Start-document key carrying the controller's request token (routes documents to their attempt).
REQUEST_KEY = "sdl_request"

# ---------------------------------------------------------------------------------------------
class DocumentFeed:
    """Bluesky documents from a 0MQ proxy, routed to the attempts that wait for them.

    A daemon thread reads the proxy's output (messages ``prefix name json(doc)``, as the
    profile's bluesky ``Publisher(serializer=serialize_document)`` sends them) and puts each document of a run whose start document carries a
    registered request token (``start[REQUEST_KEY]``) on that token's queue. Documents of other
    runs (other clients of the same RE Manager) are dropped; a document seen twice (uid) is
    passed on once.

    Nothing is unpickled: a message that is not a JSON document is dropped with a logged
    warning (a forged one is at worst parsed as data).
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
                doc = deserialize_document(body)
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
