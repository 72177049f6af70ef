"""Linear constraints on recipe parameters: parsing with units, the encoded rows, and that no
suggestion of any strategy (initial design, model steps, candidates, physics) ever breaks one."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from optimizer_testing import make_thermoset_space

from core import (
    Q_,
    CategoricalParameter,
    ConfigError,
    ContinuousParameter,
    Fidelity,
    InputDataError,
    LimitError,
    Objective,
    OptimizerError,
    parse_linear_constraint,
)
from core.constraints import check_recipe
from core.system import MaterialSystem
from optimizers import SearchSpace, make_strategy
from optimizers.physics import PhysicsFeatures

STRATEGY_NAMES = ["multi_fidelity", "single_fidelity", "random", "sobol"]
FAST = {"raw_samples": 16, "num_restarts": 1, "fit_maxiter": 25}


# ---------------------------------------------------------------------- the space of these tests
def parameters():
    """Two dimensionless fractions (one in %), two temperatures (one in K) and a category."""
    return [
        ContinuousParameter("a", Q_(0.0, ""), Q_(0.6, ""), "dimensionless"),
        ContinuousParameter("b", Q_(0.0, "%"), Q_(50.0, "%"), "%"),
        ContinuousParameter("t", Q_(20.0, "degC"), Q_(80.0, "degC"), "degC"),
        ContinuousParameter("s", Q_(300.0, "K"), Q_(360.0, "K"), "K"),
        CategoricalParameter("blade", ("anchor", "dispersion")),
    ]


UNITS = {"a": "dimensionless", "b": "%", "t": "degC", "s": "K"}
BOUNDS = {"a": (0.0, 0.6), "b": (0.0, 50.0), "t": (20.0, 80.0), "s": (300.0, 360.0)}


def space(constraints=(), fidelities=None) -> SearchSpace:
    fids = fidelities or [Fidelity("cheap", "simulator", 1.0, 0.5, model="toy"),
                          Fidelity("robot", "robot", 5.0, 1.0, target=True)]
    return SearchSpace(parameters(), fids, Objective("y", "", "maximize"), linear_constraints=constraints)


def value(recipe: dict, fidelity: str) -> float:
    """A smooth toy objective whose optimum (a = b = 0.6, t = 80 degC) lies outside the usual constraints."""
    a = recipe["a"].to("").magnitude
    b = recipe["b"].to("").magnitude
    t = recipe["t"].to("degC").magnitude
    s = recipe["s"].to("K").magnitude
    y = a + b + 0.01 * t - 0.001 * (s - 330.0) ** 2 + (0.1 if recipe["blade"] == "anchor" else 0.0)
    return y - (0.05 if fidelity == "cheap" else 0.0)


def rows(suggestions) -> pd.DataFrame:
    out = []
    for sug in suggestions:
        r = sug.recipe
        out.append({"a": r["a"].to("").magnitude, "b": r["b"].to("%").magnitude, "t": r["t"].to("degC").magnitude,
                    "s": r["s"].to("K").magnitude, "blade": r["blade"], "fidelity": sug.fidelity,
                    "objective": value(r, sug.fidelity), "status": "completed"})
    return pd.DataFrame(out)


def campaign(strategy, constraints, steps: int, q: int = 1, candidates=None):
    """Run ``steps`` recommend calls; every suggestion must meet every constraint (checked in physical units)."""
    history = None
    for _ in range(steps):
        sugs = strategy.recommend(history, q=q, candidates=candidates)
        for sug in sugs:
            check_recipe(constraints, sug.recipe, UNITS)  # LimitError fails the test
        new = rows(sugs)
        history = new if history is None else pd.concat([history, new], ignore_index=True)
    return history


def candidate_table(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.uniform(0, 0.6, n), "b": rng.uniform(0, 50, n), "t": rng.uniform(20, 80, n),
                         "s": rng.uniform(300, 360, n), "blade": rng.choice(["anchor", "dispersion"], n)})


def make(name: str, sp: SearchSpace, seed: int = 0, **options):
    design = {"cheap": 2, "robot": 2} if name == "multi_fidelity" else ({"robot": 2} if name == "single_fidelity" else None)
    opts = FAST if name in ("multi_fidelity", "single_fidelity") else {}
    return make_strategy(name, sp, seed=seed, initial_design=design, **opts, **options)


# a mixture limit on two fractions (one in %), and a temperature rule mixing degC and K
MIXTURE = ["a + b <= 30 %", "t - 0.5 * s >= 0 degC"]


# ---------------------------------------------------------------------- parsing
@pytest.mark.parametrize("text, units, expected", [
    ("a <= 0.3", {"a": "dimensionless"}, ((1.0,), 0.3)),
    ("a <= 30 %", {"a": "dimensionless"}, ((100.0,), 30.0)),
    ("b <= 0.3", {"b": "%"}, ((0.01,), 0.3)),
    ("a + b <= 30 %", {"a": "dimensionless", "b": "%"}, ((100.0, 1.0), 30.0)),
    ("-a - 2 * b >= -1", {"a": "dimensionless", "b": "dimensionless"}, ((1.0, 2.0), 1.0)),
    ("2 * t - s >= 0 degC", {"t": "degC", "s": "K"}, ((-2.0, 1.0), 273.15)),
    ("t - s <= 10 degC", {"t": "degC", "s": "K"}, ((1.0, -1.0), -263.15)),
    ("t - u <= 10 delta_degC", {"t": "degC", "u": "degC"}, ((1.0, -1.0), 10.0)),
    ("t + dt <= 200 degC", {"t": "degC", "dt": "delta_degC"}, ((1.0, 1.0), 200.0)),
    ("0.5*x+1e-1*y<=2 h", {"x": "min", "y": "h"}, ((0.5 / 60, 0.1), 2.0)),
], ids=["fraction", "fraction-in-percent", "percent-param-plain-rhs", "mixed-percent", "ge-negated",
        "kelvin-and-celsius", "difference-in-degC", "difference-in-delta", "absolute-plus-delta", "minutes-hours"])
def test_a_constraint_becomes_a_normal_form_in_each_parameters_unit(text, units, expected):
    a, b = parse_linear_constraint(text).normal_form(units)
    assert a == pytest.approx(expected[0]) and b == pytest.approx(expected[1])


@pytest.mark.parametrize("one, other", [
    ("a <= 30 %", "a <= 0.3"),
    ("a + b <= 30 %", "a + b <= 0.3"),  # b (in %) is converted, not its number taken
    ("t - s >= -250 degC", "t - s >= -250 K"),  # a difference: the offsets cancel
    ("2 * t - s >= 0 degC", "2 * t - s >= 273.15 K"),
], ids=["percent-vs-plain", "mixed", "difference", "affine-temperatures"])
def test_the_same_constraint_in_other_units_is_the_same_half_space(one, other):
    a1, b1 = parse_linear_constraint(one).normal_form(UNITS)
    a2, b2 = parse_linear_constraint(other).normal_form(UNITS)
    assert [x / b1 for x in a1] == pytest.approx([x / b2 for x in a2])


def test_a_parsed_constraint_keeps_what_was_written():
    c = parse_linear_constraint(" 2 * a - b >= 0 degC ", "linear_constraints[1]")
    assert (c.names, c.coefficients, c.operator) == (("a", "b"), (2.0, -1.0), ">=")
    assert c.rhs == Q_(0.0, "degC") and c.field == "linear_constraints[1]" and str(c) == "2 * a - b >= 0 degC"
    assert hash(c) == hash(parse_linear_constraint("2*a-b>=0 degC"))


@pytest.mark.parametrize("text, words", [
    ("a + * b <= 1", "expected a parameter name after '+'"),
    ("a < 1", "<= or >="),
    ("a = 1", "<= or >="),
    ("a <= b <= 1", "exactly one comparison"),
    ("2a <= 1", "followed by '* parameter' (found 'a')"),
    ("a * 2 <= 1", "expected + or -"),
    ("a + a <= 1", "appears twice"),
    ("0 * a <= 1", "coefficient"),
    ("a <= 5 blorps", "unknown unit"),
    ("a <=", "right-hand side"),
    ("<= 3", "parameter name"),
    ("a + 2 degC * b <= 1", "a coefficient is a plain number"),
    ("", "not a linear constraint"),
    (3, "not a linear constraint"),
], ids=lambda v: str(v)[:20])
def test_bad_syntax_is_one_issue_naming_the_field(text, words):
    with pytest.raises(ConfigError) as err:
        parse_linear_constraint(text, "linear_constraints[2]")
    assert err.value.fields == ["linear_constraints[2]"] and words in str(err.value)
    assert len(str(err.value).splitlines()) == 1


@pytest.mark.parametrize("units, discrete, words", [
    ({"b": "%"}, {}, "unknown parameter 'a'"),
    ({"b": "%"}, {"a": "molecule"}, "'a' is a molecule parameter"),
    ({"a": "degC", "b": "%"}, {}, "a is in degC"),
], ids=["unknown", "molecule", "dimension"])
def test_wrong_parameters_are_named(units, discrete, words):
    with pytest.raises(ConfigError, match=words):
        parse_linear_constraint("a + b <= 30 %", "linear_constraints[0]").normal_form(units, discrete)


def test_check_recipe_names_the_broken_constraint_with_units():
    constraints = [parse_linear_constraint("a + b <= 30 %", "linear_constraints[0]")]
    check_recipe(constraints, {"a": Q_(0.1, ""), "b": Q_(20.0, "%")}, UNITS)
    check_recipe(constraints, {"a": 0.1, "b": 20.0}, UNITS)  # magnitudes in each parameter's unit
    with pytest.raises(LimitError, match=r"linear_constraints\[0\] 'a \+ b <= 30 %': the recipe gives 35 %"):
        check_recipe(constraints, {"a": Q_(0.15, ""), "b": Q_(20.0, "%")}, UNITS)


def test_a_material_system_reports_constraint_syntax_only():
    system = MaterialSystem(name="lab", parameters={}, properties={"y": "MPa"},
                            linear_constraints=("x + y <= 1", "x << 2"))
    assert system.problems() == [next(p for p in system.problems() if p.startswith("linear_constraints[1]"))]
    assert MaterialSystem(name="lab", parameters={}, properties={"y": "MPa"},
                          linear_constraints=("unknown_here + y <= 1 kg",)).problems() == []
    assert "not a tuple" in MaterialSystem(name="lab", parameters={}, properties={"y": "MPa"},
                                           linear_constraints="x <= 1").problems()[0]


# ---------------------------------------------------------------------- the encoded space
def test_constraints_become_botorch_rows_on_the_encoded_columns():
    sp = space(["a + b <= 30 %"])
    (idx, coef, rhs), = sp.inequality_constraints()
    assert idx.tolist() == [0, 1]
    # 0.6 * u_a + 0.5 * u_b <= 0.3, as -(...) >= -0.3, scaled to a unit row
    norm = math.hypot(0.6, 0.5)
    assert coef.tolist() == pytest.approx([-0.6 / norm, -0.5 / norm]) and rhs == pytest.approx(-0.3 / norm)
    X = torch.tensor([[0.2, 0.2, 0.5, 0.5, 1.0, 0.0], [0.4, 0.2, 0.5, 0.5, 1.0, 0.0]], dtype=torch.double)
    assert sp.is_feasible(X).tolist() == [True, False]
    assert sp.is_feasible(X[0]) is True
    recipe = {"a": Q_(0.2, ""), "b": Q_(15, "%"), "t": Q_(50, "degC"), "s": Q_(330, "K"), "blade": "anchor"}
    assert sp.is_feasible(recipe) is False
    with pytest.raises(LimitError, match="35 %"):
        sp.check_recipe(recipe)


def test_make_feasible_moves_only_broken_rows_just_inside():
    sp = space(MIXTURE)
    X = torch.rand(200, sp.dim + 1, dtype=torch.double)
    X[:, 4:6] = torch.tensor([1.0, 0.0], dtype=torch.double)
    ok = sp.is_feasible(X)
    assert not bool(ok.all()) and bool(ok.any())
    Y = sp.make_feasible(X)
    assert bool(sp.is_feasible(Y).all())
    assert torch.equal(Y[ok], X[ok])
    assert torch.equal(Y[:, 4:], X[:, 4:])  # the category and the fidelity never move
    for recipe in sp.decode(Y[:, :-1]):
        check_recipe(sp.linear_constraints, recipe, UNITS)


@pytest.mark.parametrize("constraints, words", [
    (["c <= 1"], "unknown parameter 'c'"),
    (["blade <= 1"], "categorical parameter"),
    (["a <= 1 degC"], "dimension"),
    (["a + b >= 150 %"], "no point"),
    (["a <= 0 %"], "flat"),
], ids=["unknown", "categorical", "dimension", "infeasible", "flat"])
def test_a_space_refuses_constraints_it_cannot_honour(constraints, words):
    with pytest.raises(InputDataError, match=words):
        space(constraints)


def test_a_constraint_every_point_of_the_box_meets_changes_nothing():
    loose = space(["a + b <= 200 %", "t >= 0 degC"])
    assert not loose.has_constraints and loose.inequality_constraints() is None
    for name in STRATEGY_NAMES:
        got = campaign(make(name, loose, seed=3), loose.linear_constraints, steps=5)
        want = campaign(make(name, space(), seed=3), (), steps=5)
        pd.testing.assert_frame_equal(got, want)


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_no_constraints_gives_the_suggestions_of_a_space_built_without_them(name):
    sp = make_thermoset_space()
    plain = SearchSpace(sp.parameters, sp.fidelities, sp.objective)
    empty = SearchSpace(sp.parameters, sp.fidelities, sp.objective, linear_constraints=())
    assert not empty.has_constraints and empty.inequality_constraints() is None
    design = {"closed_form": 2, "robot": 2} if name == "multi_fidelity" else None
    opts = FAST if name in ("multi_fidelity", "single_fidelity") else {}
    a = make_strategy(name, plain, seed=4, initial_design=design, **opts)
    b = make_strategy(name, empty, seed=4, initial_design=design, **opts)
    history = None
    for _ in range(5):
        sa, sb = a.recommend(history), b.recommend(history)
        assert [(s.recipe, s.fidelity, s.reason) for s in sa] == [(s.recipe, s.fidelity, s.reason) for s in sb]
        t = sa[0].recipe["cure_temperature"].to("degC").magnitude
        row = {p.name: (sa[0].recipe[p.name].to(p.unit).magnitude if isinstance(p, ContinuousParameter)
                        else sa[0].recipe[p.name]) for p in sp.parameters}
        row.update(fidelity=sa[0].fidelity, objective=-((t - 120) ** 2), status="completed")
        history = pd.DataFrame([row]) if history is None else pd.concat([history, pd.DataFrame([row])], ignore_index=True)


# ---------------------------------------------------------------------- every suggestion is feasible
@pytest.mark.parametrize("name", STRATEGY_NAMES)
@pytest.mark.parametrize("with_candidates", [False, True], ids=["box", "candidates"])
def test_no_suggestion_breaks_a_constraint(name, with_candidates):
    sp = space(MIXTURE)
    cands = candidate_table(400) if with_candidates else None
    history = campaign(make(name, sp, seed=1), sp.linear_constraints, steps=7, q=2, candidates=cands)
    assert len(history) == 14
    if name in ("multi_fidelity", "single_fidelity"):
        assert history["fidelity"].eq("robot").sum() >= 2
    rec = make(name, sp, seed=1).recommendation(history, candidates=cands)
    check_recipe(sp.linear_constraints, rec.recipe, UNITS)


def test_the_constrained_optimum_is_found_on_the_boundary():
    sp = space(["a + b <= 30 %"])
    strategy = make("single_fidelity", sp, seed=2)
    history = campaign(strategy, sp.linear_constraints, steps=10)
    done = history[history["fidelity"] == "robot"]
    best = (done["a"] + done["b"] / 100).max()
    assert best > 0.27, "the objective grows with a + b: the search should push to the constraint"
    rec = strategy.recommendation(history)
    assert rec.recipe["a"].to("").magnitude + rec.recipe["b"].to("").magnitude <= 0.3 + 1e-9


def test_initial_design_skips_infeasible_sobol_points_and_stays_nested():
    sp = space(MIXTURE)
    strategy = make_strategy("multi_fidelity", sp, seed=0, initial_design={"cheap": 4, "robot": 2}, **FAST)
    history = campaign(strategy, sp.linear_constraints, steps=6)
    cheap = history[history["fidelity"] == "cheap"].drop(columns=["fidelity", "objective"]).reset_index(drop=True)
    robot = history[history["fidelity"] == "robot"].drop(columns=["fidelity", "objective"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(robot, cheap.iloc[:2])  # the target's points are the first cheap ones
    again = campaign(make_strategy("multi_fidelity", sp, seed=0, initial_design={"cheap": 4, "robot": 2}, **FAST),
                     sp.linear_constraints, steps=6)
    pd.testing.assert_frame_equal(history, again)  # deterministic for a seed


@pytest.mark.parametrize("name", ["sobol", "random"])
def test_a_feasible_corner_too_small_to_hit_by_drawing_is_still_sampled(name):
    sp = space(["a + b <= 0.1 %"])  # a sliver of about 1e-6 of the (a, b) square
    strategy = make(name, sp, seed=0)
    history = campaign(strategy, sp.linear_constraints, steps=4)
    assert len(history.drop_duplicates()) == 4


def test_many_categories_relaxed_then_snapped_path_is_feasible():
    params = parameters()[:4] + [CategoricalParameter("mold", tuple(f"m{i}" for i in range(70)))]
    sp = SearchSpace(params, [Fidelity("robot", "robot", 1.0, 1.0, target=True)], Objective("y", ""),
                     linear_constraints=MIXTURE)
    assert sp.discrete_combinations() is None
    strategy = make_strategy("single_fidelity", sp, seed=0, initial_design={"robot": 3}, **FAST)
    history = None
    for _ in range(5):
        sug = strategy.recommend(history)[0]
        check_recipe(sp.linear_constraints, sug.recipe, UNITS)
        r = {k: (v.to(p.unit).magnitude if isinstance(p, ContinuousParameter) else v)
             for (k, v), p in zip(sug.recipe.items(), params)}
        r.update(fidelity="robot", objective=value({**sug.recipe, "blade": "x"}, "robot"), status="completed")
        history = pd.DataFrame([r]) if history is None else pd.concat([history, pd.DataFrame([r])], ignore_index=True)


@pytest.mark.parametrize("name", ["multi_fidelity", "single_fidelity"])
def test_physics_candidate_search_is_feasible(name):
    def compute(recipe):
        t = recipe["t"].to("degC").magnitude
        return {"cure": t / 100.0, "prediction": value(recipe, "robot")}

    sp = space(MIXTURE)
    strategy = make(name, sp, seed=0, physics=PhysicsFeatures(compute, ("cure",), "features", "toy"))
    history = campaign(strategy, sp.linear_constraints, steps=6)
    check_recipe(sp.linear_constraints, strategy.recommendation(history).recipe, UNITS)


def test_infeasible_candidates_are_never_suggested_and_all_infeasible_is_refused():
    sp = space(["a + b <= 30 %"])
    cands = candidate_table(40)
    feasible = cands["a"] + cands["b"] / 100 <= 0.3
    assert 0 < feasible.sum() < len(cands)
    for name in ("sobol", "random"):
        history = campaign(make(name, sp), sp.linear_constraints, steps=int(feasible.sum()), candidates=cands)
        assert len(history.drop_duplicates(subset=["a", "b", "t", "s"])) == feasible.sum()
    with pytest.raises(InputDataError, match="none of the"):
        make("sobol", sp).recommend(None, candidates=cands[~feasible])


def test_recommendation_never_returns_an_observed_recipe_that_breaks_a_constraint():
    sp = space(["a + b <= 30 %"])
    history = pd.DataFrame([
        {"a": 0.5, "b": 40.0, "t": 70.0, "s": 330.0, "blade": "anchor", "fidelity": "robot", "objective": 9.0,
         "status": "completed"},  # the best value, measured before the constraint was declared
        {"a": 0.1, "b": 10.0, "t": 50.0, "s": 330.0, "blade": "anchor", "fidelity": "robot", "objective": 1.0,
         "status": "completed"},
        {"a": 0.05, "b": 5.0, "t": 40.0, "s": 320.0, "blade": "dispersion", "fidelity": "robot", "objective": 0.5,
         "status": "completed"},
    ])
    for name in STRATEGY_NAMES:
        rec = make(name, sp).recommendation(history)
        check_recipe(sp.linear_constraints, rec.recipe, UNITS)
    with pytest.raises(OptimizerError, match="meets the linear constraints"):
        make("sobol", sp).recommendation(history.iloc[:1])


# ---------------------------------------------------------------------- property-based
@st.composite
def constraint_sets(draw):
    """1-3 constraints with random coefficients and operators, all met with room to spare at one random
    interior point (so the set is feasible and searchable), a random slack each."""
    texts = []
    point = {n: lo + draw(st.floats(0.2, 0.8)) * (hi - lo) for n, (lo, hi) in BOUNDS.items()}
    for _ in range(draw(st.integers(1, 3))):
        group = draw(st.sampled_from([("a", "b"), ("t", "s"), ("a",), ("b",), ("t",), ("s",)]))
        names = group if len(group) == 1 else tuple(n for n in group if draw(st.booleans())) or group
        coefs = [draw(st.sampled_from([-2.0, -1.0, -0.5, 0.5, 1.0, 3.0])) for _ in names]
        op = draw(st.sampled_from(["<=", ">="]))
        unit = draw(st.sampled_from(["%", ""])) if names[0] in "ab" else draw(st.sampled_from(["degC", "K"]))
        lhs_text = " + ".join(f"{c} * {n}" for c, n in zip(coefs, names))
        probe = parse_linear_constraint(f"{lhs_text} <= 0 {unit}".strip())
        at_point = probe.lhs(point, UNITS)
        lo, hi = probe.lhs_range(BOUNDS, UNITS)
        slack = draw(st.floats(0.01, 0.6)) * (hi - lo)  # leaves room around the interior point
        rhs = at_point + slack if op == "<=" else at_point - slack
        texts.append(f"{lhs_text} {op} {rhs!r} {unit}".strip())
    return texts


@settings(max_examples=30, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(constraints=constraint_sets(), name=st.sampled_from(["sobol", "random"]), seed=st.integers(0, 50),
       with_candidates=st.booleans())
def test_property_model_free_strategies_never_break_random_constraints(constraints, name, seed, with_candidates):
    sp = space(constraints)
    cands = candidate_table(200, seed) if with_candidates else None
    if cands is not None and not bool(sp.is_feasible(sp.encode(cands.assign(fidelity="robot"))).any()):
        cands = None
    campaign(make(name, sp, seed=seed), sp.linear_constraints, steps=4, q=2, candidates=cands)


@settings(max_examples=8, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(constraints=constraint_sets(), name=st.sampled_from(["multi_fidelity", "single_fidelity"]),
       with_candidates=st.booleans())
def test_property_model_based_strategies_never_break_random_constraints(constraints, name, with_candidates):
    sp = space(constraints)
    cands = candidate_table(200, 1) if with_candidates else None
    if cands is not None and not bool(sp.is_feasible(sp.encode(cands.assign(fidelity="robot"))).any()):
        cands = None
    history = campaign(make(name, sp, seed=7), sp.linear_constraints, steps=6, candidates=cands)
    check_recipe(sp.linear_constraints, make(name, sp, seed=7).recommendation(history).recipe, UNITS)
