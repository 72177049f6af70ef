"""Device faults: what a line's simulated twins can be told to do wrong, the kinds worth
retrying, and how to find a fault again.

:class:`FaultSpec` is one line of a campaign file's ``[[devices.faults]]`` table. Which
devices, kinds and readings a line's twins can fault is the line's own: a system declares it
once as :class:`FaultRules` (its device names, the kinds its twins inject, the readings a
reading fault may corrupt), and :meth:`FaultRules.from_config` validates a whole list against
it. The specs only matter to simulated twins (:class:`devices.sim.FaultInjector`); on hardware,
faults come by themselves. Whatever their origin, a plan raises them as :class:`core.DeviceFault`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from core import DEVICE_FAULT_KINDS, ConfigError, DeviceFault, FieldIssue

#: Kinds a twin can inject (the watchdog is the plan's, not the device's).
INJECTABLE_KINDS = tuple(kind for kind in DEVICE_FAULT_KINDS if kind != "watchdog")
#: Kinds that corrupt a reading; they take a ``signal``.
READING_KINDS = ("nan_reading", "out_of_range", "stuck")
#: Kinds that make an action misbehave, whatever the device reads.
ACTION_KINDS = tuple(kind for kind in INJECTABLE_KINDS if kind not in READING_KINDS)
#: Kinds a controller may retry by default: the device (or link) misbehaved once and a new
#: sample has a fair chance. ``out_of_range`` (a reading no healthy device gives: check the
#: hardware) and ``stuck`` (a sensor that stays stuck) are not retried by default.
DEFAULT_RETRYABLE_KINDS = ("timeout", "fail", "disconnect", "watchdog", "nan_reading")
#: The fields of one ``[[devices.faults]]`` table.
FIELDS = ("device", "kind", "probability", "after_samples", "signal")
_REQUIRED = ("device", "kind", "probability")


def _value_issues(kind: Any, probability: Any, after_samples: Any, signal: Any, where: str,
                  kinds: Sequence[str]) -> list[FieldIssue]:
    """The problems of a fault's fields that need no knowledge of the line."""
    issues = []
    if kind not in kinds:
        issues.append(FieldIssue(f"{where}.kind", f"{kind!r} is not a fault kind; use one of {', '.join(kinds)}"))
    if isinstance(probability, bool) or not isinstance(probability, (int, float)) or math.isnan(probability) \
            or not 0.0 <= probability <= 1.0:
        issues.append(FieldIssue(f"{where}.probability", f"{probability!r} must be a number from 0 to 1 (chance per action of the device)"))
    if after_samples is not None and (isinstance(after_samples, bool) or not isinstance(after_samples, int) or after_samples < 0):
        issues.append(FieldIssue(f"{where}.after_samples", f"{after_samples!r} must be a whole number >= 0 (first sample index the fault may strike)"))
    if signal is not None and not isinstance(signal, str):
        issues.append(FieldIssue(f"{where}.signal", f"{signal!r} must be the name of a reading"))
    elif signal is not None and kind in kinds and kind not in READING_KINDS:
        issues.append(FieldIssue(f"{where}.signal", f"{signal!r} given, but only {', '.join(READING_KINDS)} faults take a signal; remove it"))
    return issues


