"""The run loop every line's plan shares: a sequence of named steps under a watchdog, with the
readings checked before each event is saved and every device failure turned into a
:class:`core.DeviceFault` that names its step.

A material system's plan checks its recipe, builds its start metadata (:func:`run_metadata`)
and hands :func:`run_steps` its line's step sequence: ``(name, step)`` pairs, where ``step(run)``
is a generator of messages written with the :class:`PlanRunner` ``run``'s watchdog-guarded
``mv``, ``trigger`` and ``read_step``. Plans only yield messages: nothing here sleeps or
touches hardware.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import pint
from bluesky.protocols import Triggerable
from bluesky.utils import FailedStatus

from core import DeviceError, DeviceFault, InputDataError, SDLError, quantity_to_record
from devices.readings import NO_READING_CHECKS, ReadingChecks

#: A device action may take this many times its nominal duration before the watchdog stops it.
DEFAULT_WATCHDOG_FACTOR = 3.0
#: Wall-clock seconds added to every watchdog limit, so a slow machine does not trip it at high speedups.
DEFAULT_WATCHDOG_FLOOR = 2.0
#: Wall-clock seconds the plan waits for a device stopped by the watchdog to give up its action.
STOP_GRACE = 5.0
#: Nominal seconds of an action that only samples sensors or writes a soft setpoint, and the
#: least any action is expected to take.
READ_ONLY = 1.0

#: One step of a line's plan: its name (what ``DeviceFault.step`` says) and a function of the
#: :class:`PlanRunner` that yields the step's messages.
Step = tuple[str, Callable[["PlanRunner"], Iterator[Any]]]
#: ``expected(device_name, setpoints, action)``: nominal process seconds of one ``set`` or
#: ``trigger`` of a device, from the run's setpoints (path -> quantity).
Expected = Callable[[str, Mapping[str, pint.Quantity], str], float]


def format_seconds(seconds: float) -> str:
    """``45 s``, ``12.5 min`` or ``4.3 h``."""
    if seconds < 120.0:
        return f"{seconds:.3g} s"
    if seconds < 7200.0:
        return f"{seconds / 60.0:.3g} min"
    return f"{seconds / 3600.0:.2g} h" if seconds < 36000.0 else f"{seconds / 3600.0:.3g} h"


def check_run_arguments(sample_id: Any, watchdog_factor: Any, watchdog_floor: Any) -> None:
    """Refuse an empty sample id or a watchdog setting no run can use.

    Raises:
        InputDataError: one line naming the argument and what it must be.
    """
    if not isinstance(sample_id, str) or not sample_id.strip():
        raise InputDataError(f"sample_id {sample_id!r} must be a non-empty string")
    for name, value, low in (("watchdog_factor", watchdog_factor, "above 0"), ("watchdog_floor", watchdog_floor, "0 or more")):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or (value <= 0 if name == "watchdog_factor" else value < 0):
            raise InputDataError(f"{name} {value!r} must be a finite number {low}")


def run_metadata(md: Mapping[str, Any] | None, *, plan_name: str, sample_id: str, recipe: Mapping[str, Any],
                 setpoints: Mapping[str, pint.Quantity], streams: Sequence[str], watchdog_factor: float,
                 watchdog_floor: float, **extra: Any) -> dict[str, Any]:
    """The start document's metadata of one run.

    ``md`` plus ``plan_name``, ``sample_id``, ``recipe`` (``{"value", "unit"}`` records; text
    stays text), ``setpoints`` (a list of ``{"path", "value", "unit"}``: event-model forbids
    '.' in nested metadata keys), ``streams``, ``watchdog`` (``factor``, ``floor_s``) and
    ``extra`` (quantities as records).
    """
    return {
        **dict(md or {}),
        "plan_name": plan_name,
        "sample_id": sample_id,
        "recipe": {key: quantity_to_record(value) for key, value in recipe.items()},
        "setpoints": [{"path": path, **quantity_to_record(value)} for path, value in setpoints.items()],
        **{key: quantity_to_record(value) if isinstance(value, pint.Quantity) else value for key, value in extra.items()},
        "streams": list(streams),
        "watchdog": {"factor": float(watchdog_factor), "floor_s": float(watchdog_floor)},
    }


def device_of(obj: Any) -> Any:
    """The device that owns ``obj`` (a device is its own owner)."""
    while getattr(obj, "parent", None) is not None:
        obj = obj.parent
    return obj


def _nominal(seconds: float) -> float:
    return max(float(seconds), READ_ONLY)


class PlanRunner:
    """The state of one run: its line and setpoints, the current step, the watchdog and the
    reading checks.

    Args:
        line: the line (its ``time_scale``: process seconds per wall second).
        setpoints: the run's setpoints, path -> quantity.
        watchdog_factor, watchdog_floor: an action must finish within its nominal duration x
            ``watchdog_factor`` / ``line.time_scale`` + ``watchdog_floor`` wall seconds.
        expected: nominal seconds of a device's action (see :data:`Expected`); None for
            :data:`READ_ONLY` unless an action is given its own ``nominal``.
        readings: the line's reading checks; None checks no reading.
        action_word: what the watchdog's message calls an action of a device (``"anneal"``);
            None for ``"action"``.
    """

    def __init__(self, line: Any, setpoints: Mapping[str, pint.Quantity], *,
                 watchdog_factor: float = DEFAULT_WATCHDOG_FACTOR, watchdog_floor: float = DEFAULT_WATCHDOG_FLOOR,
                 expected: Expected | None = None, readings: ReadingChecks | None = None,
                 action_word: Callable[[str], str] | None = None):
        self.line, self.sp = line, dict(setpoints)
        self.factor, self.floor = float(watchdog_factor), float(watchdog_floor)
        self.scale = float(line.time_scale)
        self.readings = readings or NO_READING_CHECKS
        self._expected = expected
        self._action_word = action_word
        self.step: str | None = None
        self._groups = 0

    # -- device actions under the watchdog ---------------------------------------------
    def expected(self, obj: Any, action: str) -> float:
        """Nominal process seconds of ``action`` (``set`` or ``trigger``) of ``obj``."""
        device = device_of(obj)
        if obj is not device or self._expected is None:  # a soft setpoint signal: written at once
            return READ_ONLY
        return _nominal(self._expected(device.name, self.sp, action))

    def _wait(self, group: str, actions: list[tuple[Any, Any, float]]):
        """Wait for ``group`` (``actions``: (object, status, nominal s)) under the watchdog."""
        longest = max(expected for _, _, expected in actions)
        started = time.monotonic()
        try:
            yield from bps.wait(group=group, timeout=longest * self.factor / self.scale + self.floor)
        except TimeoutError as err:
            elapsed = time.monotonic() - started
            late = [(obj, exp) for obj, status, exp in actions if status is not None and not status.done]
            late = late or [(obj, exp) for obj, _, exp in actions]
            obj, nominal = late[0]
            device = device_of(obj)
            what = self._action_word(device.name) if self._action_word is not None else "action"
            fault = DeviceFault(device.name, "watchdog",
                                f"the {what} ran {elapsed * self.scale / nominal:.1f}x its expected "
                                f"{format_seconds(nominal)} without finishing; stopped", self.step)
            try:
                for late_obj, _ in late:
                    if hasattr(device_of(late_obj), "stop"):
                        yield from bps.stop(device_of(late_obj))
                # the stopped actions fail their statuses: collect them here, not in close_run
                yield from bps.wait(group=group, timeout=STOP_GRACE)
            except Exception:  # the stopped status's failure is expected
                pass
            raise fault from err

    def mv(self, *pairs: tuple[Any, Any], nominal: float | None = None):
        """Like ``bps.mv`` (every ``(object, value)`` set in one group, then wait), under the
        watchdog; ``nominal`` (process seconds) overrides :meth:`expected` for the group."""
        self._groups += 1
        group = f"mv-{self.step}-{self._groups}"
        actions = []
        for obj, value in pairs:
            status = yield from bps.abs_set(obj, value, group=group)
            actions.append((obj, status, _nominal(nominal) if nominal is not None else self.expected(obj, "set")))
        yield from self._wait(group, actions)

    def trigger(self, *devices: Any, nominal: float | None = None):
        """Trigger ``devices`` together and wait for them under the watchdog (no event)."""
        self._groups += 1
        group = f"trigger-{self.step}-{self._groups}"
        actions = []
        for device in devices:
            status = yield from bps.trigger(device, group=group)
            actions.append((device, status, _nominal(nominal) if nominal is not None else self.expected(device, "trigger")))
        if actions:
            yield from self._wait(group, actions)

    def previous(self, devices: Sequence[Any]):
        """The devices' current readings (their sensors' previous values), for the stuck check."""
        previous = {}
        for device in devices:
            reading = yield from bps.read(device)
            previous[device.name] = self._values(device, reading or {})
        return previous

    def _values(self, device: Any, reading: Mapping[str, Any]) -> dict[str, float]:
        values = {}
        for attr in self.readings.readings_of(device.name):
            signal = getattr(device, attr, None)
            if signal is not None and signal.name in reading:
                values[attr] = reading[signal.name]["value"]
        return values

    def read_step(self, devices: Sequence[Any], name: str, previous: Mapping[str, dict] | None = None, *,
                  also: Sequence[Any] = (), check: Callable[[Mapping[str, Any]], None] | None = None,
                  nominal: float | None = None):
        """Like ``bps.trigger_and_read`` into the stream ``name``: the triggerable ``devices``
        are triggered under the watchdog, then ``devices`` and ``also`` (read, not triggered)
        make one event. Before it is saved the readings are checked (the line's
        :class:`~devices.readings.ReadingChecks` against ``previous``, then ``check(readings)``,
        which raises :class:`core.DeviceFault`); a bad reading drops the event and raises."""
        yield from self.trigger(*[device for device in devices if isinstance(device, Triggerable)], nominal=nominal)
        yield from bps.create(name)
        try:
            readings: dict[str, Any] = {}
            for device in [*devices, *also]:
                readings.update((yield from bps.read(device)) or {})
            for device in [*devices, *also]:
                fault = self.readings.fault(device.name, self._values(device, readings),
                                            (previous or {}).get(device.name), self.step)
                if fault is not None:
                    raise fault
            if check is not None:
                check(readings)
        except BaseException:
            yield from bps.drop()
            raise
        yield from bps.save()
        return readings

    # -- the run ---------------------------------------------------------------------------
    def device_errors(self, plan):
        """Give every device failure its step: a failed status becomes :class:`core.DeviceFault`
        (the device's own fault, or kind ``fail`` with the device's message as detail)."""
        try:
            return (yield from plan)
        except DeviceFault as fault:
            if fault.step is None:
                raise fault.with_step(self.step) from fault
            raise
        except FailedStatus as err:
            status = err.args[0] if err.args else None
            cause = err.__cause__ or (status.exception() if hasattr(status, "exception") else None)
            if isinstance(cause, DeviceFault):
                raise cause.with_step(cause.step or self.step) from err
            if isinstance(cause, SDLError) and not isinstance(cause, DeviceError):
                raise type(cause)(str(cause)) from err
            device = device_of(getattr(status, "device", None) or getattr(status, "obj", None))
            name = getattr(device, "name", None) or "device"
            raise DeviceFault(name, "fail", str(cause or err), self.step) from err

    def _steps(self, steps: Sequence[Step]):
        # Making a sample cannot be undone or replayed: without a checkpoint the RunEngine never
        # rewinds the plan, and a pause request aborts the run (and stops the device) instead of
        # re-issuing a step's messages on resume.
        yield from bps.clear_checkpoint()
        for name, step in steps:
            self.step = name
            yield from step(self)

    def run(self, steps: Sequence[Step], start_md: Mapping[str, Any]):
        """One run of ``steps`` in order, with ``start_md`` as its start document's metadata."""
        @bpp.run_decorator(md=dict(start_md))
        def run():
            return (yield from self.device_errors(self._steps(steps)))

        return (yield from run())


