"""Simulated backends of the line's devices, and :func:`make_sim_line` that wires them up."""

from __future__ import annotations

import threading
from collections.abc import Iterable

import numpy as np
import pint

from core import Q_, DeviceError
from devices.ambient import AmbientSensor
from devices.faults import FaultSpec
from devices.limits import DeviceLimits
from devices.sim import SimTwin
from devices.tracker import SampleTracker
from systems.thermoset.devices.backends import CureProgram
from systems.thermoset.devices.characterizer import Characterizer
from systems.thermoset.devices.dispenser import Dispenser
from systems.thermoset.devices.limits import DEFAULT_LIMITS
from systems.thermoset.devices.line import SynthesisLine
from systems.thermoset.devices.mixer import Mixer
from systems.thermoset.devices.oven import CuringOven
from systems.thermoset.devices.sim.lab import HARDENER_NAME, RESIN_NAME, SimAmbient, SimulatedLab
from systems.thermoset.devices.sim.thermal import simulate_oven
from systems.thermoset.devices.sim.truth import FilmHistory, film_truth

TRANSFER_TIME = 300.0  # s from the mixer to the loaded oven


class SimDispenser(SimTwin):
    """A balance-controlled dose: small overshoot/undershoot, a balance bias, the lot of the day."""

    def __init__(self, lab: SimulatedLab, role: str):
        super().__init__(lab, f"{role}_dispenser")
        self.role = role

    def lot_number(self, reagent: str) -> str:
        return self.lab.lot(reagent).number

    def dispense(self, reagent: str, mass: pint.Quantity, stop: threading.Event):
        return self._act(stop, lambda started: self._dispense(reagent, mass, stop, started))

    def _dispense(self, reagent: str, mass: pint.Quantity, stop: threading.Event, started: float):
        sample = self.lab.current_sample(f"{self.role}_dispenser")
        target = float(mass.to("g").magnitude)
        rng = self.lab.rng("dispense", sample.index, self.role)
        actual = max(0.0, target + (0.003 + 0.002 * target) * rng.standard_normal()) if target > 0 else 0.0
        lot = self.lab.lot(reagent)
        if target > 0 and not reagent:
            raise DeviceError(f"{self.role}_dispenser: no reagent loaded; set {self.role}_dispenser.reagent first")
        sample.masses[self.role] = actual
        sample.reagents[self.role] = reagent
        sample.lots[self.role] = lot
        sample.position, sample.state = "balance", "dispensed"
        self.lab.elapse(5.0 + (15.0 + 6.0 * target if target > 0 else 0.0), stop, started)
        measured = actual * self.lab.balance_bias + 0.0005 * rng.standard_normal() if target > 0 else 0.0
        return {"dispensed_mass": Q_(measured, "g"), "lot_number": lot.number}


class SimMixer(SimTwin):
    def __init__(self, lab: SimulatedLab):
        super().__init__(lab, "mixer")

    def mix(self, speed: pint.Quantity, duration: pint.Quantity, stop: threading.Event):
        return self._act(stop, lambda started: self._mix(speed, duration, stop, started))

    def _mix(self, speed: pint.Quantity, duration: pint.Quantity, stop: threading.Event, started: float):
        sample = self.lab.current_sample("mixer")
        rpm, seconds = float(speed.to("rpm").magnitude), float(duration.to("s").magnitude)
        rng = self.lab.rng("mix", sample.index)
        mean_speed = rpm * (1.0 - 0.005) + 2.0 * rng.standard_normal()
        actual = max(seconds + rng.standard_normal(), 1.0)
        rise = 12.0 * (rpm / 2000.0) ** 2 * (1.0 - np.exp(-actual / 300.0)) + 0.3 * rng.standard_normal()
        _, humidity = self.lab.conditions()
        sample.mixing = {"speed": mean_speed, "time": actual, "rise": max(rise, 0.0), "clock": self.lab.clock,
                         "humidity": humidity}
        sample.position, sample.state = "mixer", "mixed"
        self.lab.elapse(actual + 40.0, stop, started)
        return {"mean_speed": Q_(mean_speed, "rpm"), "actual_duration": Q_(actual / 60.0, "min"),
                "temperature_rise": Q_(max(rise, 0.0) + 0.1 * rng.standard_normal(), "K")}


