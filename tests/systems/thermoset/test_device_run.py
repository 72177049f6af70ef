"""A whole sample on the simulated twins with a real RunEngine: documents, units, the run record."""

from __future__ import annotations

import threading
import time

import event_model
import pint
import pytest
from bluesky import RunEngine
from bluesky import plan_stubs as bps
from bluesky.utils import FailedStatus, RunEngineInterrupted
from devices_helpers import FAST, run_plan

from core import Q_, DeviceError, LimitError, ureg
from devices import steps_from_documents
from systems.thermoset.devices import STEP_NAMES, make_and_characterize, make_sim_line


@pytest.fixture
def run_docs(RE, line, recipe):
    started = time.monotonic()
    docs = run_plan(RE, make_and_characterize(line, recipe, "s-0001", md={"campaign": "test"}))
    return docs, time.monotonic() - started


def test_documents_validate_against_event_model(run_docs):
    docs, _ = run_docs
    names = [name for name, _ in docs]
    assert names[0] == "start" and names[-1] == "stop"
    for name, doc in docs:
        event_model.schema_validators[event_model.DocumentNames[name]].validate(doc)


def test_every_numeric_data_key_carries_units(run_docs):
    docs, _ = run_docs
    descriptors = [doc for name, doc in docs if name == "descriptor"]
    assert len(descriptors) == 6
    for descriptor in descriptors:
        for key, meta in descriptor["data_keys"].items():
            if meta["dtype"] == "number":
                assert ureg.Unit(meta["units"]) is not None, key
            assert meta["role"] in {"setpoint", "actual", "ambient", "structure", "property"}, key


def test_one_sample_at_high_speedup_takes_under_a_few_seconds(run_docs, line):
    _, wall = run_docs
    assert line.simulation.clock > 3 * 3600  # the sample took hours of simulated time
    assert wall < 3.0


def test_record_has_every_step_with_units_lots_and_ambient(run_docs, line):
    docs, _ = run_docs
    record = steps_from_documents(docs)
    assert record.exit_status == "success"
    assert record.sample_id == "s-0001" and record.plan_name == "make_and_characterize"
    assert [step["name"] for step in record.steps] == list(STEP_NAMES)
    for step in record.steps:
        assert step["start_time"] <= step["end_time"]
        assert set(step["ambient"]) == {"room_temperature", "relative_humidity"}
        assert step["ambient"]["room_temperature"].check("[temperature]")
        for value in [*step["setpoints"].values(), *step["actuals"].values()]:
            assert isinstance(value, (pint.Quantity, str))
    times = [step["start_time"] for step in record.steps]
    assert times == sorted(times)
    cure = record.step("cure")
    assert cure["device"] == "oven"
    assert cure["setpoints"]["oven.temperature"] == Q_(140.0, "degC")
    assert cure["actuals"]["oven.mean_hold_temperature"].to("degC").magnitude == pytest.approx(140.0, abs=0.5)
    assert cure["actuals"]["oven.actual_hold_time"].to("h").magnitude == pytest.approx(2.0, abs=0.01)
    dispense = record.step("dispense")
    lab = line.simulation
    assert dispense["lots"]["DGEBA"] == lab.lot("DGEBA").number
    assert dispense["lots"]["IPDA"] == lab.lot("IPDA").number
    assert record.lots == dispense["lots"]
    assert dispense["actuals"]["resin_dispenser.dispensed_mass"].to("g").magnitude == pytest.approx(
        dispense["setpoints"]["resin_dispenser.mass"].to("g").magnitude, abs=0.1)
    assert record.properties["glass_transition_temperature"].check("[temperature]")
    assert record.properties["fracture_toughness"].units == ureg("MPa*m**0.5").units
    assert 0 <= record.structure["degree_of_cure"].to("").magnitude <= 1
    assert record.recipe["cure_temperature"] == Q_(140.0, "degC")
    assert record.metadata["campaign"] == "test"


