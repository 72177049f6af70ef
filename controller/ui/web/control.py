"""Operator control: pause, resume and stop requests, and approval decisions (token required).

Requests are written to the store; the running controller carries them out within
``CONTROL_POLL_S`` and records who asked and when. With operators in the store, who asked
is the authenticated operator (``operator`` role for pause/resume/stop, ``approver`` for
decisions); with the shared control token, it is the name typed in the request.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Header, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from controller.records.store import CONTROL_ACTIONS, RecordStore
from controller.ui.web.common import acting_operator, authorize, known_campaign, store_of
from core import StoreError

router = APIRouter(prefix="/api")


class ControlRequest(BaseModel):
    action: str = Field(description=f"one of {list(CONTROL_ACTIONS)}")
    operator: str | None = Field(default=None, description="who asks: required with the shared token; with operators "
                                                            "optional, and if given it must be the authenticated name")
    note: str | None = None


class Decision(BaseModel):
    decision: str = Field(description="approve or reject")
    operator: str | None = Field(default=None, description="who decides (see ControlRequest.operator)")
    note: str | None = None


@router.post("/campaigns/{name}/control")
def control(name: str, body: ControlRequest, authorization: str | None = Header(default=None),
            records: RecordStore = Depends(store_of)) -> JSONResponse:
    known_campaign(records, name)
    operator = acting_operator(authorize(records, name, authorization, "operator"), body.operator)
    if body.action not in CONTROL_ACTIONS:
        raise HTTPException(422, f"action {body.action!r}: allowed {list(CONTROL_ACTIONS)}")
    status = records.campaign(name)["status"]
    if status not in ("running", "paused"):
        raise HTTPException(409, f"campaign {name!r} is {status}, not running: there is nothing to {body.action}")
    try:
        request_id = records.request_control(name, body.action, operator, body.note)
    except StoreError as err:
        raise HTTPException(422, str(err)) from err
    return JSONResponse({"id": request_id, "campaign": name, "action": body.action, "operator": operator,
                         "time": time.time(), "status": "requested: the controller carries it out within a second"},
                        status_code=202)


@router.post("/campaigns/{name}/approvals/{sample_id}")
def decide(name: str, sample_id: str, body: Decision, authorization: str | None = Header(default=None),
           records: RecordStore = Depends(store_of)) -> JSONResponse:
    known_campaign(records, name)
    operator = acting_operator(authorize(records, name, authorization, "approver"), body.operator)
    decision = {"approve": "approved", "reject": "rejected"}.get(body.decision)
    if decision is None:
        raise HTTPException(422, f"decision {body.decision!r}: allowed ['approve', 'reject']")
    try:
        sample = records.sample(sample_id)
    except StoreError as err:
        raise HTTPException(404, f"no sample {sample_id!r} in this store") from err
    if sample.campaign != name:
        raise HTTPException(404, f"sample {sample_id} belongs to campaign {sample.campaign!r}, not {name!r}")
    try:
        return JSONResponse(records.decide(sample_id, decision, operator, body.note))
    except StoreError as err:
        code = 422 if "operator" in str(err) else 409
        raise HTTPException(code, str(err)) from err
