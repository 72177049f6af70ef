"""A line over Channel Access: the control layer, connecting a line's EPICS devices under one PV
prefix, and the IOC's time scale. A material system's ``make_line`` builds its devices with these."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core import DeviceError, InputDataError
from devices.epics.pvs import TIME_SCALE, device_prefix


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


def connect_devices(prefix: str, devices: dict, timeout: float) -> None:
    """Wait until every PV of ``devices`` (name -> EPICS device) is connected.

    Raises:
        DeviceError: some PVs did not connect within ``timeout`` wall seconds (names the first few).
    """
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
            "not connected); start the line's IOC with that prefix, or set EPICS_CA_ADDR_LIST / "
            "EPICS_CA_SERVER_PORT to reach it") from err


def connect_line(prefix: str, classes: Mapping[str, type], limits: Any, connection_timeout: float = 10.0) -> dict[str, Any]:
    """A line's EPICS devices under one PV prefix, connected and with their units checked.

    The IOC is found the usual Channel Access way: ``EPICS_CA_ADDR_LIST``,
    ``EPICS_CA_AUTO_ADDR_LIST`` and ``EPICS_CA_SERVER_PORT`` from the environment, read when
    this process first searches for a PV.

    Args:
        prefix: PV prefix of the line (``SDL:`` -> ``SDL:furnace:temperature``).
        classes: device (line attribute) name -> its EPICS device class, in process order.
        limits: the device limits every device checks before a write (the IOC's control
            limits are checked too).
        connection_timeout: wall seconds to wait for every PV to connect.

    Returns:
        name -> connected device.

    Raises:
        InputDataError: empty prefix or a bad timeout.
        DeviceError: some PVs did not connect in time (names the first few and what to check),
            or the IOC's EGU disagrees with a signal's unit.
    """
    if not isinstance(prefix, str) or not prefix.strip():
        raise InputDataError(f"EPICS prefix {prefix!r} must be a non-empty string such as 'SDL:'")
    if isinstance(connection_timeout, bool) or not isinstance(connection_timeout, (int, float)) \
            or not connection_timeout > 0:
        raise InputDataError(f"connection_timeout {connection_timeout!r} must be a number of seconds above 0")
    use_channel_access()
    devices = {name: cls(device_prefix(prefix, name), name=name, limits=limits) for name, cls in classes.items()}
    connect_devices(prefix, devices, connection_timeout)
    for device in devices.values():
        for walk in device.walk_signals():
            check = getattr(walk.item, "check_units", None)
            if check is not None:
                check()
    return devices


def read_time_scale(prefix: str) -> float:
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


__all__ = ["connect_devices", "connect_line", "read_time_scale", "use_channel_access"]
