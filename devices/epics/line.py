"""A line over Channel Access: the control layer, connecting a line's EPICS devices under one PV
prefix, and the IOC's time scale. A material system's ``make_line`` builds its devices with these."""

from __future__ import annotations

from core import DeviceError
from devices.epics.pvs import TIME_SCALE


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


__all__ = ["connect_devices", "read_time_scale", "use_channel_access"]
