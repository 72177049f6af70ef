"""Bluesky plans of the line. Plans only yield messages: nothing here sleeps or touches hardware."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import pint

from bluesky.utils import FailedStatus

from core import DeviceError, InputDataError, SDLError, quantity_to_record
from devices.line import SynthesisLine
from devices.recipes import DEFAULT_BATCH_MASS, additive_smiles, check_recipe_limits

PLAN_NAME = "make_and_characterize"
#: Event streams of one run, in order. ``ambient`` is the room at the start; every
#: process step's stream also carries an ambient reading of its own.
STREAMS = ("ambient", "tracker", "dispense", "mix", "cure", "characterize")
#: The process steps (streams other than ``ambient``), as in ``RobotRunRecord.steps``.
STEP_NAMES = STREAMS[1:]


def make_and_characterize(
    line: SynthesisLine,
    recipe: Mapping[str, pint.Quantity | str],
    sample_id: str,
    md: Mapping[str, Any] | None = None,
    batch_mass: pint.Quantity = DEFAULT_BATCH_MASS,
    process: Mapping[str, pint.Quantity] | None = None,
):
    """Plan: make one film from ``recipe`` on ``line`` and characterize it.

    The recipe is checked against ``line.limits`` *now*, when this function is called,
    so an out-of-limit recipe raises before a plan exists and before any message
    reaches a device.

    One run; start metadata ``plan_name``, ``sample_id``, ``recipe`` and ``setpoints``
    (``recipe`` as ``{"value", "unit"}`` records;
    ``setpoints`` as a list of ``{"path", "value", "unit"}``), ``batch_mass``, ``streams`` plus ``md``. Streams,
    in order: ``ambient`` (room at start), ``tracker`` (vial and barcode),
    ``dispense`` (resin, hardener, additive), ``mix``, ``cure``, ``characterize``;
    each step's stream holds one event read after the step finished.

    Args:
        line: the synthesis line (hardware or :func:`devices.make_sim_line`).
        recipe: the recipe (see docs/interfaces.md).
        sample_id: the sample's id, recorded in the start document and given to the tracker.
        md: extra start metadata (campaign, suggestion ...); must be JSON-able.
        batch_mass: film batch mass.
        process: overrides of the process defaults (``oven.ramp_rate`` ...).

    Returns:
        A generator of ``bluesky.Msg``.

    Raises:
        LimitError: a setpoint is outside ``line.limits`` (all violations listed).
        InputDataError: malformed recipe or empty sample id.

    When run, a device failure ends the run with ``exit_status="fail"`` and the
    device's message as ``reason``, and the RunEngine raises :class:`core.DeviceError`.
    """
    if not isinstance(sample_id, str) or not sample_id.strip():
        raise InputDataError(f"sample_id {sample_id!r} must be a non-empty string")
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
    }
    return _make_and_characterize(line, setpoints, additive_smiles(recipe) or "", sample_id, start_md)


def _device_errors(plan):
    """Re-raise a failed device status as :class:`core.DeviceError` carrying the device's own
    message, so the stop document's ``reason`` and the caller both see what went wrong."""
    try:
        return (yield from plan)
    except FailedStatus as err:
        status = err.args[0] if err.args else None
        cause = err.__cause__ or (status.exception() if hasattr(status, "exception") else None)
        if isinstance(cause, SDLError):
            raise type(cause)(str(cause)) from err
        raise DeviceError(f"{getattr(getattr(status, 'device', None), 'name', 'device')}: {cause or err}") from err


def _make_and_characterize(line: SynthesisLine, sp: dict, additive: str, sample_id: str, start_md: dict):
    ambient = line.ambient

    @bpp.run_decorator(md=start_md)
    def run():
        return (yield from _device_errors(steps()))

    def steps():
        # Dosing, mixing and curing cannot be undone or replayed: without a checkpoint the
        # RunEngine never rewinds this plan, and a pause request aborts the run (and stops
        # the device) instead of re-issuing the step's messages on resume.
        yield from bps.clear_checkpoint()
        yield from bps.trigger_and_read([ambient], name="ambient")

        yield from bps.mv(line.tracker, sample_id)
        yield from bps.trigger_and_read([line.tracker, ambient], name="tracker")

        yield from bps.mv(line.additive_dispenser.reagent, additive)
        for dispenser in line.dispensers:
            yield from bps.mv(dispenser, sp[f"{dispenser.limit_key}.mass"])
        yield from bps.trigger_and_read([*line.dispensers, ambient], name="dispense")

        yield from bps.mv(line.mixer.duration, sp["mixer.duration"])
        yield from bps.mv(line.mixer, sp["mixer.speed"])
        yield from bps.trigger_and_read([line.mixer, ambient], name="mix")

        oven = line.oven
        yield from bps.mv(
            oven.ramp_rate, sp["oven.ramp_rate"],
            oven.settle_tolerance, sp["oven.settle_tolerance"],
            oven.settle_time, sp["oven.settle_time"],
            oven.hold_time, sp["oven.hold_time"],
        )
        yield from bps.mv(oven, sp["oven.temperature"])
        yield from bps.trigger_and_read([oven, ambient], name="cure")

        yield from bps.mv(line.characterizer.heating_rate, sp["characterizer.heating_rate"])
        yield from bps.trigger_and_read([line.characterizer, ambient], name="characterize")

    return (yield from run())
