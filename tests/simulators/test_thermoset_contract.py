"""Every thermoset fidelity honours the contract of docs/interfaces.md."""

import math

import pint
import pytest
from simulators_helpers import MODELS, make_recipe, run

from core import Q_, InputDataError, ureg
from simulators import get_simulator

MODEL_IDS = ["closed_form", "kinetics_phase_field"]
STRUCTURE_UNITS = {
    "degree_of_cure": "dimensionless",
    "crosslink_density": "mol/m**3",
    "domain_size": "nm",
    "free_volume_fraction": "dimensionless",
    "chi_parameter": "dimensionless",
    "additive_solubility_parameter": "MPa**0.5",
}
PROPERTY_UNITS = {"glass_transition_temperature": "degC", "fracture_toughness": "MPa*m**0.5"}
RECIPES = {
    "dos-15": dict(additive="dioctyl_sebacate", fraction=15.0),
    "tgap-10-low-T": dict(additive="tgap", fraction=10.0, temperature=90.0, cure_time=1.0, ratio=0.8),
}


@pytest.fixture(params=MODELS, ids=MODEL_IDS)
def model(request):
    return request.param


@pytest.mark.parametrize("recipe_id", list(RECIPES), ids=list(RECIPES))
def test_outputs_have_every_key_with_its_unit(model, recipe_id):
    res = run(model, **RECIPES[recipe_id])
    assert res.model == model and res.model_version
    for key, unit in STRUCTURE_UNITS.items():
        q = res.structure[key]
        assert isinstance(q, pint.Quantity) and q._REGISTRY is ureg, key
        assert q.dimensionality == Q_(1, unit).dimensionality, key
        assert math.isfinite(q.magnitude), key
    for key, unit in PROPERTY_UNITS.items():
        q = res.properties[key]
        assert q._REGISTRY is ureg and q.dimensionality == Q_(1, unit).dimensionality, key
    assert res.structure["domain_size"].units == ureg.nanometer
    assert res.properties["glass_transition_temperature"].units == ureg.degC
    assert 0.0 <= res.structure["degree_of_cure"].magnitude <= 1.0
    assert 0.0 < res.structure["free_volume_fraction"].magnitude < 0.2
    assert res.structure["crosslink_density"].magnitude >= 0.0
    assert res.properties["fracture_toughness"].magnitude > 0.0


def test_steps_record_mix_and_cure_with_setpoints_and_actuals(model):
    res = run(model, **RECIPES["dos-15"])
    assert [s["name"] for s in res.steps] == ["mix", "cure"]
    for step in res.steps:
        assert step["device"] == f"simulator:{model}"
        assert step["setpoints"] and step["actuals"]
        assert all(isinstance(q, pint.Quantity) for q in (*step["setpoints"].values(), *step["actuals"].values()))
    mix, cure = res.steps
    assert mix["setpoints"]["speed"].to("rpm").magnitude == pytest.approx(1000.0)
    assert cure["setpoints"]["temperature"].to("degC").magnitude == pytest.approx(150.0)
    assert cure["setpoints"]["time"].to("h").magnitude == pytest.approx(6.0)
    assert cure["actuals"]["temperature"].to("degC").magnitude == pytest.approx(150.0, abs=2.0)


def test_same_seed_same_result(model):
    recipe = make_recipe("dioctyl_sebacate", 15.0, temperature=130.0, cure_time=3.0)
    sim = get_simulator(model)
    a, b = sim.run(recipe, seed=11), sim.run(recipe, seed=11)
    assert a.structure == b.structure and a.properties == b.properties
    assert a.steps == b.steps


def test_phase_field_noise_follows_the_seed():
    recipe = make_recipe("dioctyl_sebacate", 15.0, temperature=130.0, cure_time=3.0)
    sim = get_simulator("thermoset.kinetics_phase_field")
    sizes = {sim.run(recipe, seed=s).structure["domain_size"].magnitude for s in (1, 2, 3)}
    assert len(sizes) > 1, "the initial composition noise must depend on the seed"
    assert all(s > 0 for s in sizes)


