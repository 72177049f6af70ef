"""Ophyd EPICS devices of the thermoset line: the same components, set/trigger semantics and
data keys as its in-process devices, over Channel Access, and :func:`make_epics_line` that
connects them under one PV prefix.

Each class mirrors one class of :mod:`systems.thermoset.devices` (``EpicsDispenser`` <->
``Dispenser`` ...): the same component names, units, roles and kinds, so the plan
:func:`systems.thermoset.devices.make_and_characterize` and :func:`devices.steps_from_documents`
work on either. Actions use the protocol of :mod:`devices.epics.pvs` (put-completion on ``Go`` /
``Acquire``, then ``Error``). Component suffixes are the PV names below the device prefix;
a real IOC with other names is served by a subclass that overrides the Components.
"""

from __future__ import annotations

from dataclasses import dataclass

from ophyd import Component as Cpt
from ophyd import EpicsSignal, Kind

from devices.epics.devices import EpicsAmbientSensor, EpicsLineDevice, EpicsSampleTracker
from devices.epics.line import connect_line, read_time_scale
from devices.epics.pvs import ACQUIRE, GO
from devices.epics.signals import EpicsQuantitySignal as Q
from devices.epics.signals import EpicsSetpointSignal as SP
from devices.limits import DeviceLimits
from systems.thermoset.devices.limits import DEFAULT_LIMITS
from systems.thermoset.devices.line import SynthesisLine


class EpicsDispenser(EpicsLineDevice):
    """Like :class:`systems.thermoset.devices.Dispenser`: ``set(mass)`` doses; the IOC refreshes ``lot_number``."""

    main_setpoint = "mass"

    mass = Cpt(SP, "mass", units="g")
    dispensed_mass = Cpt(Q, "dispensed_mass", units="g", kind=Kind.hinted)
    reagent = Cpt(SP, "reagent", role="reagent", kind=Kind.config)
    lot_number = Cpt(Q, "lot_number", role="lot", kind=Kind.config)
    go = Cpt(EpicsSignal, GO, kind=Kind.omitted, auto_monitor=False)

    def set(self, value):
        """Dispense ``value`` (a mass quantity, or a number in g). Raises LimitError outside the limits."""
        self.mass.put(value)
        return self._start(self.go)


class EpicsMixer(EpicsLineDevice):
    """Like :class:`systems.thermoset.devices.Mixer`: set ``duration`` first, then ``set(speed)`` mixes."""

    main_setpoint = "speed"

    speed = Cpt(SP, "speed", units="rpm")
    duration = Cpt(SP, "duration", units="min")
    mean_speed = Cpt(Q, "mean_speed", units="rpm", kind=Kind.hinted)
    actual_duration = Cpt(Q, "actual_duration", units="min", kind=Kind.hinted)
    temperature_rise = Cpt(Q, "temperature_rise", units="K", kind=Kind.hinted)
    go = Cpt(EpicsSignal, GO, kind=Kind.omitted, auto_monitor=False)

    def set(self, value):
        """Mix at ``value`` (rpm quantity or number) for ``duration``. Raises LimitError outside the limits."""
        return self._run_program(self.speed, value, self.duration)


class EpicsCuringOven(EpicsLineDevice):
    """Like :class:`systems.thermoset.devices.CuringOven`: set the program setpoints, then ``set(temperature)`` cures."""

    main_setpoint = "temperature"

    temperature = Cpt(SP, "temperature", units="degC")
    ramp_rate = Cpt(SP, "ramp_rate", units="K/min")
    settle_tolerance = Cpt(SP, "settle_tolerance", units="K")
    settle_time = Cpt(SP, "settle_time", units="min")
    hold_time = Cpt(SP, "hold_time", units="h")
    mean_hold_temperature = Cpt(Q, "mean_hold_temperature", units="degC", kind=Kind.hinted)
    max_overshoot = Cpt(Q, "max_overshoot", units="K", kind=Kind.hinted)
    actual_hold_time = Cpt(Q, "actual_hold_time", units="h", kind=Kind.hinted)
    ramp_duration = Cpt(Q, "ramp_duration", units="min", kind=Kind.hinted)
    cool_duration = Cpt(Q, "cool_duration", units="min", kind=Kind.normal)
    go = Cpt(EpicsSignal, GO, kind=Kind.omitted, auto_monitor=False)

    def set(self, value):
        """Cure at ``value`` (a temperature quantity, or a number in degC). Raises LimitError outside the limits."""
        return self._run_program(self.temperature, value, self.ramp_rate, self.settle_tolerance,
                                 self.settle_time, self.hold_time)


