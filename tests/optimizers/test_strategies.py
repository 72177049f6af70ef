"""The contract every strategy keeps, and the multi-fidelity strategy's choices."""

from __future__ import annotations

import math

import pandas as pd
import pint
import pytest
import torch

from core import InputDataError, OptimizerError
from optimizers import Recommendation, Suggestion, make_strategy
from optimizer_testing import history_from, toy_value, two_fidelity_space

STRATEGY_NAMES = ["multi_fidelity", "single_fidelity", "random", "sobol"]


def _run(strategy, space, n_steps, value, q=1):
    """Drive ``strategy`` for ``n_steps`` batches with ``value(recipe, fidelity)``; returns the history."""
    history = None
    for _ in range(n_steps):
        sugs = strategy.recommend(history, q=q)
        new = history_from(space, sugs, [value(s.recipe, s.fidelity) for s in sugs])
        history = new if history is None else pd.concat([history, new], ignore_index=True)
    return history


def _assert_valid(space, s: Suggestion, allowed):
    assert s.fidelity in allowed
    assert set(s.recipe) == {p.name for p in space.parameters}
    for p in space.parameters:
        v = s.recipe[p.name]
        if p.kind == "continuous":
            assert isinstance(v, pint.Quantity)
            assert p.contains(v), f"{p.name}={v} outside bounds"
        elif p.kind == "molecule":
            assert v in p.smiles
        else:
            assert v in p.choices


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_suggestions_are_valid_and_distinct(thermoset_space, name):
    space = thermoset_space
    strategy = make_strategy(name, space, seed=3, initial_design={"closed_form": 4, "robot": 2} if name == "multi_fidelity"
                             else ({"robot": 3} if name == "single_fidelity" else None))
    value = lambda r, f: toy_value(space, r, f)  # noqa: E731
    history = _run(strategy, space, 4, value, q=2)
    sugs = strategy.recommend(history, q=3)
    assert len(sugs) == 3
    allowed = {f.name for f in space.fidelities} if name == "multi_fidelity" else {"robot"}
    for s in sugs:
        _assert_valid(space, s, allowed)
        assert s.strategy == name
        assert s.reason
    X = torch.stack([space.encode_recipe(s.recipe, s.fidelity) for s in sugs])
    X_hist = space.encode(history, kind="history")
    assert torch.cdist(X, X_hist).min() > 1e-6, "a suggestion repeats a finished experiment"
    assert torch.pdist(X).min() > 1e-6, "a batch repeats itself"


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_pending_points_are_not_suggested_again(name):
    space = two_fidelity_space()
    strategy = make_strategy(name, space, seed=0)
    value = lambda r, f: -((r["x"].m - 0.3) ** 2)  # noqa: E731
    history = _run(strategy, space, 6, value)
    first = strategy.recommend(history, q=1)[0]
    pending = pd.DataFrame([{"x": first.recipe["x"].m, "fidelity": first.fidelity}])
    second = strategy.recommend(history, pending=pending, q=1)[0]
    same = second.fidelity == first.fidelity and abs(second.recipe["x"].m - first.recipe["x"].m) < 1e-3
    assert not same


def test_allowed_fidelities_and_budget_are_respected(thermoset_space):
    strategy = make_strategy("multi_fidelity", thermoset_space, seed=1)
    sugs = strategy.recommend(None, q=4, allowed_fidelities=["kinetics_phase_field"])
    assert {s.fidelity for s in sugs} == {"kinetics_phase_field"}
    # 0.25 cost units buy two closed_form runs (0.1 each) and nothing else
    sugs = strategy.recommend(None, q=5, budget_left=0.25)
    assert [s.fidelity for s in sugs] == ["closed_form", "closed_form"]
    with pytest.raises(OptimizerError, match="affordable"):
        strategy.recommend(None, budget_left=0.05)
    with pytest.raises(OptimizerError, match="robot"):
        make_strategy("single_fidelity", thermoset_space).recommend(None, allowed_fidelities=["closed_form"])


def test_initial_design_is_nested_across_fidelities(thermoset_space):
    strategy = make_strategy("multi_fidelity", thermoset_space, seed=5,
                             initial_design={"closed_form": 4, "kinetics_phase_field": 2, "robot": 2})
    sugs = strategy.recommend(None, q=8)
    assert [s.fidelity for s in sugs] == ["closed_form"] * 4 + ["kinetics_phase_field"] * 2 + ["robot"] * 2
    cheap = [s.recipe for s in sugs[:4]]
    assert sugs[6].recipe in cheap and sugs[7].recipe in cheap  # robot points are a subset
    assert all(s.predicted_mean is None and s.model_id == "space-filling" for s in sugs)


