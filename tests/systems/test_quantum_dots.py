"""The second reference lab (CdSe quantum dots in a flow reactor), loaded through the plugin seam:
its line refuses what it cannot make, its plan yields a whole spectrum, the spectrum survives the
record store, and an end-to-end dry run through `sdl run` keeps it in every robot sample."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tomllib
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pint
import pytest
from bluesky import RunEngine
from event_model import DocumentNames, schema_validators

from core import Q_, ConfigError, DeviceFault, LimitError
from core.system import load_system
from simulators import get_simulator
from simulators.quantum_dots import spectrum_features
from systems.quantum_dots import system
from systems.quantum_dots.faults import fault_specs_from_config
from systems.quantum_dots.plan import SPECTRUM_SMOOTHING, STREAMS, synthesize_and_measure
from systems.quantum_dots.recipes import DEFAULT_LIMITS
from systems.quantum_dots.record import spectrum_of
from systems.quantum_dots.twins import make_sim_line

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs" / "quantum_dots_dryrun.toml"
PIXELS = 512
PEAK, FWHM = "photoluminescence_peak_wavelength", "emission_fwhm"


def recipe(temperature=260.0, residence=60.0, concentration=0.05, oleic=30.0, amine=20.0) -> dict:
    return {"reactor_temperature": Q_(temperature, "degC"), "residence_time": Q_(residence, "s"),
            "precursor_concentration": Q_(concentration, "mol/L"), "oleic_acid_fraction": Q_(oleic, "percent"),
            "oleylamine_fraction": Q_(amine, "percent")}


def run_plan(recipe_, seed=1, faults=()):
    """One plan on fresh twins: (documents as emitted, the RunEngine's exception or None, line)."""
    line = make_sim_line(seed=seed, speedup=1e6, faults=faults)
    docs: list = []
    RE = RunEngine({}, context_managers=[])
    error = None
    try:
        RE(system.robot.plan(line, recipe_, sample_id="qd-0001", md={"campaign": "t"}, batch_mass=None,
                             watchdog_factor=3.0), lambda name, doc: docs.append((name, doc)))
    except Exception as exc:  # noqa: BLE001 - the test looks at it
        error = exc
    return docs, error, line


def assert_array_quantity(value, unit, shape=(PIXELS,)):
    """``value`` is a pint quantity with a numpy magnitude of ``shape``, in ``unit``."""
    assert isinstance(value, pint.Quantity) and isinstance(value.magnitude, np.ndarray), type(value)
    assert value.magnitude.shape == shape and value.units == Q_(1, unit).units, (value.magnitude.shape, value.units)


def same_steps(a, b) -> bool:
    """Steps equal field by field, array quantities compared element-wise (``==`` cannot say)."""
    def same(x, y):
        if isinstance(x, pint.Quantity) and np.ndim(x.magnitude):
            return (isinstance(y, pint.Quantity) and x.units == y.units
                    and np.array_equal(x.magnitude, y.magnitude))
        if isinstance(x, dict):
            return isinstance(y, dict) and x.keys() == y.keys() and all(same(x[k], y[k]) for k in x)
        return x == y
    return len(a) == len(b) and all(same(asdict(x), asdict(y)) for x, y in zip(a, b))


def jsonable(docs):
    """The documents as the store writes and reads them (numpy arrays become lists)."""
    return [(n, json.loads(json.dumps(d, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))))
            for n, d in docs]


@pytest.fixture(scope="module")
def one_run():
    docs, error, line = run_plan(recipe())
    assert error is None, error
    return docs, system.robot.record(docs), line


# -- the declaration -------------------------------------------------------------------
def test_the_system_loads_through_its_entry_point_like_any_plugin():
    loaded = load_system("quantum_dot_flow")
    assert loaded is system and loaded.problems() == []
    assert loaded.linear_constraints == ("oleic_acid_fraction + oleylamine_fraction <= 100 %",)
    assert set(loaded.simulators) == {"quantum_dots.brus", "quantum_dots.population_balance"}
    for model in loaded.simulators:
        assert get_simulator(model).name == model
    assert loaded.properties == {PEAK: "nm", FWHM: "nm"}


