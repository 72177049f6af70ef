"""What the dashboard's routers share: the store of the app, JSON without NaN, 404 for an
unknown campaign, and who may do what (operators' tokens, or the shared control token)."""

from __future__ import annotations

import hmac
import math
from typing import Any

from fastapi import HTTPException, Request

from controller.analysis import readmodels as data
from controller.records.operators import Operator, authenticate, has_operators
from controller.records.store import RecordStore
from core import StoreError


def store_of(request: Request) -> RecordStore:
    """The app's record store (a FastAPI dependency)."""
    return request.app.state.store


def reader(request: Request) -> RecordStore:
    """The app's record store for a reading route: with ``--require-login`` and operators in the
    store, reading needs an operator's token (any role, viewer and up)."""
    records = request.app.state.store
    if request.app.state.require_login and has_operators(records):
        _operator(records, request.headers.get("authorization"), "viewer")
    return records


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
        # The store's message names its location (an absolute path): not for the network.
        raise HTTPException(404, f"no campaign {name!r} in this store") from err


def _bearer(authorization: str | None, what: str) -> str:
    if not authorization or not authorization.startswith("Bearer ") or not authorization[len("Bearer "):].strip():
        raise HTTPException(401, f"{what} needs a token: send 'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": "Bearer"})
    return authorization[len("Bearer "):].strip()


def _operator(records: RecordStore, authorization: str | None, role: str) -> Operator:
    token = _bearer(authorization, "this store has operators: every request" if role == "viewer" else "control")
    op = authenticate(records, token)
    if op is None:
        raise HTTPException(401, "unknown token: ask an admin for yours (sdl operators add NAME --role ROLE)",
                            headers={"WWW-Authenticate": "Bearer"})
    if op.revoked is not None:
        raise HTTPException(403, f"the token of operator {op.name!r} was revoked")
    if not op.may(role):
        raise HTTPException(403, f"operator {op.name!r} is a {op.role}: this needs the role {role} or above")
    return op


def authorize(records: RecordStore, name: str, authorization: str | None, role: str = "operator") -> str | None:
    """Check that the request may act on campaign ``name`` with ``role``.

    With operators in the store, the bearer token must be an operator's whose role is
    ``role`` or above; without, it must be the shared control token of the campaign.

    Returns:
        The authenticated operator's name, or None in the shared-token mode (the typed name
        is all there is then).
    """
    if has_operators(records):
        return _operator(records, authorization, role).name
    token = data.control_token(data.campaign_config(records, name))
    if token is None:
        raise HTTPException(403, f"control of campaign {name!r} is disabled: no control token is configured "
                                 f"(set ${data.TOKEN_ENV} for `sdl serve`, or [control] token in the campaign file, "
                                 "or add operators with `sdl operators add`)")
    given = _bearer(authorization, "control")
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise HTTPException(403, "the control token is wrong")
    return None


def acting_operator(authenticated: str | None, typed: str | None) -> str:
    """Who is recorded for a control request or decision: the authenticated operator, never a
    typed name; a typed name that differs from them is refused. In the shared-token mode
    the typed name is required (the store refuses an empty one)."""
    typed = (typed or "").strip()
    if authenticated is None:
        if not typed:
            raise HTTPException(422, "operator: say who asks (a name or initials)")
        return typed
    if typed and typed != authenticated:
        raise HTTPException(403, f"operator {typed!r}: you are authenticated as {authenticated!r}; "
                                 "leave the operator field empty or give your own name")
    return authenticated
