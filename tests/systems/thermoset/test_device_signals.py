"""Signals carry units and limits; devices refuse out-of-limit setpoints and never block the caller."""

from __future__ import annotations

import time

import pytest
from devices_helpers import FAST

from core import Q_, DeviceError, InputDataError, LimitError, ureg
from devices.signals import QuantitySignal
from systems.thermoset.devices import DEFAULT_LIMITS, make_sim_line


def _all_signals(line):
    for device in line.devices.values():
        for walk in device.walk_signals():
            yield device, walk.item


def test_every_numeric_signal_describes_parsable_units(line):
    numeric = 0
    for device, signal in _all_signals(line):
        assert isinstance(signal, QuantitySignal), signal.name
        key = signal.describe()[signal.name]
        assert key["path"] == f"{device.name}.{signal.attr_name}"
        if key["dtype"] == "number":
            numeric += 1
            assert ureg.Unit(key["units"]) is not None
    assert numeric >= 25


@pytest.mark.parametrize(
    ("attr", "low", "high"),
    [
        pytest.param("oven.temperature", 20.0, 220.0, id="oven-temperature"),
        pytest.param("oven.ramp_rate", 0.5, 20.0, id="oven-ramp"),
        pytest.param("mixer.speed", 100.0, 2500.0, id="mixer-speed"),
        pytest.param("resin_dispenser.mass", 0.0, 50.0, id="dispenser-mass"),
    ],
)
def test_setpoints_describe_control_limits(line, attr, low, high):
    device, name = attr.split(".")
    signal = getattr(getattr(line, device), name)
    key = signal.describe()[signal.name]
    assert (key["lower_ctrl_limit"], key["upper_ctrl_limit"]) == (low, high)
    assert key["limits"]["control"] == {"low": low, "high": high}


def test_limits_follow_the_line(line):
    line.limits = DEFAULT_LIMITS.replace(oven__temperature=(Q_(20, "degC"), Q_(150, "degC")))
    key = line.oven.temperature.describe()[line.oven.temperature.name]
    assert key["upper_ctrl_limit"] == 150.0
    with pytest.raises(LimitError, match="oven.temperature: 160 degC is above the device limit 150 degC"):
        line.oven.set(Q_(160, "degC"))


@pytest.mark.parametrize(
    ("target", "value", "match"),
    [
        pytest.param("oven", Q_(450, "degC"), "oven.temperature: 450 degC is above", id="oven-device"),
        pytest.param("oven.hold_time", Q_(13, "h"), "oven.hold_time: 13 h is above", id="oven-signal"),
        pytest.param("mixer", Q_(5000, "rpm"), "mixer.speed: 5000 rpm is above", id="mixer"),
        pytest.param("resin_dispenser", Q_(-1, "g"), "resin_dispenser.mass: -1 g is below", id="dispenser"),
        pytest.param("characterizer.heating_rate", Q_(100, "K/min"), "characterizer.heating_rate", id="dsc-rate"),
    ],
)
def test_set_refuses_out_of_limit_values_synchronously(line, target, value, match):
    obj = line
    for part in target.split("."):
        obj = getattr(obj, part)
    clock = line.simulation.clock
    with pytest.raises(LimitError, match=match):
        obj.set(value)
    assert line.simulation.clock == clock  # nothing moved


def test_set_refuses_wrong_dimension(line):
    with pytest.raises(InputDataError, match="oven.temperature"):
        line.oven.set(Q_(100, "g"))


def test_set_accepts_any_compatible_unit(line):
    line.oven.hold_time.set(Q_(30, "min"))
    assert line.oven.hold_time.get() == pytest.approx(0.5)
    line.oven.temperature.set(Q_(373.15, "K"))
    assert line.oven.temperature.get() == pytest.approx(100.0)


def test_one_hour_cure_at_high_speedup_finishes_in_under_a_second(line):
    line.tracker.set("s1").wait(5)
    line.oven.hold_time.set(Q_(1, "h"))
    started = time.monotonic()
    status = line.oven.set(Q_(120, "degC"))
    status.wait(5)
    assert time.monotonic() - started < 1.0
    assert status.success
    assert line.oven.actual_hold_time.get() == pytest.approx(1.0, abs=0.01)
    assert line.simulation.clock > 3600


def test_set_returns_at_once_and_stop_fails_the_status():
    slow = make_sim_line(seed=0, speedup=100.0)  # this cure takes ~ 1 min wall
    slow.tracker.set("s1").wait(5)
    started = time.monotonic()
    status = slow.oven.set(Q_(120, "degC"))
    assert time.monotonic() - started < 0.2
    assert not status.done
    slow.oven.stop()
    with pytest.raises(DeviceError, match="stopped"):
        status.wait(5)


def test_busy_device_refuses_a_second_action():
    slow = make_sim_line(seed=0, speedup=100.0)
    slow.tracker.set("s1").wait(5)
    status = slow.oven.set(Q_(120, "degC"))
    with pytest.raises(DeviceError, match="busy"):
        slow.oven.set(Q_(120, "degC"))
    slow.oven.stop()
    with pytest.raises(DeviceError):
        status.wait(5)


def test_lot_number_follows_the_loaded_reagent(line):
    lot = line.simulation.lot("CCCCOCC1CO1").number
    line.additive_dispenser.reagent.set("CCCCOCC1CO1")
    assert line.additive_dispenser.lot_number.get() == lot
    assert line.resin_dispenser.lot_number.get().startswith("DGEBA-")


def test_characterizer_without_a_film_fails_with_device_error():
    fresh = make_sim_line(seed=1, speedup=FAST)
    fresh.tracker.set("empty").wait(5)
    with pytest.raises(DeviceError, match="no film"):
        fresh.characterizer.trigger().wait(5)
