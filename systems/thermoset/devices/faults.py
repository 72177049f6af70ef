"""Device faults of the thermoset line: what its simulated twins can be told to do wrong.

:class:`FaultSpec` is one line of a campaign file's ``[[devices.faults]]`` table
(``fault_specs_from_config`` validates a whole list). The specs only matter to the
simulated twins (:func:`systems.thermoset.devices.make_sim_line`); on hardware, faults come by themselves.
Whatever their origin, the plan raises them as :class:`core.DeviceFault`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core import ConfigError, FieldIssue
from devices.faults import INJECTABLE_KINDS, READING_KINDS
from systems.thermoset.devices.readings import DEVICE_READINGS, stuck_detectable

#: Devices of the line, by their attribute (and ophyd) names.
LINE_DEVICES = ("resin_dispenser", "hardener_dispenser", "additive_dispenser", "mixer", "oven", "characterizer",
                "tracker", "ambient")
_FIELDS = ("device", "kind", "probability", "after_samples", "signal")


def allowed_signals(device: str, kind: str) -> tuple[str, ...]:
    """Readings of ``device`` that a fault of ``kind`` may corrupt (the first is the default)."""
    readings = DEVICE_READINGS.get(device, ())
    if kind == "stuck":
        return tuple(signal for signal in readings if stuck_detectable(signal))
    return tuple(readings) if kind in READING_KINDS else ()


def _issues(device: Any, kind: Any, probability: Any, after_samples: Any, signal: Any, where: str) -> list[FieldIssue]:
    issues = []
    if device not in LINE_DEVICES:
        issues.append(FieldIssue(f"{where}.device", f"{device!r} is not a device of the line; use one of {', '.join(LINE_DEVICES)}"))
    if kind not in INJECTABLE_KINDS:
        issues.append(FieldIssue(f"{where}.kind", f"{kind!r} is not a fault kind; use one of {', '.join(INJECTABLE_KINDS)}"))
    if isinstance(probability, bool) or not isinstance(probability, (int, float)) or not 0.0 <= probability <= 1.0 \
            or math.isnan(probability):
        issues.append(FieldIssue(f"{where}.probability", f"{probability!r} must be a number from 0 to 1 (chance per action of the device)"))
    if after_samples is not None and (isinstance(after_samples, bool) or not isinstance(after_samples, int) or after_samples < 0):
        issues.append(FieldIssue(f"{where}.after_samples", f"{after_samples!r} must be a whole number >= 0 (first sample index the fault may strike)"))
    if device in LINE_DEVICES and kind in INJECTABLE_KINDS:
        allowed = allowed_signals(device, kind)
        if kind in READING_KINDS and not allowed:
            kinds = [k for k in INJECTABLE_KINDS if k not in READING_KINDS or allowed_signals(device, k)]
            issues.append(FieldIssue(f"{where}.kind", f"{device} has no reading that {kind!r} can corrupt; "
                                     f"use one of {', '.join(kinds)}"))
        elif signal is not None and kind not in READING_KINDS:
            issues.append(FieldIssue(f"{where}.signal", f"{signal!r} given, but only {', '.join(READING_KINDS)} faults take a signal; remove it"))
        elif signal is not None and signal not in allowed:
            issues.append(FieldIssue(f"{where}.signal", f"{signal!r} is not a reading of {device} that {kind!r} can corrupt; "
                                     f"use one of {', '.join(allowed)}"))
    elif signal is not None and not isinstance(signal, str):
        issues.append(FieldIssue(f"{where}.signal", f"{signal!r} must be the name of a reading"))
    return issues


@dataclass(frozen=True)
class FaultSpec:
    """One fault the simulated twins inject, drawn per action of ``device`` from a seeded stream.

    Attributes:
        device: the device, one of :data:`LINE_DEVICES`.
        kind: one of :data:`INJECTABLE_KINDS`: ``timeout`` (the action never finishes by itself),
            ``fail`` (its status finishes with failure), ``disconnect`` (set/trigger raise at once),
            ``nan_reading`` / ``out_of_range`` / ``stuck`` (``signal`` comes back NaN, physically
            impossible, or as the sensor's previous value).
        probability: chance per action of the device (0-1). The tracker acts twice per sample
            (assign, locate), the ambient sensor six times, the others once.
        after_samples: the fault can strike only from the sample with this index on (0-based,
            counted from the tracker's assignments); None or 0 for from the start.
        signal: the reading a reading fault corrupts; None for the device's main one
            (``dispensed_mass``, ``mean_speed``, ``mean_hold_temperature``,
            ``glass_transition_temperature``, ``room_temperature``).
        index: position in the campaign file's ``devices.faults`` list; only names the field in errors.

    Raises:
        ConfigError: on construction, naming ``devices.faults[<index>].<field>`` and what is allowed.
    """

    device: str
    kind: str
    probability: float
    after_samples: int | None = None
    signal: str | None = None
    index: int = field(default=0, compare=False, repr=False, kw_only=True)

    def __post_init__(self) -> None:
        issues = _issues(self.device, self.kind, self.probability, self.after_samples, self.signal,
                         f"devices.faults[{self.index}]")
        if issues:
            raise ConfigError(issues)
        object.__setattr__(self, "probability", float(self.probability))
        if self.kind in READING_KINDS and self.signal is None:
            object.__setattr__(self, "signal", allowed_signals(self.device, self.kind)[0])

    def as_dict(self) -> dict[str, Any]:
        """The spec as a campaign-file table (``fault_specs_from_config`` reads it back)."""
        out: dict[str, Any] = {"device": self.device, "kind": self.kind, "probability": self.probability}
        if self.after_samples is not None:
            out["after_samples"] = self.after_samples
        if self.signal is not None:
            out["signal"] = self.signal
        return out


def fault_specs_from_config(items: Sequence[Mapping[str, Any]] | None) -> tuple[FaultSpec, ...]:
    """Validate the campaign file's ``devices.faults`` list (of tables) into :class:`FaultSpec` s.

    Raises:
        ConfigError: every problem of every entry at once, each naming ``devices.faults[<i>].<field>``.
    """
    if items is None:
        return ()
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise ConfigError(FieldIssue("devices.faults", f"expected a list of tables ([[devices.faults]]), got {type(items).__name__}"))
    issues: list[FieldIssue] = []
    specs = []
    for i, item in enumerate(items):
        where = f"devices.faults[{i}]"
        if not isinstance(item, Mapping):
            issues.append(FieldIssue(where, f"expected a table with {', '.join(_FIELDS)}, got {item!r}"))
            continue
        unknown = sorted(set(item) - set(_FIELDS))
        issues.extend(FieldIssue(f"{where}.{key}", f"unknown field; allowed fields are {', '.join(_FIELDS)}") for key in unknown)
        missing = [key for key in ("device", "kind", "probability") if key not in item]
        issues.extend(FieldIssue(f"{where}.{key}", "missing; every fault needs device, kind and probability") for key in missing)
        if missing:
            continue
        found = _issues(item["device"], item["kind"], item["probability"], item.get("after_samples"), item.get("signal"), where)
        issues.extend(found)
        if not found and not unknown:
            specs.append(FaultSpec(item["device"], item["kind"], item["probability"], item.get("after_samples"),
                                   item.get("signal"), index=i))
    if issues:
        raise ConfigError(issues)
    return tuple(specs)


