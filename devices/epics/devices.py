"""Ophyd EPICS devices of a line: the base every line's EPICS device builds on, and the sample
tracker and room sensor every line has, with the same components, set/trigger semantics and
data keys as their in-process classes (:class:`devices.SampleTracker`,
:class:`devices.AmbientSensor`), over Channel Access.

A material system's EPICS devices mirror its in-process devices the same way, so its plan
and :func:`devices.steps_from_documents` work on either. Actions use the protocol of
:mod:`devices.epics.pvs` (put-completion on ``Go`` / ``Acquire``, then ``Error``). Component
suffixes are the PV names below the device prefix; a real IOC with other names is served by
a subclass that overrides the Components.
"""

from __future__ import annotations

import logging
import threading
from typing import ClassVar

from ophyd import Component as Cpt
from ophyd import Device, EpicsSignal, EpicsSignalRO, Kind
from ophyd.status import DeviceStatus

from core import DeviceError, DeviceFault, InputDataError
from devices.epics.pvs import ACQUIRE, BUSY, ERROR, GO, STOP
from devices.epics.signals import EpicsQuantitySignal as Q
from devices.epics.signals import EpicsSetpointSignal as SP
from devices.limits import NO_LIMITS, DeviceLimits

log = logging.getLogger(__name__)

#: Wall seconds to reach an IOC before an action counts as a ``disconnect`` fault.
CONNECT_TIMEOUT = 5.0


class EpicsLineDevice(Device):
    """Base of the line's EPICS devices: limits, and actions that finish on put-completion.

    Args:
        prefix: the device's PV prefix (``SDL:furnace:``).
        name: ophyd name; also the first part of its setpoint paths unless ``limit_key`` is given.
        limits: the device limits; the line shares its own (none until it does).
        limit_key: device part of the setpoint paths (``furnace`` in ``furnace.temperature``).

    Attributes:
        main_setpoint: the setpoint attribute ``set(value)`` writes, as on the in-process device.
    """

    main_setpoint: ClassVar[str | None] = None

    busy = Cpt(EpicsSignalRO, BUSY, kind=Kind.omitted, auto_monitor=False)
    error = Cpt(EpicsSignalRO, ERROR, string=True, kind=Kind.omitted, auto_monitor=False)
    stop_request = Cpt(EpicsSignal, STOP, kind=Kind.omitted, auto_monitor=False)

    def __init__(self, prefix: str = "", *, name: str, limits: DeviceLimits | None = None,
                 limit_key: str | None = None, **kwargs):
        super().__init__(prefix, name=name, **kwargs)
        self.limits = limits if limits is not None else NO_LIMITS
        self.limit_key = limit_key or name
        self._action_lock = threading.Lock()
        self._running = False

    def _run_program(self, setpoint, value, *program) -> DeviceStatus:
        """Check ``value`` and the program setpoints already written (limits may have changed
        since they were set) against the limits, then write ``value`` and start ``go``."""
        magnitude = setpoint.checked_magnitude(value)
        for signal in program:
            signal.checked_magnitude(signal.get())
        setpoint.put(magnitude)
        return self._start(self.go)

    def _start(self, action: EpicsSignal) -> DeviceStatus:
        """Write 1 to the action PV with put-completion; the status finishes when the IOC
        answers, and fails with the IOC's ``Error`` (a :class:`core.DeviceFault` when it has
        a fault's grammar) if it is not empty.

        Raises:
            DeviceError: an action of this device is still running.
            DeviceFault: of kind ``disconnect`` when the IOC cannot be reached.
        """
        with self._action_lock:
            if self._running:
                raise DeviceError(f"{self.name}: busy with a previous action; wait for it or stop the device")
            self._running = True
        status = DeviceStatus(self)

        def conclude() -> None:
            try:
                text = str(self.error.get() or "").strip()
            except Exception as err:  # the IOC went away between the answer and this read
                text = f"{self.name}: disconnect: could not read {self.error.pvname}: {err}"
            with self._action_lock:
                self._running = False
            if not text:
                status.set_finished()
                return
            status.set_exception(DeviceFault.from_message(text) or DeviceError(text))

        def answered(*args, **kwargs) -> None:
            # not in the control layer's callback thread: conclude() makes a blocking read
            threading.Thread(target=conclude, name=f"{self.name}-done", daemon=True).start()

        try:
            action.put(1, use_complete=True, callback=answered, timeout=None,
                       connection_timeout=CONNECT_TIMEOUT)
        except Exception as err:
            with self._action_lock:
                self._running = False
            raise DeviceFault(self.name, "disconnect", f"the IOC did not answer at {action.pvname}: {err}") from err
        return status

    def stop(self, *, success: bool = False) -> None:
        """Ask the IOC to interrupt the running action (its status fails with the IOC's error)."""
        try:
            self.stop_request.put(1, wait=False)
        except Exception as err:  # a stop must not raise: the plan is already handling a failure
            log.warning("%s: could not send stop to %s: %s", self.name, self.stop_request.pvname, err)
        super().stop(success=success)


class EpicsSampleTracker(EpicsLineDevice):
    """Like :class:`devices.SampleTracker`: ``set(sample_id)`` assigns a vial; ``trigger()`` refreshes."""

    main_setpoint = "sample_id"

    sample_id = Cpt(SP, "sample_id", units=None)
    barcode = Cpt(Q, "barcode", kind=Kind.hinted)
    vial = Cpt(Q, "vial", kind=Kind.hinted)
    location = Cpt(Q, "location", kind=Kind.hinted)
    state = Cpt(Q, "state", kind=Kind.hinted)
    go = Cpt(EpicsSignal, GO, kind=Kind.omitted, auto_monitor=False)
    acquire = Cpt(EpicsSignal, ACQUIRE, kind=Kind.omitted, auto_monitor=False)

    def set(self, value):
        """Assign a vial to sample ``value`` (a non-empty string)."""
        if not isinstance(value, str) or not value.strip():
            raise InputDataError(f"{self.limit_key}.sample_id: {value!r} is not a sample id; give a non-empty string")
        self.sample_id.put(value)
        return self._start(self.go)

    def trigger(self):
        return self._start(self.acquire)


class EpicsAmbientSensor(EpicsLineDevice):
    """Like :class:`devices.AmbientSensor`: ``trigger()`` samples the room."""

    room_temperature = Cpt(Q, "room_temperature", units="degC", role="ambient", kind=Kind.hinted)
    relative_humidity = Cpt(Q, "relative_humidity", units="percent", role="ambient", kind=Kind.hinted)
    acquire = Cpt(EpicsSignal, ACQUIRE, kind=Kind.omitted, auto_monitor=False)

    def trigger(self):
        return self._start(self.acquire)


__all__ = ["CONNECT_TIMEOUT", "EpicsAmbientSensor", "EpicsLineDevice", "EpicsSampleTracker"]
