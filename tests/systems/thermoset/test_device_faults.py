"""Seeded device faults of the twins, the plan's watchdog and reading checks, and the fault in the documents."""

from __future__ import annotations

import pickle
import threading
import time

import event_model
import numpy as np
import pytest
from bluesky import RunEngine
from devices_helpers import FAST, make_recipe, run_plan

from core import Q_, ConfigError, DeviceError, DeviceFault, SDLError
from devices import DEFAULT_RETRYABLE_KINDS, INJECTABLE_KINDS, fault_from_exception, steps_from_documents
from devices import FaultSpec
from systems.thermoset.devices import (
    fault_spec,
    fault_specs_from_config,
    make_and_characterize,
    make_sim_line,
    recipe_to_setpoints,
)
from systems.thermoset.devices.durations import cure_seconds, expected_seconds
from systems.thermoset.devices.readings import reading_fault
from systems.thermoset.devices.sim.thermal import simulate_oven
from systems.thermoset.devices.sim.twins import TRANSFER_TIME

FLOOR = 0.5  # s: a short watchdog floor keeps the timeout cases quick


def _run(line, sample_id="s-1", recipe=None, **kwargs):
    """Run one sample; return (raised exception or None, documents)."""
    RE = RunEngine({}, call_returns_result=False, context_managers=[])
    docs = []
    RE.subscribe(lambda name, doc: docs.append((name, doc)))
    kwargs.setdefault("watchdog_floor", FLOOR)
    try:
        RE(make_and_characterize(line, recipe or make_recipe(), sample_id, **kwargs))
    except SDLError as err:
        return err, docs
    return None, docs


def _validate(docs):
    for name, doc in docs:
        event_model.schema_validators[event_model.DocumentNames[name]].validate(doc)


# --- each kind: the right fault, at the right step, and a clean close -----------------------------
CASES = [
    # device, kind, signal, step where it strikes, steps completed before it
    ("tracker", "timeout", None, "tracker", []),
    ("tracker", "fail", None, "tracker", []),
    ("tracker", "disconnect", None, "tracker", []),
    ("ambient", "disconnect", None, "ambient", []),
    ("ambient", "nan_reading", None, "ambient", []),
    ("resin_dispenser", "timeout", None, "dispense", ["tracker"]),
    ("hardener_dispenser", "fail", None, "dispense", ["tracker"]),
    ("additive_dispenser", "disconnect", None, "dispense", ["tracker"]),
    ("resin_dispenser", "out_of_range", None, "dispense", ["tracker"]),
    ("mixer", "fail", None, "mix", ["tracker", "dispense"]),
    ("mixer", "nan_reading", "temperature_rise", "mix", ["tracker", "dispense"]),
    ("oven", "timeout", None, "cure", ["tracker", "dispense", "mix"]),
    ("oven", "disconnect", None, "cure", ["tracker", "dispense", "mix"]),
    ("oven", "out_of_range", None, "cure", ["tracker", "dispense", "mix"]),
    ("characterizer", "fail", None, "characterize", ["tracker", "dispense", "mix", "cure"]),
    ("characterizer", "nan_reading", None, "characterize", ["tracker", "dispense", "mix", "cure"]),
    ("characterizer", "out_of_range", "degree_of_cure", "characterize", ["tracker", "dispense", "mix", "cure"]),
]
EXPECTED_KIND = {"timeout": "watchdog"}  # a hung action is found and stopped by the watchdog


@pytest.mark.parametrize(("device", "kind", "signal", "step", "done"), CASES,
                         ids=[f"{c[0]}-{c[1]}" + (f"-{c[2]}" if c[2] else "") for c in CASES])
def test_each_fault_kind_gives_its_device_fault_at_its_step(device, kind, signal, step, done):
    line = make_sim_line(seed=0, speedup=FAST, faults=[fault_spec(device, kind, 1.0, signal=signal)])
    err, docs = _run(line)
    assert isinstance(err, DeviceFault), err
    assert (err.device, err.kind, err.step) == (device, EXPECTED_KIND.get(kind, kind), step)
    if signal:
        assert signal in err.detail
    assert fault_from_exception(err) is err
    _validate(docs)
    assert [name for name, _ in docs][-1] == "stop"
    record = steps_from_documents(docs)
    assert record.exit_status == "fail"
    assert record.reason == str(err)
    assert record.fault == err.as_dict()
    assert [s["name"] for s in record.steps] == done
    assert line.simulation.faults.log[0]["kind"] == kind


