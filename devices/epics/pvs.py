"""The Channel Access contract between the line's EPICS devices and an IOC that serves them.

Shared by the Ophyd client classes (:mod:`devices.epics.devices`) and the simulated IOC
(a material system's IOC), so both sides agree on names, units and the action protocol.

PV names: ``<prefix><device>:<signal>``, e.g. ``SDL:furnace:temperature``; ``<device>`` is the
line attribute name (``feed_pump``) and ``<signal>`` the Ophyd component name, so a
data key's ``source`` (``PV:SDL:furnace:temperature``) names the component it came from.

Actions (a long move or measurement) follow the busy-record pattern with put-completion:

- ``<device>:Go`` (``set``) or ``<device>:Acquire`` (``trigger``): write 1 with put-completion;
  the IOC starts the action and answers the put only when the action has finished,
  after the readbacks are written. The put itself never fails on the IOC.
- ``<device>:Busy``: 1 while an action runs.
- ``<device>:Error``: empty after a good action; else the failure in words (a
  :class:`core.DeviceFault` message, ``<device>: <kind>: <detail>``, where the device knows
  the kind). The client reads it when the put completes.
- ``<device>:Stop``: write 1 to interrupt the running action (it ends with an Error).

Line PVs: ``<prefix>TimeScale`` (process seconds per wall second; a simulated line's
``speedup``, absent or 1 on hardware) and ``<prefix>Clock`` (simulated seconds).
"""

from __future__ import annotations

from core import ureg, unit_text

#: Longest text (sample ids, SMILES, lot numbers, errors) in characters: text travels as
#: CHAR waveforms because a CA ``DBR_STRING`` holds only 40 characters.
TEXT_LENGTH = 256
#: A CA engineering-units field holds at most this many characters.
EGU_LENGTH = 8

GO, ACQUIRE, BUSY, STOP, ERROR = "Go", "Acquire", "Busy", "Stop", "Error"
TIME_SCALE, CLOCK = "TimeScale", "Clock"
#: Which action PV starts each kind of action.
ACTION_PV = {"set": GO, "trigger": ACQUIRE}

# Units whose pint text is longer than a CA EGU field, written in a shorter form pint parses
# to the same unit.
_SHORT_EGU = {"MPa*m**0.5": "MPa m^.5", "dimensionless": ""}


def device_prefix(prefix: str, device: str) -> str:
    """``SDL:`` + ``furnace`` -> ``SDL:furnace:``: the prefix of one device's PVs."""
    return f"{prefix}{device}:"


def egu(units: str) -> str:
    """The EPICS engineering units (at most 8 characters) of a pint unit text.

    Raises:
        ValueError: the unit has no short form that fits.
    """
    text = unit_text(units)
    short = _SHORT_EGU.get(text, text)
    if len(short) > EGU_LENGTH:
        raise ValueError(f"unit {text!r} is longer than the {EGU_LENGTH} characters of an EPICS EGU field")
    return short


def same_units(egu_text: str, units: str) -> bool | None:
    """Whether the EGU an IOC reports is the unit a signal expects; None when pint cannot parse the EGU."""
    expected = ureg.Quantity(1.0, units if units != "dimensionless" else "")
    try:
        reported = ureg.Quantity(1.0, egu_text or "")
    except Exception:  # an EGU like "deg C" or "counts" that pint does not know
        return None
    if reported.dimensionality != expected.dimensionality:
        return False
    return abs(float(reported.to(expected.units).magnitude) - 1.0) < 1e-9 and \
        abs(float(ureg.Quantity(0.0, reported.units).to(expected.units).magnitude)) < 1e-9


__all__ = ["ACQUIRE", "ACTION_PV", "BUSY", "CLOCK", "EGU_LENGTH", "ERROR", "GO", "STOP", "TEXT_LENGTH", "TIME_SCALE",
           "device_prefix", "egu", "same_units"]
