"""The line's Ophyd EPICS devices against the caproto IOC serving the simulated line, over real
Channel Access on loopback (a subprocess IOC on a free port)."""

from __future__ import annotations

import asyncio
import time

import pytest
from bluesky import RunEngine
from epics_helpers import running_ioc
from event_model import DocumentNames, schema_validators

from core import Q_, DeviceError, DeviceFault, LimitError
from devices import AmbientSensor, SampleTracker, steps_from_documents
from devices.epics import EpicsAmbientSensor, EpicsSampleTracker
from devices.epics.pvs import egu, same_units
from devices.signals import SetpointSignal
from systems.thermoset.devices import (
    DEFAULT_LIMITS,
    STEP_NAMES,
    Characterizer,
    CuringOven,
    Dispenser,
    Mixer,
    fault_specs_from_config,
    make_and_characterize,
    make_sim_line,
)
from systems.thermoset.devices.epics import (
    EpicsCharacterizer,
    EpicsCuringOven,
    EpicsDispenser,
    EpicsMixer,
    make_epics_line,
)
from systems.thermoset.ioc import _text, make_ioc
from systems.thermoset.ioc import main as ioc_main

PREFIX = "SDLT:"
SEED = 3
SPEEDUP = 2e4  # the oven program of the watchdog test takes ~1.3 s of wall time
RECIPE = {
    "additive": "CCCCOC(=O)c1ccccc1C(=O)OCCCC",
    "additive_fraction": Q_(8, "percent"),
    "hardener_ratio": Q_(1.05, ""),
    "mixing_speed": Q_(1500, "rpm"),
    "mixing_time": Q_(4, "min"),
    "cure_temperature": Q_(140, "degC"),
    "cure_time": Q_(2, "h"),
}
PAIRS = [(Dispenser, EpicsDispenser), (Mixer, EpicsMixer), (CuringOven, EpicsCuringOven),
         (Characterizer, EpicsCharacterizer), (SampleTracker, EpicsSampleTracker), (AmbientSensor, EpicsAmbientSensor)]


def run_plan(line, sample_id, **kwargs):
    docs = []
    RE = RunEngine({}, context_managers=[])
    RE(make_and_characterize(line, RECIPE, sample_id, **kwargs), lambda name, doc: docs.append((name, doc)))
    return docs


# -- the contract, no IOC needed ---------------------------------------------------------------
@pytest.mark.parametrize("sim_cls, epics_cls", PAIRS, ids=[p[0].__name__ for p in PAIRS])
def test_epics_classes_mirror_the_simulated_ones(sim_cls, epics_cls):
    """Same component names, units, roles, kinds and setpoint-ness: documents cannot differ in shape."""
    def shape(cls):
        out = {}
        for attr in cls.component_names:
            cpt = getattr(cls, attr)
            if cpt.kind == 0:  # Kind.omitted: the action/busy/error PVs of the EPICS protocol
                continue
            setpoint = issubclass(cpt.cls, SetpointSignal) or cpt.cls.__name__ == "EpicsSetpointSignal"
            role = cpt.kwargs.get("role", "setpoint" if setpoint else "actual")
            out[attr] = (cpt.kwargs.get("units"), role, int(cpt.kind), setpoint)
        return out

    assert shape(epics_cls) == shape(sim_cls)


def test_the_ioc_serves_every_component_with_units_and_limits():
    ioc = make_ioc(prefix="X:", speedup=10.0)
    pv = ioc.pvdb["X:oven:temperature"]
    low, high = DEFAULT_LIMITS.bounds("oven.temperature")
    assert (pv.lower_ctrl_limit, pv.upper_ctrl_limit) == (low.to("degC").magnitude, high.to("degC").magnitude)
    assert pv.units == "degC"
    assert same_units(ioc.pvdb["X:characterizer:fracture_toughness"].units, "MPa*m**0.5")
    assert ioc.pvdb["X:TimeScale"].value == 10.0
    for (sim_cls, _), name in zip(PAIRS, ("resin_dispenser", "mixer", "oven", "characterizer", "tracker", "ambient")):
        for attr in sim_cls.component_names:
            assert f"X:{name}:{attr}" in ioc.pvdb
    assert egu("MPa*m**0.5") == "MPa m^.5" and len(egu("percent")) <= 8
    assert same_units("degF", "degC") is False and same_units("K", "degC") is False


def test_ioc_actions_run_the_twins_and_report_faults_in_the_error_pv():
    """In-process, no network: an injected fault ends in Error with the fault grammar; Busy drops."""
    ioc = make_ioc(prefix="X:", speedup=1e6,
                   faults=fault_specs_from_config([{"device": "tracker", "kind": "fail", "probability": 1.0}]))

    async def act():
        await ioc.tracker.sample_id.write("s-1")
        await ioc.tracker.run_action("set")
        await ioc.ambient.run_action("trigger")

    asyncio.run(act())
    fault = DeviceFault.from_message(_text(ioc.tracker.error.value))
    assert (fault.device, fault.kind) == ("tracker", "fail") and ioc.tracker.busy.value == 0
    assert _text(ioc.ambient.error.value) == "" and 15 < ioc.ambient.room_temperature.value < 30
    assert ioc.clock.value == ioc.lab.clock > 0  # the failed assignment took a simulated second


def test_ioc_arguments_are_checked_before_serving(capsys):
    assert ioc_main(["--speedup", "0", "--port", "70000", "--fault", "oven:melt:0.5"]) == 2
    err = capsys.readouterr().err
    assert "--speedup" in err and "--port 70000" in err and "melt" in err


