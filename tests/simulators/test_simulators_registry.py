"""The registry, the result type and pickling: what the controller relies on."""

import dataclasses
import pickle

import pytest
from simulators_helpers import MODELS, PHASE_FIELD, make_recipe

from core import ConfigError
from simulators import SimulationResult, Simulator, available_models, get_simulator


def test_available_models_lists_both_thermoset_fidelities():
    assert set(MODELS) <= set(available_models())  # other installed systems add theirs


@pytest.mark.parametrize("model", MODELS, ids=["closed_form", "kinetics_phase_field"])
def test_get_simulator_builds_a_named_versioned_simulator(model):
    sim = get_simulator(model)
    assert isinstance(sim, Simulator)
    assert sim.name == model
    assert sim.version and sim.version[0].isdigit()


def test_unknown_model_is_a_config_error_listing_the_models():
    with pytest.raises(ConfigError) as err:
        get_simulator("thermoset.quantum", field="fidelities.fancy.model")
    assert err.value.fields == ["fidelities.fancy.model"]
    text = str(err.value)
    assert "thermoset.quantum" in text
    assert all(model in text for model in MODELS)


@pytest.mark.parametrize(
    "options, field",
    [
        pytest.param({"mesh_size": 64}, "fidelities.hi.options", id="unknown-option"),
        pytest.param({"grid": 3}, "options.grid", id="grid-too-small"),
        pytest.param({"ramp_rate": 0.0}, "options.ramp_rate", id="zero-ramp"),
    ],
)
def test_bad_options_are_config_errors(options, field):
    with pytest.raises(ConfigError) as err:
        get_simulator(PHASE_FIELD, field="fidelities.hi.model", **options)
    assert field in err.value.fields


def test_simulation_result_is_frozen():
    res = get_simulator("thermoset.closed_form").run(make_recipe(), seed=0)
    assert isinstance(res, SimulationResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.model = "other"


@pytest.mark.parametrize("model", MODELS, ids=["closed_form", "kinetics_phase_field"])
def test_simulators_survive_pickling_and_give_the_same_result(model):
    sim = get_simulator(model)
    clone = pickle.loads(pickle.dumps(sim))
    assert clone == sim and type(clone) is type(sim)
    recipe = make_recipe("dioctyl_sebacate", 15.0, temperature=140.0, cure_time=2.0)
    a = sim.run(recipe, seed=4).properties["glass_transition_temperature"]
    b = clone.run(recipe, seed=4).properties["glass_transition_temperature"]
    assert a.to("degC").magnitude == pytest.approx(b.to("degC").magnitude, abs=1e-9)


def test_options_change_the_simulator_identity():
    assert get_simulator(PHASE_FIELD, grid=48) != get_simulator(PHASE_FIELD)
    assert get_simulator(PHASE_FIELD, grid=48) == get_simulator(PHASE_FIELD, grid=48)
