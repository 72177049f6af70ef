"""Strategies choosing among a finite candidate set (``recommend(..., candidates=...)``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from optimizer_testing import ADDITIVES, history_from, make_thermoset_space, toy_value, two_fidelity_space

from core import InputDataError, OptimizerError
from optimizers import make_strategy
from optimizers.candidates import CandidateSet

STRATEGY_NAMES = ["multi_fidelity", "single_fidelity", "random", "sobol"]
CANONICAL = {smiles: make_thermoset_space().parameters[2].choices[label] for label, smiles in ADDITIVES.items()}


def thermoset_candidates(n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "cure_temperature": rng.uniform(60, 180, n).round(3),
        "cure_time": rng.uniform(0.5, 6, n).round(3),
        "additive": rng.choice(list(ADDITIVES.values()), n),
        "blade": rng.choice(["anchor", "dispersion"], n),
    })


def row_index(cands: pd.DataFrame, recipe: dict) -> int:
    """The candidate row a suggested recipe is (fails the test when it is none)."""
    t = recipe["cure_temperature"].to("degC").magnitude
    h = recipe["cure_time"].to("h").magnitude
    hit = cands[(np.abs(cands["cure_temperature"] - t) < 1e-6) & (np.abs(cands["cure_time"] - h) < 1e-6)
                & (cands["additive"].map(CANONICAL) == recipe["additive"]) & (cands["blade"] == recipe["blade"])]
    assert len(hit) == 1, f"suggestion {recipe} is not a candidate row"
    return int(hit.index[0])


def run_loop(strategy, space, cands: pd.DataFrame, steps: int, budget: float = 1e9):
    sugs, values, picked = [], [], []
    for _ in range(steps):
        hist = history_from(space, sugs, values) if sugs else None
        sug = strategy.recommend(hist, budget_left=budget, candidates=cands)[0]
        picked.append((row_index(cands, sug.recipe), sug.fidelity))
        sugs.append(sug)
        values.append(toy_value(space, sug.recipe, sug.fidelity))
    return sugs, picked


@pytest.mark.parametrize("name", STRATEGY_NAMES, ids=STRATEGY_NAMES)
def test_every_suggestion_is_an_untried_candidate_row(name):
    space = make_thermoset_space()
    cands = thermoset_candidates(30)
    design = {"closed_form": 4, "robot": 2} if name == "multi_fidelity" else None
    strategy = make_strategy(name, space, seed=3, initial_design=design, raw_samples=32, num_restarts=1) \
        if name in ("multi_fidelity", "single_fidelity") else make_strategy(name, space, seed=3)
    _, picked = run_loop(strategy, space, cands, steps=10)
    assert len(set(picked)) == len(picked), f"a row was measured twice at one fidelity: {picked}"
    if name != "multi_fidelity":
        assert {f for _, f in picked} == {"robot"}


def test_fidelity_column_limits_each_row_to_its_fidelity():
    space = make_thermoset_space()
    base = thermoset_candidates(24, seed=1)
    cheap = base.iloc[:16].assign(fidelity="closed_form")
    target = base.iloc[16:].assign(fidelity="robot")
    cands = pd.concat([cheap, target], ignore_index=True)
    strategy = make_strategy("multi_fidelity", space, seed=0, initial_design={"closed_form": 3, "robot": 2},
                             raw_samples=32, num_restarts=1)
    sugs = []
    hist, seen = None, []
    for _ in range(9):
        sug = strategy.recommend(hist, candidates=cands)[0]
        i = row_index(base, sug.recipe)
        assert (sug.fidelity == "closed_form") == (i < 16), f"row {i} suggested at {sug.fidelity}"
        assert "kinetics_phase_field" not in sug.acquisition_by_fidelity  # no row allows it
        seen.append((i, sug.fidelity))
        sugs.append(sug)
        hist = history_from(space, sugs, [toy_value(space, s.recipe, s.fidelity) for s in sugs])
    assert len(set(seen)) == len(seen)


def test_pending_rows_are_not_suggested_again():
    space = make_thermoset_space()
    cands = thermoset_candidates(5, seed=2)
    pending = cands.iloc[:4].assign(fidelity="robot")
    sug = make_strategy("random", space, seed=0).recommend(None, pending=pending, candidates=cands)[0]
    assert row_index(cands, sug.recipe) == 4
    with pytest.raises(OptimizerError, match="every candidate"):
        make_strategy("random", space, seed=0).recommend(None, pending=cands.assign(fidelity="robot"), candidates=cands)


def test_model_chooses_the_candidate_with_the_best_acquisition():
    space = two_fidelity_space()
    xs = np.linspace(0, 1, 11)
    xs = xs[np.abs(xs - 0.5) > 0.15]  # measured everywhere but around the peak at 0.55
    hist = pd.DataFrame({"x": xs, "fidelity": "robot", "objective": -((xs - 0.55) ** 2) * 10, "status": "completed"})
    cands = pd.DataFrame({"x": [0.02, 0.53, 0.97]})
    strategy = make_strategy("single_fidelity", space, seed=0, initial_design={"robot": 0})
    sug = strategy.recommend(hist, candidates=cands)[0]
    assert abs(sug.recipe["x"].magnitude - 0.53) < 1e-9
    rec = strategy.recommendation(hist, candidates=cands)
    assert abs(rec.recipe["x"].magnitude - 0.53) < 1e-9  # the best predicted row, not an off-row optimum


def test_multi_fidelity_picks_the_fidelity_by_information_per_cost_among_open_ones():
    space = two_fidelity_space(cheap_cost=0.01)
    rng = np.random.default_rng(0)
    xs = rng.uniform(0, 1, 12)
    f = lambda x: np.sin(6 * x)  # noqa: E731 - the cheap fidelity is the same function: fully informative
    hist = pd.concat([
        pd.DataFrame({"x": xs, "fidelity": "cheap", "objective": f(xs), "status": "completed"}),
        pd.DataFrame({"x": xs[:3], "fidelity": "robot", "objective": f(xs[:3]), "status": "completed"}),
    ], ignore_index=True)
    cands = pd.DataFrame({"x": np.linspace(0.0, 1.0, 21)})
    strategy = make_strategy("multi_fidelity", space, seed=0, initial_design={}, raw_samples=32, num_restarts=1)
    sug = strategy.recommend(hist, candidates=cands)[0]
    assert set(sug.acquisition_by_fidelity) == {"cheap", "robot"}
    best = max(sug.acquisition_by_fidelity, key=sug.acquisition_by_fidelity.get)
    assert sug.fidelity == best
    assert np.isclose(cands["x"], sug.recipe["x"].magnitude).any()


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        pytest.param(pd.DataFrame({"cure_temperature": [100.0]}), "missing column", id="missing-column"),
        pytest.param(pd.DataFrame(columns=["cure_temperature"]), "no rows", id="empty"),
        pytest.param(thermoset_candidates(2).assign(fidelity="oven"), "unknown fidelity", id="bad-fidelity"),
        pytest.param(thermoset_candidates(2).assign(blade="paddle"), "'blade'", id="bad-choice"),
        pytest.param([1, 2], "DataFrame", id="not-a-frame"),
    ],
)
def test_bad_candidates_name_the_problem(frame, message):
    with pytest.raises(InputDataError, match=message):
        make_strategy("random", make_thermoset_space()).recommend(None, candidates=frame)


def test_candidate_set_merges_rows_of_one_recipe():
    space = make_thermoset_space()
    base = thermoset_candidates(3, seed=4)
    both = pd.concat([base.assign(fidelity="closed_form"), base.iloc[:1].assign(fidelity="robot")], ignore_index=True)
    cs = CandidateSet(space, both)
    assert len(cs) == 3
    names = [f.name for f in space.fidelities]
    assert cs.allowed[:, names.index("closed_form")].all()
    assert cs.allowed[:, names.index("robot")].tolist() == [True, False, False]
