"""``sdl serve``: the operators' web dashboard.

Read-only views need nothing; control (pause, resume, stop, approve, reject) needs the
control token as ``Authorization: Bearer <token>``. The token is ``$SDL_CONTROL_TOKEN``
(when set for `sdl serve`) or the campaign file's ``[control] token``; with neither,
control of that campaign is disabled.

The dashboard reads everything from the record store, the campaign's single source of
truth, so it serves campaigns run by any controller process on this store; live updates
are server-sent events made by tailing the store's event log. Operator requests are
written to the store too: the running controller carries them out within
``CONTROL_POLL_S`` and records who asked and when.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from controller.records.store import CONTROL_ACTIONS, RecordStore
from controller.analysis import readmodels as data
from core import StoreError

STATIC = Path(__file__).parent / "static"
EVENT_POLL_S = 0.1
HEARTBEAT_S = 10.0


class ControlRequest(BaseModel):
    action: str = Field(description=f"one of {list(CONTROL_ACTIONS)}")
    operator: str = Field(description="who asks (name or initials); recorded with the request")
    note: str | None = None


class Decision(BaseModel):
    decision: str = Field(description="approve or reject")
    operator: str = Field(description="who decides; recorded with the decision")
    note: str | None = None


def _clean(obj: Any) -> Any:
    """JSON has no NaN: non-finite numbers become null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def create_app(store: str | Path | RecordStore) -> FastAPI:
    """The dashboard over one record store (a path, or an open store shared with the caller)."""
    own = not isinstance(store, RecordStore)
    records = RecordStore(store) if own else store
    explain_cache: dict[tuple[str, int], dict[str, Any]] = {}
    explain_lock = threading.Lock()
    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        if own:
            records.close()

    app = FastAPI(title="sdl dashboard", description="Watch and steer self-driving-lab campaigns.", lifespan=lifespan)
    app.state.store = records

    def known_campaign(name: str) -> None:
        try:
            records.campaign(name)
        except StoreError as err:
            raise HTTPException(404, str(err)) from err

    def authorize(name: str, authorization: str | None) -> None:
        token = data.control_token(data.campaign_config(records, name))
        if token is None:
            raise HTTPException(403, f"control of campaign {name!r} is disabled: no control token is configured "
                                     f"(set ${data.TOKEN_ENV} for `sdl serve`, or [control] token in the campaign file)")
        if not authorization or not authorization.startswith("Bearer "):
            raise HTTPException(401, "control needs the control token: send 'Authorization: Bearer <token>'",
                                headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(authorization[len("Bearer "):].encode(), token.encode()):
            raise HTTPException(403, "the control token is wrong")

    # -- pages ----------------------------------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return (STATIC / "index.html").read_text(encoding="utf-8")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # -- read-only API ----------------------------------------------------
    @app.get("/api/campaigns")
    def list_campaigns() -> JSONResponse:
        return JSONResponse(_clean(data.campaigns(records)))

    @app.get("/api/campaigns/{name}")
    def campaign(name: str) -> JSONResponse:
        known_campaign(name)
        return JSONResponse(_clean(data.summary(records, name)))

    @app.get("/api/campaigns/{name}/samples")
    def samples(name: str, fidelity: str | None = None, status: str | None = None) -> JSONResponse:
        known_campaign(name)
        return JSONResponse(_clean(data.sample_rows(records, name, fidelity=fidelity, status=status)))

    @app.get("/api/campaigns/{name}/progress")
    def progress(name: str) -> JSONResponse:
        known_campaign(name)
        return JSONResponse(_clean(data.progress_series(records, name)))

    @app.get("/api/campaigns/{name}/devices")
    def devices(name: str) -> JSONResponse:
        known_campaign(name)
        return JSONResponse(_clean(data.device_states(records, name)))

    @app.get("/api/campaigns/{name}/controls")
    def controls(name: str) -> JSONResponse:
        known_campaign(name)
        return JSONResponse(_clean(records.controls(name)))

    @app.get("/api/campaigns/{name}/explain")
    def explain(name: str) -> JSONResponse:
        known_campaign(name)
        key = (name, len(records.samples(name)))
        with explain_lock:  # one model fit at a time; cached until a new sample is recorded
            if key not in explain_cache:
                from controller.analysis.explain import explain_campaign

                try:
                    explain_cache[key] = _clean(explain_campaign(records, name))
                except Exception as err:  # noqa: BLE001 - too little data, say so rather than fail the page
                    return JSONResponse({"error": f"{type(err).__name__}: {err}"}, status_code=409)
            return JSONResponse(explain_cache[key])

    @app.get("/api/samples/{sample_id}")
    def sample(sample_id: str) -> JSONResponse:
        try:
            return JSONResponse(_clean(data.sample_detail(records, sample_id)))
        except StoreError as err:
            raise HTTPException(404, str(err)) from err

    @app.get("/api/campaigns/{name}/report", response_class=HTMLResponse)
    def report(name: str) -> str:
        known_campaign(name)
        from controller.ui.htmlreport import render_report

        return render_report(records, name)

    @app.get("/api/campaigns/{name}/events")
    async def events(name: str, request: Request, last_event_id: str | None = Header(default=None)) -> StreamingResponse:
        """Server-sent events: every campaign event as it is written to the store."""
        known_campaign(name)
        start = int(last_event_id) if last_event_id and last_event_id.isdigit() else records.last_event_id()

        async def stream():
            cursor, quiet = start, 0.0
            yield "retry: 1000\n\n"
            while not await request.is_disconnected():
                new = await run_in_threadpool(records.events, name, cursor, 200)
                for event in new:
                    cursor = event["id"]
                    body = json.dumps(_clean({"kind": event["kind"], "time": event["time"], **event["payload"]}))
                    yield f"id: {cursor}\nevent: campaign\ndata: {body}\n\n"
                if new:
                    quiet = 0.0
                else:
                    quiet += EVENT_POLL_S
                    if quiet >= HEARTBEAT_S:
                        quiet = 0.0
                        yield ": heartbeat\n\n"
                await asyncio.sleep(EVENT_POLL_S)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    # -- control -----------------------------------------------------------
    @app.post("/api/campaigns/{name}/control")
    def control(name: str, body: ControlRequest, authorization: str | None = Header(default=None)) -> JSONResponse:
        known_campaign(name)
        authorize(name, authorization)
        if body.action not in CONTROL_ACTIONS:
            raise HTTPException(422, f"action {body.action!r}: allowed {list(CONTROL_ACTIONS)}")
        status = records.campaign(name)["status"]
        if status not in ("running", "paused"):
            raise HTTPException(409, f"campaign {name!r} is {status}, not running: there is nothing to {body.action}")
        try:
            request_id = records.request_control(name, body.action, body.operator, body.note)
        except StoreError as err:
            raise HTTPException(422, str(err)) from err
        return JSONResponse({"id": request_id, "campaign": name, "action": body.action, "operator": body.operator.strip(),
                             "time": time.time(), "status": "requested: the controller carries it out within a second"},
                            status_code=202)

    @app.post("/api/campaigns/{name}/approvals/{sample_id}")
    def decide(name: str, sample_id: str, body: Decision, authorization: str | None = Header(default=None)) -> JSONResponse:
        known_campaign(name)
        authorize(name, authorization)
        decision = {"approve": "approved", "reject": "rejected"}.get(body.decision)
        if decision is None:
            raise HTTPException(422, f"decision {body.decision!r}: allowed ['approve', 'reject']")
        try:
            sample = records.sample(sample_id)
        except StoreError as err:
            raise HTTPException(404, str(err)) from err
        if sample.campaign != name:
            raise HTTPException(404, f"sample {sample_id} belongs to campaign {sample.campaign!r}, not {name!r}")
        try:
            return JSONResponse(records.decide(sample_id, decision, body.operator, body.note))
        except StoreError as err:
            code = 422 if "operator" in str(err) else 409
            raise HTTPException(code, str(err)) from err

    return app


def serve(store: str | Path, host: str = "127.0.0.1", port: int = 8765, log_level: str = "warning") -> None:
    """Run the dashboard until Ctrl-C."""
    import uvicorn

    from controller.records.store import redact

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