def test_stuck_sensor_is_found_on_the_next_sample():
    line = make_sim_line(seed=0, speedup=FAST, faults=[fault_spec("characterizer", "stuck", 1.0, after_samples=1)])
    first, _ = _run(line, "s-0")
    err, docs = _run(line, "s-1")
    assert first is None
    assert (err.device, err.kind, err.step) == ("characterizer", "stuck", "characterize")
    assert "glass_transition_temperature" in err.detail
    assert line.characterizer.glass_transition_temperature.get() == pytest.approx(
        float(err.detail.split(" read ")[1].split(" ")[0]))
    record = steps_from_documents(docs)
    assert [s["name"] for s in record.steps] == ["tracker", "dispense", "mix", "cure"]
    assert record.properties == {}  # the stuck reading's event was dropped


def test_fault_after_samples_spares_the_first_samples():
    line = make_sim_line(seed=0, speedup=FAST, faults=[fault_spec("mixer", "fail", 1.0, after_samples=2)])
    results = [_run(line, f"s-{i}")[0] for i in range(3)]
    assert results[:2] == [None, None]
    assert (results[2].device, results[2].kind) == ("mixer", "fail")
    assert [entry["sample"] for entry in line.simulation.faults.log] == [2]


def test_device_fault_surfaces_from_the_run_engine_with_its_cause(RE):
    from bluesky.utils import FailedStatus

    line = make_sim_line(seed=0, speedup=FAST, faults=[fault_spec("oven", "fail", 1.0)])
    with pytest.raises(DeviceFault, match=r"^oven \(cure\): fail: ") as info:
        RE(make_and_characterize(line, make_recipe(), "s-raise"))
    assert isinstance(info.value, DeviceError)
    assert isinstance(info.value.__cause__, FailedStatus)
    wrapped = RuntimeError("sample failed")
    wrapped.__cause__ = info.value
    assert fault_from_exception(wrapped) is info.value
    assert fault_from_exception(RuntimeError("no fault")) is None


# --- the twins' behaviour without the plan -----------------------------------------------------------
def test_timeout_status_never_finishes_until_stopped():
    line = make_sim_line(seed=0, speedup=FAST, faults=[fault_spec("oven", "timeout", 1.0)])
    line.tracker.set("s1").wait(5)
    status = line.oven.set(Q_(120, "degC"))
    time.sleep(0.5)  # a healthy 1 h cure takes ~0.1 s at this speedup
    assert not status.done
    line.oven.stop()
    with pytest.raises(DeviceError, match="stopped"):
        status.wait(5)


def test_disconnect_raises_at_once_and_leaves_the_device_usable():
    line = make_sim_line(seed=0, speedup=FAST, faults=[fault_spec("mixer", "disconnect", 1.0)])
    line.tracker.set("s1").wait(5)
    with pytest.raises(DeviceFault) as info:
        line.mixer.set(Q_(1000, "rpm"))
    assert (info.value.device, info.value.kind, info.value.step) == ("mixer", "disconnect", None)
    assert not line.mixer._running  # not left busy


# --- seeds --------------------------------------------------------------------------------------------
SOME_FAULTS = [fault_spec("oven", "fail", 0.3), fault_spec("characterizer", "nan_reading", 0.3),
               fault_spec("ambient", "out_of_range", 0.05), fault_spec("tracker", "disconnect", 0.1)]


def _campaign(seed, faults, n=4):
    line = make_sim_line(seed=seed, speedup=1e6, faults=faults)
    outcomes = []
    for i in range(n):
        err, docs = _run(line, f"s-{i}")
        record = steps_from_documents(docs)
        truth = line.simulation.samples.get(f"s-{i}")
        outcomes.append((record.fault, truth.truth.properties if truth is not None and truth.truth else None))
    return line.simulation.faults.log, outcomes


