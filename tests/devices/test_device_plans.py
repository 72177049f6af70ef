"""The plan as a sequence of messages: order, streams, limits. No hardware, no RunEngine."""

from __future__ import annotations

import pint
import pytest
from bluesky.simulators import RunEngineSimulator
from devices_helpers import BGE, DBP, DOS, TGAP, TPP, make_recipe
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core import Q_, InputDataError, LimitError
from devices import DEFAULT_LIMITS, DEFAULT_PROCESS, STREAMS, DeviceLimits, make_and_characterize, recipe_to_setpoints, setpoint_path


def _streams(msgs):
    return [m.kwargs["name"] for m in msgs if m.command == "create"]


def test_plan_opens_one_run_with_the_recipe_and_closes_it(line, recipe):
    msgs = list(make_and_characterize(line, recipe, "s-0001", md={"campaign": "demo"}))
    assert msgs[0].command == "open_run" and msgs[-1].command == "close_run"
    assert sum(m.command == "open_run" for m in msgs) == 1
    md = msgs[0].kwargs
    assert md["sample_id"] == "s-0001" and md["plan_name"] == "make_and_characterize" and md["campaign"] == "demo"
    assert md["recipe"]["cure_temperature"] == {"value": 140.0, "unit": "degC"}
    assert md["recipe"]["additive"] == DBP
    assert {s["path"] for s in md["setpoints"]} >= {"oven.temperature", "mixer.speed", "resin_dispenser.mass"}


def test_streams_are_named_after_the_steps_in_order(line, recipe):
    assert _streams(list(make_and_characterize(line, recipe, "s-0001"))) == list(STREAMS)


def test_each_step_is_set_before_it_is_read(line, recipe):
    msgs = list(make_and_characterize(line, recipe, "s-0001"))
    index = {name: i for i, name in enumerate(_streams(msgs))}
    creates = [i for i, m in enumerate(msgs) if m.command == "create"]
    oven_set = next(i for i, m in enumerate(msgs) if m.command == "set" and m.obj is line.oven)
    assert creates[index["mix"]] < oven_set < creates[index["cure"]]
    wait_after = next(m for m in msgs[oven_set:] if m.command == "wait")
    assert wait_after.kwargs["group"] == msgs[oven_set].kwargs["group"]


def test_run_engine_simulator_sees_the_same_plan(line, recipe):
    sim = RunEngineSimulator()
    msgs = sim.simulate_plan(make_and_characterize(line, recipe, "s-0001"))
    assert _streams(msgs) == list(STREAMS)
    sets = {setpoint_path(m.obj): m.args[0] for m in msgs if m.command == "set"}
    assert sets["oven.temperature"] == Q_(140, "degC")
    assert sets["tracker.sample_id"] == "s-0001"
    assert sets["additive_dispenser.reagent"] == DBP


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"cure_temperature": Q_(450, "degC")}, id="oven-too-hot"),
        pytest.param({"mixing_speed": Q_(10, "rpm")}, id="mixer-too-slow"),
        pytest.param({"cure_time": Q_(20, "h")}, id="hold-too-long"),
    ],
)
def test_out_of_limit_recipe_is_refused_before_any_message(line, change):
    with pytest.raises(LimitError):
        make_and_characterize(line, make_recipe(**change), "s-0001")
    assert line.simulation.clock == 0.0 and line.simulation.samples == {}


def test_empty_sample_id_is_refused(line, recipe):
    with pytest.raises(InputDataError, match="sample_id"):
        make_and_characterize(line, recipe, "")


def _limits_strategy():
    """Random limits inside the defaults: each path gets a random sub-range (dispensers keep room for a batch)."""

    def narrow(path):
        low, high = DEFAULT_LIMITS.bounds(path)
        unit = low.units
        lo, hi = float(low.magnitude), float(high.to(unit).magnitude)
        cut = 0.1 if path.endswith(".mass") else 0.5
        return st.tuples(st.floats(0, 1), st.floats(0, 1)).map(
            lambda ab: (Q_(lo + (hi - lo) * min(ab) * cut, unit), Q_(hi - (hi - lo) * (1 - max(ab)) * 0.5, unit)))

    return st.fixed_dictionaries({path: narrow(path) for path in DEFAULT_LIMITS.ranges}).map(DeviceLimits)


_UNITS = {"cure_temperature": ["degC", "K", "degF"], "cure_time": ["h", "min"], "mixing_speed": ["rpm"],
          "mixing_time": ["min", "s"]}
_RANGES = {"cure_temperature": (0.0, 300.0), "cure_time": (0.0, 15.0), "mixing_speed": (0.0, 3000.0), "mixing_time": (0.1, 40.0)}
_PATHS = {"cure_temperature": "oven.temperature", "cure_time": "oven.hold_time", "mixing_speed": "mixer.speed",
          "mixing_time": "mixer.duration"}


@st.composite
def _recipes(draw, limits):
    """Half the recipes stay inside ``limits`` (parameter by parameter), half roam widely."""
    inside = draw(st.booleans())
    recipe = {}
    for name, (lo, hi) in _RANGES.items():
        unit = _UNITS[name][0]
        if inside:
            low, high = limits.bounds(_PATHS[name])
            lo, hi = float(low.to(unit).magnitude), float(high.to(unit).magnitude)
        recipe[name] = Q_(draw(st.floats(lo, hi)), unit).to(draw(st.sampled_from(_UNITS[name])))
    recipe["hardener_ratio"] = Q_(draw(st.floats(0.3, 2.0)), "")
    recipe["additive_fraction"] = Q_(draw(st.floats(0.0, 25.0 if inside else 60.0)), "percent")
    recipe["additive"] = draw(st.sampled_from([DBP, TGAP, BGE, DOS, TPP]))
    return recipe


@st.composite
def _cases(draw):
    """(limits, recipe, batch mass in g, process settings drawn inside the limits)."""
    limits = draw(_limits_strategy())
    process = {}
    for path in DEFAULT_PROCESS:
        low, high = limits.bounds(path)
        process[path] = Q_(draw(st.floats(float(low.magnitude), float(high.to(low.units).magnitude))), low.units)
    return limits, draw(_recipes(limits)), draw(st.floats(1.0, 40.0)), process


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=_cases())
def test_no_set_message_ever_leaves_the_limits(line, case):
    limits, recipe, batch, process = case
    line.limits = limits
    try:
        plan = make_and_characterize(line, recipe, "s-prop", batch_mass=Q_(batch, "g"), process=process)
    except LimitError as err:
        # refused: the refusal names every path whose value is really outside
        setpoints = recipe_to_setpoints(recipe, Q_(batch, "g"), process)
        bad = [path for path, value in setpoints.items() if limits.violation(path, value)]
        assert bad and all(path in str(err) for path in bad)
        event("refused")
        return
    event("accepted")
    checked = 0
    for msg in plan:
        if msg.command != "set":
            continue
        path, value = setpoint_path(msg.obj), msg.args[0]
        if isinstance(value, pint.Quantity):
            assert limits.violation(path, value) is None, (path, value)
            checked += 1
    assert checked == len(limits.ranges)
