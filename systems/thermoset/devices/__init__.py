"""Ophyd devices of the thermoset-film synthesis line, their simulated twins, and the plan
that makes and characterizes one sample (see docs/interfaces.md).

Built on the generic machinery of :mod:`devices`. Never imports botorch, torch, gpytorch,
``controller`` or ``simulators``.
"""

from devices.limits import DeviceLimits
from systems.thermoset.devices.backends import CureProgram
from systems.thermoset.devices.characterizer import Characterizer
from systems.thermoset.devices.dispenser import Dispenser
from systems.thermoset.devices.faults import FAULT_RULES, LINE_DEVICES, fault_spec, fault_specs_from_config
from systems.thermoset.devices.limits import DEFAULT_LIMITS
from systems.thermoset.devices.line import SynthesisLine
from systems.thermoset.devices.mixer import Mixer
from systems.thermoset.devices.oven import CuringOven
from systems.thermoset.devices.plans import (
    DEFAULT_WATCHDOG_FACTOR,
    DEFAULT_WATCHDOG_FLOOR,
    PLAN_NAME,
    STEP_NAMES,
    STREAMS,
    make_and_characterize,
)
from systems.thermoset.devices.readings import READING_RANGES, READINGS
from systems.thermoset.devices.recipes import (
    DEFAULT_BATCH_MASS,
    DEFAULT_PROCESS,
    check_recipe_limits,
    parameter_limits,
    recipe_to_setpoints,
)


def make_sim_line(seed: int = 0, speedup: float = 1000.0, limits: DeviceLimits | None = None, ambient=None,
                  faults=()) -> SynthesisLine:
    """The line with simulated twins for dry runs; see :func:`systems.thermoset.devices.sim.make_sim_line`.

    ``faults``: :class:`devices.FaultSpec` s the twins inject (seeded, apart from the physics).
    Imported lazily so that code on hardware never loads the simulated lab.
    """
    from systems.thermoset.devices.sim import make_sim_line as _make

    return _make(seed=seed, speedup=speedup, limits=limits, ambient=ambient, faults=faults)


__all__ = [
    "DEFAULT_BATCH_MASS",
    "DEFAULT_LIMITS",
    "DEFAULT_PROCESS",
    "DEFAULT_WATCHDOG_FACTOR",
    "DEFAULT_WATCHDOG_FLOOR",
    "FAULT_RULES",
    "LINE_DEVICES",
    "PLAN_NAME",
    "READINGS",
    "READING_RANGES",
    "STEP_NAMES",
    "STREAMS",
    "Characterizer",
    "CureProgram",
    "CuringOven",
    "Dispenser",
    "Mixer",
    "SynthesisLine",
    "check_recipe_limits",
    "fault_spec",
    "fault_specs_from_config",
    "make_and_characterize",
    "make_sim_line",
    "parameter_limits",
    "recipe_to_setpoints",
]
