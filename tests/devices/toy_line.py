"""Helpers of the devices tests (a plain module: tests/ has no packages). A toy line built only from the generic machinery of ``devices``: a sample tracker, a room
sensor and a heater, on twins of ``devices.sim``. It names no material system, so what the
tests here show holds for any system's line."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pint
from ophyd import Component as Cpt
from ophyd import Kind

from core import Q_
from devices import (
    AmbientSensor,
    DeviceLimits,
    DeviceLine,
    FaultRules,
    LineDevice,
    QuantitySignal,
    ReadingChecks,
    ReadingRange,
    SampleTracker,
    SetpointSignal,
)
from devices.sim import SimTwin, TwinLab

FAST = 1e5  # speedup of the twins in tests
TOY_LIMITS = DeviceLimits({"heater.temperature": (Q_(20.0, "degC"), Q_(300.0, "degC")),
                           "heater.ramp_rate": (Q_(1.0, "K/min"), Q_(50.0, "K/min"))})
TOY_READINGS = ReadingChecks(
    {"mean_temperature": ReadingRange(-50.0, 500.0, "degC", True),
     "hold_time": ReadingRange(0.0, 100.0, "min", False),
     "room_temperature": ReadingRange(-10.0, 60.0, "degC", False)},
    {"heater": ("mean_temperature", "hold_time"), "ambient": ("room_temperature",), "tracker": ()},
)
TOY_DEVICES = ("tracker", "ambient", "heater")
TOY_FAULTS = FaultRules.for_readings(TOY_DEVICES, TOY_READINGS, line="the toy line")


class Heater(LineDevice):
    """``set(temperature)`` heats at ``ramp_rate`` and holds a minute; hinted ``mean_temperature``."""

    main_setpoint = "temperature"

    temperature = Cpt(SetpointSignal, units="degC", value=20.0)
    ramp_rate = Cpt(SetpointSignal, units="K/min", value=10.0)
    mean_temperature = Cpt(QuantitySignal, units="degC", kind=Kind.hinted)
    hold_time = Cpt(QuantitySignal, units="min", kind=Kind.hinted)

    def set(self, value):
        target = self.temperature.checked_magnitude(value)
        self.temperature.put(target)
        temperature, ramp = self.temperature.quantity(), self.ramp_rate.quantity()
        return self._start(lambda stop: self.backend.heat(temperature, ramp, stop))


@dataclass
class ToyLine(DeviceLine):
    device_names = TOY_DEVICES

    tracker: SampleTracker
    ambient: AmbientSensor
    heater: Heater
    limits: DeviceLimits = TOY_LIMITS
    simulation: Any = field(default=None, repr=False)


class ToyLab(TwinLab):
    def begin_sample(self, sample_id: str) -> SimpleNamespace:
        with self._lock:
            sample = SimpleNamespace(sample_id=sample_id, index=len(self.samples))
            self.samples[sample_id] = self.sample = sample
            return sample


class ToyTracker(SimTwin):
    begins_samples = True

    def assign(self, sample_id: str, stop: threading.Event):
        def body(started):
            sample = self.lab.begin_sample(sample_id)
            self.lab.elapse(5.0, stop, started)
            return {"barcode": f"T{sample.index:04d}", "vial": "A01", "location": "rack", "state": "assigned"}
        return self._act(stop, body)

    def where(self, stop: threading.Event | None = None):
        return self._act(stop, lambda started: {"location": "rack", "state": "assigned"}, "trigger")


class ToyRoom(SimTwin):
    def conditions(self, stop: threading.Event | None = None):
        def body(started):
            return {"room_temperature": Q_(21.0 + self.lab.rng("room", self.lab.clock).standard_normal(), "degC"),
                    "relative_humidity": Q_(40.0, "percent")}
        return self._act(stop, body, "trigger")


class ToyHeater(SimTwin):
    def heat(self, temperature: pint.Quantity, ramp: pint.Quantity, stop: threading.Event):
        def body(started):
            seconds = abs(temperature.to("degC").magnitude - 20.0) / ramp.to("K/min").magnitude * 60.0 + 60.0
            self.lab.elapse(seconds, stop, started)
            noise = 0.1 * self.lab.rng("heat", self.lab.sample_index()).standard_normal()
            return {"mean_temperature": Q_(temperature.to("degC").magnitude + noise, "degC"),
                    "hold_time": Q_(1.0, "min")}
        return self._act(stop, body)


def make_toy_line(seed: int = 0, speedup: float = FAST, faults=(), limits: DeviceLimits = TOY_LIMITS) -> ToyLine:
    lab = ToyLab(seed=seed, speedup=speedup, faults=faults, impossible={"mean_temperature": 5000.0})
    return ToyLine(tracker=SampleTracker(name="tracker", backend=ToyTracker(lab, "tracker")),
                   ambient=AmbientSensor(name="ambient", backend=ToyRoom(lab, "ambient")),
                   heater=Heater(name="heater", backend=ToyHeater(lab, "heater")),
                   limits=limits, simulation=lab)
