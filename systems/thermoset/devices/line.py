"""The synthesis line: the devices of one film, and the limits they share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ophyd import Device, Signal

from devices.ambient import AmbientSensor
from devices.limits import DeviceLimits
from devices.signals import QuantitySignal
from devices.tracker import SampleTracker
from systems.thermoset.devices.characterizer import Characterizer
from systems.thermoset.devices.dispenser import Dispenser
from systems.thermoset.devices.limits import DEFAULT_LIMITS
from systems.thermoset.devices.mixer import Mixer
from systems.thermoset.devices.oven import CuringOven

#: Attribute of each device class that ``device.set(value)`` writes.
MAIN_SETPOINT = {Dispenser: "mass", Mixer: "speed", CuringOven: "temperature", SampleTracker: "sample_id"}


@dataclass
class SynthesisLine:
    """All devices that make and characterize one film, and the limits they obey.

    The devices' ophyd names equal the attribute names (``oven``, ``mixer`` ...), which are
    the first part of every setpoint path. Assigning ``line.limits`` (or calling
    :meth:`set_limits`) hands the new limits to every device.

    Attributes:
        simulation: the simulated lab behind a twin (dry runs); None on hardware.
    """

    resin_dispenser: Dispenser
    hardener_dispenser: Dispenser
    additive_dispenser: Dispenser
    mixer: Mixer
    oven: CuringOven
    characterizer: Characterizer
    tracker: SampleTracker
    ambient: AmbientSensor
    limits: DeviceLimits = DEFAULT_LIMITS
    simulation: Any = field(default=None, repr=False)

    def __setattr__(self, key: str, value: Any) -> None:
        super().__setattr__(key, value)
        if key == "limits" and hasattr(self, "ambient"):
            for device in self.devices.values():
                device.limits = value

    def __post_init__(self) -> None:
        self.set_limits(self.limits)

    def set_limits(self, limits: DeviceLimits) -> None:
        self.limits = limits

    @property
    def devices(self) -> dict[str, Device]:
        """Attribute name -> device, in process order."""
        names = ("tracker", "ambient", "resin_dispenser", "hardener_dispenser", "additive_dispenser",
                 "mixer", "oven", "characterizer")
        return {name: getattr(self, name) for name in names}

    @property
    def time_scale(self) -> float:
        """Process seconds per wall-clock second: the twins' ``speedup``, 1 on hardware."""
        return float(getattr(self.simulation, "speedup", 1.0) or 1.0)

    @property
    def dispensers(self) -> tuple[Dispenser, Dispenser, Dispenser]:
        return (self.resin_dispenser, self.hardener_dispenser, self.additive_dispenser)


def setpoint_path(obj: Any) -> str | None:
    """The setpoint path that a ``set`` message on ``obj`` writes (``oven.temperature``), or None.

    Works for a device (its main setpoint, see :data:`MAIN_SETPOINT`) and for a signal.
    """
    if isinstance(obj, QuantitySignal):
        return obj.path
    for cls, attr in MAIN_SETPOINT.items():
        if isinstance(obj, cls):
            return f"{obj.limit_key}.{attr}"
    if isinstance(obj, Signal):
        return obj.name
    return None


def setpoint_signal(obj: Any) -> QuantitySignal | None:
    """The signal that a ``set`` message on ``obj`` writes."""
    if isinstance(obj, QuantitySignal):
        return obj
    for cls, attr in MAIN_SETPOINT.items():
        if isinstance(obj, cls):
            return getattr(obj, attr)
    return None