@dataclass(frozen=True)
class FaultSpec:
    """One fault the simulated twins inject, drawn per action of ``device`` from a seeded stream.

    Build one with :meth:`FaultRules.spec` (or ``from_config``), which checks it against the
    line and fills in the default ``signal``; constructing it directly checks only what needs
    no line.

    Attributes:
        device: the device (its line attribute name).
        kind: one of :data:`INJECTABLE_KINDS`: ``timeout`` (the action never finishes by itself),
            ``fail`` (its status finishes with failure), ``disconnect`` (set/trigger raise at once),
            ``nan_reading`` / ``out_of_range`` / ``stuck`` (``signal`` comes back NaN, physically
            impossible, or as the sensor's previous value).
        probability: chance per action of the device (0-1).
        after_samples: the fault can strike only from the sample with this index on (0-based,
            counted from the tracker's assignments); None or 0 for from the start.
        signal: the reading a reading fault corrupts.
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
        issues = _value_issues(self.kind, self.probability, self.after_samples, self.signal,
                               f"devices.faults[{self.index}]", INJECTABLE_KINDS)
        if not isinstance(self.device, str) or not self.device:
            issues.insert(0, FieldIssue(f"devices.faults[{self.index}].device", f"{self.device!r} must be a device's name"))
        if issues:
            raise ConfigError(issues)
        object.__setattr__(self, "probability", float(self.probability))

    def as_dict(self) -> dict[str, Any]:
        """The spec as a campaign-file table (``FaultRules.from_config`` reads it back)."""
        out: dict[str, Any] = {"device": self.device, "kind": self.kind, "probability": self.probability}
        if self.after_samples is not None:
            out["after_samples"] = self.after_samples
        if self.signal is not None:
            out["signal"] = self.signal
        return out


@dataclass(frozen=True)
class FaultRules:
    """Which faults one line's twins can inject.

    Attributes:
        devices: the line's devices, by their attribute (and ophyd) names.
        kinds: the kinds its twins inject (a subset of :data:`INJECTABLE_KINDS`).
        readings: device -> the readings a reading fault may corrupt; the first is the default
            ``signal``. A device without any takes no reading fault.
        stuck: device -> the readings a ``stuck`` fault may hold (noisy ones: a quiet reading's
            exact repeat is normal and could not be told from a stuck sensor); None for ``readings``.
        line: what the line is called in messages (``"the line"``, ``"the flow line"``).
    """

    devices: tuple[str, ...]
    kinds: tuple[str, ...] = INJECTABLE_KINDS
    readings: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    stuck: Mapping[str, tuple[str, ...]] | None = None
    line: str = "the line"

    def __post_init__(self) -> None:
        unknown = [kind for kind in self.kinds if kind not in INJECTABLE_KINDS]
        if unknown:
            raise ValueError(f"fault kinds {unknown} cannot be injected; use some of {INJECTABLE_KINDS}")
        strays = sorted(set(self.readings) - set(self.devices))
        if strays:
            raise ValueError(f"readings given for {strays}, which are not devices of {self.line}")
        object.__setattr__(self, "devices", tuple(self.devices))
        object.__setattr__(self, "kinds", tuple(self.kinds))
        object.__setattr__(self, "readings", MappingProxyType({d: tuple(s) for d, s in self.readings.items()}))
        if self.stuck is not None:
            object.__setattr__(self, "stuck", MappingProxyType({d: tuple(s) for d, s in self.stuck.items()}))

    @classmethod
    def for_readings(cls, devices: Sequence[str], checks: Any, kinds: Sequence[str] = INJECTABLE_KINDS,
                     line: str = "the line") -> FaultRules:
        """The rules of a line whose plan checks its readings with ``checks``
        (:class:`devices.readings.ReadingChecks`): a reading fault may corrupt any checked
        reading, a ``stuck`` fault only a noisy one."""
        readings = {device: checks.readings_of(device) for device in devices if checks.readings_of(device)}
        stuck = {device: tuple(s for s in signals if checks.stuck_detectable(s)) for device, signals in readings.items()}
        return cls(tuple(devices), tuple(kinds), readings, stuck, line)

    def signals(self, device: str, kind: str) -> tuple[str, ...]:
        """Readings of ``device`` that a fault of ``kind`` may corrupt (the first is the default)."""
        if kind not in READING_KINDS:
            return ()
        table = self.stuck if kind == "stuck" and self.stuck is not None else self.readings
        return tuple(table.get(device, ()))

    def kinds_of(self, device: str) -> tuple[str, ...]:
        """The kinds a fault of ``device`` may have."""
        return tuple(kind for kind in self.kinds if kind not in READING_KINDS or self.signals(device, kind))

    def issues(self, device: Any, kind: Any, probability: Any, after_samples: Any = None, signal: Any = None,
               where: str = "devices.faults[0]") -> list[FieldIssue]:
        """Every problem of one fault on this line, each naming ``<where>.<field>``."""
        issues = []
        if device not in self.devices:
            issues.append(FieldIssue(f"{where}.device", f"{device!r} is not a device of {self.line}; "
                                                        f"use one of {', '.join(self.devices)}"))
        issues += _value_issues(kind, probability, after_samples, signal, where, self.kinds)
        if device in self.devices and kind in self.kinds:
            allowed = self.signals(device, kind)
            if kind not in self.kinds_of(device):
                issues.append(FieldIssue(f"{where}.kind", f"{device} has no reading that {kind!r} can corrupt; "
                                                          f"use one of {', '.join(self.kinds_of(device))}"))
            elif isinstance(signal, str) and kind in READING_KINDS and signal not in allowed:
                issues.append(FieldIssue(f"{where}.signal", f"{signal!r} is not a reading of {device} that {kind!r} "
                                                            f"can corrupt; use one of {', '.join(allowed)}"))
        return issues

    def spec(self, device: str, kind: str, probability: float, after_samples: int | None = None,
             signal: str | None = None, *, index: int = 0) -> FaultSpec:
        """One checked :class:`FaultSpec`; a reading fault without ``signal`` corrupts the
        device's first reading.

        Raises:
            ConfigError: every problem at once, each naming ``devices.faults[<index>].<field>``.
        """
        issues = self.issues(device, kind, probability, after_samples, signal, f"devices.faults[{index}]")
        if issues:
            raise ConfigError(issues)
        if kind in READING_KINDS and signal is None:
            signal = self.signals(device, kind)[0]
        return FaultSpec(device, kind, probability, after_samples, signal, index=index)

    def from_config(self, items: Sequence[Mapping[str, Any]] | None) -> tuple[FaultSpec, ...]:
        """Validate a campaign file's ``devices.faults`` list (of tables) into :class:`FaultSpec` s.

        Raises:
            ConfigError: every problem of every entry at once, each naming ``devices.faults[<i>].<field>``.
        """
        if items is None:
            return ()
        if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
            raise ConfigError(FieldIssue("devices.faults", f"expected a list of tables ([[devices.faults]]), "
                                                           f"got {type(items).__name__}"))
        issues: list[FieldIssue] = []
        specs = []
        for i, item in enumerate(items):
            where = f"devices.faults[{i}]"
            if not isinstance(item, Mapping):
                issues.append(FieldIssue(where, f"expected a table with {', '.join(FIELDS)}, got {item!r}"))
                continue
            unknown = sorted(set(item) - set(FIELDS))
            issues += [FieldIssue(f"{where}.{key}", f"unknown field; allowed fields are {', '.join(FIELDS)}") for key in unknown]
            missing = [key for key in _REQUIRED if key not in item]
            issues += [FieldIssue(f"{where}.{key}", "missing; every fault needs device, kind and probability") for key in missing]
            if missing:
                continue
            found = self.issues(item["device"], item["kind"], item["probability"], item.get("after_samples"),
                                item.get("signal"), where)
            issues += found
            if not found and not unknown:
                specs.append(self.spec(item["device"], item["kind"], item["probability"], item.get("after_samples"),
                                       item.get("signal"), index=i))
        if issues:
            raise ConfigError(issues)
        return tuple(specs)


def fault_specs_from_config(items: Sequence[Mapping[str, Any]] | None, rules: FaultRules) -> tuple[FaultSpec, ...]:
    """Validate a campaign file's ``devices.faults`` list against a line's ``rules`` (see :meth:`FaultRules.from_config`)."""
    return rules.from_config(items)


def fault_from_exception(exc: BaseException | None) -> DeviceFault | None:
    """The first :class:`core.DeviceFault` in ``exc`` or its ``__cause__``/``__context__`` chain, or None.

    A RunEngine raises a plan's DeviceFault itself; this also finds it when the caller wrapped
    it in an exception of its own.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, DeviceFault):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


__all__ = ["ACTION_KINDS", "DEFAULT_RETRYABLE_KINDS", "FIELDS", "INJECTABLE_KINDS", "READING_KINDS", "FaultRules",
           "FaultSpec", "fault_from_exception", "fault_specs_from_config"]
