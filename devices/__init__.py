"""Generic device machinery of a material system's line, naming no system: Ophyd signals with
units, roles and limits, the base of a line's devices (a backend, actions that finish from a
worker thread) and of the line itself, the sample tracker and room sensor every line has,
device limits, recipe -> setpoint helpers, fault specs checked against a line's rules, the
plausibility checks of readings, the run loop of a plan under a watchdog, and a run's
documents -> its record. The EPICS signal layer is :mod:`devices.epics`, the twins' seeded lab
and fault injection :mod:`devices.sim` (loaded only by dry runs), the queue-server profile
:mod:`devices.qserver_profile`. A material system (``systems/``) builds its line on these.

Never imports botorch, torch, gpytorch, ``controller``, ``simulators`` or ``systems``.
"""

from devices.ambient import AmbientSensor
from devices.base import LineDevice
from devices.faults import (
    DEFAULT_RETRYABLE_KINDS,
    INJECTABLE_KINDS,
    FaultRules,
    FaultSpec,
    fault_from_exception,
    fault_specs_from_config,
)
from devices.limits import NO_LIMITS, DeviceLimits
from devices.line import DeviceLine, setpoint_path, setpoint_signal
from devices.plans import (
    DEFAULT_WATCHDOG_FACTOR,
    DEFAULT_WATCHDOG_FLOOR,
    PlanRunner,
    Step,
    check_run_arguments,
    run_metadata,
    run_steps,
)
from devices.readings import ReadingChecks, ReadingRange
from devices.records import RobotRunRecord, RobotStep, steps_from_documents
from devices.setpoints import check_setpoints, parameter_bounds, process_setpoints, recipe_quantity
from devices.signals import QuantitySignal, SetpointSignal
from devices.tracker import SampleTracker

__all__ = [
    "DEFAULT_RETRYABLE_KINDS",
    "DEFAULT_WATCHDOG_FACTOR",
    "DEFAULT_WATCHDOG_FLOOR",
    "INJECTABLE_KINDS",
    "NO_LIMITS",
    "AmbientSensor",
    "DeviceLimits",
    "DeviceLine",
    "FaultRules",
    "FaultSpec",
    "LineDevice",
    "PlanRunner",
    "QuantitySignal",
    "ReadingChecks",
    "ReadingRange",
    "RobotRunRecord",
    "RobotStep",
    "SampleTracker",
    "SetpointSignal",
    "Step",
    "check_run_arguments",
    "check_setpoints",
    "fault_from_exception",
    "fault_specs_from_config",
    "parameter_bounds",
    "process_setpoints",
    "recipe_quantity",
    "run_metadata",
    "run_steps",
    "setpoint_path",
    "setpoint_signal",
    "steps_from_documents",
]
