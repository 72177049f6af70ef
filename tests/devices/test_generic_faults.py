"""Fault specs checked against a line's own rules: any line declares its devices, kinds and
readings once, and gets the same table, the same defaults and the same one-line errors."""

from __future__ import annotations

import pytest
from toy_line import TOY_DEVICES, TOY_FAULTS, TOY_READINGS

from core import ConfigError
from devices import FaultRules, FaultSpec, fault_specs_from_config
from devices.faults import ACTION_KINDS, INJECTABLE_KINDS


def test_a_reading_fault_corrupts_the_devices_first_reading_unless_told_otherwise():
    specs = TOY_FAULTS.from_config([
        {"device": "heater", "kind": "nan_reading", "probability": 0.5},
        {"device": "heater", "kind": "out_of_range", "probability": 1, "signal": "hold_time", "after_samples": 2},
        {"device": "tracker", "kind": "timeout", "probability": 0.1},
    ])
    assert specs[0] == FaultSpec("heater", "nan_reading", 0.5, signal="mean_temperature")
    assert (specs[1].signal, specs[1].after_samples, specs[1].probability) == ("hold_time", 2, 1.0)
    assert specs[2].signal is None
    assert fault_specs_from_config([s.as_dict() for s in specs], TOY_FAULTS) == specs
    assert TOY_FAULTS.from_config(None) == () and TOY_FAULTS.from_config([]) == ()


def test_stuck_faults_only_hold_noisy_readings():
    assert TOY_FAULTS.signals("heater", "stuck") == ("mean_temperature",)
    assert TOY_FAULTS.signals("heater", "nan_reading") == ("mean_temperature", "hold_time")
    assert "stuck" not in TOY_FAULTS.kinds_of("ambient") and "nan_reading" in TOY_FAULTS.kinds_of("ambient")
    assert TOY_FAULTS.kinds_of("tracker") == ACTION_KINDS


BAD = [
    ({"device": "toaster", "kind": "fail", "probability": 0.1}, "device", "not a device of the toy line; use one of tracker"),
    ({"device": "heater", "kind": "explode", "probability": 0.1}, "kind", "not a fault kind; use one of timeout"),
    ({"device": "heater", "kind": "watchdog", "probability": 0.1}, "kind", "not a fault kind"),
    ({"device": "tracker", "kind": "nan_reading", "probability": 0.1}, "kind", "tracker has no reading that 'nan_reading' can corrupt"),
    ({"device": "heater", "kind": "stuck", "probability": 0.1, "signal": "hold_time"}, "signal", "use one of mean_temperature"),
    ({"device": "heater", "kind": "fail", "probability": 0.1, "signal": "hold_time"}, "signal", "remove it"),
    ({"device": "heater", "kind": "fail", "probability": 1.5}, "probability", "0 to 1"),
    ({"device": "heater", "kind": "fail", "probability": True}, "probability", "0 to 1"),
    ({"device": "heater", "kind": "fail", "probability": 0.1, "after_samples": -1}, "after_samples", ">= 0"),
    ({"device": "heater", "kind": "fail"}, "probability", "missing"),
    ({"device": "heater", "kind": "fail", "probability": 0.1, "chance": 2}, "chance", "allowed fields"),
]


@pytest.mark.parametrize(("item", "field", "hint"), BAD,
                         ids=["unknown-device", "unknown-kind", "watchdog-not-injectable", "no-reading-to-corrupt",
                              "stuck-on-a-quiet-reading", "signal-on-an-action-fault", "probability-above-1",
                              "probability-bool", "after-negative", "missing-probability", "unknown-field"])
def test_every_bad_fault_is_one_line_naming_its_field(item, field, hint):
    with pytest.raises(ConfigError) as info:
        TOY_FAULTS.from_config([item])
    assert info.value.fields == [f"devices.faults[0].{field}"]
    assert hint in str(info.value)


def test_errors_are_collected_over_the_whole_list_and_a_non_list_is_refused():
    with pytest.raises(ConfigError) as info:
        TOY_FAULTS.from_config([{"device": "heater", "kind": "fail", "probability": 0.1},
                                {"device": "toaster", "kind": "fail", "probability": 2},
                                "heater fails"])
    assert info.value.fields == ["devices.faults[1].device", "devices.faults[1].probability", "devices.faults[2]"]
    with pytest.raises(ConfigError, match="list of tables"):
        TOY_FAULTS.from_config({"device": "heater"})


def test_a_line_with_fewer_kinds_names_only_its_own():
    rules = FaultRules(TOY_DEVICES, kinds=(*ACTION_KINDS, "nan_reading"), readings={"heater": ("mean_temperature",)},
                       line="the flow line")
    with pytest.raises(ConfigError) as info:
        rules.from_config([{"device": "heater", "kind": "stuck", "probability": 0.1}])
    assert "use one of timeout, fail, disconnect, nan_reading" in str(info.value)
    assert rules.spec("heater", "nan_reading", 1.0).signal == "mean_temperature"


def test_rules_refuse_what_no_twin_can_do():
    with pytest.raises(ValueError, match="cannot be injected"):
        FaultRules(TOY_DEVICES, kinds=("watchdog",))
    with pytest.raises(ValueError, match="not devices of"):
        FaultRules(TOY_DEVICES, readings={"toaster": ("crumbs",)})
    assert set(TOY_FAULTS.kinds) == set(INJECTABLE_KINDS) and TOY_FAULTS.devices == TOY_DEVICES
    assert TOY_READINGS.readings_of("heater")[0] == TOY_FAULTS.signals("heater", "nan_reading")[0]


def test_a_spec_checks_on_construction_what_needs_no_line():
    with pytest.raises(ConfigError) as info:
        FaultSpec("heater", "fail", -0.1, index=4)
    assert info.value.fields == ["devices.faults[4].probability"]
    with pytest.raises(AttributeError):
        FaultSpec("heater", "fail", 0.1).probability = 1.0  # type: ignore[misc]
