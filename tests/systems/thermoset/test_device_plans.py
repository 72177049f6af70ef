"""The plan as a sequence of messages: order, streams, limits. No hardware, no RunEngine."""

from __future__ import annotations

import pint
import pytest
from bluesky.simulators import RunEngineSimulator
from devices_helpers import BGE, DBP, DOS, TGAP, TPP, make_recipe
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core import Q_, InputDataError, LimitError
from devices import DeviceLimits, setpoint_path
from systems.thermoset.devices import DEFAULT_LIMITS, DEFAULT_PROCESS, STREAMS, make_and_characterize, recipe_to_setpoints


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
def _recipes(draw, limits, inside=None):
    """Half the recipes stay inside ``limits`` (parameter by parameter), half roam widely
    (or all inside / all roaming when ``inside`` is given)."""
    inside = draw(st.booleans()) if inside is None else inside
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
def _cases(draw, inside=None):
    """(limits, recipe, batch mass in g, process settings drawn inside the limits)."""
    limits = draw(_limits_strategy())
    process = {}
    for path in DEFAULT_PROCESS:
        low, high = limits.bounds(path)
        process[path] = Q_(draw(st.floats(float(low.magnitude), float(high.to(low.units).magnitude))), low.units)
    return limits, draw(_recipes(limits, inside)), draw(st.floats(1.0, 40.0)), process


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


@st.composite
def _runnable_cases(draw):
    """Cases that mostly pass the limit check: recipe inside the limits, dispensers allowed to
    dose nothing, a batch of at most 20 g (the narrowed dispensers take at least 25 g)."""
    limits, recipe, _, process = draw(_cases(inside=True))
    masses = {path: (Q_(0.0, "g"), high) for path, (_, high) in limits.ranges.items() if path.endswith(".mass")}
    return limits.with_ranges(masses), recipe, draw(st.floats(1.0, 20.0)), process


def _fault_strategy():
    """Any valid fault: a device, a kind it can have, a probability, maybe a first sample."""
    from systems.thermoset.devices.faults import FAULT_RULES, LINE_DEVICES, fault_spec

    combos = [(device, kind) for device in LINE_DEVICES for kind in FAULT_RULES.kinds_of(device)]
    return st.builds(lambda combo, p, after: fault_spec(combo[0], combo[1], p, after_samples=after),
                     st.sampled_from(combos), st.sampled_from([0.1, 0.5, 1.0]), st.sampled_from([None, 0, 1]))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=st.one_of(_runnable_cases(), _cases()), faults=st.lists(_fault_strategy(), min_size=1, max_size=3),
       seed=st.integers(0, 3))
def test_no_out_of_limit_value_ever_reaches_a_device_signal_on_a_real_run(RE, case, faults, seed):
    """Real plans on the twins, with random limits, recipes and faults: every value that any
    limited setpoint signal ever takes lies inside the line's limits."""
    from core import SDLError
    from devices import steps_from_documents
    from systems.thermoset.devices import make_sim_line
    from devices.signals import SetpointSignal

    limits, recipe, batch, process = case
    line = make_sim_line(seed=seed, speedup=1e6, limits=limits, faults=faults)
    seen = []
    for device in line.devices.values():
        for walk in device.walk_signals():
            signal = walk.item
            if isinstance(signal, SetpointSignal) and signal.units is not None:
                signal.subscribe(lambda value, obj, **_: seen.append((obj.path, Q_(value, obj.units))), run=False)
    succeeded = False
    for i in range(2):  # a second sample on the same line, after a fault or not
        try:
            plan = make_and_characterize(line, recipe, f"s-{i}", batch_mass=Q_(batch, "g"), process=process,
                                         watchdog_floor=0.3)
        except LimitError:
            event("refused")
            assert seen == [] and line.simulation.clock == 0.0
            return
        docs = []
        token = RE.subscribe(lambda name, doc: docs.append((name, doc)))
        try:
            RE(plan)
        except SDLError as err:
            event(f"fault {getattr(err, 'kind', type(err).__name__)}")
        finally:
            RE.unsubscribe(token)
        succeeded = succeeded or steps_from_documents(docs).exit_status == "success"
    outside = [(path, value) for path, value in seen if limits.violation(path, value)]
    assert outside == []
    if succeeded:
        event("a sample succeeded")
        assert {path for path, _ in seen} == set(limits.ranges)  # every limited setpoint was written and recorded
