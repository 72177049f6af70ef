"""The Bluesky plan of the flow line: make one batch of dots and measure its emission spectrum.

Plans only yield messages: nothing here sleeps or touches hardware.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np
import pint
from bluesky.utils import FailedStatus

from core import DeviceError, DeviceFault, InputDataError, SDLError, quantity_to_record
from simulators.quantum_dots.optics import spectrum_features
from systems.quantum_dots.devices import FlowSynthesisLine
from systems.quantum_dots.recipes import REACTOR_VOLUME, check_recipe_limits

PLAN_NAME = "synthesize_and_measure"
#: Event streams of one run, in order; each after its step finished.
STREAMS = ("ambient", "collector", "react", "spectrum")
DEFAULT_WATCHDOG_FACTOR = 3.0
DEFAULT_WATCHDOG_FLOOR = 2.0
#: Smoothing (pixels) the record applies before reading the peak and FWHM off a measured spectrum.
SPECTRUM_SMOOTHING = 5


def synthesize_and_measure(line: FlowSynthesisLine, recipe: Mapping[str, pint.Quantity], sample_id: str,
                           md: Mapping[str, Any] | None = None, process: Mapping[str, pint.Quantity] | None = None,
                           watchdog_factor: float = DEFAULT_WATCHDOG_FACTOR,
                           watchdog_floor: float = DEFAULT_WATCHDOG_FLOOR):
    """Plan: make one batch of dots from ``recipe`` on ``line`` and record its PL spectrum.

    The recipe is checked now (the ligand constraint, then every setpoint against
    ``line.limits``), so a refused recipe raises before a plan exists.

    One run; start metadata ``plan_name``, ``sample_id``, ``recipe`` (``{"value", "unit"}``
    records), ``setpoints`` (a list of ``{"path", "value", "unit"}``), ``reactor_volume``,
    ``streams`` and ``watchdog`` plus ``md``. Streams, in order: ``ambient`` (the room),
    ``collector`` (vial and barcode), ``react`` (the pumps at their rates, the coil heated,
    settled and flushed to steady state: the pumps' metered flows and volumes, the coil's
    temperature, real residence time, pressure drop and settling), ``spectrum`` (the whole
    spectrum: ``wavelength`` in nm and ``intensity`` in counts, each an array of the
    detector's pixels). The pumps keep flowing after the measurement, as a continuous-flow
    line does, until the next run's rates.

    Watchdog: every action must finish within its nominal duration x ``watchdog_factor`` /
    ``line.time_scale`` + ``watchdog_floor`` wall seconds, else the device is stopped and the
    plan raises :class:`core.DeviceFault` of kind ``watchdog``. A spectrum with a NaN raises
    ``nan_reading``; one without an emission band inside the detector's range, ``out_of_range``.

    Raises:
        LimitError: the ligand fractions add up to more than 100 %, or a setpoint is outside
            the limits (all listed).
        InputDataError: malformed recipe, empty sample id, bad watchdog settings.
    """
    if not isinstance(sample_id, str) or not sample_id.strip():
        raise InputDataError(f"sample_id {sample_id!r} must be a non-empty string")
    for name, value, low in (("watchdog_factor", watchdog_factor, "above 0"), ("watchdog_floor", watchdog_floor, "0 or more")):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or (value <= 0 if name == "watchdog_factor" else value < 0):
            raise InputDataError(f"{name} {value!r} must be a finite number {low}")
    setpoints = check_recipe_limits(recipe, line.limits, process)
    start_md = {
        **dict(md or {}),
        "plan_name": PLAN_NAME,
        "sample_id": sample_id,
        "recipe": {key: quantity_to_record(value) for key, value in recipe.items()},
        "setpoints": [{"path": path, **quantity_to_record(value)} for path, value in setpoints.items()],
        "reactor_volume": quantity_to_record(REACTOR_VOLUME),
        "streams": list(STREAMS),
        "watchdog": {"factor": float(watchdog_factor), "floor_s": float(watchdog_floor)},
    }
    return _Run(line, setpoints, float(watchdog_factor), float(watchdog_floor)).plan(sample_id, start_md)


def _seconds(q: pint.Quantity) -> float:
    return float(q.to("s").magnitude)


class _Run:
    def __init__(self, line: FlowSynthesisLine, setpoints: dict[str, pint.Quantity], factor: float, floor: float):
        self.line, self.sp, self.factor, self.floor = line, setpoints, factor, floor
        self.step: str | None = None
        self._groups = 0

    def _wait(self, group: str, devices: list[Any], nominal: float):
        nominal = max(nominal, 1.0)
        limit = nominal * self.factor / self.line.time_scale + self.floor
        started = time.monotonic()
        try:
            yield from bps.wait(group=group, timeout=limit)
        except TimeoutError as err:
            elapsed = (time.monotonic() - started) * self.line.time_scale
            try:
                for device in devices:
                    yield from bps.stop(device)
                yield from bps.wait(group=group, timeout=5.0)
            except Exception:  # the stopped action's failure is expected
                pass
            raise DeviceFault(devices[0].name, "watchdog", f"the action ran {elapsed / nominal:.1f}x its expected "
                                                           f"{nominal:.0f} s without finishing; stopped", self.step) from err

    def mv(self, pairs: list[tuple[Any, Any]], nominal: float):
        """Set every (object, value) at once, then wait for all under the watchdog."""
        self._groups += 1
        group = f"mv-{self._groups}"
        for obj, value in pairs:
            yield from bps.abs_set(obj, value, group=group)
        owners = [obj if obj.parent is None else obj.parent for obj, _ in pairs]
        yield from self._wait(group, owners, nominal)

    def trigger(self, devices: list[Any], nominal: float):
        """Trigger ``devices`` together and wait for them under the watchdog."""
        self._groups += 1
        group = f"trigger-{self._groups}"
        for device in devices:
            yield from bps.trigger(device, group=group)
        yield from self._wait(group, devices, nominal)

    def read(self, name: str, triggered: list[Any], also: list[Any], nominal: float):
        """Trigger ``triggered`` (under the watchdog), then one event of them and ``also``."""
        yield from self.trigger(triggered, nominal)
        yield from bps.create(name)
        readings: dict[str, Any] = {}
        try:
            for device in [*triggered, *also]:
                readings.update((yield from bps.read(device)) or {})
            if name == "spectrum":
                self.check_spectrum(readings)
        except BaseException:
            yield from bps.drop()
            raise
        yield from bps.save()

    def check_spectrum(self, readings: Mapping[str, Any]) -> None:
        spectrometer = self.line.spectrometer
        counts = np.asarray(readings[spectrometer.intensity.name]["value"], dtype=float)
        axis = np.asarray(readings[spectrometer.wavelength.name]["value"], dtype=float)
        if not np.all(np.isfinite(counts)):
            raise DeviceFault("spectrometer", "nan_reading", f"intensity has {int(np.sum(~np.isfinite(counts)))} "
                                                             f"NaN pixels of {counts.size}", self.step)
        try:
            spectrum_features(axis, counts, smoothing=SPECTRUM_SMOOTHING)
        except ValueError as err:
            raise DeviceFault("spectrometer", "out_of_range", f"no emission band to read: {err}", self.step) from err

    def device_errors(self, plan):
        """Give every device failure its step: a failed status becomes :class:`core.DeviceFault`."""
        try:
            return (yield from plan)
        except DeviceFault as fault:
            raise (fault.with_step(self.step) if fault.step is None else fault) from fault
        except FailedStatus as err:
            status = err.args[0] if err.args else None
            cause = err.__cause__ or (status.exception() if hasattr(status, "exception") else None)
            if isinstance(cause, DeviceFault):
                raise cause.with_step(cause.step or self.step) from err
            if isinstance(cause, SDLError) and not isinstance(cause, DeviceError):
                raise type(cause)(str(cause)) from err
            device = getattr(status, "device", None) or getattr(status, "obj", None)
            while getattr(device, "parent", None) is not None:
                device = device.parent
            raise DeviceFault(getattr(device, "name", None) or "device", "fail", str(cause or err), self.step) from err

    def plan(self, sample_id: str, start_md: dict):
        @bpp.run_decorator(md=start_md)
        def run():
            return (yield from self.device_errors(self.steps(sample_id)))

        return (yield from run())

    def steps(self, sample_id: str):
        line, sp = self.line, self.sp
        reactor, spectrometer = line.reactor, line.spectrometer
        # Nothing here can be replayed (the batch flows away): a pause aborts instead of rewinding.
        yield from bps.clear_checkpoint()
        self.step = "ambient"
        yield from self.read("ambient", [line.ambient], [], 1.0)

        self.step = "collector"
        yield from self.mv([(line.collector, sample_id)], 5.0)
        yield from self.read("collector", [line.collector, line.ambient], [], 1.0)

        self.step = "react"
        # Reagents flow first, then the coil heats and settles, then it is flushed with
        # flush_volumes reactor volumes so the outlet is at steady state before it is measured.
        yield from self.mv([(reactor.residence_time, sp["reactor.residence_time"]),
                            (reactor.flush_volumes, sp["reactor.flush_volumes"]),
                            (reactor.ramp_rate, sp["reactor.ramp_rate"])], 0.0)
        yield from self.mv([(pump, sp[f"{pump.name}.flow_rate"]) for pump in line.pumps], 5.0)
        target = sp["reactor.temperature"]
        heating = abs(float(target.to("degC").magnitude) - 20.0) / float(sp["reactor.ramp_rate"].to("K/min").magnitude) * 60
        yield from self.mv([(reactor, target)], heating + 60.0)
        flushing = float(sp["reactor.flush_volumes"].to("").magnitude) * _seconds(sp["reactor.residence_time"]) + 10.0
        yield from self.trigger([reactor], flushing)
        yield from self.read("react", [*line.pumps, line.ambient], [reactor], 1.0)

        self.step = "spectrum"
        yield from self.mv([(spectrometer.integration_time, sp["spectrometer.integration_time"]),
                            (spectrometer.excitation_wavelength, sp["spectrometer.excitation_wavelength"])], 0.0)
        exposure = 10 * _seconds(sp["spectrometer.integration_time"]) + 2.0
        yield from self.read("spectrum", [spectrometer, line.ambient], [], exposure)
        # Nothing after the spectrum: a continuous-flow line keeps flowing until the next batch
        # sets its rates, and a run whose spectrum event is saved has nothing left to fail.
