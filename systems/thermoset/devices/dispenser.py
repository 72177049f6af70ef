"""Gravimetric dispenser: doses a target mass of one reagent onto a balance."""

from __future__ import annotations

from ophyd import Component as Cpt
from ophyd import Kind

from devices.base import LineDevice
from devices.signals import QuantitySignal, SetpointSignal


class Dispenser(LineDevice):
    """``set(mass)`` doses ``mass`` of the loaded reagent; the status finishes when the balance is stable.

    Hinted: ``dispensed_mass`` (g, from the balance). Normal: the setpoint ``mass`` (g).
    Configuration: ``reagent`` (name or SMILES of the loaded reagent) and ``lot_number``.
    Change the reagent with ``bps.mv(dispenser.reagent, smiles)`` (a cartridge swap).
    """

    main_setpoint = "mass"

    mass = Cpt(SetpointSignal, units="g")
    dispensed_mass = Cpt(QuantitySignal, units="g", kind=Kind.hinted)
    reagent = Cpt(SetpointSignal, role="reagent", kind=Kind.config)
    lot_number = Cpt(QuantitySignal, role="lot", kind=Kind.config)

    def __init__(self, prefix: str = "", *, name: str, backend, reagent: str = "", **kwargs):
        super().__init__(prefix, name=name, backend=backend, **kwargs)
        self.reagent.subscribe(self._reagent_changed, run=False)
        self.reagent.put(reagent)

    def _reagent_changed(self, value=None, **_):
        if value:
            self.lot_number.put(self.backend.lot_number(value))

    def set(self, value):
        """Dispense ``value`` (a mass quantity, or a number in g). Raises LimitError outside the limits."""
        target = self.mass.checked_magnitude(value)
        self.mass.put(target)
        reagent = self.reagent.get()
        self.lot_number.put(self.backend.lot_number(reagent))
        return self._start(lambda stop: self.backend.dispense(reagent, self.mass.quantity(), stop))
