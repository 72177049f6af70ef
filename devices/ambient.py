"""Room temperature and humidity sensor."""

from __future__ import annotations

from ophyd import Component as Cpt
from ophyd import Kind
from ophyd.status import DeviceStatus

from devices.base import LineDevice
from devices.signals import QuantitySignal


class AmbientSensor(LineDevice):
    """``trigger()`` samples the room. Hinted: ``room_temperature`` (degC), ``relative_humidity`` (percent)."""

    room_temperature = Cpt(QuantitySignal, units="degC", role="ambient", kind=Kind.hinted)
    relative_humidity = Cpt(QuantitySignal, units="percent", role="ambient", kind=Kind.hinted)

    def trigger(self):
        for attr, value in self.backend.conditions().items():
            getattr(self, attr).put(value)
        status = DeviceStatus(self)
        status.set_finished()
        return status
