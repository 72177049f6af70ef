"""Bluesky plans of the line. Plans only yield messages: nothing here sleeps or touches hardware."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import pint
from bluesky.protocols import Triggerable
from bluesky.utils import FailedStatus

from core import DeviceError, DeviceFault, InputDataError, SDLError, quantity_to_record
from systems.thermoset.devices.durations import READ_ONLY, expected_seconds, format_seconds
from systems.thermoset.devices.line import SynthesisLine
from systems.thermoset.devices.readings import DEVICE_READINGS, reading_fault
from systems.thermoset.devices.recipes import DEFAULT_BATCH_MASS, additive_smiles, check_recipe_limits

PLAN_NAME = "make_and_characterize"
#: Event streams of one run, in order. ``ambient`` is the room at the start; every
#: process step's stream also carries an ambient reading of its own.
STREAMS = ("ambient", "tracker", "dispense", "mix", "cure", "characterize")
#: The process steps (streams other than ``ambient``), as in ``RobotRunRecord.steps``.
STEP_NAMES = STREAMS[1:]
#: A device action may take this many times its nominal duration before the watchdog stops it.
DEFAULT_WATCHDOG_FACTOR = 3.0
#: Wall-clock seconds added to every watchdog limit, so a slow machine does not trip it at high speedups.
DEFAULT_WATCHDOG_FLOOR = 2.0
#: Wall-clock seconds the plan waits for a device stopped by the watchdog to give up its action.
STOP_GRACE = 5.0

_ACTION_WORDS = {"oven": "cure", "mixer": "mix", "characterizer": "measurement", "tracker": "tracker action",
                 "ambient": "room reading"}


def make_and_characterize(
    line: SynthesisLine,
    recipe: Mapping[str, pint.Quantity | str],
    sample_id: str,
    md: Mapping[str, Any] | None = None,
    batch_mass: pint.Quantity = DEFAULT_BATCH_MASS,
    process: Mapping[str, pint.Quantity] | None = None,
    watchdog_factor: float = DEFAULT_WATCHDOG_FACTOR,
    watchdog_floor: float = DEFAULT_WATCHDOG_FLOOR,
):
    """Plan: make one film from ``recipe`` on ``line`` and characterize it.

    The recipe is checked against ``line.limits`` *now*, when this function is called,
    so an out-of-limit recipe raises before a plan exists and before any message
    reaches a device.

    One run; start metadata ``plan_name``, ``sample_id``, ``recipe`` and ``setpoints``
    (``recipe`` as ``{"value", "unit"}`` records;
    ``setpoints`` as a list of ``{"path", "value", "unit"}``), ``batch_mass``, ``streams``,
    ``watchdog`` (``factor``, ``floor_s``) plus ``md``. Streams,
    in order: ``ambient`` (room at start), ``tracker`` (vial and barcode),
    ``dispense`` (resin, hardener, additive), ``mix``, ``cure``, ``characterize``;
    each step's stream holds one event read after the step finished.

    Watchdog: every device action must finish within its nominal duration (from the
    setpoints, see :mod:`systems.thermoset.devices.durations`) x ``watchdog_factor`` / ``line.time_scale``
    + ``watchdog_floor`` wall seconds; otherwise the device is stopped and the plan raises
    :class:`core.DeviceFault` of kind ``watchdog``.

    Readings: after each step the readings are checked (:func:`systems.thermoset.devices.readings.reading_fault`)
    before the step's event is saved; a NaN, a physically impossible value or a noisy
    reading that repeats the sensor's previous value exactly raises DeviceFault of kind
    ``nan_reading`` / ``out_of_range`` / ``stuck`` and the step's event is dropped.

    Args:
        line: the synthesis line (hardware or :func:`systems.thermoset.devices.make_sim_line`).
        recipe: the recipe (see docs/interfaces.md).
        sample_id: the sample's id, recorded in the start document and given to the tracker.
        md: extra start metadata (campaign, suggestion ...); must be JSON-able.
        batch_mass: film batch mass.
        process: overrides of the process defaults (``oven.ramp_rate`` ...).
        watchdog_factor: how many times its nominal duration an action may take (> 0).
        watchdog_floor: wall seconds added to every action's limit (>= 0).

    Returns:
        A generator of ``bluesky.Msg``.

    Raises:
        LimitError: a setpoint is outside ``line.limits`` (all violations listed).
        InputDataError: malformed recipe, empty sample id, bad watchdog settings.

    When run, a device fault ends the run cleanly: the stop document has
    ``exit_status="fail"`` and ``reason`` = the fault's message (``<device> (<step>): <kind>:
    <detail>``, read back by :func:`devices.steps_from_documents` into ``record.fault``); the
    documents before it hold the steps completed so far. The RunEngine raises the
    :class:`core.DeviceFault` itself (a DeviceError subclass) with ``step`` set; its
    ``__cause__`` is the ``FailedStatus`` (``fail``, ``timeout`` ended by a stop), the
    ``TimeoutError`` of the wait (``watchdog``), the device's own DeviceFault
    (``disconnect``), or None (reading faults). Every failed device status becomes a
    DeviceFault of kind ``fail`` whose detail is the device's own message.
    """
    if not isinstance(sample_id, str) or not sample_id.strip():
        raise InputDataError(f"sample_id {sample_id!r} must be a non-empty string")
    for name, value, low in (("watchdog_factor", watchdog_factor, "above 0"), ("watchdog_floor", watchdog_floor, "0 or more")):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or (value <= 0 if name == "watchdog_factor" else value < 0):
            raise InputDataError(f"{name} {value!r} must be a finite number {low}")
    setpoints = check_recipe_limits(recipe, line.limits, batch_mass, process)
    start_md = {
        **dict(md or {}),
        "plan_name": PLAN_NAME,
        "sample_id": sample_id,
        "recipe": {key: quantity_to_record(value) for key, value in recipe.items()},
        # event-model forbids '.' in nested metadata keys, so setpoints travel as a list
        "setpoints": [{"path": path, **quantity_to_record(value)} for path, value in setpoints.items()],
        "batch_mass": quantity_to_record(batch_mass),
        "streams": list(STREAMS),
        "watchdog": {"factor": float(watchdog_factor), "floor_s": float(watchdog_floor)},
    }
    runner = _Runner(line, setpoints, float(watchdog_factor), float(watchdog_floor))
    return runner.plan(additive_smiles(recipe) or "", sample_id, start_md)


def _device_of(obj: Any) -> Any:
    """The device that owns ``obj`` (a device is its own owner)."""
    while getattr(obj, "parent", None) is not None:
        obj = obj.parent
    return obj


class _Runner:
    """The plan's state: the current step and the watchdog settings."""

    def __init__(self, line: SynthesisLine, setpoints: dict, factor: float, floor: float):
        self.line, self.sp = line, setpoints
        self.factor, self.floor = factor, floor
        self.scale = line.time_scale
        self.step: str | None = None
        self._groups = 0

    # -- device actions under the watchdog ---------------------------------------------
    def expected(self, obj: Any, action: str) -> float:
        device = _device_of(obj)
        if obj is not device:  # a soft setpoint signal: written at once
            return READ_ONLY
        return expected_seconds(device.name, self.sp, action)

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
            device = _device_of(obj)
            what = _ACTION_WORDS.get(device.name, "dose" if device.name.endswith("_dispenser") else "action")
            fault = DeviceFault(device.name, "watchdog",
                                f"the {what} ran {elapsed * self.scale / nominal:.1f}x its expected "
                                f"{format_seconds(nominal)} without finishing; stopped", self.step)
            try:
                for late_obj, _ in late:
                    if hasattr(_device_of(late_obj), "stop"):
                        yield from bps.stop(_device_of(late_obj))
                # the stopped actions fail their statuses: collect them here, not in close_run
                yield from bps.wait(group=group, timeout=STOP_GRACE)
            except Exception:  # the stopped status's failure is expected
                pass
            raise fault from err

    def mv(self, *pairs: tuple[Any, Any]):
        """Like ``bps.mv`` (one group, then wait), under the watchdog."""
        self._groups += 1
        group = f"mv-{self.step}-{self._groups}"
        actions = []
        for obj, value in pairs:
            status = yield from bps.abs_set(obj, value, group=group)
            actions.append((obj, status, self.expected(obj, "set")))
        yield from self._wait(group, actions)

    def previous(self, devices: Sequence[Any]):
        """The devices' current readings (their sensors' previous values), for the stuck check."""
        previous = {}
        for device in devices:
            reading = yield from bps.read(device)
            previous[device.name] = self._values(device, reading or {})
        return previous

    @staticmethod
    def _values(device: Any, reading: Mapping[str, Any]) -> dict[str, float]:
        values = {}
        for attr in DEVICE_READINGS.get(device.name, ()):
            signal = getattr(device, attr, None)
            if signal is not None and signal.name in reading:
                values[attr] = reading[signal.name]["value"]
        return values

    def read_step(self, devices: Sequence[Any], name: str, previous: Mapping[str, dict] | None = None):
        """Like ``bps.trigger_and_read``, with the watchdog on the triggers and the readings
        checked before the event is saved (a bad reading drops the event and raises)."""
        group = f"trigger-{name}"
        actions = []
        for device in devices:
            if isinstance(device, Triggerable):
                status = yield from bps.trigger(device, group=group)
                actions.append((device, status, self.expected(device, "trigger")))
        if actions:
            yield from self._wait(group, actions)
        yield from bps.create(name)
        try:
            readings: dict[str, Any] = {}
            for device in devices:
                readings.update((yield from bps.read(device)) or {})
            for device in devices:
                values = self._values(device, readings)
                fault = reading_fault(device.name, values, (previous or {}).get(device.name), self.step)
                if fault is not None:
                    raise fault
        except BaseException:
            yield from bps.drop()
            raise
        yield from bps.save()
        return readings

    # -- the plan ------------------------------------------------------------------------
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
            device = _device_of(getattr(status, "device", None) or getattr(status, "obj", None))
            name = getattr(device, "name", None) or "device"
            raise DeviceFault(name, "fail", str(cause or err), self.step) from err

    def plan(self, additive: str, sample_id: str, start_md: dict):
        @bpp.run_decorator(md=start_md)
        def run():
            return (yield from self.device_errors(self.steps(additive, sample_id)))

        return (yield from run())

    def steps(self, additive: str, sample_id: str):
        line, sp, ambient = self.line, self.sp, self.line.ambient
        # Dosing, mixing and curing cannot be undone or replayed: without a checkpoint the
        # RunEngine never rewinds this plan, and a pause request aborts the run (and stops
        # the device) instead of re-issuing the step's messages on resume.
        yield from bps.clear_checkpoint()
        self.step = "ambient"
        yield from self.read_step([ambient], "ambient")

        self.step = "tracker"
        yield from self.mv((line.tracker, sample_id))
        yield from self.read_step([line.tracker, ambient], "tracker")

        self.step = "dispense"
        previous = yield from self.previous(line.dispensers)
        yield from self.mv((line.additive_dispenser.reagent, additive))
        for dispenser in line.dispensers:
            yield from self.mv((dispenser, sp[f"{dispenser.limit_key}.mass"]))
        yield from self.read_step([*line.dispensers, ambient], "dispense", previous)

        self.step = "mix"
        previous = yield from self.previous([line.mixer])
        yield from self.mv((line.mixer.duration, sp["mixer.duration"]))
        yield from self.mv((line.mixer, sp["mixer.speed"]))
        yield from self.read_step([line.mixer, ambient], "mix", previous)

        self.step = "cure"
        oven = line.oven
        previous = yield from self.previous([oven])
        yield from self.mv(
            (oven.ramp_rate, sp["oven.ramp_rate"]),
            (oven.settle_tolerance, sp["oven.settle_tolerance"]),
            (oven.settle_time, sp["oven.settle_time"]),
            (oven.hold_time, sp["oven.hold_time"]),
        )
        yield from self.mv((oven, sp["oven.temperature"]))
        yield from self.read_step([oven, ambient], "cure", previous)

        self.step = "characterize"
        previous = yield from self.previous([line.characterizer])
        yield from self.mv((line.characterizer.heating_rate, sp["characterizer.heating_rate"]))
        yield from self.read_step([line.characterizer, ambient], "characterize", previous)