# -- the line refuses what it cannot make ------------------------------------------------
def test_check_recipe_refuses_a_recipe_breaking_the_ligand_rule_in_one_line():
    with pytest.raises(LimitError) as err:
        system.robot.check_recipe(recipe(oleic=70.0, amine=50.0), DEFAULT_LIMITS, batch_mass=None)
    text = str(err.value)
    assert len(text.splitlines()) == 1 and "; " not in text
    assert "oleic_acid_fraction + oleylamine_fraction" in text and "70 % + 50 % = 120 %" in text and "100 %" in text
    system.robot.check_recipe(recipe(oleic=60.0, amine=40.0), DEFAULT_LIMITS, batch_mass=None)  # exactly 100 %: fine


def test_check_recipe_names_every_setpoint_beyond_the_limits():
    with pytest.raises(LimitError) as err:
        system.robot.check_recipe(recipe(temperature=400.0, residence=2.0), DEFAULT_LIMITS, batch_mass=None)
    text = str(err.value)
    assert "reactor.temperature: 400 degC is above the device limit 340 degC (recipe reactor_temperature)" in text
    assert "reactor.residence_time: 2 s is below the device limit 5 s (recipe residence_time)" in text
    assert "solvent_pump.flow_rate" in text


def test_the_plan_refuses_before_any_message_exists():
    line = make_sim_line(seed=0, speedup=1e6)
    with pytest.raises(LimitError, match="120 %"):
        synthesize_and_measure(line, recipe(oleic=60.0, amine=60.0), sample_id="x")
    assert line.simulation.clock == 0.0 and not line.simulation.samples


# -- the plan on the twins ----------------------------------------------------------------
def test_the_plan_yields_the_whole_spectrum_in_valid_documents(one_run):
    docs, record, _ = one_run
    stored = jsonable(docs)
    for name, doc in stored:
        schema_validators[DocumentNames(name)].validate(doc)
    descriptors = {d["uid"]: d for n, d in stored if n == "descriptor"}
    assert [d["name"] for d in descriptors.values()] == list(STREAMS)
    spectrum = next(d for d in descriptors.values() if d["name"] == "spectrum")
    keys = spectrum["data_keys"]
    assert keys["spectrometer_wavelength"]["dtype"] == "array" and keys["spectrometer_wavelength"]["shape"] == [PIXELS]
    assert keys["spectrometer_wavelength"]["units"] == "nm" and keys["spectrometer_intensity"]["units"] == "count"
    assert keys["spectrometer_intensity"]["role"] == "actual" and keys["spectrometer_intensity"]["path"] == "spectrometer.intensity"
    event = next(d for n, d in stored if n == "event" and d["descriptor"] == spectrum["uid"])
    axis, counts = event["data"]["spectrometer_wavelength"], event["data"]["spectrometer_intensity"]
    assert len(axis) == len(counts) == PIXELS and np.all(np.diff(axis) > 0)
    assert 380 <= axis[0] and axis[-1] <= 780.5


def test_the_record_reads_its_properties_off_the_spectrum(one_run):
    docs, record, line = one_run
    assert record.exit_status == "success"
    assert [s["name"] for s in record.steps] == ["collector", "react", "spectrum"]
    actuals = record.step("spectrum")["actuals"]
    assert_array_quantity(actuals["spectrometer.wavelength"], "nm")
    assert_array_quantity(actuals["spectrometer.intensity"], "count")
    wavelength, intensity = spectrum_of(record.steps)
    assert_array_quantity(wavelength, "nm")
    assert np.array_equal(wavelength.magnitude, actuals["spectrometer.wavelength"].magnitude)
    event = next(d for n, d in docs if n == "event" and "spectrometer_intensity" in d["data"])
    assert np.array_equal(intensity.magnitude, np.asarray(event["data"]["spectrometer_intensity"]))
    peak, fwhm = spectrum_features(wavelength.magnitude, intensity.magnitude, smoothing=SPECTRUM_SMOOTHING)
    assert record.properties[PEAK] == Q_(peak, "nm") and record.properties[FWHM] == Q_(fwhm, "nm")
    assert 4.0 < record.structure["mean_diameter"].to("nm").magnitude < 8.0
    assert len(record.lots) == 4, "each pump's reagent and lot"
    react = record.step("react")
    assert react["actuals"]["reactor.actual_residence_time"].to("s").magnitude == pytest.approx(60.0, rel=0.05)
    assert react["setpoints"]["reactor.temperature"] == Q_(260.0, "degC")
    assert react["setpoints"]["solvent_pump.flow_rate"].to("mL/min").magnitude == pytest.approx(0.9)
    truth = line.simulation.sample.truth
    assert record.properties[PEAK].magnitude == pytest.approx(truth.peak, abs=2.0)
    assert record.properties[FWHM].magnitude == pytest.approx(truth.fwhm, abs=2.0)


