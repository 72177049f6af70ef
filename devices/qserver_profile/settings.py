"""A simulated line's settings as plain JSON, so a campaign's line can be rebuilt in another process.

The controller (``controller.execution.queueserver``) sends these to the RE Manager's worker; the
startup module (:mod:`devices.qserver_profile.startup`) builds the line from them through the
material system the record names (loaded by reference with :func:`core.system.load_system`, as
a campaign file names it). The record is what a campaign file says about the twins::

    {"system": "mylab_film", "seed": 7, "speedup": 3000.0,
     "limits": {"furnace.temperature": [{"value": 60.0, "unit": "degC"}, {"value": 160.0, "unit": "degC"}]},
     "faults": [{"device": "furnace", "kind": "timeout", "probability": 0.1}]}

``system`` is None in a profile nobody configured yet: it has no line, and no limits or faults.
Its :func:`settings_key` (a hash of the canonical JSON) names one configuration, so a
plan can refuse to run on a line configured for another campaign.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import pint

from core import ConfigError, FieldIssue, quantity_from_record, quantity_to_record
from core.system import MaterialSystem, load_system

SETTINGS_FIELDS = ("system", "seed", "speedup", "limits", "faults")
#: What the profile starts with when nothing was configured: no system, hence no line.
DEFAULT_SETTINGS: dict[str, Any] = {"system": None, "seed": 0, "speedup": 2000.0, "limits": {}, "faults": []}


def fault_record(spec: Any) -> dict[str, Any]:
    """One fault spec as its campaign-file table (``as_dict()`` where it has one, else its dataclass fields)."""
    if hasattr(spec, "as_dict"):
        return dict(spec.as_dict())
    if dataclasses.is_dataclass(spec) and not isinstance(spec, type):
        return {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)
                if f.compare and getattr(spec, f.name) is not None}
    if isinstance(spec, Mapping):
        return dict(spec)
    raise TypeError(f"fault spec {spec!r} has no as_dict() and is not a dataclass; the line settings cannot carry it")


def line_settings_record(system: str | None, seed: int, speedup: float,
                         limits: Mapping[str, tuple[pint.Quantity, pint.Quantity]] | None = None,
                         faults: Iterable[Any] = ()) -> dict[str, Any]:
    """The JSON record of a simulated line (see the module docstring).

    Args:
        system: the material system as a campaign file names it (entry point or ``module:attribute``).
        seed: seeds the twins (lots, noise, ambient, fault streams).
        speedup: simulated seconds per wall second (> 0).
        limits: setpoint path -> (low, high) quantities narrowing the line's default limits.
        faults: the fault specs the twins inject (as the system's ``fault_specs`` returns them).
    """
    return {
        "system": system,
        "seed": int(seed),
        "speedup": float(speedup),
        "limits": {path: [quantity_to_record(low), quantity_to_record(high)]
                   for path, (low, high) in sorted((limits or {}).items())},
        "faults": [fault_record(spec) for spec in faults],
    }


def _system(reference: Any, issues: list[FieldIssue]) -> MaterialSystem | None:
    if reference is None:
        return None
    if not isinstance(reference, str) or not reference:
        issues.append(FieldIssue("line_settings.system", f"{reference!r} must be a material system's name or "
                                                         "module:attribute reference"))
        return None
    try:
        system = load_system(reference, "line_settings.system")
    except ConfigError as err:
        issues.extend(err.issues)
        return None
    if system.robot is None:
        issues.append(FieldIssue("line_settings.system", f"material system {reference!r} has no robot line"))
        return None
    return system


def validate_settings(record: Any) -> dict[str, Any]:
    """Check a settings record and return it with every field present.

    Raises:
        ConfigError: every problem at once, each naming ``line_settings.<field>``.
    """
    if not isinstance(record, Mapping):
        raise ConfigError(FieldIssue("line_settings", f"must be a JSON object with {', '.join(SETTINGS_FIELDS)}, "
                                                      f"got {type(record).__name__}"))
    issues = [FieldIssue(f"line_settings.{key}", f"unknown field; allowed: {', '.join(SETTINGS_FIELDS)}")
              for key in sorted(set(record) - set(SETTINGS_FIELDS))]
    out = {**DEFAULT_SETTINGS, **record}
    seed, speedup = out["seed"], out["speedup"]
    if isinstance(seed, bool) or not isinstance(seed, int):
        issues.append(FieldIssue("line_settings.seed", f"{seed!r} must be a whole number"))
    if isinstance(speedup, bool) or not isinstance(speedup, (int, float)) or not math.isfinite(speedup) or speedup <= 0:
        issues.append(FieldIssue("line_settings.speedup", f"{speedup!r} must be a number > 0 (simulated seconds per wall second)"))
    system = _system(out["system"], issues)
    limits = out["limits"]
    if not isinstance(limits, Mapping):
        issues.append(FieldIssue("line_settings.limits", 'must be an object {"device.setpoint": [low, high]}'))
    elif limits and out["system"] is None:
        issues.append(FieldIssue("line_settings.limits", "limits need the material system whose line they narrow; "
                                                         "give line_settings.system"))
    elif system is not None:
        known = system.robot.default_limits.ranges
        for path, pair in limits.items():
            if path not in known:
                issues.append(FieldIssue(f"line_settings.limits.{path}",
                                         f"unknown setpoint; use one of {', '.join(sorted(known))}"))
            elif not (isinstance(pair, (list, tuple)) and len(pair) == 2
                      and all(isinstance(quantity_from_record(q), pint.Quantity) for q in pair)):
                issues.append(FieldIssue(f"line_settings.limits.{path}",
                                         f'{pair!r} must be [low, high], each {{"value": ..., "unit": ...}}'))
    if out["faults"] and out["system"] is None:
        issues.append(FieldIssue("line_settings.faults", "faults need the material system whose twins inject them; "
                                                         "give line_settings.system"))
    elif system is not None:
        try:
            system.robot.fault_specs(list(out["faults"] or []))
        except ConfigError as err:
            issues += [FieldIssue(f"line_settings.{issue.field.removeprefix('devices.')}", issue.message)
                       for issue in err.issues]
    if issues:
        raise ConfigError(issues, source="line settings")
    return dict(out)


def settings_key(record: Mapping[str, Any]) -> str:
    """A short hash naming one configuration (canonical JSON, so key order does not matter)."""
    text = json.dumps(validate_settings(record), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def line_from_settings(record: Mapping[str, Any]) -> Any:
    """A fresh simulated line built from a settings record by its material system's robot line.

    Raises:
        ConfigError: the record is invalid (see :func:`validate_settings`) or names no system.
    """
    settings = validate_settings(record)
    if settings["system"] is None:
        raise ConfigError(FieldIssue("line_settings.system", "names no material system, so there is no line to "
                                                             "build; give the campaign's system"))
    robot = load_system(settings["system"], "line_settings.system").robot
    limits = {path: (quantity_from_record(low), quantity_from_record(high))
              for path, (low, high) in settings["limits"].items()}
    return robot.make_line(seed=settings["seed"], speedup=float(settings["speedup"]),
                           limits=robot.default_limits.with_ranges(limits) if limits else robot.default_limits,
                           faults=robot.fault_specs(list(settings["faults"])), settings=None)
