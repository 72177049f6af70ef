"""Simulated twins of the quantum-dot flow line for dry runs, and the lab behind them.

Everything random is drawn from generators keyed by (seed, what, sample index), so a seed
gives the same line, lots, noise and dots however fast the twins run. The line has hidden
imperfections the controller never sees: each pump delivers 1 % or so off its setpoint,
the coil holds a little more or less than its nominal 2 mL, the fluid runs 0.5-2.5 K below
the coil's thermocouple, and the spectrometer's wavelength calibration is off by a fraction
of a nm. What the dots really are comes from :mod:`systems.quantum_dots.truth`.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pint

from core import Q_, DeviceError
from devices import AmbientSensor, DeviceLimits, SampleTracker
from devices.sim import SimTwin, TwinLab
from simulators.quantum_dots.recipe import QuantumDotRecipe
from systems.quantum_dots.devices import PIXELS, FlowReactor, FlowSynthesisLine, Spectrometer, SyringePump
from systems.quantum_dots.recipes import DEFAULT_LIMITS, PRECURSOR_STOCK, PUMP_REAGENTS, PUMPS, REACTOR_VOLUME
from systems.quantum_dots.truth import TrueBatch, true_batch

#: Nominal pixel -> wavelength calibration of the spectrometer (nm), 380-780 nm over 512 pixels.
_P = np.arange(PIXELS, dtype=float)
PIXEL_WAVELENGTHS = 380.0 + (400.0 + 2e-5 * (PIXELS - 1) ** 2) / (PIXELS - 1) * _P - 2e-5 * _P**2
FULL_WELL = 65535.0  # counts
DARK_NOISE = 5.0  # counts, read noise
COUNTS_AT_100_MS = 20000.0  # peak counts of a bright batch at 100 ms
COIL_BORE = 1.0e-3  # m, inner diameter of the reactor tubing
SOLVENT_VISCOSITY = 5e-4  # Pa s, octadecene near 270 degC


@dataclass
class Batch:
    """What the lab knows about the sample in the collector (SI-ish floats).

    Attributes:
        conditions: the real conditions of its steady run (model units), once the reactor ran.
        truth: the real dots and their emission, once measured.
    """

    sample_id: str
    index: int
    barcode: str
    vial: str
    state: str = "assigned"
    conditions: QuantumDotRecipe | None = None
    truth: TrueBatch | None = None
    lots: dict = field(default_factory=dict)


@functools.lru_cache(maxsize=64)
def _true_batch(conditions: QuantumDotRecipe) -> TrueBatch:
    return true_batch(conditions)


class SimulatedFlowLab(TwinLab):
    """Clock, room, lots, hidden calibration and batches of the dry-run flow line.

    Args:
        seed: seeds everything.
        speedup: simulated seconds per wall second.
        faults: :class:`devices.FaultSpec` s the twins inject (``faults.log`` lists those injected).
    """

    def __init__(self, seed: int = 0, speedup: float = 1000.0, faults=()):
        super().__init__(seed=seed, speedup=speedup, faults=faults)
        self.samples: dict[str, Batch] = {}
        base = self.rng("line")
        self.thermocouple_offset = float(base.uniform(0.5, 2.5))  # K the coil wall reads above the fluid
        self.coil_volume = float(REACTOR_VOLUME.to("mL").magnitude * (1.0 + 0.02 * base.standard_normal()))
        self.pump_bias = {pump: float(0.01 * base.standard_normal()) for pump in PUMPS}
        self.wavelength_offset = float(0.6 * base.standard_normal())  # nm the detector's axis reads high
        self.detector_gain = float(base.uniform(0.9, 1.1))
        self._phases = base.uniform(0, 2 * np.pi, size=2)
        self.coil_setpoint = 25.0  # degC
        self.flows = {pump: 0.0 for pump in PUMPS}  # mL/min, real
        self.pump_started = {pump: 0.0 for pump in PUMPS}

    def room(self) -> tuple[float, float]:
        """Room temperature (degC) and relative humidity (percent) now: a slow seeded drift."""
        w = 2 * np.pi * self.clock / 86400.0
        return (float(22.0 + 1.5 * np.sin(w + self._phases[0])),
                float(np.clip(45.0 + 12.0 * np.sin(w + self._phases[1]), 5.0, 95.0)))

    # -- samples and lots -------------------------------------------------------------
    def begin_sample(self, sample_id: str) -> Batch:
        with self._lock:
            index = len(self.samples)
            rng = self.rng("collector", index)
            batch = Batch(sample_id, index, f"QD{int(rng.integers(10**7, 10**8))}", f"{'ABCD'[(index // 12) % 4]}{index % 12 + 1:02d}")
            self.samples[sample_id] = batch
            self.sample = batch
            return batch

    def lot(self, reagent: str) -> str:
        """Lot number of ``reagent`` for the current sample; lots change every 4-8 samples."""
        index = self.sample_index()
        sizes = self.rng("lot-sizes", reagent).integers(4, 9, size=index + 1)
        lot_index = int(np.searchsorted(np.cumsum(sizes), index, side="right"))
        serial = int(self.rng("lot-serial", reagent).integers(10000, 90000)) + lot_index
        return f"{reagent.split()[0].upper()[:4]}-{serial:05d}"

    # -- the physics of the line ---------------------------------------------------------
    def real_flow(self, pump: str, setpoint: float, jitter: bool = True) -> float:
        """mL/min a pump really delivers for ``setpoint``: its bias, and a little jitter per batch."""
        wobble = 0.003 * self.rng("flow", pump, self.sample_index()).standard_normal() if jitter else 0.0
        return max(setpoint * (1.0 + self.pump_bias[pump] + wobble), 0.0)

    def conditions(self, flows: Mapping[str, float], coil_setpoint: float) -> QuantumDotRecipe:
        """The real conditions of a steady run at these real pump flows (mL/min) and coil setpoint (degC).

        Raises:
            DeviceError: no flow at all.
        """
        total = sum(flows.values())
        if not total > 0:
            raise DeviceError("reactor: no flow through the coil; start the pumps first")
        medium = total - flows["precursor_pump"]
        return QuantumDotRecipe(
            temperature=coil_setpoint - self.thermocouple_offset + 273.15,
            residence_time=self.coil_volume / total * 60.0,
            precursor_concentration=1000.0 * PRECURSOR_STOCK.to("mol/L").magnitude * flows["precursor_pump"] / total,
            oleic_acid=flows["oleic_acid_pump"] / medium if medium > 0 else 0.0,
            oleylamine=flows["oleylamine_pump"] / medium if medium > 0 else 0.0,
        )

    def truth_of(self, conditions: QuantumDotRecipe) -> TrueBatch:
        return _true_batch(conditions)


class SimCollector(SimTwin):
    """The fraction collector: a fresh vial per sample at the reactor outlet."""

    begins_samples = True

    def __init__(self, lab: SimulatedFlowLab):
        super().__init__(lab, "collector")

    def assign(self, sample_id: str, stop: threading.Event):
        def body(started):
            batch = self.lab.begin_sample(sample_id)
            self.lab.elapse(5.0, stop, started)
            return {"barcode": batch.barcode, "vial": batch.vial, "location": "collector", "state": batch.state}
        return self._act(stop, body)

    def where(self, stop: threading.Event):
        def body(started):
            batch = self.lab.sample
            self.lab.elapse(1.0, stop, started)
            if batch is None:
                return {"location": "", "state": ""}
            return {"barcode": batch.barcode, "vial": batch.vial, "location": "collector", "state": batch.state}
        return self._act(stop, body, "trigger")


class SimRoom(SimTwin):
    def __init__(self, lab: SimulatedFlowLab):
        super().__init__(lab, "ambient")

    def conditions(self, stop: threading.Event):
        def body(started):
            temperature, humidity = self.lab.room()
            rng = self.lab.rng("room", self.lab.clock)
            self.lab.elapse(1.0, stop, started)
            return {"room_temperature": Q_(round(temperature + 0.05 * rng.standard_normal(), 2), "degC"),
                    "relative_humidity": Q_(round(humidity + 0.3 * rng.standard_normal(), 1), "percent")}
        return self._act(stop, body, "trigger")


class SimPump(SimTwin):
    """A syringe pump: flows a little off its setpoint (its hidden bias), metered by its encoder."""

    def lot_number(self, reagent: str) -> str:
        return self.lab.lot(reagent) if reagent else ""

    def pump(self, reagent: str, flow: pint.Quantity, stop: threading.Event):
        def body(started):
            real = self.lab.real_flow(self.device, float(flow.to("mL/min").magnitude))
            batch = self.lab.sample
            if batch is not None:
                batch.lots[self.device] = self.lot_number(reagent)
            self.lab.elapse(5.0, stop, started)  # the syringe settles to a steady flow
            self.lab.flows[self.device] = real
            self.lab.pump_started[self.device] = self.lab.clock
            return {"mean_flow_rate": Q_(self._metered(real), "mL/min"), "delivered_volume": Q_(0.0, "mL")}
        return self._act(stop, body)

    def _metered(self, real: float) -> float:
        rng = self.lab.rng("encoder", self.device, self.lab.clock)
        return max(real * (1.0 + 0.002 * rng.standard_normal()), 0.0)

    def meter(self, stop: threading.Event):
        def body(started):
            real = self.lab.flows[self.device]
            self.lab.elapse(1.0, stop, started)
            minutes = (self.lab.clock - self.lab.pump_started[self.device]) / 60.0
            return {"mean_flow_rate": Q_(self._metered(real), "mL/min"), "delivered_volume": Q_(real * minutes, "mL")}
        return self._act(stop, body, "trigger")


class SimReactor(SimTwin):
    """The heated coil: ramps, settles, and holds a steady flow for the batch."""

    def __init__(self, lab: SimulatedFlowLab):
        super().__init__(lab, "reactor")

    def heat(self, temperature: pint.Quantity, ramp: pint.Quantity, stop: threading.Event):
        def body(started):
            target = float(temperature.to("degC").magnitude)
            rate = float(ramp.to("K/min").magnitude)
            rng = self.lab.rng("heat", self.lab.sample_index())
            seconds = abs(target - self.lab.coil_setpoint) / rate * 60.0 + 60.0
            overshoot = abs(rng.normal(0.4, 0.15))
            self.lab.elapse(seconds, stop, started)
            self.lab.coil_setpoint = target
            return {"settle_duration": Q_(seconds / 60.0, "min"), "max_deviation": Q_(overshoot, "K"),
                    "mean_temperature": Q_(target + 0.05 * rng.standard_normal(), "degC")}
        return self._act(stop, body)

    def steady_state(self, volumes: float, stop: threading.Event):
        def body(started):
            lab = self.lab
            conditions = lab.conditions(lab.flows, lab.coil_setpoint)
            if lab.sample is not None:
                lab.sample.conditions, lab.sample.state = conditions, "collected"
            rng = lab.rng("steady", lab.sample_index())
            lab.elapse(volumes * conditions.residence_time + 10.0, stop, started)
            metered = sum(real * (1.0 + 0.002 * rng.standard_normal()) for real in lab.flows.values())
            q = sum(lab.flows.values()) / 60e6  # m**3/s
            length = lab.coil_volume * 1e-6 / (math.pi * COIL_BORE**2 / 4.0)
            drop = 128.0 * SOLVENT_VISCOSITY * length * q / (math.pi * COIL_BORE**4)
            sensed = conditions.temperature - 273.15 + lab.thermocouple_offset
            return {"mean_temperature": Q_(sensed + 0.05 * rng.standard_normal(), "degC"),
                    "actual_residence_time": Q_(REACTOR_VOLUME.to("mL").magnitude / metered * 60.0, "s"),
                    "pressure_drop": Q_(drop / 1000.0 * (1.0 + 0.01 * rng.standard_normal()), "kPa")}
        return self._act(stop, body, "trigger")


class SimSpectrometer(SimTwin):
    """The inline PL spectrometer: the batch's true emission on its pixels, with shot and read
    noise, its gain and its small wavelength-calibration error."""

    def __init__(self, lab: SimulatedFlowLab):
        super().__init__(lab, "spectrometer")

    def acquire(self, exposure: pint.Quantity, excitation: pint.Quantity, stop: threading.Event):
        def body(started):
            lab = self.lab
            batch = lab.sample
            if batch is None or batch.conditions is None:
                raise DeviceError("spectrometer: nothing has flowed through the reactor for this sample")
            truth = lab.truth_of(batch.conditions)
            batch.truth = truth
            ms = float(exposure.to("ms").magnitude)
            brightness = (0.3 + 0.7 * truth.conversion * min(batch.conditions.precursor_concentration / 50.0, 2.0))
            scale = COUNTS_AT_100_MS * lab.detector_gain * brightness * ms / 100.0
            seen = np.interp(PIXEL_WAVELENGTHS - lab.wavelength_offset, truth.wavelength, truth.intensity)
            rng = lab.rng("spectrum", batch.index)
            signal = scale * seen
            counts = signal + np.sqrt(signal + DARK_NOISE**2) * rng.standard_normal(PIXELS)
            counts = np.minimum(counts, FULL_WELL)
            lab.elapse(10 * ms / 1000.0 + 2.0, stop, started)
            batch.state = "measured"
            return {"wavelength": Q_(PIXEL_WAVELENGTHS.copy(), "nm"), "intensity": Q_(counts, "count"),
                    "peak_counts": Q_(float(counts.max()), "count")}
        return self._act(stop, body, "trigger")


def make_sim_line(seed: int = 0, speedup: float = 1000.0, limits: DeviceLimits | None = None,
                  faults=()) -> FlowSynthesisLine:
    """The flow line with simulated twins; ``line.simulation`` is its :class:`SimulatedFlowLab`."""
    lab = SimulatedFlowLab(seed=seed, speedup=speedup, faults=faults)
    limits = limits or DEFAULT_LIMITS
    pumps = {pump: SyringePump(name=pump, backend=SimPump(lab, pump), reagent=PUMP_REAGENTS[pump], limits=limits)
             for pump in PUMPS}
    return FlowSynthesisLine(
        collector=SampleTracker(name="collector", backend=SimCollector(lab), limits=limits),
        ambient=AmbientSensor(name="ambient", backend=SimRoom(lab), limits=limits),
        **pumps,
        reactor=FlowReactor(name="reactor", backend=SimReactor(lab), limits=limits),
        spectrometer=Spectrometer(name="spectrometer", backend=SimSpectrometer(lab), limits=limits),
        limits=limits,
        simulation=lab,
    )
