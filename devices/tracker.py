"""Sample tracker: vials, barcodes and where each sample is."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from ophyd import Component as Cpt
from ophyd import Kind

from core import InputDataError
from devices.base import LineDevice
from devices.signals import QuantitySignal, SetpointSignal


class SampleTracker(LineDevice):
    """``set(sample_id)`` assigns a vial and a barcode to the sample; ``trigger()`` refreshes
    where the sample is.

    Normal: the setpoint ``sample_id``. Hinted: ``barcode``, ``vial``, ``location``, ``state``.
    """

    main_setpoint = "sample_id"

    sample_id = Cpt(SetpointSignal, units=None)
    barcode = Cpt(QuantitySignal, kind=Kind.hinted)
    vial = Cpt(QuantitySignal, kind=Kind.hinted)
    location = Cpt(QuantitySignal, kind=Kind.hinted)
    state = Cpt(QuantitySignal, kind=Kind.hinted)

    def set(self, value):
        """Assign a vial to sample ``value`` (a non-empty string)."""
        if not isinstance(value, str) or not value.strip():
            raise InputDataError(f"{self.limit_key}.sample_id: {value!r} is not a sample id; give a non-empty string")
        self.sample_id.put(value)
        return self._start(lambda stop: self.backend.assign(value, stop))

    def trigger(self):
        return self._start(lambda stop: self.backend.where(stop), "trigger")


@runtime_checkable
class TrackerBackend(Protocol):
    def assign(self, sample_id: str, stop: threading.Event) -> Mapping[str, Any]:
        """Readbacks: ``barcode``, ``vial``, ``location``, ``state``."""

    def where(self, stop: threading.Event | None = None) -> Mapping[str, Any]:
        """Current ``location`` and ``state`` of the tracked sample."""