def test_the_spectrum_survives_the_record_store(one_run, tmp_path):
    from controller.records.samples import ProcessStep, Sample
    from controller.records.store import RecordStore

    docs, record, _ = one_run
    # as controller.loop.dispatch builds a robot sample from a run's record
    sample = Sample(id="qd-0001", campaign="qd", seq=1, fidelity="robot", status="completed", cost=20.0,
                    recipe=recipe(), steps=[ProcessStep.from_mapping(s if isinstance(s, dict) else asdict(s))
                                            for s in record.steps],
                    structure=dict(record.structure), properties=dict(record.properties), run_uid=record.run_uid)
    store = RecordStore(tmp_path / "records.sqlite")
    store.open_campaign("qd", "f" * 16, "{}", 100.0)
    store.add_sample(sample, docs)
    back = store.sample("qd-0001")
    step = next(step for step in back.steps if step.name == "spectrum")
    assert_array_quantity(step.actuals["spectrometer.wavelength"], "nm")
    assert_array_quantity(step.actuals["spectrometer.intensity"], "count")
    written = json.loads(json.dumps(back.to_json()))
    spectrum_json = next(s for s in written["steps"] if s["name"] == "spectrum")["actuals"]
    assert spectrum_json["spectrometer.wavelength"]["unit"] == "nm"
    assert len(spectrum_json["spectrometer.wavelength"]["value"]) == PIXELS
    wavelength, intensity = spectrum_of(back.steps)
    original = spectrum_of(record.steps)
    assert_array_quantity(wavelength, "nm")
    assert_array_quantity(intensity, "count")
    assert np.array_equal(wavelength.magnitude, original[0].magnitude)
    assert np.array_equal(intensity.magnitude, original[1].magnitude)
    assert back.properties == record.properties
    stored = store.documents(record.run_uid)
    event = next(d for n, d in stored if n == "event" and "spectrometer_intensity" in d["data"])
    assert event["data"]["spectrometer_intensity"] == list(original[1].magnitude)
    again = Sample.from_json(written)
    assert same_steps(again.steps, back.steps), "a stored sample writes and reads back unchanged"
    store.close()


# -- faults --------------------------------------------------------------------------------
def test_a_nan_spectrum_fails_the_run_with_the_fault():
    faults = fault_specs_from_config([{"device": "spectrometer", "kind": "nan_reading", "probability": 1.0}])
    docs, error, _ = run_plan(recipe(), faults=faults)
    assert isinstance(error, DeviceFault) and error.kind == "nan_reading" and error.step == "spectrum"
    record = system.robot.record(docs)
    assert record.exit_status == "fail" and record.fault["device"] == "spectrometer"
    assert PEAK not in record.properties and [s["name"] for s in record.steps] == ["collector", "react"]


def test_a_bad_fault_is_named_by_its_field():
    with pytest.raises(ConfigError) as err:
        fault_specs_from_config([{"device": "oven", "kind": "fail", "probability": 0.1},
                                 {"device": "reactor", "kind": "nan_reading", "probability": 2}])
    text = str(err.value)
    assert "devices.faults[0].device" in text and "'oven' is not a device of the flow line" in text
    assert "devices.faults[1].kind" in text and "devices.faults[1].probability" in text


# -- the hidden truth ------------------------------------------------------------------------
def test_the_truth_has_trap_emission_the_models_lack():
    fine = get_simulator("quantum_dots.population_balance")

    def excess(**kw):
        r = recipe(temperature=250.0, residence=120.0, concentration=0.08, **kw)
        return (system.robot.truth(r, seed=0)[FWHM] - fine.run(r).properties[FWHM]).to("nm").magnitude

    bare, passivated = excess(oleic=0.0, amine=0.0), excess(oleic=30.0, amine=30.0)
    assert bare > 2.0 and bare > 3 * passivated, (bare, passivated)


# -- end to end: `sdl run` ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("qd-e2e")
    raw = tomllib.loads(CONFIG.read_text())
    raw["name"] = "qd-e2e"
    raw["budget"] = 50  # the initial design (30) and 20 more
    raw["optimizer"]["initial_design"] = {"brus": 4, "population_balance": 2, "robot": 1}
    raw["scheduler"] = {"simulation_workers": 1, "backend": "processes"}
    lines = []
    for key, value in raw.items():
        if not isinstance(value, dict):
            lines.append(f"{key} = {json.dumps(value)}")
    for key, value in raw.items():
        if isinstance(value, dict):
            lines.append(_toml_table(key, value))
    config = work / "campaign.toml"
    config.write_text("\n".join(lines) + "\n")
    store = work / "records.sqlite"
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "controller.ui.cli", "run", str(config), "--store", str(store),
                          "--speedup", "100000", "--quiet"], cwd=work, capture_output=True, text=True, timeout=900)
    print(f"\nsdl run of the quantum-dot dry run: {time.monotonic() - started:.1f} s")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return raw, store


