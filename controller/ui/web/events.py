"""Live updates: server-sent events made by tailing the store's event log."""

from __future__ import annotations

import asyncio
import json
import re

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from controller.records.store import RecordStore
from controller.ui.web.common import clean, known_campaign, reader

router = APIRouter(prefix="/api")
EVENT_POLL_S = 0.1
HEARTBEAT_S = 10.0
# An event id the store can have made: a decimal integer that fits in 64 bits with room
# to spare. Anything else (30 digits, garbage, other scripts' digits) is ignored.
_EVENT_ID = re.compile(r"[0-9]{1,18}")


def resume_from(last_event_id: str | None) -> int | None:
    """The event id a reconnecting client saw last, or None to start from now."""
    if last_event_id is None or not _EVENT_ID.fullmatch(last_event_id.strip()):
        return None
    return int(last_event_id.strip())


@router.get("/campaigns/{name}/events")
async def events(name: str, request: Request, last_event_id: str | None = Header(default=None),
                 records: RecordStore = Depends(reader)) -> StreamingResponse:
    """Server-sent events: every campaign event as it is written to the store.

    The stream ends when the client goes away or the server shuts down (``app.state.shutdown``),
    so one open dashboard tab never keeps `sdl serve` from stopping.
    """
    known_campaign(records, name)
    start = resume_from(last_event_id)
    if start is None:
        start = records.last_event_id()
    shutdown = request.app.state.shutdown

    async def stream():
        cursor, quiet = start, 0.0
        yield "retry: 1000\n\n"
        while not shutdown.is_set() and not await request.is_disconnected():
            new = await run_in_threadpool(records.events, name, cursor, 200)
            for event in new:
                cursor = event["id"]
                body = json.dumps(clean({"kind": event["kind"], "time": event["time"], **event["payload"]}))
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
