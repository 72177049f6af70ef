"""``[control]``: the approval gate and the control token."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from core import (
    ConfigError,
    FieldIssue,
    Fidelity,
)


@dataclass(frozen=True)
class ControlSettings:
    """What the operator must decide, and how control requests are authorized.

    Attributes:
        approval: fidelities whose runs wait at the approval gate until an operator
            approves or rejects them (e.g. ``["robot"]``); empty = fully autonomous. Defaults to
            the robot fidelities when ``[devices] dry_run = false``, else to none.
        token: the control token for `sdl serve` (pause/resume/stop/approve). Prefer
            ``$SDL_CONTROL_TOKEN``, which overrides it and keeps it out of the store.
    """

    approval: tuple[str, ...] = ()
    token: str | None = field(default=None, repr=False)

    def needs_approval(self, fidelity: str) -> bool:
        return fidelity in self.approval


#: A shared control token shorter than this is refused: guessable over a lab network.
MIN_TOKEN_CHARS = 16


def parse_control(raw: Any, fidelities: list[Fidelity] | None, devices: Any = None) -> ControlSettings:
    """``[control]``; ``devices`` (the parsed ``[devices]``) makes a real campaign's robot runs wait for
    approval unless the file sets ``approval`` itself (``approval = []`` for none)."""
    if not isinstance(raw, dict):
        raise ConfigError(FieldIssue("control", "must be a table, e.g. [control] approval = [\"robot\"]"))
    issues = [FieldIssue(f"control.{k}", "unknown field; allowed: approval, token") for k in sorted(set(raw) - {"approval", "token"})]
    real = devices is not None and getattr(devices, "dry_run", True) is False
    approval = raw.get("approval", [f.name for f in fidelities or () if f.kind == "robot"] if real else [])
    names = [f.name for f in fidelities or ()]
    if not isinstance(approval, list) or not all(isinstance(a, str) for a in approval):
        issues.append(FieldIssue("control.approval", f"{approval!r} must be a list of fidelity names; allowed: {names}"))
        approval = []
    elif fidelities:
        issues += [FieldIssue("control.approval", f"unknown fidelity {a!r}; allowed: {names}") for a in approval if a not in names]
    token = raw.get("token")
    if token is not None and (not isinstance(token, str) or len(token) < MIN_TOKEN_CHARS):
        issues.append(FieldIssue("control.token", f"must be a string of at least {MIN_TOKEN_CHARS} characters "
                                                  "(or set $SDL_CONTROL_TOKEN instead)"))
    if issues:
        raise ConfigError(issues)
    return ControlSettings(approval=tuple(approval), token=token)
