"""Seeded fault injection of the simulated twins.

Faults are drawn from generators keyed by (seed, "fault", device, spec, action number),
a stream apart from the physics, so switching faults on changes nothing about a sample
that no fault strikes (beyond the lab's clock, which a failed sample moves as a real one would).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

import pint

from core import Q_
from systems.thermoset.devices.faults import FaultSpec

#: A value of each reading that no healthy instrument gives (in the reading's unit).
IMPOSSIBLE = {
    "dispensed_mass": 5000.0,
    "mean_speed": 1.0e5,
    "actual_duration": 9999.0,
    "temperature_rise": 900.0,
    "mean_hold_temperature": 2000.0,
    "max_overshoot": 500.0,
    "actual_hold_time": 1000.0,
    "ramp_duration": 1.0e5,
    "cool_duration": 1.0e5,
    "glass_transition_temperature": 900.0,
    "degree_of_cure": 1.7,
    "fracture_toughness": 250.0,
    "measurement_duration": 1.0e5,
    "room_temperature": 300.0,
    "relative_humidity": 140.0,
}


class FaultInjector:
    """Draws the faults of each device action and corrupts readings.

    Attributes:
        specs: the faults switched on.
        log: one dict per injected fault: ``device``, ``kind``, ``signal``, ``sample`` (index),
            ``sample_id``, ``action`` (the device's action number, from 0).
    """

    def __init__(self, lab: Any, specs: Iterable[FaultSpec] = ()):
        self.lab = lab
        self.specs = tuple(specs)
        self.log: list[dict[str, Any]] = []
        self._actions: dict[str, int] = {}
        self._last: dict[tuple[str, str], pint.Quantity] = {}
        self._lock = threading.Lock()

    def draw(self, device: str, sample_index: int) -> FaultSpec | None:
        """The fault (if any) of ``device``'s next action, which belongs to sample ``sample_index``."""
        with self._lock:
            action = self._actions.get(device, 0)
            self._actions[device] = action + 1
        for i, spec in enumerate(self.specs):
            if spec.device != device or sample_index < (spec.after_samples or 0):
                continue
            if self.lab.rng("fault", device, i, action).random() < spec.probability:
                sample = self.lab.sample
                self.log.append({"device": device, "kind": spec.kind, "signal": spec.signal, "sample": sample_index,
                                 "sample_id": sample.sample_id if sample is not None and sample.index == sample_index else None,
                                 "action": action})
                return spec
        return None

    def readings(self, device: str, spec: FaultSpec | None, readbacks: Mapping[str, Any]) -> dict[str, Any]:
        """``readbacks`` with the reading fault of ``spec`` applied; remembers what each sensor showed."""
        out = dict(readbacks)
        if spec is not None and spec.signal in out and isinstance(out[spec.signal], pint.Quantity):
            value = out[spec.signal]
            if spec.kind == "nan_reading":
                out[spec.signal] = Q_(float("nan"), value.units)
            elif spec.kind == "out_of_range":
                out[spec.signal] = Q_(IMPOSSIBLE[spec.signal], value.units)
            elif spec.kind == "stuck" and (device, spec.signal) in self._last:
                out[spec.signal] = self._last[(device, spec.signal)]  # a first reading has nothing to repeat
        for name, value in out.items():
            if isinstance(value, pint.Quantity):
                self._last[(device, name)] = value
        return out
