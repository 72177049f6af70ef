"""The thermoset line's hardware limits: the allowed range of every setpoint, as pint quantities."""

from __future__ import annotations

from core import Q_
from devices.limits import DeviceLimits

DEFAULT_LIMITS = DeviceLimits(
    {
        "resin_dispenser.mass": (Q_(0.0, "g"), Q_(50.0, "g")),
        "hardener_dispenser.mass": (Q_(0.0, "g"), Q_(50.0, "g")),
        "additive_dispenser.mass": (Q_(0.0, "g"), Q_(50.0, "g")),
        "mixer.speed": (Q_(100.0, "rpm"), Q_(2500.0, "rpm")),
        "mixer.duration": (Q_(0.5, "min"), Q_(30.0, "min")),
        "oven.temperature": (Q_(20.0, "degC"), Q_(220.0, "degC")),
        "oven.ramp_rate": (Q_(0.5, "K/min"), Q_(20.0, "K/min")),
        "oven.hold_time": (Q_(0.0, "h"), Q_(12.0, "h")),
        "oven.settle_tolerance": (Q_(0.2, "K"), Q_(10.0, "K")),
        "oven.settle_time": (Q_(0.0, "min"), Q_(60.0, "min")),
        "characterizer.heating_rate": (Q_(1.0, "K/min"), Q_(50.0, "K/min")),
    }
)
