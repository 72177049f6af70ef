"""``sdl serve``: the operators' web dashboard.

Who may do what:

- With operators in the store (``sdl operators add NAME --role ROLE``), every control
  request and approval needs the operator's own token as ``Authorization: Bearer <token>``,
  and is recorded under their name: ``operator`` role and above pause/resume/stop,
  ``approver`` and above approve/reject. ``--require-login`` makes reading need a token
  too (any role).
- Without operators (a single-user bench), control needs the shared control token:
  ``$SDL_CONTROL_TOKEN`` (when set for `sdl serve`) or the campaign file's
  ``[control] token`` (at least 16 characters); with neither, control is disabled.
  Read-only views need nothing.

Routers: ``views`` (read-only API), ``events`` (server-sent events), ``control`` (operator
requests and approvals); ``common`` holds what they share, ``guard`` the middleware in
front of them all (Host allow-list, body limit, security headers).

The dashboard reads everything from the record store, the campaign's single source of
truth, so it serves campaigns run by any controller process on this store; live updates
are server-sent events made by tailing the store's event log. Operator requests are
written to the store too: the running controller carries them out within
``CONTROL_POLL_S`` and records who asked and when.
"""

from __future__ import annotations

import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from controller.records.store import RecordStore
from controller.ui.web import control, events, views
from controller.ui.web.guard import LOOPBACK_HOSTS, Guard

STATIC = Path(__file__).parent / "static"
GRACEFUL_SHUTDOWN_S = 3  # after the first signal, open connections get this long before they are cut


def create_app(store: str | Path | RecordStore, allowed_hosts: tuple[str, ...] | None = LOOPBACK_HOSTS,
               require_login: bool = False) -> FastAPI:
    """The dashboard over one record store (a path, or an open store shared with the caller).

    Args:
        allowed_hosts: the names the ``Host`` header may carry (None: any, for in-process use only).
        require_login: with operators in the store, reading needs an operator's token too.
    """
    own = not isinstance(store, RecordStore)
    records = RecordStore(store) if own else store

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        if own:
            records.close()

    app = FastAPI(title="sdl dashboard", description="Watch and steer self-driving-lab campaigns.", lifespan=lifespan)
    app.state.store = records
    app.state.require_login = require_login
    app.state.shutdown = threading.Event()  # set on the first signal: event streams end
    app.state.explain_cache = {}  # (campaign, samples recorded) -> explanation
    app.state.report_cache = {}  # campaign -> (its state, the rendered report)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return (STATIC / "index.html").read_text(encoding="utf-8")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in (views.router, events.router, control.router):
        app.include_router(router)
    app.add_middleware(Guard, allowed_hosts=allowed_hosts)
    return app


def _server(app: FastAPI, **config):
    """A uvicorn server whose first signal also ends the app's event streams (uvicorn waits for
    open connections, and a dashboard tab's stream never closes by itself)."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            app.state.shutdown.set()
            super().handle_exit(sig, frame)

    return Server(uvicorn.Config(app, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S, **config))


def serve(store: str | Path, host: str = "127.0.0.1", port: int = 8765, log_level: str = "warning",
          allowed_hosts: tuple[str, ...] = (), require_login: bool = False,
          tls_cert: str | None = None, tls_key: str | None = None) -> None:
    """Run the dashboard until Ctrl-C or SIGTERM (the first one stops it)."""
    from controller.records.location import redact

    hosts = tuple(dict.fromkeys((*LOOPBACK_HOSTS, host, *allowed_hosts)))
    scheme = "https" if tls_cert else "http"
    print(f"sdl dashboard on {scheme}://{host}:{port}/  (store {redact(str(store))}; Ctrl-C stops it)", flush=True)
    app = create_app(store, allowed_hosts=hosts, require_login=require_login)
    _server(app, host=host, port=port, log_level=log_level, ssl_certfile=tls_cert, ssl_keyfile=tls_key).run()


class BackgroundServer:
    """The dashboard in a thread of this process (tests, `sdl run --serve`)."""

    def __init__(self, store: str | Path | RecordStore, host: str = "127.0.0.1", port: int = 0,
                 require_login: bool = False):
        import socket

        if port == 0:
            with socket.socket() as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
        self.host, self.port = host, port
        self.url = f"http://{host}:{port}"
        self.app = create_app(store, allowed_hosts=(*LOOPBACK_HOSTS, host), require_login=require_login)
        self._server = _server(self.app, host=host, port=port, log_level="warning", lifespan="on")
        self._thread = threading.Thread(target=self._server.run, name="sdl-dashboard", daemon=True)

    def start(self, timeout: float = 15.0) -> "BackgroundServer":
        self._thread.start()
        deadline = time.time() + timeout
        while not self._server.started:
            if time.time() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the dashboard did not start on {self.url}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.app.state.shutdown.set()
        self._server.should_exit = True
        self._thread.join(10)

    def __enter__(self) -> "BackgroundServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
