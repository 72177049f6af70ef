"""Plausibility checks of the thermoset line's readings: each reading's physical range and
whether it is noisy, and which readings each device has (see :mod:`devices.readings`)."""

from __future__ import annotations

from collections.abc import Mapping

from devices.readings import ReadingChecks, ReadingRange

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
#: default ``signal`` of a reading fault.
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

#: The checks the line's plan runs on every step's readings.
READINGS = ReadingChecks(READING_RANGES, DEVICE_READINGS)
#: The first implausible reading of a device as a :class:`core.DeviceFault`, or None
#: (see :meth:`devices.readings.ReadingChecks.fault`).
reading_fault = READINGS.fault
#: Whether a stuck reading can be told from a good one (it is noisy).
stuck_detectable = READINGS.stuck_detectable

__all__ = ["DEVICE_READINGS", "READINGS", "READING_RANGES", "reading_fault", "stuck_detectable"]
