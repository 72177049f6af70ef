"""The hidden truth of the simulated lab: deterministic, plausible, and systematically unlike a simulator."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from devices_helpers import BGE, DBP, DOS, FAST, TGAP, TPP, run_plan

from core import Q_
from devices import steps_from_documents
from systems.thermoset.devices import make_and_characterize, make_sim_line
from systems.thermoset.devices.sim import FilmHistory, SimAmbient, film_truth
from systems.thermoset.devices.sim.thermal import simulate_oven


def _history(T=140.0, hours=2.0, r=1.0, additive=None, fraction=0.0, speed=1200.0, mix_min=5.0, humidity=45.0, **changes):
    oven = simulate_oven(T, 5.0, 1.0, 300.0, hours * 3600.0, 22.0, 1.5, np.random.default_rng(0))
    m_add = 10.0 * fraction
    eq_add = m_add / 92.0 if additive == TGAP else m_add / 130.0 if additive == BGE else 0.0
    m_resin = (10.0 - m_add - 42.6 * r * eq_add) / (1 + 42.6 * r / 187.0)
    history = FilmHistory(
        resin_mass=m_resin, hardener_mass=10.0 - m_add - m_resin, additive_mass=m_add, resin_eew=187.0,
        hardener_ahew=42.6, additive_smiles=additive, additive_purity=1.0, mixing_speed=speed, mixing_time=mix_min * 60,
        mixing_temperature_rise=4.0, room_temperature=22.0, exposure_humidity=humidity, exposure_time=900.0,
        oven_time=oven.time, oven_air=oven.air, storage_humidity=humidity)
    return dataclasses.replace(history, **changes)


def _tg(history):
    return film_truth(history).properties["glass_transition_temperature"].to("degC").magnitude


def _one_sample(seed, recipe, ambient=None):
    line = make_sim_line(seed=seed, speedup=FAST, ambient=ambient)
    from bluesky import RunEngine

    docs = run_plan(RunEngine({}), make_and_characterize(line, recipe, "s-truth"))
    return line.simulation.samples["s-truth"].truth, steps_from_documents(docs)


def test_same_seed_same_film_and_measurements(recipe):
    truth_a, record_a = _one_sample(3, recipe)
    truth_b, record_b = _one_sample(3, recipe)
    truth_c, record_c = _one_sample(4, recipe)
    assert truth_a.properties == truth_b.properties
    assert record_a.properties == record_b.properties and record_a.lots == record_b.lots
    assert record_a.properties != record_c.properties
    assert record_a.lots != record_c.lots


def test_truth_is_a_pure_function_of_the_history():
    history = _history(additive=DBP, fraction=0.1)
    assert film_truth(history) == film_truth(history)


@pytest.mark.parametrize(
    ("additive", "fraction"),
    [pytest.param(None, 0.0, id="neat"), pytest.param(DBP, 0.1, id="dbp"), pytest.param(TGAP, 0.1, id="tgap")],
)
def test_humidity_lowers_tg_by_a_few_degrees(additive, fraction):
    dry = _tg(_history(additive=additive, fraction=fraction, humidity=20.0))
    humid = _tg(_history(additive=additive, fraction=fraction, humidity=85.0))
    assert 1.0 < dry - humid < 10.0


def test_humid_lab_makes_lower_tg_films_on_the_line(recipe):
    def steady(rh):
        return SimAmbient(relative_humidity=Q_(rh, "percent"), humidity_drift=Q_(0, "percent"))

    dry, _ = _one_sample(2, recipe, steady(25.0))
    humid, record = _one_sample(2, recipe, steady(85.0))
    drop = (dry.properties["glass_transition_temperature"] - humid.properties["glass_transition_temperature"]).to("K")
    assert 1.0 < drop.magnitude < 10.0
    assert record.ambient["relative_humidity"].to("percent").magnitude == pytest.approx(85.0, abs=4.0)


def test_dsc_reads_tg_a_few_degrees_off(recipe):
    truth, record = _one_sample(1, recipe)
    offset = (record.properties["glass_transition_temperature"] - truth.properties["glass_transition_temperature"]).to("K")
    assert 1.0 < offset.magnitude < 6.0


def test_lot_equivalent_weight_shifts_the_true_stoichiometry():
    nominal = film_truth(_history()).internals["stoichiometric_ratio"]
    rich_lot = film_truth(_history(resin_eew=187.0 * 1.02)).internals["stoichiometric_ratio"]
    assert nominal == pytest.approx(1.0, abs=1e-6)
    assert rich_lot == pytest.approx(1.02, abs=1e-3)


def test_film_lags_and_overshoots_the_oven_air():
    truth = film_truth(_history(T=140.0))
    assert truth.internals["film_peak_temperature_degC"] > 140.0 + 1.0  # exotherm of the curing film


@pytest.mark.parametrize(
    ("low", "best", "high", "key"),
    [
        pytest.param({"T": 70.0}, {"T": 150.0}, {"T": 180.0, "hours": 6.0}, "cure_temperature", id="cure-temperature"),
        pytest.param({"r": 0.7}, {"r": 1.0}, {"r": 1.3}, "hardener_ratio", id="hardener-ratio"),
    ],
)
def test_tg_optimum_is_interior(low, best, high, key):
    assert _tg(_history(**best)) > _tg(_history(**low)) + 10.0
    assert _tg(_history(**best)) > _tg(_history(**high)) + 10.0


@pytest.mark.parametrize(
    ("additive", "direction"),
    [
        pytest.param(TGAP, +1, id="tgap-raises"),
        pytest.param(BGE, -1, id="bge-lowers"),
        pytest.param(DBP, -1, id="dbp-lowers"),
        pytest.param(TPP, -1, id="tpp-lowers"),
    ],
)
def test_additives_move_tg_the_right_way(additive, direction):
    neat = _tg(_history(T=150.0))
    assert direction * (_tg(_history(T=150.0, additive=additive, fraction=0.15)) - neat) > 3.0


def test_plasticizer_order_and_phase_separation():
    dbp = _tg(_history(T=150.0, additive=DBP, fraction=0.15))
    tpp = _tg(_history(T=150.0, additive=TPP, fraction=0.15))
    dos = film_truth(_history(T=150.0, additive=DOS, fraction=0.15))
    assert dbp < tpp  # miscible plasticizer drops Tg more than the antiplasticizer
    assert dos.structure["domain_size"].to("nm").magnitude > 100.0
    assert dos.properties["fracture_toughness"] > film_truth(_history(T=150.0)).properties["fracture_toughness"]


def test_unknown_additive_falls_back_to_an_estimate():
    truth = film_truth(_history(additive="CCCCCCCCCCCCO", fraction=0.1))
    assert 15.0 < truth.structure["additive_solubility_parameter"].to("MPa**0.5").magnitude < 25.0


def test_tg_stays_plausible_over_the_recipe_box():
    rng = np.random.default_rng(7)
    tgs = []
    for _ in range(30):
        tgs.append(_tg(_history(T=rng.uniform(60, 180), hours=rng.uniform(0.5, 6), r=rng.uniform(0.7, 1.3),
                                additive=rng.choice([None, DBP, TGAP, BGE, DOS, TPP]), fraction=rng.uniform(0, 0.2),
                                speed=rng.uniform(200, 2000), mix_min=rng.uniform(1, 15))))
    assert -60.0 < min(tgs) and max(tgs) < 180.0
    assert max(tgs) - min(tgs) > 50.0


