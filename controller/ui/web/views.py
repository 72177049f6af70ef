"""Read-only API: campaigns, samples, progress, devices, explanations and the report."""

from __future__ import annotations

import threading

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse

from controller.analysis import readmodels as data
from controller.records.store import RecordStore
from controller.ui.web.common import clean, known_campaign, reader
from core import StoreError

router = APIRouter(prefix="/api")
_explain_lock = threading.Lock()  # one model fit at a time
_report_lock = threading.Lock()  # one report rendering at a time: ten requests render once


@router.get("/campaigns")
def list_campaigns(records: RecordStore = Depends(reader)) -> JSONResponse:
    return JSONResponse(clean(data.campaigns(records)))


@router.get("/campaigns/{name}")
def campaign(name: str, records: RecordStore = Depends(reader)) -> JSONResponse:
    known_campaign(records, name)
    return JSONResponse(clean(data.summary(records, name)))


@router.get("/campaigns/{name}/samples")
def samples(name: str, fidelity: str | None = None, status: str | None = None,
            records: RecordStore = Depends(reader)) -> JSONResponse:
    known_campaign(records, name)
    return JSONResponse(clean(data.sample_rows(records, name, fidelity=fidelity, status=status)))


@router.get("/campaigns/{name}/progress")
def progress(name: str, records: RecordStore = Depends(reader)) -> JSONResponse:
    known_campaign(records, name)
    return JSONResponse(clean(data.progress_series(records, name)))


@router.get("/campaigns/{name}/goals")
def goals(name: str, records: RecordStore = Depends(reader)) -> JSONResponse:
    """Several objectives / outcome constraints: the measured and predicted front, hypervolume, violations
    (``null`` for a campaign with one objective and no outcome constraints)."""
    known_campaign(records, name)
    return JSONResponse(clean(data.goal_series(records, name)))


@router.get("/campaigns/{name}/devices")
def devices(name: str, records: RecordStore = Depends(reader)) -> JSONResponse:
    known_campaign(records, name)
    return JSONResponse(clean(data.device_states(records, name)))


@router.get("/campaigns/{name}/controls")
def controls(name: str, records: RecordStore = Depends(reader)) -> JSONResponse:
    known_campaign(records, name)
    return JSONResponse(clean(records.controls(name)))


@router.get("/campaigns/{name}/explain")
def explain(name: str, request: Request, records: RecordStore = Depends(reader)) -> JSONResponse:
    """The campaign's explanation, cached (per app) until a new sample is recorded."""
    from controller.analysis.explain import explain_campaign

    known_campaign(records, name)
    cache = request.app.state.explain_cache
    key = (name, len(records.samples(name)))
    with _explain_lock:
        if key not in cache:
            try:
                cache[key] = clean(explain_campaign(records, name))
            except Exception as err:  # noqa: BLE001 - too little data, say so rather than fail the page
                return JSONResponse({"error": f"{type(err).__name__}: {err}"}, status_code=409)
        return JSONResponse(cache[key])


@router.get("/samples/{sample_id}")
def sample(sample_id: str, records: RecordStore = Depends(reader)) -> JSONResponse:
    try:
        return JSONResponse(clean(data.sample_detail(records, sample_id)))
    except StoreError as err:  # its message names the store's location: not for the network
        raise HTTPException(404, f"no sample {sample_id!r} in this store") from err


# The report has its own inline <style> and matplotlib's SVG (style attributes): allow
# inline styles for it alone, and still no script at all.
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'"


@router.get("/campaigns/{name}/report", response_class=HTMLResponse)
def report(name: str, request: Request, records: RecordStore = Depends(reader)) -> HTMLResponse:
    """The HTML report, rendered once per campaign state (a render costs seconds of CPU)."""
    from controller.ui.htmlreport import render_report

    known_campaign(records, name)
    cache = request.app.state.report_cache  # name -> (state, html): only the newest state is kept
    with _report_lock:
        row = records.campaign(name)
        state = (row["status"], row["updated"], records.last_event_id(), len(records.samples(name, include_running=True)))
        hit = cache.get(name)
        if hit is None or hit[0] != state:
            hit = cache[name] = (state, render_report(records, name))
    return HTMLResponse(hit[1], headers={"Content-Security-Policy": REPORT_CSP})
