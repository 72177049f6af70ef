"""The synthesis line over Channel Access: :func:`make_epics_line` connects the EPICS devices under one PV prefix."""

from __future__ import annotations

from dataclasses import dataclass

from core import DeviceError, InputDataError
from devices.limits import DEFAULT_LIMITS, DeviceLimits
from devices.line import SynthesisLine
from devices.epics.pvs import TIME_SCALE, device_prefix

#: Line attribute -> EPICS device class name in :mod:`devices.epics.devices`, in process order.
DEVICE_CLASSES = {
    "tracker": "EpicsSampleTracker",
    "ambient": "EpicsAmbientSensor",
    "resin_dispenser": "EpicsDispenser",
    "hardener_dispenser": "EpicsDispenser",
    "additive_dispenser": "EpicsDispenser",
    "mixer": "EpicsMixer",
    "oven": "EpicsCuringOven",
    "characterizer": "EpicsCharacterizer",
}


@dataclass
class EpicsSynthesisLine(SynthesisLine):
    """A :class:`~devices.SynthesisLine` whose devices are EPICS devices.

    Attributes:
        prefix: the PV prefix the devices live under (``SDL:``).
        clock_rate: process seconds per wall second: the IOC's ``TimeScale`` PV (a simulated
            line's speedup), 1 for an IOC without one (hardware).
    """

    prefix: str = ""
    clock_rate: float = 1.0

    @property
    def time_scale(self) -> float:
        return self.clock_rate

    def close(self) -> None:
        """Drop the Channel Access channels of every device."""
        for device in self.devices.values():
            device.destroy()


def use_channel_access() -> str:
    """Make sure ophyd has a Channel Access control layer and return its name.

    ophyd picks ``pyepics`` when it is installed, else ``caproto`` (pure Python, no EPICS
    libraries needed: this project's default); ``$OPHYD_CONTROL_LAYER`` chooses one.

    Raises:
        DeviceError: neither is installed.
    """
    import ophyd

    if getattr(ophyd.cl, "name", "dummy") == "dummy":
        try:
            ophyd.set_cl("caproto")
        except ImportError as err:
            raise DeviceError("EPICS devices need a Channel Access client: install caproto "
                              "(pip install caproto) or pyepics") from err
    return ophyd.cl.name


def make_epics_line(prefix: str = "SDL:", limits: DeviceLimits | None = None,
                    connection_timeout: float = 10.0) -> EpicsSynthesisLine:
    """Connect to the line's IOC and return the line of EPICS devices.

    The IOC is found the usual Channel Access way: ``EPICS_CA_ADDR_LIST``,
    ``EPICS_CA_AUTO_ADDR_LIST`` and ``EPICS_CA_SERVER_PORT`` from the environment, read when
    this process first searches for a PV.

    Args:
        prefix: PV prefix of the line (``SDL:`` -> ``SDL:oven:temperature``).
        limits: device limits the client checks before every write (the IOC's control
            limits are checked too); None for :data:`devices.DEFAULT_LIMITS`.
        connection_timeout: wall seconds to wait for every PV to connect.

    Raises:
        InputDataError: empty prefix or a bad timeout.
        DeviceError: some PVs did not connect in time (names the first few and what to check),
            or the IOC's EGU disagrees with a signal's unit.
    """
    from devices.epics import devices as classes

    if not isinstance(prefix, str) or not prefix.strip():
        raise InputDataError(f"EPICS prefix {prefix!r} must be a non-empty string such as 'SDL:'")
    if isinstance(connection_timeout, bool) or not isinstance(connection_timeout, (int, float)) \
            or not connection_timeout > 0:
        raise InputDataError(f"connection_timeout {connection_timeout!r} must be a number of seconds above 0")
    use_channel_access()
    limits = limits if limits is not None else DEFAULT_LIMITS
    devices = {name: getattr(classes, cls)(device_prefix(prefix, name), name=name, limits=limits)
               for name, cls in DEVICE_CLASSES.items()}
    _connect(prefix, devices, connection_timeout)
    for device in devices.values():
        for walk in device.walk_signals():
            check = getattr(walk.item, "check_units", None)
            if check is not None:
                check()
    return EpicsSynthesisLine(**devices, limits=limits, prefix=prefix, clock_rate=_time_scale(prefix))


def _connect(prefix: str, devices: dict, timeout: float) -> None:
    import time

    from ophyd.signal import EpicsSignalBase

    deadline = time.monotonic() + timeout
    try:
        for device in devices.values():
            device.wait_for_connection(all_signals=True, timeout=max(deadline - time.monotonic(), 0.1))
    except TimeoutError as err:
        missing = [walk.item.pvname for device in devices.values() for walk in device.walk_signals()
                   if isinstance(walk.item, EpicsSignalBase) and not walk.item.connected]
        shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
        raise DeviceError(
            f"the line's IOC at prefix {prefix!r} did not answer within {timeout:g} s ({shown or 'no PV'} "
            "not connected); start it (python -m devices.ioc --prefix ...) or set EPICS_CA_ADDR_LIST / "
            "EPICS_CA_SERVER_PORT to reach it") from err


def _time_scale(prefix: str) -> float:
    """The IOC's ``TimeScale`` (a simulated line's speedup), or 1 where it has none (hardware)."""
    from ophyd import EpicsSignalRO

    signal = EpicsSignalRO(f"{prefix}{TIME_SCALE}", name="time_scale", auto_monitor=False)
    try:
        signal.wait_for_connection(timeout=2.0)
        value = float(signal.get())
    except TimeoutError:
        return 1.0
    finally:
        signal.destroy()
    return value if value > 0 else 1.0


__all__ = ["DEVICE_CLASSES", "EpicsSynthesisLine", "make_epics_line", "use_channel_access"]
