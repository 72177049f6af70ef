"""The run loop every line's plan shares, on a toy line: named steps in order, the watchdog,
the reading checks and every device failure as a DeviceFault naming its step."""

from __future__ import annotations

import pytest
from toy_line import TOY_FAULTS, TOY_READINGS, make_toy_line

from core import Q_, DeviceFault, InputDataError, SDLError, quantity_from_record
from devices import check_run_arguments, run_metadata, run_steps, steps_from_documents
from devices.plans import format_seconds

STREAMS = ("ambient", "tracker", "heat")


def toy_steps(line, sample_id, target, check=None):
    def room(run):
        yield from run.read_step([line.ambient], "ambient")

    def tracker(run):
        yield from run.mv((line.tracker, sample_id))
        yield from run.read_step([line.tracker, line.ambient], "tracker")

    def heat(run):
        previous = yield from run.previous([line.heater])
        yield from run.mv((line.heater.ramp_rate, Q_(10, "K/min")))
        yield from run.mv((line.heater, target))
        yield from run.read_step([line.heater, line.ambient], "heat", previous, check=check)

    return (("ambient", room), ("tracker", tracker), ("heat", heat))


def expected(device, setpoints, action):
    if device == "heater" and action == "set":
        return abs(setpoints["heater.temperature"].to("degC").magnitude - 20.0) / 10.0 * 60.0 + 60.0
    return 5.0 if device == "tracker" and action == "set" else 1.0


def toy_plan(line, sample_id="t-1", target=Q_(80, "degC"), check=None, floor=0.5, md=None):
    setpoints = {"heater.temperature": target}
    start_md = run_metadata(md, plan_name="heat_one", sample_id=sample_id, recipe={"heat_temperature": target},
                            setpoints=setpoints, streams=STREAMS, watchdog_factor=3.0, watchdog_floor=floor,
                            batch_size=Q_(2, "mL"))
    return run_steps(line, toy_steps(line, sample_id, target, check), setpoints=setpoints, start_md=start_md,
                     watchdog_floor=floor, expected=expected, readings=TOY_READINGS,
                     action_word=lambda device: "heating" if device == "heater" else "action")


def run(RE, plan):
    docs = []
    token = RE.subscribe(lambda name, doc: docs.append((name, doc)))
    try:
        RE(plan)
    except SDLError as err:
        return err, docs
    finally:
        RE.unsubscribe(token)
    return None, docs


def test_a_run_makes_its_steps_in_order_with_their_metadata(RE, toy_line):
    err, docs = run(RE, toy_plan(toy_line, md={"campaign": "toy"}))
    assert err is None
    record = steps_from_documents(docs)
    assert record.exit_status == "success" and [s["name"] for s in record.steps] == ["tracker", "heat"]
    start = docs[0][1]
    assert (start["plan_name"], start["sample_id"], start["campaign"]) == ("heat_one", "t-1", "toy")
    assert start["setpoints"] == [{"path": "heater.temperature", "value": 80.0, "unit": "degC"}]
    assert quantity_from_record(start["batch_size"]) == Q_(2, "mL") and start["streams"] == list(STREAMS)
    assert start["watchdog"] == {"factor": 3.0, "floor_s": 0.5}
    assert record.step("heat")["actuals"]["heater.mean_temperature"].to("degC").magnitude == pytest.approx(80, abs=1)
    # no checkpoint: the RunEngine never rewinds the plan, so a pause aborts the run instead of replaying a step
    msgs = toy_plan(make_toy_line())
    assert [next(msgs).command, msgs.send("uid").command] == ["open_run", "clear_checkpoint"]


