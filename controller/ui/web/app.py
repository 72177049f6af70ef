"""``sdl serve``: the operators' web dashboard.

Read-only views need nothing; control (pause, resume, stop, approve, reject) needs the
control token as ``Authorization: Bearer <token>``. The token is ``$SDL_CONTROL_TOKEN``
(when set for `sdl serve`) or the campaign file's ``[control] token``; with neither,
control of that campaign is disabled.

Routers: ``views`` (read-only API), ``events`` (server-sent events), ``control`` (operator
requests and approvals); ``common`` holds what they share.

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

STATIC = Path(__file__).parent / "static"


def create_app(store: str | Path | RecordStore) -> FastAPI:
    """The dashboard over one record store (a path, or an open store shared with the caller)."""
    own = not isinstance(store, RecordStore)
    records = RecordStore(store) if own else store

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        if own:
            records.close()

    app = FastAPI(title="sdl dashboard", description="Watch and steer self-driving-lab campaigns.", lifespan=lifespan)
    app.state.store = records
    app.state.explain_cache = {}  # (campaign, samples recorded) -> explanation

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return (STATIC / "index.html").read_text(encoding="utf-8")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in (views.router, events.router, control.router):
        app.include_router(router)
    return app


def serve(store: str | Path, host: str = "127.0.0.1", port: int = 8765, log_level: str = "warning") -> None:
    """Run the dashboard until Ctrl-C."""
    import uvicorn

    from controller.records.location import redact

    print(f"sdl dashboard on http://{host}:{port}/  (store {redact(str(store))}; Ctrl-C stops it)", flush=True)
    uvicorn.run(create_app(store), host=host, port=port, log_level=log_level)


class BackgroundServer:
    """The dashboard in a thread of this process (tests, `sdl run --serve`)."""

    def __init__(self, store: str | Path | RecordStore, host: str = "127.0.0.1", port: int = 0):
        import socket

        import uvicorn

        if port == 0:
            with socket.socket() as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
        self.host, self.port = host, port
        self.url = f"http://{host}:{port}"
        config = uvicorn.Config(create_app(store), host=host, port=port, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
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
        self._server.should_exit = True
        self._thread.join(10)

    def __enter__(self) -> "BackgroundServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
