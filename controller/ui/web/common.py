"""What the dashboard's routers share: the store of the app, JSON without NaN, 404 for an
unknown campaign, and the control token check."""

from __future__ import annotations

import hmac
import math
from typing import Any

from fastapi import HTTPException, Request

from controller.analysis import readmodels as data
from controller.records.store import RecordStore
from core import StoreError


def store_of(request: Request) -> RecordStore:
    """The app's record store (a FastAPI dependency)."""
    return request.app.state.store


def clean(obj: Any) -> Any:
    """JSON has no NaN: non-finite numbers become null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    return obj


def known_campaign(records: RecordStore, name: str) -> None:
    try:
        records.campaign(name)
    except StoreError as err:
        raise HTTPException(404, str(err)) from err


def authorize(records: RecordStore, name: str, authorization: str | None) -> None:
    """Control needs the campaign's control token as ``Authorization: Bearer <token>``."""
    token = data.control_token(data.campaign_config(records, name))
    if token is None:
        raise HTTPException(403, f"control of campaign {name!r} is disabled: no control token is configured "
                                 f"(set ${data.TOKEN_ENV} for `sdl serve`, or [control] token in the campaign file)")
    if not authorization or not authorization.startswith("Bearer "):
        raise HTTPException(401, "control needs the control token: send 'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(authorization[len("Bearer "):].encode(), token.encode()):
        raise HTTPException(403, "the control token is wrong")
