"""The Bluesky plan of the flow line: make one batch of dots and measure its emission spectrum.

The line's step sequence (:func:`line_steps`) runs on the generic run loop of
:mod:`devices.plans` (watchdog, faults that name their step). Plans only yield messages:
nothing here sleeps or touches hardware.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pint

from core import DeviceFault
from devices.plans import DEFAULT_WATCHDOG_FACTOR, DEFAULT_WATCHDOG_FLOOR, Step, check_run_arguments, run_metadata, run_steps
from simulators.quantum_dots.optics import spectrum_features
from systems.quantum_dots.devices import FlowSynthesisLine
from systems.quantum_dots.recipes import REACTOR_VOLUME, check_recipe_limits

PLAN_NAME = "synthesize_and_measure"
#: Event streams of one run, in order; each after its step finished.
STREAMS = ("ambient", "collector", "react", "spectrum")
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
    check_run_arguments(sample_id, watchdog_factor, watchdog_floor)
    setpoints = check_recipe_limits(recipe, line.limits, process)
    start_md = run_metadata(md, plan_name=PLAN_NAME, sample_id=sample_id, recipe=recipe, setpoints=setpoints,
                            streams=STREAMS, watchdog_factor=watchdog_factor, watchdog_floor=watchdog_floor,
                            reactor_volume=REACTOR_VOLUME)
    return run_steps(line, line_steps(line, setpoints, sample_id), setpoints=setpoints, start_md=start_md,
                     watchdog_factor=watchdog_factor, watchdog_floor=watchdog_floor)


def _seconds(q: pint.Quantity) -> float:
    return float(q.to("s").magnitude)


def spectrum_check(line: FlowSynthesisLine) -> Callable[[Mapping[str, Any]], None]:
    """The check of a spectrum event's readings: raises :class:`core.DeviceFault` of kind
    ``nan_reading`` (a NaN pixel) or ``out_of_range`` (no emission band to read)."""
    spectrometer = line.spectrometer

    def check(readings: Mapping[str, Any]) -> None:
        counts = np.asarray(readings[spectrometer.intensity.name]["value"], dtype=float)
        axis = np.asarray(readings[spectrometer.wavelength.name]["value"], dtype=float)
        if not np.all(np.isfinite(counts)):
            raise DeviceFault("spectrometer", "nan_reading", f"intensity has {int(np.sum(~np.isfinite(counts)))} "
                                                             f"NaN pixels of {counts.size}")
        try:
            spectrum_features(axis, counts, smoothing=SPECTRUM_SMOOTHING)
        except ValueError as err:
            raise DeviceFault("spectrometer", "out_of_range", f"no emission band to read: {err}") from err

    return check


def line_steps(line: FlowSynthesisLine, sp: Mapping[str, pint.Quantity], sample_id: str) -> Sequence[Step]:
    """The line's steps for one batch: the room, the vial, the reaction at steady state, the spectrum."""
    reactor, spectrometer = line.reactor, line.spectrometer

    def room(run):
        yield from run.read_step([line.ambient], "ambient")

    def collector(run):
        yield from run.mv((line.collector, sample_id), nominal=5.0)
        yield from run.read_step([line.collector, line.ambient], "collector")

    def react(run):
        # Reagents flow first, then the coil heats and settles, then it is flushed with
        # flush_volumes reactor volumes so the outlet is at steady state before it is measured.
        yield from run.mv((reactor.residence_time, sp["reactor.residence_time"]),
                          (reactor.flush_volumes, sp["reactor.flush_volumes"]),
                          (reactor.ramp_rate, sp["reactor.ramp_rate"]))
        yield from run.mv(*[(pump, sp[f"{pump.name}.flow_rate"]) for pump in line.pumps], nominal=5.0)
        target = sp["reactor.temperature"]
        heating = abs(float(target.to("degC").magnitude) - 20.0) / float(sp["reactor.ramp_rate"].to("K/min").magnitude) * 60
        yield from run.mv((reactor, target), nominal=heating + 60.0)
        flushing = float(sp["reactor.flush_volumes"].to("").magnitude) * _seconds(sp["reactor.residence_time"]) + 10.0
        yield from run.trigger(reactor, nominal=flushing)
        yield from run.read_step([*line.pumps, line.ambient], "react", also=[reactor])

    def spectrum(run):
        yield from run.mv((spectrometer.integration_time, sp["spectrometer.integration_time"]),
                          (spectrometer.excitation_wavelength, sp["spectrometer.excitation_wavelength"]))
        exposure = 10 * _seconds(sp["spectrometer.integration_time"]) + 2.0
        yield from run.read_step([spectrometer, line.ambient], "spectrum", check=spectrum_check(line), nominal=exposure)
        # Nothing after the spectrum: a continuous-flow line keeps flowing until the next batch
        # sets its rates, and a run whose spectrum event is saved has nothing left to fail.

    # Nothing here can be replayed (the batch flows away): the run loop aborts on a pause instead of rewinding.
    return (("ambient", room), ("collector", collector), ("react", react), ("spectrum", spectrum))


__all__ = ["PLAN_NAME", "SPECTRUM_SMOOTHING", "STREAMS", "line_steps", "spectrum_check", "synthesize_and_measure"]
