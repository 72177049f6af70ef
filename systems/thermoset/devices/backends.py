"""What the thermoset line's devices need from their backends (hardware driver or simulated twin);
the sample tracker's and the room sensor's are :class:`devices.tracker.TrackerBackend` and
:class:`devices.ambient.AmbientBackend`.

Each method runs in the device's worker thread, may take as long as the hardware
takes, returns the readbacks (signal attribute -> quantity or text), and gives up
with :class:`core.DeviceError` when ``stop`` is set.

A backend may also have ``begin_action(kind: str) -> None`` (``kind`` is ``"set"`` or
``"trigger"``): the device calls it synchronously before every action, in the caller's
thread; it raises :class:`core.DeviceFault` (kind ``disconnect``) when the device cannot
be reached, so the command fails at once.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import pint

Readbacks = Mapping[str, Any]


@dataclass(frozen=True)
class CureProgram:
    """One oven program: ramp at ``ramp_rate`` to ``temperature``, settle within
    ``settle_tolerance`` for ``settle_time``, hold ``hold_time``, cool down."""

    temperature: pint.Quantity
    ramp_rate: pint.Quantity
    settle_tolerance: pint.Quantity
    settle_time: pint.Quantity
    hold_time: pint.Quantity


@runtime_checkable
class DispenserBackend(Protocol):
    def lot_number(self, reagent: str) -> str: ...
    def dispense(self, reagent: str, mass: pint.Quantity, stop: threading.Event) -> Readbacks:
        """Readbacks: ``dispensed_mass`` (g), ``lot_number``."""


@runtime_checkable
class MixerBackend(Protocol):
    def mix(self, speed: pint.Quantity, duration: pint.Quantity, stop: threading.Event) -> Readbacks:
        """Readbacks: ``mean_speed`` (rpm), ``actual_duration`` (min), ``temperature_rise`` (K)."""


@runtime_checkable
class OvenBackend(Protocol):
    def cure(self, program: CureProgram, stop: threading.Event) -> Readbacks:
        """Readbacks: ``mean_hold_temperature`` (degC), ``max_overshoot`` (K),
        ``actual_hold_time`` (h), ``ramp_duration`` (min), ``cool_duration`` (min)."""


@runtime_checkable
class CharacterizerBackend(Protocol):
    def measure(self, heating_rate: pint.Quantity, stop: threading.Event) -> Readbacks:
        """Readbacks: ``glass_transition_temperature`` (degC), ``degree_of_cure``,
        ``fracture_toughness`` (MPa*m**0.5), ``measurement_duration`` (min)."""