def test_record_reads_packed_event_pages(run_docs):
    docs, _ = run_docs
    events = [doc for name, doc in docs if name == "event"]
    paged = [(n, d) for n, d in docs if n != "event"] + [("event_page", event_model.pack_event_page(e)) for e in events]
    assert steps_from_documents(paged).properties == steps_from_documents(docs).properties


def test_failed_device_gives_a_failed_record(RE, line, recipe):
    class BrokenOven:
        def cure(self, program, stop):
            raise DeviceError("oven: heater fault")

    line.oven.backend = BrokenOven()
    docs = []
    RE.subscribe(lambda name, doc: docs.append((name, doc)))
    with pytest.raises(DeviceError, match="oven: heater fault") as info:
        RE(make_and_characterize(line, recipe, "s-broken"))
    assert isinstance(info.value.__cause__, FailedStatus)
    record = steps_from_documents(docs)
    assert record.exit_status == "fail"
    assert "heater fault" in record.reason
    assert [step["name"] for step in record.steps] == ["tracker", "dispense", "mix"]
    assert record.properties == {}


def test_hand_written_plan_is_stopped_by_the_device_limits(RE, line):
    def rogue():
        yield from bps.open_run()
        yield from bps.mv(line.oven, Q_(450, "degC"))
        yield from bps.close_run()

    with pytest.raises(LimitError, match="oven.temperature: 450 degC"):
        RE(rogue())
    assert line.simulation.clock == 0.0
    assert line.oven.temperature.get() != 450.0


def test_consecutive_samples_change_lots(RE):
    line = make_sim_line(seed=5, speedup=FAST)
    lots = []
    for i in range(8):
        lab = line.simulation
        lab.begin_sample(f"s{i}")
        lots.append(lab.lot("DGEBA"))
    numbers = [lot.number for lot in lots]
    assert 2 <= len(set(numbers)) <= 3  # a lot lasts 3-6 samples
    eews = {lot.number: lot.equivalent_weight for lot in lots}
    assert all(abs(eew / 187.0 - 1) <= 0.02 for eew in eews.values())
    assert len(set(eews.values())) == len(eews)


def test_pause_mid_step_abandons_the_sample_instead_of_replaying_it(recipe):
    line = make_sim_line(seed=0, speedup=1e4)  # the cure takes ~1.5 s wall
    RE = RunEngine({})
    docs = []
    RE.subscribe(lambda name, doc: docs.append((name, doc)))
    timer = threading.Timer(0.4, lambda: RE.request_pause(defer=False))
    timer.start()
    with pytest.raises(RunEngineInterrupted):
        RE(make_and_characterize(line, recipe, "s-paused"))
    timer.join()
    record = steps_from_documents(docs)
    assert RE.state == "idle"
    assert record.exit_status == "fail"
    assert [step["name"] for step in record.steps] == ["tracker", "dispense", "mix"]
    assert sum(1 for name, doc in docs if name == "event" and "resin_dispenser_mass" in doc["data"]) == 1
    deadline = time.monotonic() + 2.0
    while line.oven._running and time.monotonic() < deadline:  # the stopped worker thread winds down
        time.sleep(0.01)
    assert not line.oven._running
    time.sleep(1.5)  # longer than the rest of the cure would have taken
    assert line.oven.actual_hold_time.get() == 0.0  # the cure was stopped, not finished


def test_run_engine_in_a_worker_thread_needs_no_signal_handlers(recipe):
    line = make_sim_line(seed=0, speedup=FAST)
    result = {}

    def work():
        engine = RunEngine({}, context_managers=[])
        result["docs"] = []
        engine.subscribe(lambda name, doc: result["docs"].append((name, doc)))
        engine(make_and_characterize(line, recipe, "s-thread"))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(20)
    assert steps_from_documents(result["docs"]).exit_status == "success"


def test_runtime_package_does_not_load_the_simulated_lab():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    code = "import sys, systems.thermoset.devices; print('systems.thermoset.devices.sim' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=root, env={"PYTHONPATH": str(root)})
    assert out.stdout.strip() == "False"