def test_adaptive_start_puts_the_first_target_run_at_the_best_cheap_result(thermoset_space):
    design = {"closed_form": 4, "kinetics_phase_field": 2, "robot": 3}
    adaptive = make_strategy("multi_fidelity", thermoset_space, seed=5, initial_design=design, adaptive_start=True)
    fixed = make_strategy("multi_fidelity", thermoset_space, seed=5, initial_design=design)
    assert adaptive.initial_design["robot"] == 2 and fixed.initial_design["robot"] == 3
    sugs = adaptive.recommend(None, q=6)  # the cheap part of the design, as the fixed one's
    assert [s.recipe for s in sugs] == [s.recipe for s in fixed.recommend(None, q=6)]
    values = [toy_value(thermoset_space, s.recipe, s.fidelity) for s in sugs]
    values[0] = 500.0  # best closed-form result, but kinetics (the dearer cheap fidelity) ranks first:
    values[5] = 400.0  # its best is design point 1
    history = history_from(thermoset_space, sugs, values)
    first = adaptive.recommend(history)[0]
    assert first.fidelity == "robot" and first.recipe == sugs[5].recipe
    assert first.reason.startswith("adaptive start: the first target run at the best kinetics_phase_field result")
    assert fixed.recommend(history)[0].recipe == sugs[0].recipe  # fixed: Sobol point 0, nested
    history = pd.concat([history, history_from(thermoset_space, [first], [450.0])], ignore_index=True)
    second = adaptive.recommend(history)[0]  # then the space-filling design, and no repeat of the first
    assert second.fidelity == "robot" and second.model_id == "space-filling" and second.recipe != first.recipe
    history = pd.concat([history, history_from(thermoset_space, [second], [150.0])], ignore_index=True)
    assert adaptive.recommend(history)[0].model_id not in ("space-filling", "adaptive-start")  # the model decides


def test_unknown_strategy_and_bad_history():
    space = two_fidelity_space()
    with pytest.raises(OptimizerError, match="multi_fidelity"):
        make_strategy("bayesian", space)
    with pytest.raises(InputDataError, match="objective"):
        make_strategy("multi_fidelity", space).recommend(pd.DataFrame([{"x": 0.1, "fidelity": "robot", "status": "completed"}]))


def _mf_fidelity_counts(cheap, n_steps, seed=0):
    """Run the MF strategy on ``target(x) = sin(6x)`` with a cheap fidelity ``cheap(x, rng)``; fidelities chosen."""
    space = two_fidelity_space(cheap_cost=0.1)
    strategy = make_strategy("multi_fidelity", space, seed=seed, initial_design={"cheap": 4, "robot": 3})
    gen = torch.Generator().manual_seed(seed)

    def value(recipe, fidelity):
        x = recipe["x"].m
        return math.sin(6 * x) if fidelity == "robot" else cheap(x, gen)

    history = _run(strategy, space, 7 + n_steps, value)
    return list(history["fidelity"][7:]), strategy, history


def test_mf_prefers_a_perfectly_correlated_cheap_fidelity_early():
    chosen, strategy, history = _mf_fidelity_counts(lambda x, g: math.sin(6 * x), n_steps=3)
    assert chosen == ["cheap"] * 3, chosen
    assert "nats per cost unit" in strategy.recommend(history)[0].reason


def test_mf_stops_buying_a_pure_noise_cheap_fidelity():
    noise = lambda x, g: float(torch.randn(1, generator=g)) * 3.0  # noqa: E731
    chosen, _, _ = _mf_fidelity_counts(noise, n_steps=8)
    assert chosen[-3:] == ["robot"] * 3, chosen


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
@pytest.mark.parametrize("name", ["multi_fidelity", "single_fidelity"])
def test_recommendation_finds_quadratic_optimum(name, direction):
    space = two_fidelity_space(direction)
    sign = 1.0 if direction == "maximize" else -1.0
    xs = torch.linspace(0.0, 1.0, 9, dtype=torch.double).tolist()
    rows = [{"x": x, "fidelity": "robot", "objective": sign * (2.0 - 8.0 * (x - 0.37) ** 2), "status": "completed"}
            for x in xs]
    rows.append({"x": 0.5, "fidelity": "robot", "objective": math.nan, "status": "failed"})
    strategy = make_strategy(name, space, seed=0)
    rec = strategy.recommendation(pd.DataFrame(rows))
    assert isinstance(rec, Recommendation)
    assert rec.recipe["x"].m == pytest.approx(0.37, abs=0.05)
    assert rec.mean == pytest.approx(sign * 2.0, abs=0.1)
    assert rec.std is not None and rec.std >= 0
    assert len(rec.model_id) == 12


