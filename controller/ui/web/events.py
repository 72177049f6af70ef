"""Live updates: server-sent events made by tailing the store's event log."""

from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from controller.records.store import RecordStore
from controller.ui.web.common import clean, known_campaign, store_of

router = APIRouter(prefix="/api")
EVENT_POLL_S = 0.1
HEARTBEAT_S = 10.0


@router.get("/campaigns/{name}/events")
async def events(name: str, request: Request, last_event_id: str | None = Header(default=None),
                 records: RecordStore = Depends(store_of)) -> StreamingResponse:
    """Server-sent events: every campaign event as it is written to the store."""
    known_campaign(records, name)
    start = int(last_event_id) if last_event_id and last_event_id.isdigit() else records.last_event_id()

    async def stream():
        cursor, quiet = start, 0.0
        yield "retry: 1000\n\n"
        while not await request.is_disconnected():
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
