"""A line's devices over EPICS Channel Access, and the PV contract an IOC serves.

Generic parts only: the signals with units, roles and limits (:mod:`devices.epics.signals`),
the base of a line's EPICS devices with put-completion actions and the sample tracker and
room sensor every line has (:mod:`devices.epics.devices`), connecting a line under one PV
prefix (:mod:`devices.epics.line`), the PV contract (:mod:`devices.epics.pvs`) and the
``[devices]`` transport settings (:mod:`devices.epics.settings`). A material system builds
its own EPICS devices on these. The Channel Access client is ophyd's ``caproto`` control
layer (pure Python) unless ``pyepics`` is installed or ``$OPHYD_CONTROL_LAYER`` says otherwise.
"""

from devices.epics.devices import EpicsAmbientSensor, EpicsLineDevice, EpicsSampleTracker
from devices.epics.line import connect_devices, connect_line, read_time_scale, use_channel_access
from devices.epics.signals import EpicsQuantitySignal, EpicsSetpointSignal

__all__ = [
    "EpicsAmbientSensor",
    "EpicsLineDevice",
    "EpicsQuantitySignal",
    "EpicsSampleTracker",
    "EpicsSetpointSignal",
    "connect_devices",
    "connect_line",
    "read_time_scale",
    "use_channel_access",
]
