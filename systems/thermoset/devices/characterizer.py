"""DSC/DMA characterization station."""

from __future__ import annotations

from ophyd import Component as Cpt
from ophyd import Kind

from devices.base import LineDevice
from devices.signals import QuantitySignal, SetpointSignal


class Characterizer(LineDevice):
    """``trigger()`` measures the current film; the status finishes when the results are in.

    Hinted: ``glass_transition_temperature`` (degC, DSC midpoint), ``degree_of_cure``
    (dimensionless, from the residual exotherm), ``fracture_toughness`` (MPa*m**0.5).
    Normal: the setpoint ``heating_rate`` (K/min), ``measurement_duration`` (min).
    Configuration: ``tg_method``.
    """

    heating_rate = Cpt(SetpointSignal, units="K/min", value=10.0)
    glass_transition_temperature = Cpt(QuantitySignal, units="degC", role="property", kind=Kind.hinted)
    degree_of_cure = Cpt(QuantitySignal, units="dimensionless", role="structure", kind=Kind.hinted)
    fracture_toughness = Cpt(QuantitySignal, units="MPa*m**0.5", role="property", kind=Kind.hinted)
    measurement_duration = Cpt(QuantitySignal, units="min", kind=Kind.normal)
    tg_method = Cpt(QuantitySignal, role="info", value="DSC midpoint, first heat", kind=Kind.config)

    def trigger(self):
        """Measure the film now in the station."""
        self.heating_rate.checked_magnitude(self.heating_rate.get())
        rate = self.heating_rate.quantity()
        return self._start(lambda stop: self.backend.measure(rate, stop), "trigger")
