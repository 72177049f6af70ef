"""The simulated oven's air temperature during one cure program, and what its sensor reports."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core import DeviceError

STEP = 20.0  # s, time grid of the simulated profile
OVERSHOOT_TAU, OVERSHOOT_PERIOD = 180.0, 480.0  # s, damped oscillation after the ramp
COOL_TAU, UNLOAD_ABOVE_ROOM = 1500.0, 25.0  # s; unload when the air is this close to the room
MAX_SETTLE = 2 * 3600.0  # s


@dataclass(frozen=True)
class OvenRun:
    """Times in s from loading; temperatures in degC.

    ``air`` is the true air temperature, ``sensor`` what the oven's sensor reads
    (``air - calibration_offset`` plus noise).
    """

    time: np.ndarray
    air: np.ndarray
    sensor: np.ndarray
    ramp_end: float
    hold_start: float
    hold_end: float
    duration: float

    def readbacks(self, setpoint: float) -> dict[str, float]:
        """mean_hold_temperature (degC), max_overshoot (K), actual_hold_time (h), ramp_duration (min), cool_duration (min)."""
        hold = (self.time >= self.hold_start) & (self.time <= self.hold_end)
        mean_hold = float(self.sensor[hold].mean()) if hold.any() else float(self.sensor[np.argmin(abs(self.time - self.hold_start))])
        after_ramp = self.time >= self.ramp_end
        return {
            "mean_hold_temperature": mean_hold,
            "max_overshoot": max(0.0, float(self.sensor[after_ramp].max() - setpoint)),
            "actual_hold_time": (self.hold_end - self.hold_start) / 3600.0,
            "ramp_duration": self.ramp_end / 60.0,
            "cool_duration": (self.duration - self.hold_end) / 60.0,
        }


def simulate_oven(setpoint: float, ramp_rate: float, tolerance: float, settle_time: float, hold_time: float,
                  room: float, calibration_offset: float, rng: np.random.Generator) -> OvenRun:
    """Air temperature of one program: ramp, damped overshoot while settling, hold, cool.

    Args:
        setpoint: degC (what the sensor should read); ramp_rate: K/min; tolerance: K;
        settle_time: s inside the tolerance band before the hold starts; hold_time: s;
        room: degC; calibration_offset: K the air runs above what the sensor reads.

    Raises:
        DeviceError: the oven did not settle within ``tolerance`` in 2 h.
    """
    start = room
    rate = ramp_rate / 60.0 * (1.0 + 0.01 * rng.standard_normal())
    ramp_time = max(abs(setpoint - start) / rate, STEP)
    t_ramp = np.arange(0.0, ramp_time, STEP)
    sensor_ramp = start + np.sign(setpoint - start) * rate * t_ramp
    # damped oscillation after the ramp; a faster ramp overshoots more
    amplitude = 0.5 * ramp_rate**0.7 * (1.0 + 0.15 * rng.standard_normal())
    t_settle = np.arange(0.0, MAX_SETTLE + settle_time + STEP, STEP)
    noise = 0.03 * rng.standard_normal(t_settle.size)
    sensor_settle = setpoint + amplitude * np.exp(-t_settle / OVERSHOOT_TAU) * np.sin(2 * np.pi * t_settle / OVERSHOOT_PERIOD + 0.6) + noise
    inside = np.abs(sensor_settle - setpoint) <= tolerance
    need = max(int(np.ceil(settle_time / STEP)), 1)
    run = np.convolve(inside.astype(int), np.ones(need, int), mode="valid")
    settled = np.flatnonzero(run == need)
    if settled.size == 0 or t_settle[settled[0]] > MAX_SETTLE:
        raise DeviceError(
            f"oven: did not settle within +-{tolerance:g} K of {setpoint:g} degC in {MAX_SETTLE / 3600:g} h; "
            "widen oven.settle_tolerance or lower oven.ramp_rate"
        )
    settle_end = t_settle[settled[0] + need - 1] + STEP
    t_settle, sensor_settle = t_settle[t_settle < settle_end], sensor_settle[t_settle < settle_end]
    hold_actual = max(hold_time + 2.0 * rng.standard_normal(), 0.0)
    t_hold = np.arange(0.0, hold_actual, STEP) if hold_actual > 0 else np.zeros(0)
    wander = np.cumsum(rng.standard_normal(t_hold.size)) * 0.02
    sensor_hold = setpoint + 0.15 * np.sin(2 * np.pi * t_hold / 900.0) + wander - (wander.mean() if wander.size else 0.0) \
        + 0.05 * rng.standard_normal(t_hold.size)
    cool_span = COOL_TAU * np.log(max(setpoint - room, UNLOAD_ABOVE_ROOM + 1.0) / UNLOAD_ABOVE_ROOM) if setpoint > room + UNLOAD_ABOVE_ROOM else STEP
    t_cool = np.arange(0.0, cool_span + STEP, STEP)
    sensor_cool = room + (setpoint - room) * np.exp(-t_cool / COOL_TAU)

    t0_settle, t0_hold = ramp_time, ramp_time + settle_end
    t0_cool = t0_hold + hold_actual
    time = np.concatenate([t_ramp, t0_settle + t_settle, t0_hold + t_hold, t0_cool + t_cool])
    sensor = np.concatenate([sensor_ramp, sensor_settle, sensor_hold, sensor_cool])
    air = sensor + calibration_offset * np.clip((sensor - room) / max(setpoint - room, 1.0), 0.0, 1.0)
    return OvenRun(time=time, air=air, sensor=sensor, ramp_end=ramp_time, hold_start=t0_hold,
                   hold_end=t0_cool, duration=float(time[-1]))
