"""Recipe -> setpoint helpers and the line base, given only a line's names."""

from __future__ import annotations

import pytest
from toy_line import TOY_LIMITS, make_toy_line

from core import Q_, InputDataError, LimitError
from devices import DeviceLimits, check_setpoints, parameter_bounds, process_setpoints, recipe_quantity, setpoint_path

REQUIRED = ("heat_temperature", "heat_fraction")


def test_recipe_quantities_are_checked_for_presence_and_dimension():
    recipe = {"heat_temperature": Q_(120, "degC"), "heat_fraction": 0.3}
    assert recipe_quantity(recipe, "heat_temperature", "degC", REQUIRED) == Q_(120, "degC")
    assert recipe_quantity(recipe, "heat_fraction", "", REQUIRED) == Q_(0.3, "")
    with pytest.raises(InputDataError, match="recipe has no 'cool_time'; it needs heat_temperature, heat_fraction"):
        recipe_quantity(recipe, "cool_time", "min", REQUIRED)
    with pytest.raises(InputDataError, match="heat_temperature: 120 g has dimension"):
        recipe_quantity({"heat_temperature": Q_(120, "g")}, "heat_temperature", "degC", REQUIRED)
    with pytest.raises(InputDataError, match="not a quantity; give e.g. 1 degC"):
        recipe_quantity({"heat_temperature": 120}, "heat_temperature", "degC", REQUIRED)
    with pytest.raises(InputDataError, match="not a quantity"):
        recipe_quantity({"heat_fraction": True}, "heat_fraction", "", REQUIRED)


def test_every_setpoint_beyond_its_limit_is_listed_with_its_recipe_parameter():
    setpoints = {"heater.temperature": Q_(400, "degC"), "heater.ramp_rate": Q_(0.5, "K/min")}
    with pytest.raises(LimitError) as info:
        check_setpoints(setpoints, TOY_LIMITS, {"heater.temperature": "heat_temperature"})
    assert str(info.value) == ("heater.temperature: 400 degC is above the device limit 300 degC (recipe heat_temperature); "
                               "heater.ramp_rate: 0.5 K/min is below the device limit 1 K/min")
    check_setpoints({"heater.temperature": Q_(100, "degC"), "other.path": Q_(1, "g")}, TOY_LIMITS)


def test_process_settings_keep_their_defaults_units_and_bounds_come_from_the_limits():
    out = process_setpoints({"heater.ramp_rate": Q_(5, "K/min")}, {"heater.ramp_rate": Q_(0.2, "K/s"), "x.y": Q_(2, "s")})
    assert out["heater.ramp_rate"].units == Q_(1, "K/min").units and out["heater.ramp_rate"].magnitude == pytest.approx(12)
    assert out["x.y"] == Q_(2, "s")
    bounds = parameter_bounds(TOY_LIMITS, {"heat_temperature": ("heater.temperature", "K"), "none": ("no.path", "s")})
    assert list(bounds) == ["heat_temperature"]
    assert bounds["heat_temperature"][1].to("degC").magnitude == pytest.approx(300.0)


def test_the_line_hands_its_limits_to_every_device_and_names_its_setpoints():
    line = make_toy_line()
    assert list(line.devices) == ["tracker", "ambient", "heater"]
    assert all(device.limits is TOY_LIMITS for device in line.devices.values())
    narrower = TOY_LIMITS.with_ranges({"heater.temperature": (Q_(20, "degC"), Q_(100, "degC"))})
    line.limits = narrower
    assert all(device.limits is narrower for device in line.devices.values())
    with pytest.raises(LimitError, match="above the device limit 100 degC"):
        line.heater.set(Q_(150, "degC"))
    assert setpoint_path(line.heater) == "heater.temperature"
    assert setpoint_path(line.heater.ramp_rate) == "heater.ramp_rate"
    assert setpoint_path(line.tracker) == "tracker.sample_id"
    assert setpoint_path(line.ambient) is None
    assert line.time_scale == line.simulation.speedup
    assert isinstance(line.limits, DeviceLimits)
