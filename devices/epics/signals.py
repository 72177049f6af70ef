"""EPICS signals that carry units, a role and limits in ``describe()``, like :mod:`devices.signals`.

The data keys look like the simulated line's: ``units`` (pint text), ``path``
(``furnace.temperature``) and ``role``, so :func:`devices.steps_from_documents` reads either
line's documents. ``source`` is the PV (``PV:SDL:furnace:temperature``).

Units: each signal declares its pint unit; the IOC's EGU field (8 characters at most) must
say the same unit (checked by :meth:`EpicsQuantitySignal.check_units` when the line
connects). Limits: a setpoint obeys both the campaign's :class:`devices.DeviceLimits` (on the
parent device) and the PV's control limits (``DRVL``/``DRVH``, ``lower_ctrl_limit`` /
``upper_ctrl_limit``); ``describe()`` reports the narrower pair.
"""

from __future__ import annotations

from typing import Any

from ophyd import EpicsSignal, EpicsSignalRO, Kind
from ophyd.status import Status

from core import Q_, DeviceError, DeviceFault, LimitError
from devices.limits import format_quantity
from devices.signals import ROLES, QuantitySignal, SetpointSignal
from devices.epics.pvs import same_units

#: Wall seconds an IOC has to acknowledge a setpoint write before it counts as refused.
SETPOINT_WRITE_TIMEOUT = 5.0

# Metadata of a CHAR waveform that means nothing for text (and is not JSON: bytes).
_NOT_FOR_TEXT = ("units", "lower_ctrl_limit", "upper_ctrl_limit", "precision", "enum_strs")


class _QuantityPV:
    """What the EPICS signals of the line add to ophyd's: units, role, path and limits.

    Args:
        units: pint unit of the value (``degC``); None for text (a CHAR waveform).
        role: one of :data:`devices.signals.ROLES`.
    """

    units: str | None
    role: str

    def _declare(self, units: str | None, role: str) -> None:
        if role not in ROLES:
            raise ValueError(f"role {role!r} is not one of {ROLES}")
        self.units = units
        self.role = role

    # The simulated signals' own logic, shared as it is (it only needs units, parent, get()).
    path = QuantitySignal.path
    quantity = QuantitySignal.quantity
    _as_magnitude = QuantitySignal._as_magnitude

    def check_units(self) -> None:
        """Refuse an IOC whose EGU names another unit than this signal's.

        Raises:
            DeviceError: the EGU parses to a different unit (an EGU pint cannot parse is trusted).
        """
        if self.units is None:
            return
        reported = self.metadata.get("units") or ""
        if same_units(reported, self.units) is False:
            raise DeviceError(f"{self.path}: the IOC's PV {self.pvname} has EGU {reported!r}, but the device "
                              f"works in {self.units}; fix the IOC's EGU or convert in the IOC")

    def limit_bounds(self) -> tuple[float, float] | None:
        """(low, high) in this signal's units: the device limits narrowed by the PV's control
        limits; None where neither has any."""
        if self.units is None:
            return None
        bounds = QuantitySignal.limit_bounds(self)
        ctrl = self.control_limits()
        if ctrl is None:
            return bounds
        if bounds is None:
            return ctrl
        return max(bounds[0], ctrl[0]), min(bounds[1], ctrl[1])

    def control_limits(self) -> tuple[float, float] | None:
        """The PV's (DRVL, DRVH) control limits, or None when the IOC sets none (both equal)."""
        low, high = self.metadata.get("lower_ctrl_limit"), self.metadata.get("upper_ctrl_limit")
        if not isinstance(low, (int, float)) or not isinstance(high, (int, float)) or not low < high:
            return None
        return float(low), float(high)

    def describe(self):
        desc = super().describe()
        key = desc[self.name]
        key["role"] = self.role
        key["path"] = self.path
        if self.units is None:
            for field in _NOT_FOR_TEXT:
                key.pop(field, None)
            key["dtype"] = "string"
            return desc
        key["units"] = self.units  # the declared pint text: EGU may be a shortened spelling
        key["dtype"] = "number"
        key.pop("dtype_numpy", None)
        key.pop("lower_ctrl_limit", None)
        key.pop("upper_ctrl_limit", None)
        bounds = self.limit_bounds()
        if bounds is not None:
            key["lower_ctrl_limit"], key["upper_ctrl_limit"] = bounds
            key["limits"] = {"control": {"low": bounds[0], "high": bounds[1]}}
        return desc


class EpicsQuantitySignal(_QuantityPV, EpicsSignalRO):
    """A read-only PV holding a float in ``units`` (or text when ``units`` is None).

    Reads go to the IOC every time (no monitor), so a reading taken after an action's
    put-completion is the value the IOC wrote for that action.

    Args:
        read_pv: the PV name (a Component's suffix).
        units: pint unit of the value (``degC``); None for text (a CHAR waveform).
        role: one of :data:`devices.signals.ROLES`.
    """

    def __init__(self, read_pv: str, *, units: str | None = None, role: str = "actual", **kwargs):
        kwargs.setdefault("auto_monitor", False)
        super().__init__(read_pv, string=units is None, **kwargs)
        self._declare(units, role)


class EpicsSetpointSignal(_QuantityPV, EpicsSignal):
    """A writable setpoint PV: ``set``/``put`` refuse values outside the device limits or the
    PV's control limits with :class:`core.LimitError` before anything is written, then write
    and wait until the IOC has taken the value.
    """

    def __init__(self, write_pv: str, *, units: str | None = None, role: str = "setpoint", kind=Kind.normal,
                 **kwargs):
        kwargs.setdefault("auto_monitor", False)
        super().__init__(write_pv, string=units is None, kind=kind, **kwargs)
        self._declare(units, role)

    def checked_magnitude(self, value: Any) -> Any:
        """The value in this signal's units after both limit checks.

        Raises:
            LimitError: outside the device limits or the PV's control limits.
            InputDataError: wrong dimension or not a number.
        """
        magnitude = SetpointSignal.checked_magnitude(self, value)
        ctrl = self.control_limits() if self.units is not None else None
        if ctrl is not None and not ctrl[0] <= magnitude <= ctrl[1]:
            shown = format_quantity(Q_(magnitude, self.units))
            raise LimitError(f"{self.path}: {shown} is outside the IOC's control limits "
                             f"{format_quantity(Q_(ctrl[0], self.units))} to {format_quantity(Q_(ctrl[1], self.units))} "
                             f"of {self.pvname}")
        return magnitude

    def put(self, value, **kwargs):
        """Write ``value`` (a quantity, a number in this signal's units, or text) and wait for the IOC."""
        magnitude = self.checked_magnitude(value)
        kwargs.setdefault("wait", True)
        kwargs.setdefault("timeout", SETPOINT_WRITE_TIMEOUT)
        try:
            super().put(magnitude, **kwargs)
        except TimeoutError as err:  # caproto's CaprotoTimeoutError is a TimeoutError too
            owner = self.parent.name if self.parent is not None else self.name
            raise DeviceFault(owner, "disconnect", f"the IOC did not take {self.path} = {value!r} at {self.pvname} "
                                                   f"within {kwargs['timeout']:g} s") from err

    def set(self, value, **kwargs):
        """Write the setpoint now and return a finished status (nothing moves)."""
        self.put(value)
        status = Status(self)
        status.set_finished()
        return status


__all__ = ["SETPOINT_WRITE_TIMEOUT", "EpicsQuantitySignal", "EpicsSetpointSignal"]
