"""Several objectives and outcome constraints in the optimizer: the history's outcome columns, the
hypervolume and front helpers, the strategies' suggestions and their recommended Pareto sets, and that
no suggestion ever breaks a linear constraint."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import Q_, ContinuousParameter, Fidelity, InputDataError, Objective, OutcomeConstraint, parse_outcome_constraint
from core.constraints import check_recipe
from optimizers import SearchSpace, make_strategy
from optimizers import goals

FAST = {"raw_samples": 32, "num_restarts": 1, "fit_maxiter": 40}
UNITS = {"a": "dimensionless", "b": "dimensionless"}


def params():
    return [ContinuousParameter("a", Q_(0.0, ""), Q_(1.0, ""), ""), ContinuousParameter("b", Q_(0.0, ""), Q_(1.0, ""), "")]


FIDS = [Fidelity("cheap", "simulator", 0.1, 0.5), Fidelity("robot", "robot", 1.0, 1.0, target=True)]
TWO = [Objective("f", "", "maximize", threshold=0.0), Objective("g", "", "minimize", threshold=2.0)]


def truth(a: float, b: float, fidelity: str) -> dict[str, float]:
    """``f`` grows with ``a``, ``g`` (minimized) grows with ``a`` too: a trade-off along ``a``; ``h`` is
    high only for small ``b``. The cheap fidelity is the same shifted a little."""
    shift = 0.05 if fidelity == "cheap" else 0.0
    return {"f": a + 0.2 * b + shift, "g": a ** 2 + 0.5 * (1 - b) + shift, "h": 1.0 - b + shift}


def history_of(space: SearchSpace, rows: list[tuple[float, float, str]]) -> pd.DataFrame:
    out = []
    for a, b, fid in rows:
        t = truth(a, b, fid)
        row = {"a": a, "b": b, "fidelity": fid, "status": "completed"}
        for o in space.outcomes:
            row[o.column] = t[o.property]
        out.append(row)
    return pd.DataFrame(out)


def run(strategy, space: SearchSpace, steps: int, constraints=()) -> pd.DataFrame:
    history = None
    for _ in range(steps):
        for sug in strategy.recommend(history):
            check_recipe(constraints, sug.recipe, UNITS)
            r = sug.recipe
            new = history_of(space, [(r["a"].magnitude, r["b"].magnitude, sug.fidelity)])
            history = new if history is None else pd.concat([history, new], ignore_index=True)
    return history


# ---------------------------------------------------------------------- the space
def test_each_outcome_has_a_history_column_and_a_sign():
    sp = SearchSpace(params(), FIDS, TWO, outcome_constraints=["h >= 0.5", "f >= 0.1"])
    assert sp.multi_goal
    assert [(o.property, o.column, o.sign, o.objective) for o in sp.outcomes] == [
        ("f", "objective", 1.0, True), ("g", "outcome.g", -1.0, True), ("h", "outcome.h", 1.0, False)]
    # h >= 0.5 on the raw h (sign +1); f >= 0.1 on f (maximized, sign +1)
    assert sp.constraint_rows() == [(2, 1.0, 0.5), (0, 1.0, 0.1)]
    Y = torch.tensor([[0.2, -1.0, 0.6], [0.05, -1.0, 0.9], [0.3, -1.0, 0.4]], dtype=torch.double)
    assert sp.meets_outcome_constraints(Y).tolist() == [True, False, False]


def test_a_constraint_on_a_minimized_objective_reads_the_value_not_the_sign():
    sp = SearchSpace(params(), FIDS, TWO, outcome_constraints=["g <= 1.5"])
    assert sp.constraint_rows() == [(1, 1.0, -1.5)]  # g <= 1.5  <=>  -g >= -1.5, and the model sees -g
    assert sp.meets_outcome_constraints(torch.tensor([[0.0, -1.4], [0.0, -1.6]], dtype=torch.double)).tolist() == [True, False]


def test_one_objective_without_constraints_is_not_a_multi_goal_space():
    sp = SearchSpace(params(), FIDS, [Objective("f", "", "maximize")])
    assert not sp.multi_goal and sp.outcome_columns == ["objective"]


def test_a_history_without_an_outcome_column_is_refused_naming_it():
    sp = SearchSpace(params(), FIDS, TWO)
    h = history_of(sp, [(0.1, 0.2, "robot")]).drop(columns=["outcome.g"])
    with pytest.raises(InputDataError, match="outcome.g"):
        sp.validate(h)


def test_a_bound_of_the_wrong_dimension_is_refused():
    with pytest.raises(InputDataError, match="outcome_constraints"):
        SearchSpace(params(), FIDS, [Objective("f", "degC", "maximize")], outcome_constraints=["f >= 2 kg"])


def test_training_outcomes_leave_out_rows_missing_an_outcome_and_sign_them():
    sp = SearchSpace(params(), FIDS, TWO)
    h = history_of(sp, [(0.1, 0.2, "robot"), (0.5, 0.5, "cheap")])
    h.loc[1, "outcome.g"] = float("nan")
    X, Y = sp.training_outcomes(h)
    assert X.shape == (1, 3) and Y.shape == (1, 2)
    t = truth(0.1, 0.2, "robot")
    assert Y[0].tolist() == pytest.approx([t["f"], -t["g"]])


def test_outcome_constraint_parsing_names_the_field():
    c = parse_outcome_constraint("fracture_toughness >= 0.8 MPa*m**0.5")
    assert isinstance(c, OutcomeConstraint) and c.operator == ">=" and c.bound_in("MPa*m**0.5") == pytest.approx(0.8)
    assert c.holds(0.9, "MPa*m**0.5") and not c.holds(0.7, "MPa*m**0.5")
    assert c.bound_in("kPa*m**0.5") == pytest.approx(800.0)
    from core import ConfigError

    for bad in ["toughness > 1", "toughness", "2 * toughness >= 1", "toughness >= 1 parsec**9**9"]:
        with pytest.raises(ConfigError, match="outcome_constraints"):
            parse_outcome_constraint(bad)


# ---------------------------------------------------------------------- hypervolume and fronts
def test_hypervolume_of_a_known_front():
    ref = torch.tensor([0.0, 0.0], dtype=torch.double)
    Y = torch.tensor([[1.0, 2.0], [2.0, 1.0], [0.5, 0.5], [-1.0, 5.0]], dtype=torch.double)
    assert goals.hypervolume(Y, ref) == pytest.approx(3.0)  # 1x2 + 2x1 - 1x1; the dominated and the outside point add nothing
    assert goals.pareto_mask(Y).tolist() == [True, True, False, True]
    assert goals.hypervolume(Y[:0], ref) == 0.0


def test_the_reference_point_is_the_threshold_where_stated_else_below_the_worst_value():
    sp = SearchSpace(params(), FIDS, [Objective("f", "", "maximize", threshold=0.3), Objective("g", "", "minimize")])
    Y = torch.tensor([[1.0, -3.0], [2.0, -1.0]], dtype=torch.double)
    ref = goals.reference_point(sp.objectives, Y)
    assert ref[0] == pytest.approx(0.3)
    assert ref[1] == pytest.approx(-3.0 - 0.1 * 2.0)
    sp2 = SearchSpace(params(), FIDS, [Objective("f", "", "maximize"), Objective("g", "", "minimize", threshold=2.5)])
    assert goals.reference_point(sp2.objectives, Y)[1] == pytest.approx(-2.5)  # minimized: the threshold is signed too


def test_the_observed_front_keeps_only_rows_that_meet_the_outcome_constraints():
    sp = SearchSpace(params(), FIDS, [Objective("f", ""), Objective("h", "")], outcome_constraints=["h <= 0.8"])
    Y = torch.tensor([[1.0, 0.9], [0.8, 0.7], [0.5, 0.75], [0.2, 0.1]], dtype=torch.double)
    assert goals.observed_front(sp, Y).tolist() == [1, 2]


# ---------------------------------------------------------------------- strategies
@pytest.fixture(scope="module")
def two_objective_campaign():
    sp = SearchSpace(params(), FIDS, TWO)
    strategy = make_strategy("multi_fidelity", sp, seed=3, initial_design={"cheap": 4, "robot": 2}, **FAST)
    return sp, strategy, run(strategy, sp, steps=9)


def test_the_multi_fidelity_strategy_chooses_fidelities_and_predicts_every_outcome(two_objective_campaign):
    sp, strategy, history = two_objective_campaign
    assert set(history["fidelity"]) == {"cheap", "robot"}
    sug = strategy.recommend(history)[0]
    assert set(sug.predicted_outcomes) == {"f", "g"}
    assert "log NEHVI" in sug.reason and "nats per cost unit" in sug.reason
    assert set(sug.acquisition_by_fidelity) <= {"cheap", "robot"}
    assert sug.to_record()["predicted_outcomes"]["g"]["target_mean"] == sug.predicted_outcomes["g"]["target_mean"]


def test_the_recommendation_is_a_non_dominated_front_of_posterior_means(two_objective_campaign):
    sp, strategy, history = two_objective_campaign
    rec = strategy.recommendation(history)
    assert len(rec.front) >= 2
    signed = torch.tensor([[p.means["f"], -p.means["g"]] for p in rec.front], dtype=torch.double)
    assert bool(goals.pareto_mask(signed).all())
    assert [p.means["f"] for p in rec.front] == sorted((p.means["f"] for p in rec.front), reverse=True)
    assert rec.recipe in [p.recipe for p in rec.front]
    assert all(p.stds["f"] is not None and p.stds["f"] >= 0 for p in rec.front)
    assert rec.to_record()["front"][0]["means"] == rec.front[0].means


def test_a_recipe_seen_only_cheaply_on_the_front_is_worth_a_target_run():
    """Two target runs at poor recipes, cheap runs that put (0.9, 0.9) far ahead on ``f``: over the front
    measured at the target that recipe is a large hypervolume improvement; with every recipe in the
    baseline it counts as reached already (the reason the strategy used to buy so few target runs)."""
    from botorch.acquisition import FixedFeatureAcquisitionFunction

    sp = SearchSpace(params(), FIDS, TWO)
    cheap = [(0.9, 0.9), (0.5, 0.5), (0.3, 0.9), (0.7, 0.2), (0.1, 0.6), (0.8, 0.6), (0.4, 0.1)]
    rows = [(0.1, 0.2, "robot"), (0.2, 0.8, "robot")] + [(a, b, "cheap") for a, b in cheap]
    history = sp.validate(history_of(sp, rows), kind="history")
    strategy = make_strategy("multi_fidelity", sp, seed=0, **FAST)
    fg = strategy.fitted_goals(history)
    measured = goals.baseline(sp, fg, True, measured=True)
    everything = goals.baseline(sp, fg, True)
    assert measured.shape[0] == 2 and everything.shape[0] == 9
    assert bool((measured[:, -1] == 1.0).all())  # at the target fidelity
    ref = strategy._goal_reference(fg)
    x = torch.tensor([[[0.9, 0.9]]], dtype=torch.double)

    def value(X_baseline):
        acqf = FixedFeatureAcquisitionFunction(goals.acquisition(fg.model, sp, X_baseline, None, ref), d=3,
                                               columns=[2], values=[1.0])
        torch.manual_seed(0)
        with torch.no_grad():
            return float(acqf(x))

    assert value(measured) > value(everything) + 3.0  # log scale: e^3 = 20 times the improvement
    assert [tuple(r) for r in goals.confirmation_candidates(sp, fg)[:, :2].tolist()] == sorted(cheap)


@pytest.mark.parametrize("cheap_cost", [0.5, 0.1])
def test_the_strategy_confirms_a_cheaply_seen_front_recipe_when_it_is_worth_the_cost(cheap_cost):
    """The same history: at half the robot's cost the cheap runs are dear enough that confirming (0.9, 0.9)
    at the target is worth more per cost than exploring; at a tenth they are not, and it explores cheaply."""
    fids = [Fidelity("cheap", "simulator", cheap_cost, 0.5), Fidelity("robot", "robot", 1.0, 1.0, target=True)]
    sp = SearchSpace(params(), fids, TWO)
    cheap = [(0.9, 0.9), (0.5, 0.5), (0.3, 0.9), (0.7, 0.2), (0.1, 0.6), (0.8, 0.6), (0.4, 0.1)]
    history = history_of(sp, [(0.1, 0.2, "robot"), (0.2, 0.8, "robot")] + [(a, b, "cheap") for a, b in cheap])
    strategy = make_strategy("multi_fidelity", sp, seed=0, initial_design={"cheap": 7, "robot": 2}, **FAST)
    sug = strategy.recommend(history)[0]
    confirmed = (sug.recipe["a"].magnitude, sug.recipe["b"].magnitude) == (0.9, 0.9)
    if cheap_cost == 0.5:
        assert confirmed and sug.fidelity == "robot" and "front measured at the target" in sug.reason
    else:
        assert not confirmed and sug.fidelity == "cheap" and "front measured" not in sug.reason
    # With a candidate set the confirmation is one of its rows too: (0.9, 0.9) is not offered here.
    cands = pd.DataFrame({"a": [0.5, 0.3, 0.85, 0.6], "b": [0.5, 0.9, 0.9, 0.95]})
    sug = make_strategy("multi_fidelity", sp, seed=0, initial_design={"cheap": 7, "robot": 2}, **FAST).recommend(
        history, candidates=cands)[0]
    offered = {(round(a, 6), round(b, 6)) for a, b in zip(cands["a"], cands["b"])}
    assert (round(sug.recipe["a"].magnitude, 6), round(sug.recipe["b"].magnitude, 6)) in offered


@pytest.mark.parametrize("name", ["single_fidelity", "random", "sobol"])
def test_baselines_run_at_the_target_and_recommend_a_front(name):
    sp = SearchSpace(params(), FIDS, TWO)
    strategy = make_strategy(name, sp, seed=1, **(FAST if name == "single_fidelity" else {}))
    history = run(strategy, sp, steps=6)
    assert set(history["fidelity"]) == {"robot"}
    rec = strategy.recommendation(history)
    assert rec.front and all(set(p.means) == {"f", "g"} for p in rec.front)


def test_an_outcome_constraint_steers_the_recommendation_to_where_it_holds():
    """One objective (f, best at large a and b) with h = 1 - b >= 0.6: the best feasible recipes have b <= 0.4."""
    sp = SearchSpace(params(), FIDS, [Objective("f", "", "maximize")], outcome_constraints=["h >= 0.6"])
    strategy = make_strategy("multi_fidelity", sp, seed=5, initial_design={"cheap": 4, "robot": 2}, **FAST)
    history = run(strategy, sp, steps=12)
    assert "constrained log NEI" in " ".join(strategy.recommend(history)[0].reason.split())
    rec = strategy.recommendation(history)
    assert rec.front and rec.front[0].feasible is not None
    b = rec.recipe["b"].magnitude
    assert truth(rec.recipe["a"].magnitude, b, "robot")["h"] >= 0.6 - 0.05
    assert rec.recipe["a"].magnitude > 0.5  # and it still pushes f


def test_physics_with_several_goals_is_refused():
    from core import OptimizerError
    from optimizers.physics import PhysicsFeatures

    sp = SearchSpace(params(), FIDS, TWO)
    with pytest.raises(OptimizerError, match="one objective"):
        make_strategy("multi_fidelity", sp, physics=PhysicsFeatures(lambda r: {"prediction": 0.0}, None, "prior_mean", "x"))


@settings(max_examples=5, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(limit=st.floats(0.4, 1.4), name=st.sampled_from(["multi_fidelity", "single_fidelity"]),
       with_outcome=st.booleans())
def test_property_no_goal_suggestion_breaks_a_linear_constraint(limit, name, with_outcome):
    text = f"a + b <= {limit!r}"
    sp = SearchSpace(params(), FIDS, TWO, linear_constraints=[text],
                     outcome_constraints=["h >= 0.3"] if with_outcome else ())
    design = {"cheap": 3, "robot": 2} if name == "multi_fidelity" else {"robot": 3}
    strategy = make_strategy(name, sp, seed=2, initial_design=design, **FAST)
    history = run(strategy, sp, steps=6, constraints=sp.linear_constraints)
    rec = strategy.recommendation(history)
    for p in rec.front:
        check_recipe(sp.linear_constraints, p.recipe, UNITS)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=30),
       st.integers(1, 3), st.booleans())
def test_the_two_objective_front_by_sorting_is_botorchs(points, batch, continuous):
    """``goals.non_dominated_2d`` answers as BoTorch's ``is_non_dominated`` (no deduplication), ties included."""
    from botorch.utils.multi_objective.pareto import is_non_dominated

    Y = torch.tensor(points, dtype=torch.double)
    if continuous:
        Y = Y + 0.1 * torch.randn(Y.shape, generator=torch.Generator().manual_seed(len(points)), dtype=torch.double)
    Y = torch.stack([Y.roll(k, dims=0) for k in range(batch)])  # several batches, each its own order
    assert torch.equal(goals.non_dominated_2d(Y, deduplicate=False), is_non_dominated(Y, deduplicate=False))


def test_the_fast_front_is_used_only_while_pruning_and_only_where_it_applies():
    from botorch.acquisition.multi_objective import utils as mo_utils
    from botorch.utils.multi_objective.pareto import is_non_dominated

    Y = torch.tensor([[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.5, 0.5, 0.0]], dtype=torch.double)
    assert torch.equal(goals.non_dominated_2d(Y, deduplicate=False), is_non_dominated(Y, deduplicate=False))  # 3 objectives
    with goals._fast_pruning():
        assert mo_utils.is_non_dominated is goals.non_dominated_2d
    assert mo_utils.is_non_dominated is is_non_dominated
