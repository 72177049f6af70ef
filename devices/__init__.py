"""Generic device machinery of a material system's line: Ophyd signals with units, roles and
limits, the base of a line's devices (a backend, actions that finish from a worker thread),
the sample tracker and room sensor every line has, device limits, fault kinds, and a run's
documents -> its record. The EPICS signal layer is :mod:`devices.epics`; the queue-server
profile :mod:`devices.qserver_profile`. A material system (``systems/``) builds its line on these.

Never imports botorch, torch, gpytorch, ``controller``, ``simulators`` or ``systems``.
"""

from devices.ambient import AmbientSensor
from devices.base import LineDevice
from devices.faults import DEFAULT_RETRYABLE_KINDS, INJECTABLE_KINDS, fault_from_exception
from devices.limits import NO_LIMITS, DeviceLimits
from devices.records import RobotRunRecord, RobotStep, steps_from_documents
from devices.signals import QuantitySignal, SetpointSignal
from devices.tracker import SampleTracker

__all__ = [
    "DEFAULT_RETRYABLE_KINDS",
    "INJECTABLE_KINDS",
    "NO_LIMITS",
    "AmbientSensor",
    "DeviceLimits",
    "LineDevice",
    "QuantitySignal",
    "RobotRunRecord",
    "RobotStep",
    "SampleTracker",
    "SetpointSignal",
    "fault_from_exception",
    "steps_from_documents",
]