class EpicsCharacterizer(EpicsLineDevice):
    """Like :class:`systems.thermoset.devices.Characterizer`: ``trigger()`` measures the film in the station."""

    heating_rate = Cpt(SP, "heating_rate", units="K/min")
    glass_transition_temperature = Cpt(Q, "glass_transition_temperature", units="degC", role="property",
                                       kind=Kind.hinted)
    degree_of_cure = Cpt(Q, "degree_of_cure", units="dimensionless", role="structure", kind=Kind.hinted)
    fracture_toughness = Cpt(Q, "fracture_toughness", units="MPa*m**0.5", role="property", kind=Kind.hinted)
    measurement_duration = Cpt(Q, "measurement_duration", units="min", kind=Kind.normal)
    tg_method = Cpt(Q, "tg_method", role="info", kind=Kind.config)
    acquire = Cpt(EpicsSignal, ACQUIRE, kind=Kind.omitted, auto_monitor=False)

    def trigger(self):
        """Measure the film now in the station."""
        self.heating_rate.checked_magnitude(self.heating_rate.get())
        return self._start(self.acquire)


#: Line attribute -> EPICS device class, in process order.
DEVICE_CLASSES: dict[str, type[EpicsLineDevice]] = {
    "tracker": EpicsSampleTracker,
    "ambient": EpicsAmbientSensor,
    "resin_dispenser": EpicsDispenser,
    "hardener_dispenser": EpicsDispenser,
    "additive_dispenser": EpicsDispenser,
    "mixer": EpicsMixer,
    "oven": EpicsCuringOven,
    "characterizer": EpicsCharacterizer,
}


@dataclass
class EpicsSynthesisLine(SynthesisLine):
    """A :class:`~systems.thermoset.devices.SynthesisLine` whose devices are EPICS devices.

    Attributes:
        prefix: the PV prefix the devices live under (``SDL:``).
        clock_rate: process seconds per wall second: the IOC's ``TimeScale`` PV (a simulated
            line's speedup), 1 for an IOC without one (hardware).
    """

    prefix: str = ""
    clock_rate: float = 1.0

    @property
    def time_scale(self) -> float:
        return self.clock_rate

    def close(self) -> None:
        """Drop the Channel Access channels of every device."""
        for device in self.devices.values():
            device.destroy()


def make_epics_line(prefix: str = "SDL:", limits: DeviceLimits | None = None,
                    connection_timeout: float = 10.0) -> EpicsSynthesisLine:
    """Connect to the line's IOC and return the line of EPICS devices.

    The IOC is found the usual Channel Access way: ``EPICS_CA_ADDR_LIST``,
    ``EPICS_CA_AUTO_ADDR_LIST`` and ``EPICS_CA_SERVER_PORT`` from the environment, read when
    this process first searches for a PV.

    Args:
        prefix: PV prefix of the line (``SDL:`` -> ``SDL:oven:temperature``).
        limits: device limits the client checks before every write (the IOC's control
            limits are checked too); None for :data:`systems.thermoset.devices.DEFAULT_LIMITS`.
        connection_timeout: wall seconds to wait for every PV to connect.

    Raises:
        InputDataError: empty prefix or a bad timeout.
        DeviceError: some PVs did not connect in time (names the first few and what to check),
            or the IOC's EGU disagrees with a signal's unit.
    """
    limits = limits if limits is not None else DEFAULT_LIMITS
    devices = connect_line(prefix, DEVICE_CLASSES, limits, connection_timeout)
    return EpicsSynthesisLine(**devices, limits=limits, prefix=prefix, clock_rate=read_time_scale(prefix))


__all__ = ["DEVICE_CLASSES", "EpicsCharacterizer", "EpicsCuringOven", "EpicsDispenser", "EpicsMixer",
           "EpicsSynthesisLine", "make_epics_line"]
