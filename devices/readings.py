"""Plausibility checks of a line's readings: NaN, physically impossible, stuck.

A line declares, for every numeric reading its plan validates, a physical range (in its
signal's unit) and whether it is noisy (:class:`ReadingRange`), and which readings each of
its devices has (:class:`ReadingChecks`). A noisy reading never repeats exactly, so the
same float as the sensor's previous reading means the sensor is stuck.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from core import DeviceFault


@dataclass(frozen=True)
class ReadingRange:
    """Physically possible values of one reading.

    Attributes:
        low, high: bounds (inclusive) in ``unit``; a value outside is impossible, not merely bad.
        unit: the unit of the signal (as in its data key).
        noisy: the reading carries measurement noise, so an exact repeat means a stuck sensor.
    """

    low: float
    high: float
    unit: str
    noisy: bool


@dataclass(frozen=True)
class ReadingChecks:
    """The readings of one line that its plan checks before an event is saved.

    Attributes:
        ranges: signal attribute name -> its :class:`ReadingRange`. The same attribute means
            the same quantity on every device of the line.
        devices: device (line attribute name) -> its checked numeric readings; the first is the
            default ``signal`` of a reading fault on that device (:class:`devices.faults.FaultRules`).
    """

    ranges: Mapping[str, ReadingRange] = field(default_factory=dict)
    devices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted({signal for signals in self.devices.values() for signal in signals} - set(self.ranges))
        if unknown:
            raise ValueError(f"readings {unknown} of the devices have no ReadingRange; add them to ranges")
        object.__setattr__(self, "ranges", MappingProxyType(dict(self.ranges)))
        object.__setattr__(self, "devices", MappingProxyType({d: tuple(s) for d, s in self.devices.items()}))

    def readings_of(self, device: str) -> tuple[str, ...]:
        """The checked readings of ``device`` (empty for a device the line does not check)."""
        return self.devices.get(device, ())

    def stuck_detectable(self, signal: str) -> bool:
        """Whether a stuck ``signal`` can be told from a good one (it is noisy)."""
        reading = self.ranges.get(signal)
        return reading is not None and reading.noisy

    def fault(self, device: str, values: Mapping[str, float], previous: Mapping[str, float] | None = None,
              step: str | None = None) -> DeviceFault | None:
        """The first implausible reading of ``device`` as a fault, or None when all are plausible.

        Args:
            device: the device's name.
            values: signal attribute -> value in the signal's unit (others are ignored).
            previous: signal attribute -> the sensor's previous value; a noisy reading equal to
                it (and not exactly 0, the value of an idle or tared sensor) is ``stuck``.
            step: the plan step, put in the fault.

        Returns:
            A :class:`core.DeviceFault` of kind ``nan_reading``, ``out_of_range`` or ``stuck``.
        """
        previous = previous or {}
        for signal in self.readings_of(device):
            if signal not in values:
                continue
            value, spec = values[signal], self.ranges[signal]
            unit = f" {spec.unit}" if spec.unit else ""
            try:
                number = float(value)
            except (TypeError, ValueError):
                return DeviceFault(device, "nan_reading", f"{signal} read {value!r}, not a number", step)
            if not math.isfinite(number):
                return DeviceFault(device, "nan_reading", f"{signal} read {number}{unit}, not a number", step)
            if not spec.low <= number <= spec.high:
                return DeviceFault(device, "out_of_range",
                                   f"{signal} read {number:g}{unit}, outside the physical range "
                                   f"{spec.low:g} .. {spec.high:g}{unit}", step)
            before = previous.get(signal)
            if spec.noisy and before is not None and number != 0.0 and number == before:
                return DeviceFault(device, "stuck", f"{signal} read {number!r}{unit} again, exactly its previous "
                                   "value; the sensor is stuck", step)
        return None


#: A line whose plan checks no reading.
NO_READING_CHECKS = ReadingChecks()

__all__ = ["NO_READING_CHECKS", "ReadingChecks", "ReadingRange"]
