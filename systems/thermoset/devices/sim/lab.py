"""The simulated lab behind the twins: a simulated clock, the room, reagent lots, and each sample's true history.

Everything random is drawn from generators keyed by (seed, sample index, what), so a
seed gives the same lots, ambient, noise and films however fast the twins run.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
import pint

from core import Q_, DeviceError
from devices.sim import TwinLab
from systems.thermoset.devices.recipes import HARDENER_AHEW, RESIN_EEW

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


@dataclass(frozen=True)
class SimAmbient:
    """Room conditions of the simulated lab: a mean and a seeded drift over ``period``."""

    temperature: pint.Quantity = Q_(22.0, "degC")
    relative_humidity: pint.Quantity = Q_(45.0, "percent")
    temperature_drift: pint.Quantity = Q_(1.5, "K")
    humidity_drift: pint.Quantity = Q_(12.0, "percent")
    period: pint.Quantity = Q_(24.0, "h")


@dataclass(frozen=True)
class Lot:
    """One lot of a reagent: its number and its true properties (hidden from the controller)."""

    reagent: str
    number: str
    equivalent_weight: float | None  # g/eq (true EEW of a resin lot, AHEW of a hardener lot)
    purity: float  # mass fraction of the named compound


@dataclass
class SampleState:
    """What actually happened to one sample so far (the lab's bookkeeping, in SI-ish floats)."""

    sample_id: str
    index: int
    barcode: str
    vial: str
    position: str = "rack"
    state: str = "assigned"
    masses: dict = field(default_factory=dict)  # role -> actual g
    reagents: dict = field(default_factory=dict)  # role -> name or SMILES
    lots: dict = field(default_factory=dict)  # role -> Lot
    mixing: dict | None = None  # speed rpm, time s, rise K, clock s, humidity %
    oven: object | None = None  # thermal.OvenRun
    oven_loaded_at: float | None = None
    truth: object | None = None  # truth.FilmTruth after characterization


RESIN_NAME, HARDENER_NAME = "DGEBA", "IPDA"


class SimulatedLab(TwinLab):
    """Clock, room, lots and samples of the dry-run line.

    Args:
        seed: seeds everything (lots, ambient, noise, calibration offsets).
        speedup: simulated seconds per wall second; a 2 h hold at 1000 takes 7.2 s.
        ambient: room conditions; None for the default 22 degC, 45 % RH with drift.
        faults: :class:`devices.FaultSpec` s the twins inject (see :attr:`faults`).

    Attributes:
        faults: the :class:`devices.sim.FaultInjector`; its ``log`` lists the injected faults.
    """

    def __init__(self, seed: int = 0, speedup: float = 1000.0, ambient: SimAmbient | None = None, faults=()):
        super().__init__(seed=seed, speedup=speedup, faults=faults, impossible=IMPOSSIBLE)
        self.ambient = ambient or SimAmbient()
        self.samples: dict[str, SampleState] = {}
        base = self.rng("line")
        self.oven_calibration_offset = float(base.uniform(0.8, 2.2))  # K the air runs above the sensor
        self.balance_bias = float(1.0 + 0.001 * base.standard_normal())
        self.dsc_offset = float(base.uniform(2.0, 4.0))  # K the DSC midpoint reads above the true Tg
        self._ambient_phases = base.uniform(0, 2 * np.pi, size=4)

    def conditions(self, at: float | None = None) -> tuple[float, float]:
        """True room temperature (degC) and relative humidity (percent) at simulated time ``at``."""
        t = self.clock if at is None else at
        w = 2 * np.pi * t / self.ambient.period.to("s").magnitude
        p = self._ambient_phases
        temp = self.ambient.temperature.to("degC").magnitude + self.ambient.temperature_drift.to("K").magnitude * (
            0.7 * np.sin(w + p[0]) + 0.3 * np.sin(3.7 * w + p[1]))
        rh = self.ambient.relative_humidity.to("percent").magnitude + self.ambient.humidity_drift.to("percent").magnitude * (
            0.7 * np.sin(w + p[2]) + 0.3 * np.sin(2.3 * w + p[3]))
        return float(temp), float(np.clip(rh, 5.0, 95.0))

    # -- samples and lots -------------------------------------------------------------
    def begin_sample(self, sample_id: str) -> SampleState:
        with self._lock:
            index = len(self.samples)
            rng = self.rng("tracker", index)
            sample = SampleState(
                sample_id=sample_id,
                index=index,
                barcode=f"SDL{int(rng.integers(10**7, 10**8))}",
                vial=f"{'ABCD'[(index // 12) % 4]}{index % 12 + 1:02d}",
            )
            self.samples[sample_id] = sample
            self.sample = sample
            return sample

    def current_sample(self, what: str) -> SampleState:
        if self.sample is None:
            raise DeviceError(f"{what}: no sample is tracked; assign one with the tracker first")
        return self.sample

    def lot(self, reagent: str) -> Lot:
        """The lot of ``reagent`` in use for the current sample; lots change every 3-6 samples."""
        if not reagent:
            return Lot(reagent="", number="", equivalent_weight=None, purity=1.0)
        index = self.sample_index()
        sizes = self.rng("lot-sizes", reagent).integers(3, 7, size=index + 1)
        lot_index = int(np.searchsorted(np.cumsum(sizes), index, side="right"))
        rng = self.rng("lot", reagent, lot_index)
        serial = int(self.rng("lot-serial", reagent).integers(10000, 90000)) + lot_index
        if reagent == RESIN_NAME:
            code, weight, purity = "DGEBA", RESIN_EEW.magnitude * (1 + rng.uniform(-0.02, 0.02)), 1.0
        elif reagent == HARDENER_NAME:
            code, weight, purity = "IPDA", HARDENER_AHEW.magnitude * (1 + rng.uniform(-0.015, 0.015)), 1.0
        else:
            code, weight, purity = f"ADD{zlib.crc32(reagent.encode()) % 1000:03d}", None, float(rng.uniform(0.97, 1.0))
        return Lot(reagent=reagent, number=f"{code}-{serial:05d}", equivalent_weight=weight, purity=purity)
