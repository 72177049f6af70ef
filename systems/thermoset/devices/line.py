"""The synthesis line: the devices of one film, and the limits they share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from devices.ambient import AmbientSensor
from devices.limits import DeviceLimits
from devices.line import DeviceLine
from devices.tracker import SampleTracker
from systems.thermoset.devices.characterizer import Characterizer
from systems.thermoset.devices.dispenser import Dispenser
from systems.thermoset.devices.limits import DEFAULT_LIMITS
from systems.thermoset.devices.mixer import Mixer
from systems.thermoset.devices.oven import CuringOven


@dataclass
class SynthesisLine(DeviceLine):
    """All devices that make and characterize one film, and the limits they obey.

    The devices' ophyd names equal the attribute names (``oven``, ``mixer`` ...), which are
    the first part of every setpoint path. Assigning ``line.limits`` (or calling
    :meth:`set_limits`) hands the new limits to every device.

    Attributes:
        simulation: the simulated lab behind a twin (dry runs); None on hardware.
    """

    device_names = ("tracker", "ambient", "resin_dispenser", "hardener_dispenser", "additive_dispenser",
                    "mixer", "oven", "characterizer")

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

    @property
    def dispensers(self) -> tuple[Dispenser, Dispenser, Dispenser]:
        return (self.resin_dispenser, self.hardener_dispenser, self.additive_dispenser)
