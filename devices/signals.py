"""Ophyd signals that carry units, a role and limits in their ``describe()``.

Data keys gain three fields beside ophyd's ``source``/``dtype``/``shape``:
``units`` (parsable by pint, e.g. ``degC``), ``path`` (``furnace.temperature``) and
``role``, one of :data:`ROLES`, which lets :func:`devices.steps_from_documents`
sort readings into setpoints, actual values, lots, ambient, structure and properties
without knowing any signal name. Setpoints with limits also report
``lower_ctrl_limit``/``upper_ctrl_limit`` (as EPICS signals do) and event-model's
``limits.control``.
"""

from __future__ import annotations

from typing import Any

import pint
from ophyd import Kind, Signal
from ophyd.status import Status

from core import Q_, InputDataError

#: setpoint: what was asked; actual: what the device did; reagent/lot: what was used;
#: ambient: room conditions; structure/property: what was measured on the sample; info: anything else.
ROLES = ("setpoint", "actual", "reagent", "lot", "ambient", "structure", "property", "info")


class QuantitySignal(Signal):
    """A soft signal holding a float in ``units`` (or a string/text when ``units`` is None).

    Args:
        units: pint-parsable unit of the value (``"degC"``, ``"g"``, ``"rpm"``); None for text.
        role: one of :data:`ROLES`.
    """

    def __init__(self, *, units: str | None = None, role: str = "actual", value: Any = None, **kwargs):
        if role not in ROLES:
            raise ValueError(f"role {role!r} is not one of {ROLES}")
        if value is None:
            value = 0.0 if units is not None else ""
        super().__init__(value=value, **kwargs)
        self.units = units
        self.role = role

    @property
    def path(self) -> str:
        """``<device>.<signal>``: the device's limit key and this signal's attribute name."""
        parent = self.parent
        prefix = getattr(parent, "limit_key", None) or (parent.name if parent is not None else self.name)
        return f"{prefix}.{self.attr_name or self.name}"

    def quantity(self) -> pint.Quantity | str:
        """The current value as a pint quantity (text signals return the text)."""
        value = self.get()
        return Q_(value, self.units) if self.units is not None else value

    def _as_magnitude(self, value: Any) -> Any:
        """Convert a quantity to a float in this signal's units; a bare number is taken as already in them."""
        if self.units is None:
            if isinstance(value, pint.Quantity):
                raise InputDataError(f"{self.path}: {value} given, but this signal holds text")
            return str(value)
        if isinstance(value, pint.Quantity):
            try:
                return float(value.to(self.units).magnitude)
            except pint.DimensionalityError as err:
                raise InputDataError(f"{self.path}: {value} cannot be converted to {self.units}") from err
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputDataError(f"{self.path}: {value!r} is not a number in {self.units}")
        return float(value)

    def put(self, value, **kwargs):
        super().put(self._as_magnitude(value), **kwargs)

    def describe(self):
        desc = super().describe()
        key = desc[self.name]
        key["role"] = self.role
        key["path"] = self.path
        if self.units is not None:
            key["units"] = self.units
            key["dtype"] = "number"
            key.pop("dtype_numpy", None)
        bounds = self.limit_bounds()
        if bounds is not None:
            low, high = bounds
            key["lower_ctrl_limit"] = low
            key["upper_ctrl_limit"] = high
            key["limits"] = {"control": {"low": low, "high": high}}
        return desc

    def limit_bounds(self) -> tuple[float, float] | None:
        """(low, high) limits in this signal's units, or None where it has none."""
        limits = getattr(self.parent, "limits", None)
        if limits is None or self.units is None:
            return None
        pair = limits.bounds(self.path)
        if pair is None:
            return None
        return float(pair[0].to(self.units).magnitude), float(pair[1].to(self.units).magnitude)


class SetpointSignal(QuantitySignal):
    """A setpoint: ``set``/``put`` refuse values outside the parent device's limits with LimitError.

    The check runs synchronously in ``set`` (defence in depth behind
    a system's recipe check before the plan exists), so a plan that asks for an out-of-limit
    value fails at the ``set`` message, before anything moves.
    """

    def __init__(self, *, role: str = "setpoint", kind=Kind.normal, **kwargs):
        super().__init__(role=role, kind=kind, **kwargs)

    def checked_magnitude(self, value: Any) -> Any:
        """The value in this signal's units after the limit check.

        Raises:
            LimitError: outside the device limits.
            InputDataError: wrong dimension or not a number.
        """
        magnitude = self._as_magnitude(value)
        limits = getattr(self.parent, "limits", None)
        if limits is not None and self.units is not None:
            limits.check(self.path, Q_(magnitude, self.units))
        return magnitude

    def put(self, value, **kwargs):
        super().put(self.checked_magnitude(value), **kwargs)

    def set(self, value, **kwargs):
        """Write the setpoint now and return a finished status (soft setpoint, nothing moves)."""
        self.put(value)
        status = Status(self)
        status.set_finished()
        return status


__all__ = ["ROLES", "QuantitySignal", "SetpointSignal"]
