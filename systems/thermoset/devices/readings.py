"""Plausibility checks of the line's readings: NaN, physically impossible, stuck.

Every numeric reading the plan validates has a physical range (in its signal's unit)
and a flag saying whether it is noisy. A noisy reading never repeats exactly, so the
same float as the sensor's previous reading means the sensor is stuck.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

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


#: Signal attribute name -> physical range. The same attribute means the same quantity on
#: every device (the three dispensers share ``dispensed_mass``).
READING_RANGES: Mapping[str, ReadingRange] = {
    "dispensed_mass": ReadingRange(-1.0, 1000.0, "g", True),
    "mean_speed": ReadingRange(0.0, 5000.0, "rpm", True),
    "actual_duration": ReadingRange(0.0, 600.0, "min", True),
    "temperature_rise": ReadingRange(-5.0, 150.0, "K", True),
    "mean_hold_temperature": ReadingRange(-50.0, 400.0, "degC", True),
    "max_overshoot": ReadingRange(0.0, 100.0, "K", False),
    "actual_hold_time": ReadingRange(0.0, 48.0, "h", False),
    "ramp_duration": ReadingRange(0.0, 3000.0, "min", False),
    "cool_duration": ReadingRange(0.0, 3000.0, "min", False),
    "glass_transition_temperature": ReadingRange(-150.0, 400.0, "degC", True),
    "degree_of_cure": ReadingRange(0.0, 1.0, "", False),  # clipped to 0..1: may repeat 1.0 legitimately
    "fracture_toughness": ReadingRange(0.0, 20.0, "MPa*m**0.5", True),
    "measurement_duration": ReadingRange(0.0, 2000.0, "min", False),
    # room sensors are read by several steps at the same instant and quantize on hardware:
    # an exact repeat is normal, so they are not checked for being stuck
    "room_temperature": ReadingRange(-10.0, 60.0, "degC", False),
    "relative_humidity": ReadingRange(0.0, 100.0, "percent", False),  # clipped at 0 and 100 %
}

#: Device (line attribute name) -> its validated numeric readings; the first is the
#: default ``signal`` of a reading fault (:class:`systems.thermoset.devices.FaultSpec`).
DEVICE_READINGS: Mapping[str, tuple[str, ...]] = {
    "resin_dispenser": ("dispensed_mass",),
    "hardener_dispenser": ("dispensed_mass",),
    "additive_dispenser": ("dispensed_mass",),
    "mixer": ("mean_speed", "actual_duration", "temperature_rise"),
    "oven": ("mean_hold_temperature", "max_overshoot", "actual_hold_time", "ramp_duration", "cool_duration"),
    "characterizer": ("glass_transition_temperature", "degree_of_cure", "fracture_toughness", "measurement_duration"),
    "tracker": (),
    "ambient": ("room_temperature", "relative_humidity"),
}


def stuck_detectable(signal: str) -> bool:
    """Whether a stuck ``signal`` can be told from a good one (it is noisy)."""
    reading = READING_RANGES.get(signal)
    return reading is not None and reading.noisy


def reading_fault(device: str, values: Mapping[str, float], previous: Mapping[str, float] | None = None,
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
    for signal in DEVICE_READINGS.get(device, ()):
        if signal not in values:
            continue
        value, spec = values[signal], READING_RANGES[signal]
        unit = f" {spec.unit}" if spec.unit else ""
        try:
            number = float(value)
        except (TypeError, ValueError):
            return DeviceFault(device, "nan_reading", f"{signal} read {value!r}, not a number", step)
        if not math.isfinite(number):
            return DeviceFault(device, "nan_reading", f"{signal} read {number}{unit}, not a number", step)
        if not spec.low <= number <= spec.high:
            return DeviceFault(device, "out_of_range",
                               f"{signal} read {number:g}{unit}, outside the physical range {spec.low:g} .. {spec.high:g}{unit}",
                               step)
        before = previous.get(signal)
        if spec.noisy and before is not None and number != 0.0 and number == before:
            return DeviceFault(device, "stuck", f"{signal} read {number!r}{unit} again, exactly its previous value; "
                               "the sensor is stuck", step)
    return None
