"""Nominal durations of the line's actions, from their setpoints: what the watchdog expects.

Times are in seconds of (simulated or real) process time. They follow the devices'
nominal behaviour: a dose takes a fixed overhead plus a time per gram, a mix its set
time plus loading, a cure the transfer, ramp, overshoot settling, settle window, hold and
cool-down to unloading temperature, a DSC scan its temperature span at the heating rate.
The estimates are meant to be within a factor of ~1.5 of the truth, so a watchdog factor
of 3 never trips on a healthy device.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pint

from devices.plans import READ_ONLY  # a trigger that only samples sensors (tracker location, room)

#: Seconds of the actions that have no setpoint-dependent part.
TRACKER_ASSIGN = 15.0
DOSE_OVERHEAD, DOSE_PER_GRAM = 20.0, 6.0
MIX_OVERHEAD = 40.0
OVEN_TRANSFER = 300.0
OVEN_OVERSHOOT_TAU, OVEN_OVERSHOOT_PERIOD = 180.0, 480.0  # s, damped overshoot after the ramp
OVEN_COOL_TAU, OVEN_UNLOAD_ABOVE_ROOM = 1500.0, 25.0  # s; K above the room when the film comes out
DSC_OVERHEAD, DSC_SPAN = 1800.0, 300.0  # s of loading/equilibration; K scanned
NOMINAL_ROOM = 22.0  # degC


def _magnitude(setpoints: Mapping[str, pint.Quantity], path: str, unit: str, default: float) -> float:
    value = setpoints.get(path)
    return float(value.to(unit).magnitude) if value is not None else default


def dose_seconds(mass_g: float) -> float:
    return DOSE_OVERHEAD + DOSE_PER_GRAM * mass_g if mass_g > 0 else 5.0


def mix_seconds(duration_s: float) -> float:
    return duration_s + MIX_OVERHEAD


def cure_seconds(temperature: float, ramp_rate: float, tolerance: float, settle_time: float, hold_time: float,
                 room: float = NOMINAL_ROOM) -> float:
    """Transfer + ramp + settling + hold + cool; temperatures in degC, rate in K/min, times in s."""
    ramp = abs(temperature - room) / max(ramp_rate, 1e-6) * 60.0
    amplitude = 0.5 * ramp_rate**0.7
    settle = settle_time + OVEN_OVERSHOOT_TAU * math.log(max(amplitude / max(tolerance, 1e-6), 1.0)) + OVEN_OVERSHOOT_PERIOD / 4
    span = temperature - room
    cool = OVEN_COOL_TAU * math.log(span / OVEN_UNLOAD_ABOVE_ROOM) if span > OVEN_UNLOAD_ABOVE_ROOM + 1.0 else 20.0
    return OVEN_TRANSFER + ramp + settle + hold_time + cool


def dsc_seconds(heating_rate: float) -> float:
    """DSC scan at ``heating_rate`` K/min plus loading and the fracture test."""
    return DSC_OVERHEAD + DSC_SPAN / max(heating_rate, 1e-6) * 60.0


def expected_seconds(device: str, setpoints: Mapping[str, pint.Quantity], action: str = "set") -> float:
    """Nominal seconds of one action of ``device`` (a line attribute name).

    Args:
        device: ``resin_dispenser``, ``mixer``, ``oven``, ``characterizer``, ``tracker``, ``ambient`` ...
        setpoints: the run's setpoints (path -> quantity), as from :func:`systems.thermoset.devices.check_recipe_limits`.
        action: ``set`` (a move) or ``trigger`` (a measurement).
    """
    if device.endswith("_dispenser"):
        return dose_seconds(_magnitude(setpoints, f"{device}.mass", "g", 0.0)) if action == "set" else READ_ONLY
    if device == "mixer":
        return mix_seconds(_magnitude(setpoints, "mixer.duration", "s", 60.0)) if action == "set" else READ_ONLY
    if device == "oven":
        if action != "set":
            return READ_ONLY
        return cure_seconds(
            _magnitude(setpoints, "oven.temperature", "degC", NOMINAL_ROOM),
            _magnitude(setpoints, "oven.ramp_rate", "K/min", 5.0),
            _magnitude(setpoints, "oven.settle_tolerance", "K", 1.0),
            _magnitude(setpoints, "oven.settle_time", "s", 300.0),
            _magnitude(setpoints, "oven.hold_time", "s", 3600.0),
        )
    if device == "characterizer":
        return dsc_seconds(_magnitude(setpoints, "characterizer.heating_rate", "K/min", 10.0))
    if device == "tracker":
        return TRACKER_ASSIGN if action == "set" else READ_ONLY
    return READ_ONLY