def test_same_seed_same_faults_on_the_same_samples():
    log_a, outcomes_a = _campaign(1, SOME_FAULTS)
    log_b, outcomes_b = _campaign(1, SOME_FAULTS)
    log_c, _ = _campaign(2, SOME_FAULTS)
    assert log_a and log_a == log_b
    assert outcomes_a == outcomes_b
    assert log_c != log_a


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param([fault_spec("oven", "fail", 0.0), fault_spec("mixer", "timeout", 0.0)], id="probability-zero"),
        pytest.param([fault_spec("characterizer", "fail", 1.0, after_samples=50)], id="not-yet"),
    ],
)
def test_faults_that_do_not_strike_change_nothing(recipe, faults):
    plain = make_sim_line(seed=3, speedup=1e6)
    faulty = make_sim_line(seed=3, speedup=1e6, faults=faults)
    for i in range(2):
        _, docs_plain = _run(plain, f"s-{i}", recipe)
        _, docs_faulty = _run(faulty, f"s-{i}", recipe)
        assert plain.simulation.samples[f"s-{i}"].truth == faulty.simulation.samples[f"s-{i}"].truth
        assert steps_from_documents(docs_plain).properties == steps_from_documents(docs_faulty).properties
    assert faulty.simulation.faults.log == []
    assert plain.simulation.clock == faulty.simulation.clock


def test_reading_faults_leave_the_film_as_it_was(recipe):
    plain = make_sim_line(seed=4, speedup=1e6)
    faulty = make_sim_line(seed=4, speedup=1e6, faults=[fault_spec("characterizer", "nan_reading", 1.0, after_samples=1)])
    for i in range(3):
        _run(plain, f"s-{i}", recipe)
        err, _ = _run(faulty, f"s-{i}", recipe)
        assert (err is not None) == (i >= 1)
        # the film was made and measured the same way; only the number that came back is bad
        assert plain.simulation.samples[f"s-{i}"].truth == faulty.simulation.samples[f"s-{i}"].truth


def test_an_earlier_failed_sample_does_not_change_the_first(recipe):
    plain = make_sim_line(seed=5, speedup=1e6)
    faulty = make_sim_line(seed=5, speedup=1e6, faults=[fault_spec("mixer", "fail", 1.0, after_samples=1)])
    _run(plain, "s-0", recipe)
    _run(faulty, "s-0", recipe)
    err, _ = _run(faulty, "s-1", recipe)
    assert err.kind == "fail"
    assert plain.simulation.samples["s-0"].truth == faulty.simulation.samples["s-0"].truth


# --- the watchdog -------------------------------------------------------------------------------------
def test_watchdog_trips_on_a_hung_cure_within_its_limit(recipe):
    factor, floor = 3.0, 2.0
    line = make_sim_line(seed=0, speedup=FAST, faults=[fault_spec("oven", "timeout", 1.0)])
    expected = expected_seconds("oven", recipe_to_setpoints(recipe))
    started = time.monotonic()
    err, docs = _run(line, recipe=recipe, watchdog_factor=factor, watchdog_floor=floor)
    wall = time.monotonic() - started
    assert (err.kind, err.device, err.step) == ("watchdog", "oven", "cure")
    assert f"expected {expected / 3600:.2g} h" in err.detail and err.detail.endswith("stopped")
    assert floor <= wall <= expected * factor / FAST + floor + 1.0
    assert not line.oven._running  # the watchdog stopped the hung cure
    assert steps_from_documents(docs).fault["kind"] == "watchdog"


def test_healthy_run_at_moderate_speedup_does_not_trip_the_watchdog(recipe):
    # 2e4: the ~3 h cure takes ~0.6 s wall against a limit of ~2 s; the floor barely helps
    line = make_sim_line(seed=0, speedup=2e4)
    err, docs = _run(line, recipe=recipe, watchdog_floor=0.25)
    assert err is None
    assert steps_from_documents(docs).exit_status == "success"


def test_nominal_cure_duration_matches_the_twin_within_a_factor():
    rng = np.random.default_rng(0)
    for i in range(20):
        T, rate, tol = rng.uniform(40, 220), rng.uniform(0.5, 20), rng.uniform(0.3, 10)
        settle, hold, room = rng.uniform(0, 3600), rng.uniform(0, 12 * 3600), rng.uniform(18, 26)
        run = simulate_oven(T, rate, tol, settle, hold, room, 1.5, np.random.default_rng(i))
        assert 0.67 < (TRANSFER_TIME + run.duration) / cure_seconds(T, rate, tol, settle, hold) < 1.5


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"watchdog_factor": 0}, "watchdog_factor", id="factor-zero"),
        pytest.param({"watchdog_factor": float("nan")}, "watchdog_factor", id="factor-nan"),
        pytest.param({"watchdog_floor": -1.0}, "watchdog_floor", id="floor-negative"),
    ],
)
def test_bad_watchdog_settings_are_refused(line, recipe, kwargs, match):
    from core import InputDataError

    with pytest.raises(InputDataError, match=match):
        make_and_characterize(line, recipe, "s-1", **kwargs)


