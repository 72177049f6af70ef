"""The simulated line's settings as plain JSON, so a campaign's line can be rebuilt in another process.

The controller (``controller.execution.queueserver``) sends these to the RE Manager's worker; the
startup module (:mod:`devices.qserver_profile.startup`) builds the line from them. The
record is what a campaign file's ``[devices]`` table says about the twins::

    {"seed": 7, "speedup": 3000.0,
     "limits": {"oven.temperature": [{"value": 60.0, "unit": "degC"}, {"value": 160.0, "unit": "degC"}]},
     "faults": [{"device": "oven", "kind": "timeout", "probability": 0.1}]}

Its :func:`settings_key` (a hash of the canonical JSON) names one configuration, so a
plan can refuse to run on a line configured for another campaign.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import pint

from core import ConfigError, FieldIssue, quantity_from_record, quantity_to_record
from devices.faults import FaultSpec, fault_specs_from_config
from devices.limits import DEFAULT_LIMITS
from devices.line import SynthesisLine

SETTINGS_FIELDS = ("seed", "speedup", "limits", "faults")
#: What the line is built with when nothing was configured: the campaign defaults.
DEFAULT_SETTINGS: dict[str, Any] = {"seed": 0, "speedup": 2000.0, "limits": {}, "faults": []}


def line_settings_record(seed: int, speedup: float, limits: Mapping[str, tuple[pint.Quantity, pint.Quantity]] | None = None,
                         faults: Iterable[FaultSpec] = ()) -> dict[str, Any]:
    """The JSON record of a simulated line (see the module docstring).

    Args:
        seed: seeds the twins (lots, noise, ambient, fault streams).
        speedup: simulated seconds per wall second (> 0).
        limits: setpoint path -> (low, high) quantities narrowing the default limits.
        faults: the faults the twins inject.
    """
    return {
        "seed": int(seed),
        "speedup": float(speedup),
        "limits": {path: [quantity_to_record(low), quantity_to_record(high)]
                   for path, (low, high) in sorted((limits or {}).items())},
        "faults": [spec.as_dict() for spec in faults],
    }


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
    limits = out["limits"]
    if not isinstance(limits, Mapping):
        issues.append(FieldIssue("line_settings.limits", 'must be an object {"device.setpoint": [low, high]}'))
    else:
        for path, pair in limits.items():
            if path not in DEFAULT_LIMITS.ranges:
                issues.append(FieldIssue(f"line_settings.limits.{path}",
                                         f"unknown setpoint; use one of {', '.join(sorted(DEFAULT_LIMITS.ranges))}"))
            elif not (isinstance(pair, (list, tuple)) and len(pair) == 2
                      and all(isinstance(quantity_from_record(q), pint.Quantity) for q in pair)):
                issues.append(FieldIssue(f"line_settings.limits.{path}",
                                         f'{pair!r} must be [low, high], each {{"value": ..., "unit": ...}}'))
    try:
        fault_specs_from_config(out["faults"])
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


def line_from_settings(record: Mapping[str, Any]) -> SynthesisLine:
    """A fresh simulated line built from a settings record.

    Raises:
        ConfigError: the record is invalid (see :func:`validate_settings`).
    """
    from devices import make_sim_line

    settings = validate_settings(record)
    limits = {path: (quantity_from_record(low), quantity_from_record(high))
              for path, (low, high) in settings["limits"].items()}
    return make_sim_line(
        seed=settings["seed"],
        speedup=float(settings["speedup"]),
        limits=DEFAULT_LIMITS.with_ranges(limits) if limits else DEFAULT_LIMITS,
        faults=fault_specs_from_config(settings["faults"]),
    )