# -- over Channel Access ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def ioc_line():
    """The IOC, the connected EPICS line, and the documents of the first sample made on the fresh lab."""
    with running_ioc(PREFIX, speedup=SPEEDUP, seed=SEED) as ioc:
        line = make_epics_line(PREFIX, connection_timeout=20.0)
        docs = run_plan(line, "s-epics-0")
        yield ioc, line, docs
        line.close()


@pytest.mark.slow
def test_a_sample_over_channel_access_matches_the_in_process_twins(ioc_line):
    _, line, docs = ioc_line
    assert line.time_scale == SPEEDUP
    for name, doc in docs:
        schema_validators[DocumentNames(name)].validate(doc)
    over_ca = steps_from_documents(docs)
    local = steps_from_documents(run_plan(make_sim_line(seed=SEED, speedup=1e6), "s-epics-0"))
    assert over_ca.exit_status == "success"
    assert [s["name"] for s in over_ca.steps] == list(STEP_NAMES)
    # the same twins behind the PVs: the same film, measured the same, to the last bit
    assert over_ca.properties == local.properties and over_ca.structure == local.structure
    assert over_ca.lots == local.lots and len(over_ca.lots) == 3
    for a, b in zip(over_ca.steps, local.steps):
        assert (a["name"], a["device"], a["setpoints"], a["actuals"], a["lots"]) == \
               (b["name"], b["device"], b["setpoints"], b["actuals"], b["lots"])
    descriptors = [d for n, d in docs if n == "descriptor"]
    cure = next(d for d in descriptors if d["name"] == "cure")["data_keys"]
    assert cure["oven_temperature"]["source"] == f"PV:{PREFIX}oven:temperature"
    assert cure["oven_temperature"]["units"] == "degC" and cure["oven_temperature"]["role"] == "setpoint"
    assert cure["oven_temperature"]["limits"]["control"] == {"low": 20.0, "high": 220.0}
    tg = next(d for d in descriptors if d["name"] == "characterize")["data_keys"]
    assert tg["characterizer_fracture_toughness"]["units"] == "MPa*m**0.5"


@pytest.mark.slow
def test_setpoints_and_text_go_through_the_ioc(ioc_line):
    _, line, _ = ioc_line
    line.characterizer.heating_rate.set(Q_(0.25, "K/s")).wait(5)
    assert line.characterizer.heating_rate.get() == pytest.approx(15.0)  # K/min, converted before the write
    smiles = "CCCCCCCCOC(=O)CCCCCCCCC(=O)OCCCCCCCC" * 2  # 72 characters: more than a DBR_STRING holds
    line.additive_dispenser.reagent.set(smiles).wait(5)
    assert line.additive_dispenser.reagent.get() == smiles
    assert line.additive_dispenser.lot_number.get().startswith("ADD")  # the IOC swapped the cartridge
    with pytest.raises(LimitError, match="oven.temperature: 300 degC is above the device limit 220 degC"):
        line.oven.set(Q_(300, "degC"))
    assert line.oven.temperature.get() != 300.0  # refused before anything was written


@pytest.mark.slow
def test_narrower_campaign_limits_are_checked_and_described(ioc_line):
    _, line, _ = ioc_line
    original = line.limits
    try:
        line.limits = DEFAULT_LIMITS.replace(mixer__speed=(Q_(200, "rpm"), Q_(1000, "rpm")))
        assert line.mixer.speed.describe()["mixer_speed"]["limits"]["control"] == {"low": 200.0, "high": 1000.0}
        with pytest.raises(LimitError, match="mixer.speed: 1200 rpm is above the device limit 1000 rpm"):
            line.mixer.set(Q_(1200, "rpm"))
    finally:
        line.limits = original


@pytest.mark.slow
def test_a_failed_action_fails_the_status_with_the_iocs_message(ioc_line):
    _, line, _ = ioc_line
    line.tracker.set("s-no-film").wait(10)
    status = line.characterizer.trigger()
    with pytest.raises(Exception):
        status.wait(10)
    error = status.exception()
    assert isinstance(error, DeviceError) and "has no film yet" in str(error)
    assert line.characterizer.busy.get() == 0


@pytest.mark.slow
def test_the_watchdog_stops_a_device_over_channel_access(ioc_line):
    _, line, _ = ioc_line
    docs = []
    RE = RunEngine({}, context_managers=[])
    started = time.monotonic()
    # the oven's program takes ~1.3 s of wall time at this speedup; the watchdog allows it ~0.31 s
    with pytest.raises(DeviceFault) as caught:
        RE(make_and_characterize(line, {**RECIPE, "cure_time": Q_(6, "h")}, "s-watchdog", watchdog_factor=0.01,
                                 watchdog_floor=0.3), lambda name, doc: docs.append((name, doc)))
    assert (caught.value.device, caught.value.kind, caught.value.step) == ("oven", "watchdog", "cure")
    assert time.monotonic() - started < 10
    record = steps_from_documents(docs)
    assert record.exit_status == "fail" and record.fault["kind"] == "watchdog"
    assert [s["name"] for s in record.steps] == ["tracker", "dispense", "mix"]
    deadline = time.monotonic() + 5
    while line.oven.busy.get() and time.monotonic() < deadline:  # the stop reached the IOC
        time.sleep(0.05)
    assert line.oven.busy.get() == 0 and "stopped" in line.oven.error.get()


@pytest.mark.slow
def test_an_unreachable_ioc_is_a_clear_error(ioc_line):
    with pytest.raises(DeviceError, match="EPICS_CA_ADDR_LIST"):
        make_epics_line("NOBODY:", connection_timeout=0.5)