def _toml_table(name: str, table: dict) -> str:
    """A TOML table of ``table`` (nested tables as dotted headers); values as JSON, which TOML reads."""
    out, nested = [f"[{name}]"], []
    for key, value in table.items():
        if isinstance(value, dict) and all(isinstance(v, dict) for v in value.values()) and value:
            nested.append(_toml_table(f"{name}.{key}", value))
        elif isinstance(value, dict):
            out.append(f"{key} = {{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items()) + " }")
        else:
            out.append(f"{key} = {json.dumps(value)}")
    return "\n".join(out + nested)


@pytest.mark.slow
def test_the_dry_run_completes_samples_at_every_fidelity(dry_run):
    from controller.records.store import RecordStore

    raw, store = dry_run
    samples = RecordStore(store).samples("qd-e2e")
    assert samples and all(s.status == "completed" for s in samples), [(s.id, s.error) for s in samples]
    assert {s.fidelity for s in samples} == {"brus", "population_balance", "robot"}
    assert sum(s.cost for s in samples) <= raw["budget"]
    for s in samples:
        assert isinstance(s.properties[FWHM], pint.Quantity) and 15 < s.properties[FWHM].to("nm").magnitude < 150


@pytest.mark.slow
def test_no_dispatched_recipe_breaks_the_ligand_rule(dry_run):
    from controller.records.store import RecordStore

    _, store = dry_run
    samples = RecordStore(store).samples("qd-e2e", include_running=True)
    sums = [(s.recipe["oleic_acid_fraction"] + s.recipe["oleylamine_fraction"]).to("percent").magnitude for s in samples]
    assert sums and max(sums) <= 100.0 + 1e-6, sums


@pytest.mark.slow
def test_robot_samples_keep_the_spectrum_whole_in_documents_and_history(dry_run, tmp_path, capsys):
    from controller.records.store import RecordStore
    from controller.ui.cli import main

    _, store = dry_run
    records = RecordStore(store)
    robots = [s for s in records.samples("qd-e2e") if s.fidelity == "robot"]
    assert robots
    for s in robots:
        docs = records.documents(s.run_uid)
        for name, doc in docs:
            schema_validators[DocumentNames(name)].validate(doc)
        spectrum = next(d for n, d in docs if n == "descriptor" and d["name"] == "spectrum")
        key = spectrum["data_keys"]["spectrometer_wavelength"]
        assert key["dtype"] == "array" and key["shape"] == [PIXELS] and key["units"] == "nm"
        event = next(d for n, d in docs if n == "event" and d["descriptor"] == spectrum["uid"])
        assert len(event["data"]["spectrometer_wavelength"]) == len(event["data"]["spectrometer_intensity"]) == PIXELS

        step = next(step for step in s.steps if step.name == "spectrum")
        assert_array_quantity(step.actuals["spectrometer.wavelength"], "nm")
        assert_array_quantity(step.actuals["spectrometer.intensity"], "count")
        wavelength, intensity = spectrum_of(s.steps)
        assert_array_quantity(wavelength, "nm")
        assert list(wavelength.magnitude) == event["data"]["spectrometer_wavelength"]
        assert list(intensity.magnitude) == event["data"]["spectrometer_intensity"]
        peak, fwhm = spectrum_features(wavelength.magnitude, intensity.magnitude, smoothing=SPECTRUM_SMOOTHING)
        assert s.properties[PEAK].to("nm").magnitude == pytest.approx(peak, rel=1e-12)
        assert s.properties[FWHM].to("nm").magnitude == pytest.approx(fwhm, rel=1e-12)
        assert step.actuals["spectrometer.intensity"].check("[]")
    capsys.readouterr()
    assert main(["history", robots[0].id, "--store", str(store)]) == 0
    assert "spectrometer.wavelength" in capsys.readouterr().out
    csv = tmp_path / "samples.csv"
    assert main(["export", "qd-e2e", "--format", "csv", "--output", str(csv), "--store", str(store)]) == 0
    assert "property.emission_fwhm [nm]" in csv.read_text().splitlines()[0]