def test_compatible_units_give_the_same_answer(model):
    base = make_recipe("triphenyl_phosphate", 10.0, temperature=120.0, cure_time=2.0, speed=600.0, mix_time=4.0)
    other = dict(base)
    other.update(
        additive_fraction=Q_(0.10, "dimensionless"),
        mixing_speed=Q_(10.0, "revolution/second"),
        mixing_time=Q_(240.0, "s"),
        cure_temperature=Q_(393.15, "K"),
        cure_time=Q_(120.0, "min"),
    )
    a = get_simulator(model).run(base, seed=0).properties["glass_transition_temperature"]
    b = get_simulator(model).run(other, seed=0).properties["glass_transition_temperature"]
    assert a.to("degC").magnitude == pytest.approx(b.to("degC").magnitude, abs=1e-6)


def _without(key):
    recipe = make_recipe()
    del recipe[key]
    return recipe


def _with(**changes):
    recipe = make_recipe()
    recipe.update(changes)
    return recipe


BAD_RECIPES = [
    pytest.param(_without("cure_time"), "cure_time", id="missing-key"),
    pytest.param(_without("additive"), "additive", id="missing-additive"),
    pytest.param(_with(cure_temperature=Q_(150, "rpm")), "cure_temperature", id="wrong-dimension"),
    pytest.param(_with(additive_fraction=Q_(-5, "percent")), "additive_fraction", id="negative-fraction"),
    pytest.param(_with(additive_fraction=Q_(60, "percent")), "additive_fraction", id="fraction-too-high"),
    pytest.param(_with(hardener_ratio=Q_(5.0, "")), "hardener_ratio", id="ratio-out-of-range"),
    pytest.param(_with(mixing_speed=1000.0), "mixing_speed", id="no-unit"),
    pytest.param(_with(cure_time=Q_(100, "h")), "cure_time", id="cure-too-long"),
    pytest.param(_with(cure_temperature=Q_(float("nan"), "degC")), "cure_temperature", id="nan"),
    pytest.param(_with(additive="C1CC"), "additive", id="invalid-smiles"),
    pytest.param(_with(additive=42), "additive", id="additive-not-a-string"),
]


@pytest.mark.parametrize("recipe, key", BAD_RECIPES)
def test_bad_recipes_name_the_key(model, recipe, key):
    with pytest.raises(InputDataError) as err:
        get_simulator(model).run(recipe, seed=0)
    assert repr(key) in str(err.value) or f"[{key!r}]" in str(err.value)


@pytest.mark.parametrize(
    "recipe, allowed",
    [
        pytest.param(_with(additive_fraction=Q_(-5, "percent")), "0 - 40 %", id="fraction"),
        pytest.param(_with(cure_temperature=Q_(400, "degC")), "20 - 250 degC", id="temperature"),
    ],
)
def test_range_errors_state_the_allowed_range(model, recipe, allowed):
    with pytest.raises(InputDataError, match=allowed):
        get_simulator(model).run(recipe)


def test_seed_must_be_an_int(model):
    with pytest.raises(InputDataError, match="seed"):
        get_simulator(model).run(make_recipe(), seed="zero")


@pytest.mark.parametrize(
    "recipe",
    [
        pytest.param(
            make_recipe("dioctyl_sebacate", 40.0, ratio=2.5, speed=0, mix_time=0, temperature=250, cure_time=48),
            id="hot-long-off-stoich",
        ),
        pytest.param(make_recipe("tgap", 40.0, ratio=0.3, temperature=20, cure_time=0), id="cold-no-hold"),
        pytest.param(make_recipe("butyl_glycidyl_ether", 40.0, ratio=1.0, temperature=60, cure_time=0.1), id="much-diluent"),
    ],
)
def test_corners_of_the_physical_range_give_finite_results(model, recipe):
    res = get_simulator(model).run(recipe, seed=0)
    tg = res.properties["glass_transition_temperature"].to("degC").magnitude
    assert -130.0 < tg < 260.0
    assert 0.0 <= res.structure["degree_of_cure"].magnitude <= 1.0
