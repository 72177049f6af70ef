"""What every line of devices shares: its devices by name in process order, the limits they all
obey, its time scale, and which setpoint a ``set`` message writes."""

from __future__ import annotations

from typing import Any, ClassVar

from ophyd import Device, Signal

from devices.signals import QuantitySignal


class DeviceLine:
    """Base of a material system's line, a dataclass with one field per device.

    Subclasses name their devices (attribute names, which are also the devices' ophyd names
    and the first part of their setpoint paths) in :attr:`device_names`, in process order,
    and have the fields ``limits`` (a :class:`devices.DeviceLimits`) and ``simulation`` (the
    simulated lab behind twins; None on hardware). Assigning ``line.limits`` (or calling
    :meth:`set_limits`) hands the new limits to every device.
    """

    device_names: ClassVar[tuple[str, ...]] = ()

    def __setattr__(self, key: str, value: Any) -> None:
        super().__setattr__(key, value)
        if key == "limits" and all(hasattr(self, name) for name in self.device_names):
            for device in self.devices.values():
                device.limits = value

    def __post_init__(self) -> None:
        self.set_limits(self.limits)

    def set_limits(self, limits: Any) -> None:
        self.limits = limits

    @property
    def devices(self) -> dict[str, Device]:
        """Attribute name -> device, in process order."""
        return {name: getattr(self, name) for name in self.device_names}

    @property
    def time_scale(self) -> float:
        """Process seconds per wall-clock second: the twins' ``speedup``, 1 on hardware."""
        return float(getattr(getattr(self, "simulation", None), "speedup", 1.0) or 1.0)


def setpoint_signal(obj: Any) -> Any:
    """The signal that a ``set`` message on ``obj`` writes: ``obj`` itself for a signal with a
    setpoint path, a device's :attr:`~devices.LineDevice.main_setpoint`, else None."""
    if isinstance(obj, QuantitySignal) or (isinstance(obj, Signal) and hasattr(obj, "path")):
        return obj
    attr = getattr(type(obj), "main_setpoint", None)
    return getattr(obj, attr) if attr else None


def setpoint_path(obj: Any) -> str | None:
    """The setpoint path that a ``set`` message on ``obj`` writes (``furnace.temperature``), or None.

    Works for a device (its main setpoint) and for a signal (a signal without a path: its name).
    """
    signal = setpoint_signal(obj)
    if signal is not None:
        return signal.path
    if isinstance(obj, Signal):
        return obj.name
    return None


__all__ = ["DeviceLine", "setpoint_path", "setpoint_signal"]
