"""The synthesis line's devices over EPICS Channel Access, and the PV contract an IOC serves.

``make_epics_line(prefix)`` returns a :class:`~devices.SynthesisLine` of Ophyd EPICS devices
that the plan :func:`devices.make_and_characterize` drives like the in-process twins;
``python -m devices.ioc`` serves the simulated line under such a prefix. The Channel Access
client is ophyd's ``caproto`` control layer (pure Python) unless ``pyepics`` is installed
or ``$OPHYD_CONTROL_LAYER`` says otherwise.
"""

from devices.epics.devices import (
    EpicsAmbientSensor,
    EpicsCharacterizer,
    EpicsCuringOven,
    EpicsDispenser,
    EpicsLineDevice,
    EpicsMixer,
    EpicsSampleTracker,
)
from devices.epics.line import DEVICE_CLASSES, EpicsSynthesisLine, make_epics_line, use_channel_access
from devices.epics.signals import EpicsQuantitySignal, EpicsSetpointSignal

__all__ = [
    "DEVICE_CLASSES",
    "EpicsAmbientSensor",
    "EpicsCharacterizer",
    "EpicsCuringOven",
    "EpicsDispenser",
    "EpicsLineDevice",
    "EpicsMixer",
    "EpicsQuantitySignal",
    "EpicsSampleTracker",
    "EpicsSetpointSignal",
    "EpicsSynthesisLine",
    "make_epics_line",
    "use_channel_access",
]
