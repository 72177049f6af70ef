"""Ophyd devices of the thermoset-film synthesis line, their simulated twins, and the plan
that makes and characterizes one sample (see docs/interfaces.md).

Never imports botorch, torch, gpytorch, ``controller`` or ``simulators``.
"""

from devices.ambient import AmbientSensor
from devices.backends import CureProgram
from devices.characterizer import Characterizer
from devices.dispenser import Dispenser
from devices.faults import (
    DEFAULT_RETRYABLE_KINDS,
    INJECTABLE_KINDS,
    LINE_DEVICES,
    FaultSpec,
    fault_from_exception,
    fault_specs_from_config,
)
from devices.limits import DEFAULT_LIMITS, DeviceLimits
from devices.line import SynthesisLine, setpoint_path, setpoint_signal
from devices.mixer import Mixer
from devices.oven import CuringOven
from devices.plans import (
    DEFAULT_WATCHDOG_FACTOR,
    DEFAULT_WATCHDOG_FLOOR,
    PLAN_NAME,
    STEP_NAMES,
    STREAMS,
    make_and_characterize,
)
from devices.readings import READING_RANGES
from devices.recipes import (
    DEFAULT_BATCH_MASS,
    DEFAULT_PROCESS,
    check_recipe_limits,
    parameter_limits,
    recipe_to_setpoints,
)
from devices.records import RobotRunRecord, RobotStep, steps_from_documents
from devices.signals import QuantitySignal, SetpointSignal
from devices.tracker import SampleTracker


def make_sim_line(seed: int = 0, speedup: float = 1000.0, limits: DeviceLimits | None = None, ambient=None,
                  faults=()) -> SynthesisLine:
    """The line with simulated twins for dry runs; see :func:`devices.sim.make_sim_line`.

    ``faults``: :class:`FaultSpec` s the twins inject (seeded, apart from the physics).
    Imported lazily so that code on hardware never loads the simulated lab.
    """
    from devices.sim import make_sim_line as _make

    return _make(seed=seed, speedup=speedup, limits=limits, ambient=ambient, faults=faults)


__all__ = [
    "DEFAULT_BATCH_MASS",
    "DEFAULT_LIMITS",
    "DEFAULT_PROCESS",
    "DEFAULT_RETRYABLE_KINDS",
    "DEFAULT_WATCHDOG_FACTOR",
    "DEFAULT_WATCHDOG_FLOOR",
    "INJECTABLE_KINDS",
    "LINE_DEVICES",
    "PLAN_NAME",
    "READING_RANGES",
    "STEP_NAMES",
    "STREAMS",
    "AmbientSensor",
    "Characterizer",
    "CureProgram",
    "CuringOven",
    "DeviceLimits",
    "Dispenser",
    "FaultSpec",
    "Mixer",
    "QuantitySignal",
    "RobotRunRecord",
    "RobotStep",
    "SampleTracker",
    "SetpointSignal",
    "SynthesisLine",
    "check_recipe_limits",
    "fault_from_exception",
    "fault_specs_from_config",
    "make_and_characterize",
    "make_sim_line",
    "parameter_limits",
    "recipe_to_setpoints",
    "setpoint_path",
    "setpoint_signal",
    "steps_from_documents",
]
