"""Device faults: the kinds the twins can inject, the kinds worth retrying, and how to find a fault again.

Whatever their origin (a simulated twin told to misbehave, or real hardware), the plan
raises them as :class:`core.DeviceFault`.
"""

from __future__ import annotations

from core import DEVICE_FAULT_KINDS, DeviceFault

#: Kinds a twin can inject (the watchdog is the plan's, not the device's).
INJECTABLE_KINDS = tuple(kind for kind in DEVICE_FAULT_KINDS if kind != "watchdog")
#: Kinds that corrupt a reading; they take a ``signal``.
READING_KINDS = ("nan_reading", "out_of_range", "stuck")
#: Kinds a controller may retry by default: the device (or link) misbehaved once and a new
#: sample has a fair chance. ``out_of_range`` (a reading no healthy device gives: check the
#: hardware) and ``stuck`` (a sensor that stays stuck) are not retried by default.
DEFAULT_RETRYABLE_KINDS = ("timeout", "fail", "disconnect", "watchdog", "nan_reading")


def fault_from_exception(exc: BaseException | None) -> DeviceFault | None:
    """The first :class:`core.DeviceFault` in ``exc`` or its ``__cause__``/``__context__`` chain, or None.

    ``RE(make_and_characterize(...))`` raises the plan's DeviceFault itself; this also finds
    it when the caller wrapped it in an exception of its own.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, DeviceFault):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None
