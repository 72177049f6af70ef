"""Ophyd devices of the quantum-dot flow line: syringe pumps, a heated flow reactor and an inline
photoluminescence spectrometer whose reading is a whole spectrum.

They are built on the generic machinery of ``devices`` (:class:`devices.base.LineDevice`,
:class:`devices.QuantitySignal`, :class:`devices.SetpointSignal`), so every data key carries
its ``role``, ``path`` and ``units`` and :func:`devices.steps_from_documents` reads them; the
spectrum travels as :class:`ArraySignal` s (``dtype: array``, ``shape: [N]``, units of the
axis). The sample collector and the room sensor are the generic
:class:`devices.SampleTracker` and :class:`devices.AmbientSensor`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pint
from ophyd import Component as Cpt
from ophyd import Kind

from core import InputDataError
from devices import AmbientSensor, DeviceLimits, DeviceLine, QuantitySignal, SampleTracker, SetpointSignal
from devices.base import LineDevice
from systems.quantum_dots.recipes import DEFAULT_LIMITS

#: Pixels of the spectrometer's detector (the length of every spectrum).
PIXELS = 512


class ArraySignal(QuantitySignal):
    """A reading that is a whole 1-D array in ``units`` (a spectrum's axis or its counts).

    Its data key says ``dtype: array``, ``shape: [N]`` and ``dtype_numpy: <f8`` besides the
    ``units``, ``role`` and ``path`` of every :class:`devices.QuantitySignal`.
    """

    def __init__(self, *, units: str, role: str = "actual", length: int = PIXELS, **kwargs):
        super().__init__(units=units, role=role, value=np.zeros(length), **kwargs)

    def _as_magnitude(self, value: Any) -> np.ndarray:
        try:
            if isinstance(value, pint.Quantity):
                array = np.asarray(value.to(self.units).magnitude, dtype=float)
            else:
                array = np.asarray(value, dtype=float)
        except (pint.DimensionalityError, TypeError, ValueError) as err:
            raise InputDataError(f"{self.path}: {type(value).__name__} is not an array in {self.units}") from err
        if array.ndim != 1:
            raise InputDataError(f"{self.path}: expected a 1-D array in {self.units}, got shape {array.shape}")
        return array

    def describe(self):
        desc = super().describe()
        key = desc[self.name]
        key["dtype"] = "array"
        key["shape"] = [int(np.asarray(self.get()).size)]
        key["dtype_numpy"] = "<f8"
        return desc


class SyringePump(LineDevice):
    """``set(flow_rate)`` starts pumping at that rate; the status finishes when the flow is steady.
    ``trigger()`` reads the pump's encoder: mean flow and volume delivered since it started.

    Hinted: ``mean_flow_rate`` (mL/min). Normal: the setpoint ``flow_rate`` (mL/min),
    ``delivered_volume`` (mL). Configuration: ``reagent`` (what the syringe holds), ``lot_number``.
    """

    main_setpoint = "flow_rate"

    flow_rate = Cpt(SetpointSignal, units="mL/min")
    mean_flow_rate = Cpt(QuantitySignal, units="mL/min", kind=Kind.hinted)
    delivered_volume = Cpt(QuantitySignal, units="mL", kind=Kind.normal)
    reagent = Cpt(SetpointSignal, role="reagent", kind=Kind.config)
    lot_number = Cpt(QuantitySignal, role="lot", kind=Kind.config)

    def __init__(self, prefix: str = "", *, name: str, backend, reagent: str = "", **kwargs):
        super().__init__(prefix, name=name, backend=backend, **kwargs)
        self.reagent.put(reagent)

    def set(self, value):
        """Pump at ``value`` (a flow-rate quantity, or a number in mL/min). Raises LimitError outside the limits."""
        flow = self.flow_rate.checked_magnitude(value)
        self.flow_rate.put(flow)
        reagent = self.reagent.get()
        self.lot_number.put(self.backend.lot_number(reagent))
        return self._start(lambda stop: self.backend.pump(reagent, self.flow_rate.quantity(), stop))

    def trigger(self):
        return self._start(lambda stop: self.backend.meter(stop), "trigger")


class FlowReactor(LineDevice):
    """A heated coil of fixed volume. ``set(temperature)`` heats at ``ramp_rate`` and settles;
    ``trigger()`` holds the flow for ``flush_volumes`` reactor volumes so the outlet reaches
    steady state, and reports what the fluid saw.

    Setpoints: ``temperature`` (degC), ``ramp_rate`` (K/min), ``residence_time`` (s, the one
    the pumps' flows were computed for), ``flush_volumes``. Hinted readbacks:
    ``mean_temperature`` (degC, the coil's thermocouple during the steady run),
    ``actual_residence_time`` (s, the coil volume over the measured total flow),
    ``pressure_drop`` (kPa); normal: ``settle_duration`` (min), ``max_deviation`` (K).
    """

    main_setpoint = "temperature"

    temperature = Cpt(SetpointSignal, units="degC", value=25.0)
    ramp_rate = Cpt(SetpointSignal, units="K/min", value=30.0)
    residence_time = Cpt(SetpointSignal, units="s", value=60.0)
    flush_volumes = Cpt(SetpointSignal, units="dimensionless", value=3.0)
    mean_temperature = Cpt(QuantitySignal, units="degC", kind=Kind.hinted)
    actual_residence_time = Cpt(QuantitySignal, units="s", kind=Kind.hinted)
    pressure_drop = Cpt(QuantitySignal, units="kPa", kind=Kind.hinted)
    settle_duration = Cpt(QuantitySignal, units="min", kind=Kind.normal)
    max_deviation = Cpt(QuantitySignal, units="K", kind=Kind.normal)

    def set(self, value):
        """Heat to ``value`` (a temperature quantity, or a number in degC). Raises LimitError outside the limits."""
        target = self.temperature.checked_magnitude(value)
        self.ramp_rate.checked_magnitude(self.ramp_rate.get())
        self.temperature.put(target)
        temperature, ramp = self.temperature.quantity(), self.ramp_rate.quantity()
        return self._start(lambda stop: self.backend.heat(temperature, ramp, stop))

    def trigger(self):
        """Run at steady state for ``flush_volumes`` reactor volumes."""
        for signal in (self.residence_time, self.flush_volumes):
            signal.checked_magnitude(signal.get())
        volumes = float(self.flush_volumes.get())
        return self._start(lambda stop: self.backend.steady_state(volumes, stop), "trigger")


class Spectrometer(LineDevice):
    """Inline photoluminescence spectrometer on the reactor outlet. ``trigger()`` excites the
    flowing dots at ``excitation_wavelength`` and integrates for ``integration_time``.

    Hinted: ``wavelength`` (nm, the detector's calibrated pixel axis) and ``intensity``
    (count, dark-subtracted), both arrays of :data:`PIXELS`. Normal: ``peak_counts``
    (count, the highest pixel, to see saturation). Setpoints: ``integration_time`` (ms),
    ``excitation_wavelength`` (nm). Configuration: ``instrument``.
    """

    integration_time = Cpt(SetpointSignal, units="ms", value=100.0)
    excitation_wavelength = Cpt(SetpointSignal, units="nm", value=405.0)
    wavelength = Cpt(ArraySignal, units="nm", kind=Kind.hinted)
    intensity = Cpt(ArraySignal, units="count", kind=Kind.hinted)
    peak_counts = Cpt(QuantitySignal, units="count", kind=Kind.normal)
    instrument = Cpt(QuantitySignal, role="info", value="inline PL, 512 px, 380-780 nm", kind=Kind.config)

    def trigger(self):
        for signal in (self.integration_time, self.excitation_wavelength):
            signal.checked_magnitude(signal.get())
        exposure, excitation = self.integration_time.quantity(), self.excitation_wavelength.quantity()
        return self._start(lambda stop: self.backend.acquire(exposure, excitation, stop), "trigger")


@dataclass
class FlowSynthesisLine(DeviceLine):
    """All devices that make and measure one batch of dots, and the limits they obey.

    Device names equal the attribute names, the first part of every setpoint path.

    Attributes:
        simulation: the simulated lab behind the twins (dry runs); None on hardware.
    """

    pump_names = ("precursor_pump", "oleic_acid_pump", "oleylamine_pump", "solvent_pump")
    device_names = ("collector", "ambient", *pump_names, "reactor", "spectrometer")

    collector: SampleTracker
    ambient: AmbientSensor
    precursor_pump: SyringePump
    oleic_acid_pump: SyringePump
    oleylamine_pump: SyringePump
    solvent_pump: SyringePump
    reactor: FlowReactor
    spectrometer: Spectrometer
    limits: DeviceLimits = DEFAULT_LIMITS
    simulation: Any = field(default=None, repr=False)

    @property
    def pumps(self) -> tuple[SyringePump, ...]:
        return tuple(getattr(self, name) for name in self.pump_names)
