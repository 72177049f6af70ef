"""Physics-informed models: simulator features as inputs, simulator prediction as prior mean or input."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from optimizer_testing import two_fidelity_space

from core import OptimizerError
from optimizers import make_strategy
from optimizers.model import fit_model
from optimizers.physics import (
    PhysicsFeatures,
    PhysicsInputs,
    PhysicsModel,
    available_features,
    maximize_over_candidates,
    simulator_physics,
)


def truth(x: float) -> float:
    return math.sin(6.0 * x) + 0.5 * x


class CountingSimulator:
    """A 'simulator' of the toy problem: its prediction is the truth plus a constant bias; one feature."""

    def __init__(self):
        self.calls = 0

    def __call__(self, recipe):
        self.calls += 1
        x = float(recipe["x"].magnitude)
        return {"prediction": truth(x) - 0.3, "bump": (x - 0.3) ** 2, "unused": 1.0}


def history(xs, fidelity="robot", fn=truth):
    return pd.DataFrame([{"x": x, "fidelity": fidelity, "objective": fn(x), "status": "completed"} for x in xs])


def test_physics_features_validate_their_mode():
    with pytest.raises(OptimizerError, match="prior_mean"):
        PhysicsFeatures(lambda r: {}, None, "magic")
    with pytest.raises(OptimizerError, match="non-empty"):
        PhysicsFeatures(lambda r: {}, (), "features")


def test_values_are_cached_per_recipe():
    space = two_fidelity_space()
    sim = CountingSimulator()
    phys = PhysicsInputs(PhysicsFeatures(sim, ("bump",), "features"), space)
    after_reference = sim.calls
    X = torch.tensor([[0.2, 1.0], [0.7, 0.5], [0.2, 0.5]], dtype=torch.double)
    raw = phys.raw(X)
    assert sim.calls == after_reference + 2  # 0.2 at two fidelities is one recipe
    assert raw[:, 0].tolist() == pytest.approx([0.01, 0.16, 0.01])
    phys.raw(X)
    assert sim.calls == after_reference + 2
    Z = phys.augment(X)
    assert Z.shape == (3, 3) and torch.equal(Z[:, -1], X[:, -1]) and torch.equal(Z[:, 0], X[:, 0])


def test_prior_mean_model_predicts_the_residual_world():
    """With a prior that is the truth up to a constant, 3 target points pin down the function everywhere."""
    space = two_fidelity_space()
    sim = CountingSimulator()
    xs = [0.1, 0.5, 0.9]
    X, Y = space.training_data(history(xs))
    phys = PhysicsInputs(PhysicsFeatures(sim, None, "prior_mean"), space)
    fm = phys.fit(X, Y, fidelity_column=space.dim, kernel="linear_truncated", warm_state=None, maxiter=50)
    plain = fit_model(X, Y, fidelity_column=space.dim, maxiter=50)
    grid = torch.linspace(0, 1, 21, dtype=torch.double)
    Xg = torch.stack([grid, torch.ones_like(grid)], dim=-1)
    want = torch.tensor([truth(float(x)) for x in grid], dtype=torch.double)
    with torch.no_grad():
        err_prior = (fm.model.posterior(Xg).mean.reshape(-1) - want).abs().max()
        err_plain = (plain.model.posterior(Xg).mean.reshape(-1) - want).abs().max()
    assert err_prior < 0.05 < err_plain
    assert isinstance(fm.model, PhysicsModel) and fm.gp is not fm.model
    assert fm.input_names == space.input_names and torch.equal(fm.X, X)


def test_features_and_sim_input_are_named_model_inputs():
    space = two_fidelity_space()
    sim = CountingSimulator()
    X, Y = space.training_data(history([0.1, 0.4, 0.6, 0.9]))
    for mode, names, extra in (("features", ("bump",), ["feature:bump"]), ("sim_input", None, ["sim:prediction"])):
        phys = PhysicsInputs(PhysicsFeatures(sim, names, mode), space)
        fm = phys.fit(X, Y, fidelity_column=space.dim, kernel="linear_truncated", warm_state=None, maxiter=30)
        assert fm.input_names == ["x", *extra, "fidelity"]
        assert fm.gp_inputs.shape == (4, 3) and fm.X.shape == (4, 2)
        assert set(fm.lengthscales()) == {"x", extra[0]}
        with torch.no_grad():
            assert torch.allclose(fm.model.posterior(X).mean, fm.gp.posterior(fm.gp_inputs).mean)


def test_every_structure_feature_when_none_is_named():
    space = two_fidelity_space()
    phys = PhysicsInputs(PhysicsFeatures(CountingSimulator(), None, "features"), space)
    assert phys.input_names == ["feature:bump", "feature:unused"]


def test_maximize_over_candidates_finds_the_best_row():
    C = torch.linspace(0, 1, 101, dtype=torch.double).reshape(-1, 1)
    x, v = maximize_over_candidates(lambda X: -((X[..., 0, 0] - 0.37) ** 2), C)
    assert float(x) == pytest.approx(0.37) and v == pytest.approx(0.0)


@pytest.mark.parametrize("strategy", ["multi_fidelity", "single_fidelity"])
@pytest.mark.parametrize("mode", ["features", "prior_mean", "sim_input"])
def test_strategies_suggest_with_physics(strategy, mode):
    space = two_fidelity_space()
    sim = CountingSimulator()
    names = ("bump",) if mode == "features" else None
    st = make_strategy(strategy, space, seed=3, initial_design={"robot": 0},
                       physics=PhysicsFeatures(sim, names, mode, model="toy"))
    rows = history([0.05, 0.35, 0.65, 0.95])
    if strategy == "multi_fidelity":
        rows = pd.concat([rows, history([0.2, 0.5, 0.8], "cheap", lambda x: truth(x) - 0.3)], ignore_index=True)
    pending = pd.DataFrame([{"x": 0.42, "fidelity": "robot"}])
    sugs = st.recommend(rows, pending=pending, q=2)
    assert len(sugs) == 2
    assert math.isfinite(sugs[0].target_mean) and sugs[0].target_std >= 0  # the model made the first one
    for s in sugs:  # the second may be a space-filling fallback when the model's best is already taken
        assert 0.0 <= float(s.recipe["x"].magnitude) <= 1.0
        rec = s.to_record()["featurization"]["physics"]
        assert rec["mode"] == mode and rec["model"] == "toy"
        assert set(rec["values"]) == ({"bump"} if mode == "features" else {"prediction"})
    best = st.recommendation(rows)
    assert math.isfinite(best.mean)


def test_prior_mean_strategy_goes_to_the_prior_optimum_with_little_data():
    """The prior knows the optimum (x ~ 0.27); two target points far from it do not."""
    space = two_fidelity_space()
    st = make_strategy("single_fidelity", space, seed=0, initial_design={"robot": 0},
                       physics=PhysicsFeatures(CountingSimulator(), None, "prior_mean"))
    sug = st.recommend(history([0.8, 0.95]))[0]
    assert abs(float(sug.recipe["x"].magnitude) - 0.27) < 0.05


def test_simulator_physics_on_the_closed_form_model():
    from core import Q_, ContinuousParameter, Fidelity, MoleculeParameter, Objective
    from optimizers import SearchSpace
    from systems.thermoset.bench import THERMOSET_PARAMETERS
    from simulators import get_simulator
    from simulators.thermoset import ADDITIVE_LIBRARY

    sim = get_simulator("thermoset.closed_form")
    params = [MoleculeParameter("additive", dict(ADDITIVE_LIBRARY))]
    params += [ContinuousParameter(n, Q_(lo, u), Q_(hi, u), u) for n, (lo, hi, u) in THERMOSET_PARAMETERS.items()]
    space = SearchSpace(params, [Fidelity("closed_form", "simulator", 0.05, 0.3, model="thermoset.closed_form"),
                                 Fidelity("robot", "robot", 1.0, 1.0, target=True)],
                        Objective("glass_transition_temperature", "degC", "maximize"))
    structure, properties = available_features(sim, space.parameters)
    assert "degree_of_cure" in structure and "glass_transition_temperature" in properties
    phys = PhysicsInputs(simulator_physics(sim, "features", space.objective, ["degree_of_cure", "crosslink_density"]), space)
    recipe = space.decode(space.from_unit(torch.full((1, len(space.parameters)), 0.5, dtype=torch.double)))[0]
    rec = phys.record(recipe)
    assert rec["model"] == "thermoset.closed_form"
    direct = sim.run(recipe, seed=0).structure["degree_of_cure"].magnitude
    assert rec["values"]["degree_of_cure"] == pytest.approx(direct)
    pred = PhysicsInputs(simulator_physics(sim, "prior_mean", space.objective), space)
    tg = sim.run(recipe, seed=0).properties["glass_transition_temperature"].to("degC").magnitude
    assert pred.record(recipe)["values"]["prediction"] == pytest.approx(tg)


def test_bench_harness_runs_the_physics_methods():
    from optimizers import bench, bench_problems

    problem = bench_problems.branin(0.9, 0.1, "branin_favourable")
    records = bench.run_one(problem, "mf_prior_mean", seed=0, budget=1.5)
    assert records and {r["method"] for r in records} == {"mf_prior_mean"}
    assert records[-1]["cumulative_cost"] <= 1.5 + 1e-9
    assert all(math.isfinite(r["recommended_value"]) for r in records if r["cumulative_cost"] >= 1.0)
    # a test function has no structure features: the features mode does not apply and is skipped
    assert bench.run_one(problem, "mf_features", seed=0, budget=1.5) == []