class SimOven(SimTwin):
    def __init__(self, lab: SimulatedLab):
        super().__init__(lab, "oven")

    def cure(self, program: CureProgram, stop: threading.Event):
        return self._act(stop, lambda started: self._cure(program, stop, started))

    def _cure(self, program: CureProgram, stop: threading.Event, started: float):
        sample = self.lab.current_sample("oven")
        room, _ = self.lab.conditions()
        setpoint = float(program.temperature.to("degC").magnitude)
        run = simulate_oven(
            setpoint=setpoint,
            ramp_rate=float(program.ramp_rate.to("K/min").magnitude),
            tolerance=float(program.settle_tolerance.to("K").magnitude),
            settle_time=float(program.settle_time.to("s").magnitude),
            hold_time=float(program.hold_time.to("s").magnitude),
            room=room,
            calibration_offset=self.lab.oven_calibration_offset,
            rng=self.lab.rng("oven", sample.index),
        )
        self.lab.elapse(TRANSFER_TIME, stop, started)
        sample.oven_loaded_at = self.lab.clock
        sample.oven = run
        sample.position, sample.state = "oven", "curing"
        self.lab.elapse(run.duration, stop, started + TRANSFER_TIME / self.lab.speedup)
        sample.state = "cured"
        readbacks = run.readbacks(setpoint)
        units = {"mean_hold_temperature": "degC", "max_overshoot": "K", "actual_hold_time": "h",
                 "ramp_duration": "min", "cool_duration": "min"}
        return {key: Q_(float(value), units[key]) for key, value in readbacks.items()}


class SimCharacterizer(SimTwin):
    """DSC (Tg midpoint, residual exotherm) and a fracture test on the film; biased and noisy."""

    def __init__(self, lab: SimulatedLab):
        super().__init__(lab, "characterizer")

    def history(self, sample) -> FilmHistory:
        missing = [step for step, done in (("dispense", sample.masses), ("mix", sample.mixing), ("cure", sample.oven)) if not done]
        if missing:
            raise DeviceError(f"characterizer: sample {sample.sample_id!r} has no film yet (missing {', '.join(missing)})")
        resin, hardener = sample.lots.get("resin"), sample.lots.get("hardener")
        additive = sample.reagents.get("additive") or None
        room, humidity = self.lab.conditions()
        return FilmHistory(
            resin_mass=sample.masses.get("resin", 0.0),
            hardener_mass=sample.masses.get("hardener", 0.0),
            additive_mass=sample.masses.get("additive", 0.0) if additive else 0.0,
            resin_eew=resin.equivalent_weight if resin and resin.equivalent_weight else 187.0,
            hardener_ahew=hardener.equivalent_weight if hardener and hardener.equivalent_weight else 42.6,
            additive_smiles=additive,
            additive_purity=sample.lots["additive"].purity if additive and "additive" in sample.lots else 1.0,
            mixing_speed=sample.mixing["speed"],
            mixing_time=sample.mixing["time"],
            mixing_temperature_rise=sample.mixing["rise"],
            room_temperature=room,
            exposure_humidity=sample.mixing["humidity"],
            exposure_time=max(sample.oven_loaded_at - sample.mixing["clock"], 0.0),
            oven_time=sample.oven.time,
            oven_air=sample.oven.air,
            storage_humidity=humidity,
        )

    def measure(self, heating_rate: pint.Quantity, stop: threading.Event):
        return self._act(stop, lambda started: self._measure(heating_rate, stop, started))

    def _measure(self, heating_rate: pint.Quantity, stop: threading.Event, started: float):
        sample = self.lab.current_sample("characterizer")
        truth = film_truth(self.history(sample))
        sample.truth = truth
        sample.position, sample.state = "characterizer", "measuring"
        rate = float(heating_rate.to("K/min").magnitude)
        rng = self.lab.rng("characterize", sample.index)
        tg = truth.properties["glass_transition_temperature"].to("degC").magnitude
        # the DSC midpoint sits above the true Tg, more so at fast heating (thermal lag of the pan)
        tg_measured = tg + self.lab.dsc_offset + 2.0 * np.log2(rate / 10.0) + 0.6 * rng.standard_normal()
        alpha = truth.structure["degree_of_cure"].magnitude
        alpha_measured = float(np.clip(alpha + 0.01 + 0.008 * rng.standard_normal(), 0.0, 1.0))
        toughness = truth.properties["fracture_toughness"].to("MPa*m**0.5").magnitude * (1 + 0.05 * rng.standard_normal())
        duration = 600.0 + 300.0 / rate * 60.0 + 1200.0
        self.lab.elapse(duration, stop, started)
        sample.position, sample.state = "archive", "characterized"
        return {
            "glass_transition_temperature": Q_(tg_measured, "degC"),
            "degree_of_cure": Q_(alpha_measured, ""),
            "fracture_toughness": Q_(max(toughness, 0.05), "MPa*m**0.5"),
            "measurement_duration": Q_(duration / 60.0, "min"),
        }