# --- reading checks -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "previous", "kind"),
    [
        pytest.param({"mean_hold_temperature": float("nan")}, None, "nan_reading", id="nan"),
        pytest.param({"mean_hold_temperature": float("inf")}, None, "nan_reading", id="inf"),
        pytest.param({"mean_hold_temperature": 2000.0}, None, "out_of_range", id="too-hot"),
        pytest.param({"max_overshoot": -3.0}, None, "out_of_range", id="negative-overshoot"),
        pytest.param({"mean_hold_temperature": 140.123}, {"mean_hold_temperature": 140.123}, "stuck", id="stuck"),
        pytest.param({"mean_hold_temperature": 140.123}, {"mean_hold_temperature": 140.124}, None, id="noisy-ok"),
        pytest.param({"actual_hold_time": 2.0}, {"actual_hold_time": 2.0}, None, id="not-noisy-repeat-ok"),
        pytest.param({"mean_hold_temperature": 0.0}, {"mean_hold_temperature": 0.0}, None, id="idle-zero-ok"),
    ],
)
def test_reading_checks(values, previous, kind):
    fault = reading_fault("oven", values, previous, step="cure")
    assert (fault.kind if fault else None) == kind
    if fault:
        assert (fault.device, fault.step) == ("oven", "cure")


# --- the fault value object and the config ------------------------------------------------------------
def test_device_fault_pickles_and_reads_back_from_its_message():
    fault = DeviceFault("oven", "watchdog", "the cure ran 3.1x its expected 4.3 h without finishing; stopped", "cure")
    assert str(fault) == "oven (cure): watchdog: the cure ran 3.1x its expected 4.3 h without finishing; stopped"
    copy = pickle.loads(pickle.dumps(fault))
    assert isinstance(copy, DeviceFault) and copy.as_dict() == fault.as_dict() and str(copy) == str(fault)
    assert DeviceFault.from_message(str(fault)).as_dict() == fault.as_dict()
    assert DeviceFault.from_message("mixer: disconnect: gone").as_dict() == {
        "device": "mixer", "kind": "disconnect", "step": None, "detail": "gone"}
    assert DeviceFault.from_message("oven: heater fault") is None
    with pytest.raises(ValueError, match="kind"):
        DeviceFault("oven", "meltdown")


def test_a_plain_device_failure_also_gives_a_fault(RE, line, recipe):
    class BrokenMixer:
        def mix(self, speed, duration, stop):
            raise DeviceError("mixer: motor overload")

    line.mixer.backend = BrokenMixer()
    err, docs = _run(line, recipe=recipe)
    assert (err.device, err.kind, err.step, err.detail) == ("mixer", "fail", "mix", "mixer: motor overload")
    assert steps_from_documents(docs).fault == err.as_dict()


def test_successful_and_non_fault_runs_have_no_fault(run_docs_ok):
    assert steps_from_documents(run_docs_ok).fault is None


@pytest.fixture
def run_docs_ok(RE, line, recipe):
    return run_plan(RE, make_and_characterize(line, recipe, "s-ok"))


def test_fault_specs_from_config_builds_specs_with_defaults():
    specs = fault_specs_from_config([
        {"device": "oven", "kind": "out_of_range", "probability": 0.1},
        {"device": "mixer", "kind": "stuck", "probability": 1, "after_samples": 3, "signal": "temperature_rise"},
        {"device": "tracker", "kind": "timeout", "probability": 0.01},
    ])
    assert specs[0] == FaultSpec("oven", "out_of_range", 0.1, signal="mean_hold_temperature")
    assert specs[1].after_samples == 3 and specs[1].signal == "temperature_rise" and specs[1].probability == 1.0
    assert specs[2].signal is None
    assert fault_specs_from_config(None) == () and fault_specs_from_config([]) == ()
    assert fault_specs_from_config([s.as_dict() for s in specs]) == specs