def run_steps(line: Any, steps: Sequence[Step], *, setpoints: Mapping[str, pint.Quantity],
              start_md: Mapping[str, Any], watchdog_factor: float = DEFAULT_WATCHDOG_FACTOR,
              watchdog_floor: float = DEFAULT_WATCHDOG_FLOOR, expected: Expected | None = None,
              readings: ReadingChecks | None = None, action_word: Callable[[str], str] | None = None):
    """Plan: one run of a line's ``steps`` under the watchdog (see :class:`PlanRunner`).

    When run, a device fault ends the run cleanly: the stop document has
    ``exit_status="fail"`` and ``reason`` = the fault's message (``<device> (<step>): <kind>:
    <detail>``, read back by :func:`devices.steps_from_documents` into ``record.fault``); the
    documents before it hold the steps completed so far. The RunEngine raises the
    :class:`core.DeviceFault` itself (a DeviceError subclass) with ``step`` set; its
    ``__cause__`` is the ``FailedStatus`` (``fail``, ``timeout`` ended by a stop), the
    ``TimeoutError`` of the wait (``watchdog``), the device's own DeviceFault
    (``disconnect``), or None (reading faults).

    Returns:
        A generator of ``bluesky.Msg``.
    """
    runner = PlanRunner(line, setpoints, watchdog_factor=watchdog_factor, watchdog_floor=watchdog_floor,
                        expected=expected, readings=readings, action_word=action_word)
    return runner.run(steps, start_md)


__all__ = ["DEFAULT_WATCHDOG_FACTOR", "DEFAULT_WATCHDOG_FLOOR", "READ_ONLY", "STOP_GRACE", "Expected", "PlanRunner",
           "Step", "check_run_arguments", "device_of", "format_seconds", "run_metadata", "run_steps"]
