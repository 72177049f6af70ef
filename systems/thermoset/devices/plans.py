"""The Bluesky plan of the thermoset line: make one film and characterize it.

The line's step sequence (:func:`line_steps`) runs on the generic run loop of
:mod:`devices.plans` (watchdog, reading checks, faults that name their step). Plans only
yield messages: nothing here sleeps or touches hardware.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pint

from devices.plans import (
    DEFAULT_WATCHDOG_FACTOR,
    DEFAULT_WATCHDOG_FLOOR,
    Step,
    check_run_arguments,
    run_metadata,
    run_steps,
)
from systems.thermoset.devices.durations import expected_seconds
from systems.thermoset.devices.line import SynthesisLine
from systems.thermoset.devices.readings import READINGS
from systems.thermoset.devices.recipes import DEFAULT_BATCH_MASS, additive_smiles, check_recipe_limits

PLAN_NAME = "make_and_characterize"
#: Event streams of one run, in order. ``ambient`` is the room at the start; every
#: process step's stream also carries an ambient reading of its own.
STREAMS = ("ambient", "tracker", "dispense", "mix", "cure", "characterize")
#: The process steps (streams other than ``ambient``), as in ``RobotRunRecord.steps``.
STEP_NAMES = STREAMS[1:]

_ACTION_WORDS = {"oven": "cure", "mixer": "mix", "characterizer": "measurement", "tracker": "tracker action",
                 "ambient": "room reading"}


def action_word(device: str) -> str:
    """What the watchdog calls an action of ``device`` (``the cure ran 3.1x its expected 4.3 h``)."""
    return _ACTION_WORDS.get(device, "dose" if device.endswith("_dispenser") else "action")


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

    Readings: after each step the readings are checked (:data:`systems.thermoset.devices.readings.READINGS`)
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

    When run, a device fault ends the run cleanly (see :func:`devices.plans.run_steps`): the
    stop document has ``exit_status="fail"`` and ``reason`` = the fault's message, read back by
    :func:`devices.steps_from_documents` into ``record.fault``; the RunEngine raises the
    :class:`core.DeviceFault` itself with ``step`` set. Every failed device status becomes a
    DeviceFault of kind ``fail`` whose detail is the device's own message.
    """
    check_run_arguments(sample_id, watchdog_factor, watchdog_floor)
    setpoints = check_recipe_limits(recipe, line.limits, batch_mass, process)
    start_md = run_metadata(md, plan_name=PLAN_NAME, sample_id=sample_id, recipe=recipe, setpoints=setpoints,
                            streams=STREAMS, watchdog_factor=watchdog_factor, watchdog_floor=watchdog_floor,
                            batch_mass=batch_mass)
    return run_steps(line, line_steps(line, setpoints, additive_smiles(recipe) or "", sample_id),
                     setpoints=setpoints, start_md=start_md, watchdog_factor=watchdog_factor,
                     watchdog_floor=watchdog_floor, expected=expected_seconds, readings=READINGS,
                     action_word=action_word)


def line_steps(line: SynthesisLine, sp: Mapping[str, pint.Quantity], additive: str, sample_id: str) -> Sequence[Step]:
    """The line's steps for one film: the room, the vial, dosing, mixing, curing, characterizing."""
    ambient = line.ambient

    def room(run):
        yield from run.read_step([ambient], "ambient")

    def tracker(run):
        yield from run.mv((line.tracker, sample_id))
        yield from run.read_step([line.tracker, ambient], "tracker")

    def dispense(run):
        previous = yield from run.previous(line.dispensers)
        yield from run.mv((line.additive_dispenser.reagent, additive))
        for dispenser in line.dispensers:
            yield from run.mv((dispenser, sp[f"{dispenser.limit_key}.mass"]))
        yield from run.read_step([*line.dispensers, ambient], "dispense", previous)

    def mix(run):
        previous = yield from run.previous([line.mixer])
        yield from run.mv((line.mixer.duration, sp["mixer.duration"]))
        yield from run.mv((line.mixer, sp["mixer.speed"]))
        yield from run.read_step([line.mixer, ambient], "mix", previous)

    def cure(run):
        oven = line.oven
        previous = yield from run.previous([oven])
        yield from run.mv(
            (oven.ramp_rate, sp["oven.ramp_rate"]),
            (oven.settle_tolerance, sp["oven.settle_tolerance"]),
            (oven.settle_time, sp["oven.settle_time"]),
            (oven.hold_time, sp["oven.hold_time"]),
        )
        yield from run.mv((oven, sp["oven.temperature"]))
        yield from run.read_step([oven, ambient], "cure", previous)

    def characterize(run):
        previous = yield from run.previous([line.characterizer])
        yield from run.mv((line.characterizer.heating_rate, sp["characterizer.heating_rate"]))
        yield from run.read_step([line.characterizer, ambient], "characterize", previous)

    return (("ambient", room), ("tracker", tracker), ("dispense", dispense), ("mix", mix), ("cure", cure),
            ("characterize", characterize))


__all__ = ["DEFAULT_WATCHDOG_FACTOR", "DEFAULT_WATCHDOG_FLOOR", "PLAN_NAME", "STEP_NAMES", "STREAMS", "action_word",
           "line_steps", "make_and_characterize"]