BAD_SPECS = [
    ({"device": "toaster", "kind": "fail", "probability": 0.1}, "devices.faults[0].device", "oven"),
    ({"device": "oven", "kind": "explode", "probability": 0.1}, "devices.faults[0].kind", "out_of_range"),
    ({"device": "oven", "kind": "watchdog", "probability": 0.1}, "devices.faults[0].kind", "timeout"),
    ({"device": "oven", "kind": "fail", "probability": 1.5}, "devices.faults[0].probability", "0 to 1"),
    ({"device": "oven", "kind": "fail", "probability": "often"}, "devices.faults[0].probability", "0 to 1"),
    ({"device": "oven", "kind": "fail", "probability": True}, "devices.faults[0].probability", "0 to 1"),
    ({"device": "oven", "kind": "fail", "probability": 0.1, "after_samples": -1}, "devices.faults[0].after_samples", ">= 0"),
    ({"device": "oven", "kind": "fail", "probability": 0.1, "after_samples": 2.5}, "devices.faults[0].after_samples", ">= 0"),
    ({"device": "oven", "kind": "nan_reading", "probability": 0.1, "signal": "colour"}, "devices.faults[0].signal",
     "mean_hold_temperature"),
    ({"device": "oven", "kind": "stuck", "probability": 0.1, "signal": "actual_hold_time"}, "devices.faults[0].signal",
     "mean_hold_temperature"),
    ({"device": "oven", "kind": "fail", "probability": 0.1, "signal": "mean_hold_temperature"}, "devices.faults[0].signal",
     "remove it"),
    ({"device": "tracker", "kind": "nan_reading", "probability": 0.1}, "devices.faults[0].kind", "disconnect"),
    ({"device": "ambient", "kind": "stuck", "probability": 0.1}, "devices.faults[0].kind", "nan_reading"),
    ({"device": "oven", "kind": "fail"}, "devices.faults[0].probability", "missing"),
    ({"device": "oven", "kind": "fail", "probability": 0.1, "chance": 2}, "devices.faults[0].chance", "allowed fields"),
    ("oven fails", "devices.faults[0]", "table"),
]


@pytest.mark.parametrize(("item", "field", "hint"), BAD_SPECS,
                         ids=["unknown-device", "unknown-kind", "watchdog-not-injectable", "probability-above-1",
                              "probability-text", "probability-bool", "after-negative", "after-float", "unknown-signal",
                              "stuck-on-a-quiet-signal", "signal-on-fail", "tracker-has-no-reading", "room-sensor-not-stuck-checked",
                              "missing-probability",
                              "unknown-field", "not-a-table"])
def test_fault_spec_errors_name_the_field(item, field, hint):
    with pytest.raises(ConfigError) as info:
        fault_specs_from_config([item])
    assert field in info.value.fields
    assert hint in str(info.value)


def test_fault_spec_errors_are_collected_over_the_whole_list():
    with pytest.raises(ConfigError) as info:
        fault_specs_from_config([
            {"device": "oven", "kind": "fail", "probability": 0.1},
            {"device": "toaster", "kind": "fail", "probability": 2},
            {"device": "mixer", "kind": "nope", "probability": 0.1},
        ])
    assert info.value.fields == ["devices.faults[1].device", "devices.faults[1].probability", "devices.faults[2].kind"]
    with pytest.raises(ConfigError, match="list of tables"):
        fault_specs_from_config({"device": "oven"})


def test_retryable_defaults_are_known_kinds():
    assert set(DEFAULT_RETRYABLE_KINDS) <= set(INJECTABLE_KINDS) | {"watchdog"}
    assert "out_of_range" not in DEFAULT_RETRYABLE_KINDS and "watchdog" in DEFAULT_RETRYABLE_KINDS


def test_fault_run_in_a_worker_thread():
    """The controller runs its RunEngine in a worker thread: the watchdog works there too."""
    line = make_sim_line(seed=0, speedup=FAST, faults=[fault_spec("mixer", "timeout", 1.0)])
    result = {}

    def work():
        result["err"], result["docs"] = _run(line)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(20)
    assert result["err"].kind == "watchdog" and result["err"].step == "mix"
    assert steps_from_documents(result["docs"]).fault["device"] == "mixer"
