"""Curing oven."""

from __future__ import annotations

from ophyd import Component as Cpt
from ophyd import Kind

from devices.base import LineDevice
from devices.signals import QuantitySignal, SetpointSignal
from systems.thermoset.devices.backends import CureProgram


class CuringOven(LineDevice):
    """``set(temperature)`` runs the cure program: ramp, settle, hold, cool; the status
    finishes when the film is cool enough to take out.

    Program setpoints (set before, each limit-checked): ``ramp_rate`` (K/min),
    ``settle_tolerance`` (K), ``settle_time`` (min), ``hold_time`` (h).
    Hinted readbacks from the oven's own sensor: ``mean_hold_temperature`` (degC),
    ``max_overshoot`` (K above the setpoint), ``actual_hold_time`` (h), ``ramp_duration``
    (min); normal: ``cool_duration`` (min).
    """

    main_setpoint = "temperature"

    temperature = Cpt(SetpointSignal, units="degC", value=25.0)
    ramp_rate = Cpt(SetpointSignal, units="K/min", value=5.0)
    settle_tolerance = Cpt(SetpointSignal, units="K", value=1.0)
    settle_time = Cpt(SetpointSignal, units="min", value=5.0)
    hold_time = Cpt(SetpointSignal, units="h", value=1.0)
    mean_hold_temperature = Cpt(QuantitySignal, units="degC", kind=Kind.hinted)
    max_overshoot = Cpt(QuantitySignal, units="K", kind=Kind.hinted)
    actual_hold_time = Cpt(QuantitySignal, units="h", kind=Kind.hinted)
    ramp_duration = Cpt(QuantitySignal, units="min", kind=Kind.hinted)
    cool_duration = Cpt(QuantitySignal, units="min", kind=Kind.normal)

    def set(self, value):
        """Cure at ``value`` (a temperature quantity, or a number in degC). Raises LimitError outside the limits."""
        temperature = self.temperature.checked_magnitude(value)
        for signal in (self.ramp_rate, self.settle_tolerance, self.settle_time, self.hold_time):
            signal.checked_magnitude(signal.get())
        self.temperature.put(temperature)
        program = CureProgram(
            temperature=self.temperature.quantity(),
            ramp_rate=self.ramp_rate.quantity(),
            settle_tolerance=self.settle_tolerance.quantity(),
            settle_time=self.settle_time.quantity(),
            hold_time=self.hold_time.quantity(),
        )
        return self._start(lambda stop: self.backend.cure(program, stop))
