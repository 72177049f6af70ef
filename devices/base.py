"""Common base of a line's devices: limits, a backend, and actions that finish from a worker thread."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from ophyd import Device
from ophyd.status import DeviceStatus

from core import DeviceError, SDLError
from devices.limits import NO_LIMITS, DeviceLimits

#: An action runs in a worker thread, gets an event that is set when the device is
#: stopped, and returns the readbacks to write: signal attribute name -> quantity or text.
Action = Callable[[threading.Event], Mapping[str, Any]]


class LineDevice(Device):
    """An ophyd device of a line with a backend (hardware driver or simulated twin).

    Args:
        name: ophyd name; also the first part of its setpoint paths unless ``limit_key`` is given.
        backend: the object that talks to the hardware (or simulates it).
        limits: the device limits; the line shares its own (none until it does).
        limit_key: device part of the setpoint paths (``furnace`` in ``furnace.temperature``).

    Attributes:
        main_setpoint: the setpoint attribute ``set(value)`` writes (``temperature``), for
            :func:`devices.line.setpoint_path`; None for a device that is only triggered.
    """

    main_setpoint: ClassVar[str | None] = None

    def __init__(self, prefix: str = "", *, name: str, backend: Any, limits: DeviceLimits | None = None,
                 limit_key: str | None = None, **kwargs):
        super().__init__(prefix, name=name, **kwargs)
        self.backend = backend
        self.limits = limits if limits is not None else NO_LIMITS
        self.limit_key = limit_key or name
        self._stop_event = threading.Event()
        self._action_lock = threading.Lock()
        self._running = False

    def _start(self, action: Action, kind: str = "set") -> DeviceStatus:
        """Run ``action`` in a daemon thread; the returned status finishes when it has.

        The caller never blocks. A failure of the action fails the status with DeviceError.
        Before the thread starts, the backend's optional ``begin_action(kind)`` (``kind`` is
        ``set`` or ``trigger``) runs here, synchronously: a backend that cannot reach its
        device raises there (:class:`core.DeviceFault` of kind ``disconnect``), so ``set`` /
        ``trigger`` raise at once instead of returning a status.
        """
        with self._action_lock:
            if self._running:
                raise DeviceError(f"{self.name}: busy with a previous action; wait for it or stop the device")
            self._running = True
        begin = getattr(self.backend, "begin_action", None)
        if begin is not None:
            try:
                begin(kind)
            except BaseException:
                with self._action_lock:
                    self._running = False
                raise
        status = DeviceStatus(self)
        stop = threading.Event()
        self._stop_event = stop

        def work() -> None:
            try:
                readings = action(stop)
                for attr, value in readings.items():
                    getattr(self, attr).put(value)
            except Exception as err:  # the status carries every failure back to the RunEngine
                error = err
                if not isinstance(err, SDLError):
                    error = DeviceError(f"{self.name}: {type(err).__name__}: {err}")
                    error.__cause__ = err
                with self._action_lock:
                    self._running = False
                status.set_exception(error)
            else:
                with self._action_lock:
                    self._running = False
                status.set_finished()

        threading.Thread(target=work, name=f"{self.name}-action", daemon=True).start()
        return status

    def stop(self, *, success: bool = False) -> None:
        """Interrupt the running action (its status fails with DeviceError)."""
        self._stop_event.set()
        super().stop(success=success)
