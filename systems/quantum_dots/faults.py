"""Device faults the quantum-dot line's twins can inject in a dry run (``[[devices.faults]]``).

The same table as the reference line's (``device``, ``kind``, ``probability``,
``after_samples``), for this line's devices. Kinds: ``timeout`` (the action never finishes
by itself), ``fail`` (it finishes with failure), ``disconnect`` (``set``/``trigger`` raise
at once) on any device, and ``nan_reading`` (the spectrum comes back NaN) on the spectrometer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core import ConfigError, FieldIssue

LINE_DEVICES = ("collector", "ambient", "precursor_pump", "oleic_acid_pump", "oleylamine_pump", "solvent_pump",
                "reactor", "spectrometer")
ACTION_KINDS = ("timeout", "fail", "disconnect")
READING_KINDS = {"spectrometer": ("nan_reading",)}
_FIELDS = ("device", "kind", "probability", "after_samples")


def _kinds(device: str) -> tuple[str, ...]:
    return ACTION_KINDS + READING_KINDS.get(device, ())


def _issues(item: Mapping[str, Any], where: str) -> list[FieldIssue]:
    issues = [FieldIssue(f"{where}.{key}", f"unknown field; allowed fields are {', '.join(_FIELDS)}")
              for key in sorted(set(item) - set(_FIELDS))]
    missing = [key for key in ("device", "kind", "probability") if key not in item]
    issues += [FieldIssue(f"{where}.{key}", "missing; every fault needs device, kind and probability") for key in missing]
    if missing:
        return issues
    device, kind, probability = item["device"], item["kind"], item["probability"]
    after = item.get("after_samples")
    if device not in LINE_DEVICES:
        issues.append(FieldIssue(f"{where}.device", f"{device!r} is not a device of the flow line; use one of "
                                                    f"{', '.join(LINE_DEVICES)}"))
    elif kind not in _kinds(device):
        issues.append(FieldIssue(f"{where}.kind", f"{kind!r} is not a fault {device} can have; use one of "
                                                  f"{', '.join(_kinds(device))}"))
    if isinstance(probability, bool) or not isinstance(probability, (int, float)) or math.isnan(probability) \
            or not 0.0 <= probability <= 1.0:
        issues.append(FieldIssue(f"{where}.probability", f"{probability!r} must be a number from 0 to 1 (chance per action)"))
    if after is not None and (isinstance(after, bool) or not isinstance(after, int) or after < 0):
        issues.append(FieldIssue(f"{where}.after_samples", f"{after!r} must be a whole number >= 0"))
    return issues


@dataclass(frozen=True)
class FlowFault:
    """One fault the twins inject, drawn per action of ``device`` from a seeded stream.

    Raises:
        ConfigError: on construction, naming ``devices.faults[<index>].<field>``.
    """

    device: str
    kind: str
    probability: float
    after_samples: int | None = None
    index: int = field(default=0, compare=False, repr=False, kw_only=True)

    def __post_init__(self) -> None:
        issues = _issues({"device": self.device, "kind": self.kind, "probability": self.probability,
                          **({"after_samples": self.after_samples} if self.after_samples is not None else {})},
                         f"devices.faults[{self.index}]")
        if issues:
            raise ConfigError(issues)
        object.__setattr__(self, "probability", float(self.probability))


def fault_specs_from_config(items: Sequence[Mapping[str, Any]] | None) -> tuple[FlowFault, ...]:
    """Validate ``[[devices.faults]]`` into :class:`FlowFault` s (every problem at once)."""
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
        found = _issues(item, where)
        issues += found
        if not found:
            specs.append(FlowFault(item["device"], item["kind"], item["probability"], item.get("after_samples"), index=i))
    if issues:
        raise ConfigError(issues)
    return tuple(specs)
