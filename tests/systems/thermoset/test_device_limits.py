"""Device limits, recipe -> setpoints, and the parameter bounds for the config loader."""

from __future__ import annotations

import pytest

from core import Q_, InputDataError, LimitError
from devices import DeviceLimits
from systems.thermoset.devices import DEFAULT_LIMITS, check_recipe_limits, parameter_limits, recipe_to_setpoints
from systems.thermoset.devices.recipes import HARDENER_AHEW, REACTIVE_ADDITIVE_EEW, RESIN_EEW

from devices_helpers import BGE, DBP, TGAP, make_recipe


def test_limits_are_frozen_and_validated():
    with pytest.raises(AttributeError):
        DEFAULT_LIMITS.ranges = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        DEFAULT_LIMITS.ranges["oven.temperature"] = (Q_(0, "degC"), Q_(1, "degC"))  # type: ignore[index]
    with pytest.raises(InputDataError, match="swap them"):
        DeviceLimits({"oven.temperature": (Q_(200, "degC"), Q_(100, "degC"))})
    with pytest.raises(InputDataError, match="different dimensions"):
        DeviceLimits({"oven.temperature": (Q_(20, "degC"), Q_(100, "g"))})


def test_replace_changes_one_path_only():
    narrow = DEFAULT_LIMITS.replace(oven__temperature=(Q_(20, "degC"), Q_(150, "degC")))
    assert narrow.bounds("oven.temperature")[1] == Q_(150, "degC")
    assert narrow.bounds("mixer.speed") == DEFAULT_LIMITS.bounds("mixer.speed")
    assert DEFAULT_LIMITS.bounds("oven.temperature")[1] == Q_(220, "degC")


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        pytest.param("oven.temperature", Q_(450, "degC"), "oven.temperature: 450 degC is above the device limit 220 degC", id="oven-hot"),
        pytest.param("oven.temperature", Q_(500, "K"), "oven.temperature: 226.85 degC is above the device limit 220 degC", id="oven-kelvin"),
        pytest.param("mixer.speed", Q_(50, "rpm"), "mixer.speed: 50 rpm is below the device limit 100 rpm", id="mixer-slow"),
        pytest.param("oven.hold_time", Q_(800, "min"), "oven.hold_time: 13.3333 h is above the device limit 12 h", id="hold-long"),
    ],
)
def test_check_message_says_what_and_what_is_allowed(path, value, message):
    with pytest.raises(LimitError) as info:
        DEFAULT_LIMITS.check(path, value)
    assert str(info.value) == message


def test_check_wrong_dimension_is_input_error():
    with pytest.raises(InputDataError, match="oven.temperature"):
        DEFAULT_LIMITS.check("oven.temperature", Q_(3, "g"))


def _equivalents(setpoints, additive=None):
    epoxide = setpoints["resin_dispenser.mass"] / RESIN_EEW
    if additive is not None and additive in REACTIVE_ADDITIVE_EEW:
        epoxide = epoxide + setpoints["additive_dispenser.mass"] / REACTIVE_ADDITIVE_EEW[additive]
    amine = setpoints["hardener_dispenser.mass"] / HARDENER_AHEW
    return float((amine / epoxide).to("").magnitude)


@pytest.mark.parametrize(
    ("additive", "fraction", "ratio"),
    [
        pytest.param(DBP, 0.10, 1.0, id="dbp-plasticizer"),
        pytest.param(TGAP, 0.20, 1.3, id="tgap-reactive"),
        pytest.param(BGE, 0.15, 0.7, id="bge-reactive"),
        pytest.param(None, 0.0, 0.9, id="no-additive"),
    ],
)
def test_masses_meet_stoichiometry_and_batch(additive, fraction, ratio):
    recipe = make_recipe(additive=additive, additive_fraction=Q_(100 * fraction, "percent"), hardener_ratio=Q_(ratio, ""))
    setpoints = recipe_to_setpoints(recipe, batch_mass=Q_(12, "g"))
    masses = [setpoints[f"{d}_dispenser.mass"].to("g").magnitude for d in ("resin", "hardener", "additive")]
    assert sum(masses) == pytest.approx(12.0)
    assert masses[2] == pytest.approx(12.0 * fraction)
    assert _equivalents(setpoints, additive) == pytest.approx(ratio)


def test_setpoints_convert_units():
    setpoints = recipe_to_setpoints(make_recipe(cure_temperature=Q_(400, "K"), cure_time=Q_(90, "min")))
    assert setpoints["oven.temperature"].to("degC").magnitude == pytest.approx(126.85)
    assert setpoints["oven.hold_time"].to("h").magnitude == pytest.approx(1.5)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param({"cure_temperature": Q_(450, "degC")}, "oven.temperature: 450 degC is above the device limit 220 degC", id="oven"),
        pytest.param({"mixing_speed": Q_(3000, "rpm")}, "mixer.speed: 3000 rpm is above the device limit 2500 rpm", id="mixer"),
        pytest.param({"additive_fraction": Q_(60, "percent")}, "additive_dispenser.mass: 60 g is above the device limit 50 g",
                     id="additive-capacity"),
    ],
)
def test_check_recipe_limits_names_the_setpoint(change, expected):
    recipe = make_recipe(**change)
    with pytest.raises(LimitError) as info:
        check_recipe_limits(recipe, DEFAULT_LIMITS, batch_mass=Q_(100, "g") if "additive_fraction" in change else Q_(10, "g"))
    assert expected in str(info.value)


def test_check_recipe_limits_lists_every_violation():
    recipe = make_recipe(cure_temperature=Q_(450, "degC"), mixing_time=Q_(45, "min"))
    with pytest.raises(LimitError) as info:
        check_recipe_limits(recipe, DEFAULT_LIMITS)
    assert "oven.temperature" in str(info.value) and "mixer.duration" in str(info.value)


@pytest.mark.parametrize(
    ("recipe", "match"),
    [
        pytest.param({k: v for k, v in make_recipe().items() if k != "cure_time"}, "cure_time", id="missing-key"),
        pytest.param(make_recipe(cure_temperature=Q_(3, "g")), "cure_temperature", id="wrong-dimension"),
        pytest.param(make_recipe(mixing_speed=1200.0), "mixing_speed", id="no-unit"),
        pytest.param(make_recipe(additive="not a smiles ((("), "SMILES", id="bad-smiles"),
    ],
)
def test_malformed_recipe_is_input_error(recipe, match):
    with pytest.raises(InputDataError, match=match):
        check_recipe_limits(recipe)


def test_parameter_limits_follow_the_device_limits():
    narrow = DEFAULT_LIMITS.replace(oven__temperature=(Q_(40, "degC"), Q_(180, "degC")),
                                    additive_dispenser__mass=(Q_(0, "g"), Q_(1.5, "g")))
    bounds = parameter_limits(narrow, batch_mass=Q_(10, "g"))
    assert set(bounds) == {"cure_temperature", "cure_time", "mixing_speed", "mixing_time", "additive_fraction"}
    assert bounds["cure_temperature"] == (Q_(40, "degC"), Q_(180, "degC"))
    assert bounds["mixing_speed"][1].to("rpm").magnitude == pytest.approx(2500)
    assert bounds["additive_fraction"][1].to("percent").magnitude == pytest.approx(15.0)
    assert parameter_limits(DEFAULT_LIMITS)["additive_fraction"][1].to("percent").magnitude == pytest.approx(100.0)
