"""Room temperature and humidity sensor."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from ophyd import Component as Cpt
from ophyd import Kind

from devices.base import LineDevice
from devices.signals import QuantitySignal


class AmbientSensor(LineDevice):
    """``trigger()`` samples the room (the status finishes when the reading is in).

    Hinted: ``room_temperature`` (degC), ``relative_humidity`` (percent).
    """

    room_temperature = Cpt(QuantitySignal, units="degC", role="ambient", kind=Kind.hinted)
    relative_humidity = Cpt(QuantitySignal, units="percent", role="ambient", kind=Kind.hinted)

    def trigger(self):
        return self._start(lambda stop: self.backend.conditions(stop), "trigger")


@runtime_checkable
class AmbientBackend(Protocol):
    def conditions(self, stop: threading.Event | None = None) -> Mapping[str, Any]:
        """Readbacks: ``room_temperature`` (degC), ``relative_humidity`` (percent)."""