@pytest.mark.parametrize(("kind", "fault_kind", "done"), [
    ("fail", "fail", ["tracker"]),
    ("disconnect", "disconnect", ["tracker"]),
    ("timeout", "watchdog", ["tracker"]),
    ("nan_reading", "nan_reading", ["tracker"]),
    ("out_of_range", "out_of_range", ["tracker"]),
])
def test_each_fault_ends_the_run_at_its_step(RE, kind, fault_kind, done):
    line = make_toy_line(faults=[TOY_FAULTS.spec("heater", kind, 1.0)])
    err, docs = run(RE, toy_plan(line))
    assert isinstance(err, DeviceFault) and (err.device, err.kind, err.step) == ("heater", fault_kind, "heat")
    record = steps_from_documents(docs)
    assert record.exit_status == "fail" and record.fault == err.as_dict()
    assert [s["name"] for s in record.steps] == done  # a bad reading drops the step's event
    assert line.simulation.faults.log[0]["kind"] == kind
    if kind == "timeout":
        assert err.detail.startswith("the heating ran") and "its expected 7 min without finishing; stopped" in err.detail


def test_a_stuck_sensor_is_found_on_the_next_sample(RE):
    line = make_toy_line(faults=[TOY_FAULTS.spec("heater", "stuck", 1.0, after_samples=1)])
    first, _ = run(RE, toy_plan(line, "t-0"))
    err, _ = run(RE, toy_plan(line, "t-1"))
    assert first is None and (err.kind, err.step, err.device) == ("stuck", "heat", "heater")


def test_a_lines_own_check_of_an_event_gets_the_step(RE, toy_line):
    def check(readings):
        if readings["heater_mean_temperature"]["value"] > 50:
            raise DeviceFault("heater", "out_of_range", "hotter than the toy allows")

    err, docs = run(RE, toy_plan(toy_line, check=check))
    assert (err.kind, err.step) == ("out_of_range", "heat")
    assert [s["name"] for s in steps_from_documents(docs).steps] == ["tracker"]


def test_a_plain_device_failure_becomes_a_fault_of_kind_fail(RE, toy_line):
    class Broken:
        def begin_action(self, kind):
            pass

        def heat(self, temperature, ramp, stop):
            raise RuntimeError("element burnt out")

    toy_line.heater.backend = Broken()
    err, _ = run(RE, toy_plan(toy_line))
    assert (err.device, err.kind, err.step) == ("heater", "fail", "heat") and "element burnt out" in err.detail


@pytest.mark.parametrize(("args", "message"), [
    (("", 3.0, 2.0), "sample_id '' must be a non-empty string"),
    (("s", 0, 2.0), "watchdog_factor 0 must be a finite number above 0"),
    (("s", True, 2.0), "watchdog_factor True"),
    (("s", 3.0, -1), "watchdog_floor -1 must be a finite number 0 or more"),
    (("s", 3.0, float("nan")), "watchdog_floor nan"),
])
def test_run_arguments_are_refused_before_a_plan_exists(args, message):
    with pytest.raises(InputDataError, match=message):
        check_run_arguments(*args)
    check_run_arguments("s", 3.0, 0.0)


def test_durations_read_as_people_write_them():
    assert [format_seconds(s) for s in (45, 750, 15480, 40000)] == ["45 s", "12.5 min", "4.3 h", "11.1 h"]


def test_the_runner_gives_nothing_to_a_soft_setpoint_but_a_read_only_second(toy_line):
    from devices.plans import READ_ONLY, PlanRunner

    runner = PlanRunner(toy_line, {"heater.temperature": Q_(120, "degC")}, expected=expected)
    assert runner.expected(toy_line.heater.ramp_rate, "set") == READ_ONLY
    assert runner.expected(toy_line.heater, "set") == pytest.approx(660.0)
    assert list(runner.trigger()) == []  # nothing to trigger, nothing to wait for


def test_a_trackers_assignment_belongs_to_the_sample_it_begins(RE):
    line = make_toy_line(faults=[TOY_FAULTS.spec("tracker", "fail", 1.0, after_samples=1)])
    first, _ = run(RE, toy_plan(line, "t-0"))
    err, docs = run(RE, toy_plan(line, "t-1"))
    assert first is None and (err.device, err.kind, err.step) == ("tracker", "fail", "tracker")
    assert [entry["sample"] for entry in line.simulation.faults.log] == [1]
    assert steps_from_documents(docs).steps == []
