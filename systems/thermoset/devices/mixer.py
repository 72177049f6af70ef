"""Planetary mixer."""

from __future__ import annotations

from ophyd import Component as Cpt
from ophyd import Kind

from devices.base import LineDevice
from devices.signals import QuantitySignal, SetpointSignal


class Mixer(LineDevice):
    """``set(speed)`` runs one mix program at ``speed`` for the configured ``duration``.

    Set ``duration`` first (``bps.mv(mixer.duration, Q_(5, "min"))``), then
    ``bps.mv(mixer, Q_(1200, "rpm"))``. Hinted readbacks: ``mean_speed`` (rpm, the mean
    actual speed), ``actual_duration`` (min), ``temperature_rise`` (K, of the batch).
    """

    main_setpoint = "speed"

    speed = Cpt(SetpointSignal, units="rpm")
    duration = Cpt(SetpointSignal, units="min", value=1.0)
    mean_speed = Cpt(QuantitySignal, units="rpm", kind=Kind.hinted)
    actual_duration = Cpt(QuantitySignal, units="min", kind=Kind.hinted)
    temperature_rise = Cpt(QuantitySignal, units="K", kind=Kind.hinted)

    def set(self, value):
        """Mix at ``value`` (rpm quantity or number) for ``duration``. Raises LimitError outside the limits."""
        speed = self.speed.checked_magnitude(value)
        self.duration.checked_magnitude(self.duration.get())  # limits may have changed since it was set
        self.speed.put(speed)
        return self._start(lambda stop: self.backend.mix(self.speed.quantity(), self.duration.quantity(), stop))