def test_baseline_recommendation_is_best_observed():
    space = two_fidelity_space("minimize")
    rows = [{"x": x, "fidelity": f, "objective": v, "status": "completed"}
            for x, f, v in [(0.1, "robot", 3.0), (0.2, "robot", 1.0), (0.3, "cheap", -5.0)]]
    rec = make_strategy("random", space).recommendation(pd.DataFrame(rows))
    assert rec.recipe["x"].m == pytest.approx(0.2)
    assert rec.mean == 1.0 and rec.std is None


def test_mf_suggestion_reports_predictions_in_objective_units():
    space = two_fidelity_space("minimize")
    strategy = make_strategy("multi_fidelity", space, seed=2, initial_design={"cheap": 4, "robot": 2})
    history = _run(strategy, space, 6, lambda r, f: 100.0 + 10 * (r["x"].m - 0.5) ** 2)
    s = strategy.recommend(history)[0]
    assert 90.0 < s.target_mean < 115.0  # original sign and scale, not standardized
    assert s.predicted_std is not None and s.target_std is not None
    assert all(math.isfinite(v) for v in s.acquisition_by_fidelity.values())
    assert set(s.acquisition_by_fidelity) == {"cheap", "robot"}
    assert s.model_id == strategy.recommendation(history).model_id


def test_same_seed_same_suggestions():
    space = two_fidelity_space()
    a = make_strategy("multi_fidelity", space, seed=11).recommend(None, q=3)
    b = make_strategy("multi_fidelity", space, seed=11).recommend(None, q=3)
    c = make_strategy("multi_fidelity", space, seed=12).recommend(None, q=3)
    assert [s.recipe["x"].m for s in a] == [s.recipe["x"].m for s in b]
    assert [s.recipe["x"].m for s in a] != [s.recipe["x"].m for s in c]


def test_a_cheap_fidelity_as_dear_as_the_target_runs_is_left_out_of_the_default_design():
    """4 cheap runs at half a target run cost as much as the 2 target runs: target runs say more for the
    same cost, so the design is single-fidelity's (the same recipes); at a tenth of the cost it stays."""
    from optimizers import bench_problems

    dear = bench_problems.branin(0.2, 0.5, "dear").space
    assert make_strategy("multi_fidelity", dear, seed=3).initial_design == {"low": 0, "target": 3}
    mf = make_strategy("multi_fidelity", dear, seed=3).recommend(None, q=3)
    sf = make_strategy("single_fidelity", dear, seed=3).recommend(None, q=3)
    assert [s.fidelity for s in mf] == ["target"] * 3
    assert [s.recipe for s in mf] == [s.recipe for s in sf]
    cheap = bench_problems.branin(0.9, 0.1, "cheap").space
    assert make_strategy("multi_fidelity", cheap, seed=3).initial_design == {"low": 4, "target": 2}


def test_only_the_dear_cheap_fidelity_is_left_out(thermoset_space):
    import dataclasses

    from optimizers import SearchSpace

    design = make_strategy("multi_fidelity", thermoset_space).initial_design
    assert all(design[f.name] > 0 for f in thermoset_space.fidelities)  # the shipped costs: every fidelity
    fids = [dataclasses.replace(f, cost=f.cost * 40) if f.name == "kinetics_phase_field" else f
            for f in thermoset_space.fidelities]
    dear = SearchSpace(thermoset_space.parameters, fids, thermoset_space.objective)
    design = make_strategy("multi_fidelity", dear).initial_design
    assert design["kinetics_phase_field"] == 0 and design["closed_form"] > 0
    assert design["robot"] == max(2, math.ceil(len(thermoset_space.parameters) / 2))


def test_adaptive_start_leaves_a_design_without_cheap_runs_alone():
    from optimizers import bench_problems

    dear = bench_problems.branin(0.2, 0.5, "dear").space
    s = make_strategy("multi_fidelity", dear, seed=3, adaptive_start=True)
    assert s.initial_design == {"low": 0, "target": 3} and s.adaptive_start is False