class SimTracker(SimTwin):
    begins_samples = True

    def __init__(self, lab: SimulatedLab):
        super().__init__(lab, "tracker")

    def assign(self, sample_id: str, stop: threading.Event):
        return self._act(stop, lambda started: self._assign(sample_id, stop, started), "set")

    def _assign(self, sample_id: str, stop: threading.Event, started: float):
        sample = self.lab.begin_sample(sample_id)
        self.lab.elapse(15.0, stop, started)
        return {"barcode": sample.barcode, "vial": sample.vial, "location": sample.position, "state": sample.state}

    def where(self, stop: threading.Event | None = None):
        return self._act(stop, lambda started: self._where(), "trigger")

    def _where(self):
        sample = self.lab.sample
        if sample is None:
            return {"location": "", "state": "idle"}
        return {"location": sample.position, "state": sample.state}


class SimAmbientSensor(SimTwin):
    def __init__(self, lab: SimulatedLab):
        super().__init__(lab, "ambient")

    def conditions(self, stop: threading.Event | None = None):
        return self._act(stop, lambda started: self._conditions(), "trigger")

    def _conditions(self):
        temp, rh = self.lab.conditions()
        rng = self.lab.rng("ambient", int(self.lab.clock))
        return {"room_temperature": Q_(temp + 0.1 * rng.standard_normal(), "degC"),
                "relative_humidity": Q_(float(np.clip(rh + 1.0 * rng.standard_normal(), 0.0, 100.0)), "percent")}


def make_sim_line(seed: int = 0, speedup: float = 1000.0, limits: DeviceLimits | None = None,
                  ambient: SimAmbient | None = None, faults: Iterable[FaultSpec] = ()) -> SynthesisLine:
    """The synthesis line with simulated twins behind every device, for dry runs.

    Args:
        seed: seeds lots, ambient drift, noise and the hidden film truth.
        speedup: simulated time / wall time (1000: a 2 h hold takes 7.2 s; tests use >= 1e5).
        limits: device limits; None for :data:`systems.thermoset.devices.DEFAULT_LIMITS`.
        ambient: room conditions (:class:`SimAmbient`); None for 22 degC, 45 % RH with drift.
        faults: faults the twins inject (:class:`devices.FaultSpec`, e.g. from
            :func:`systems.thermoset.devices.fault_specs_from_config`), drawn per device action from a seeded
            stream apart from the physics; injected faults are listed in ``simulation.faults.log``.

    Returns:
        A :class:`~systems.thermoset.devices.SynthesisLine` whose ``simulation`` is the :class:`SimulatedLab`
        (clock, lots, and each sample's hidden truth in ``simulation.samples[id].truth``).
    """
    lab = SimulatedLab(seed=seed, speedup=speedup, ambient=ambient, faults=faults)
    limits = limits if limits is not None else DEFAULT_LIMITS
    return SynthesisLine(
        resin_dispenser=Dispenser(name="resin_dispenser", backend=SimDispenser(lab, "resin"), reagent=RESIN_NAME, limits=limits),
        hardener_dispenser=Dispenser(name="hardener_dispenser", backend=SimDispenser(lab, "hardener"), reagent=HARDENER_NAME, limits=limits),
        additive_dispenser=Dispenser(name="additive_dispenser", backend=SimDispenser(lab, "additive"), limits=limits),
        mixer=Mixer(name="mixer", backend=SimMixer(lab), limits=limits),
        oven=CuringOven(name="oven", backend=SimOven(lab), limits=limits),
        characterizer=Characterizer(name="characterizer", backend=SimCharacterizer(lab), limits=limits),
        tracker=SampleTracker(name="tracker", backend=SimTracker(lab), limits=limits),
        ambient=AmbientSensor(name="ambient", backend=SimAmbientSensor(lab), limits=limits),
        limits=limits,
        simulation=lab,
    )
