"""Explanations: a known-dominant parameter ranks first, Sobol estimators are right on known
functions, fidelity correlations follow the data, structure features and suggestions are explained."""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd
import pytest
import torch

from core import Q_, ContinuousParameter, Fidelity, InputDataError, Objective
from optimizers import SearchSpace, make_strategy
from optimizers import explain as ex
from optimizer_testing import make_thermoset_space, toy_value

N_LOW, N_TARGET = 40, 24


def three_param_space(minimize: bool = False) -> SearchSpace:
    return SearchSpace(
        [ContinuousParameter(n, Q_(0.0, ""), Q_(1.0, ""), "") for n in ("x1", "x2", "x3")],
        [Fidelity("low", "simulator", 1.0, 0.5, model="toy"), Fidelity("target", "robot", 10.0, 1.0, target=True)],
        Objective("y", "", "minimize" if minimize else "maximize"),
    )


def truth(X: np.ndarray) -> np.ndarray:
    """x1 dominates: 10 sin(3 x1) + 0.1 x2 + 0.01 x3."""
    return 10 * np.sin(3 * X[:, 0]) + 0.1 * X[:, 1] + 0.01 * X[:, 2]


def history(low: str = "correlated", minimize: bool = False) -> pd.DataFrame:
    """Nested design: the target rows are the first points of the low-fidelity Sobol set.

    ``low``: ``correlated`` (a noisy scaled copy of the target) or ``uncorrelated``
    (a function of x3 alone plus noise, unrelated to the target).
    """
    rng = np.random.default_rng(3)
    X = torch.quasirandom.SobolEngine(3, scramble=True, seed=11).draw(N_LOW, dtype=torch.double).numpy()
    y = truth(X)
    if low == "correlated":
        y_low = 0.8 * y + 2.0 + rng.normal(0, 0.3, N_LOW)
    else:
        y_low = 8 * np.cos(9 * X[:, 2]) + rng.normal(0, 0.3, N_LOW)
    rows = [dict(x1=a, x2=b, x3=c, fidelity="low", objective=v, status="completed") for (a, b, c), v in zip(X, y_low)]
    rows += [dict(x1=a, x2=b, x3=c, fidelity="target", objective=v, status="completed")
             for (a, b, c), v in zip(X[:N_TARGET], y[:N_TARGET])]
    table = pd.DataFrame(rows)
    if minimize:
        table["objective"] = -table["objective"]
    return table


@functools.lru_cache(maxsize=None)
def explained(low: str, kernel: str = "linear_truncated") -> dict:
    torch.manual_seed(0)
    space = three_param_space()
    strategy = make_strategy("multi_fidelity", space, seed=0, kernel=kernel)
    return ex.explain_history(space, strategy, history(low), seed=0, n_sobol=256, n_correlation=128)


@pytest.fixture
def correlated():
    return explained("correlated")


def test_dominant_parameter_ranks_first_by_lengthscale_and_sobol(correlated):
    params = {e["name"]: e for e in correlated["importance"]["parameters"]}
    assert [e["name"] for e in correlated["importance"]["parameters"]][0] == "x1"
    assert params["x1"]["rank_ard"] == 1
    assert params["x1"]["rank_sobol"] == 1
    assert params["x1"]["lengthscale"] < min(params["x2"]["lengthscale"], params["x3"]["lengthscale"])
    assert params["x1"]["sobol_total"] > 0.9
    assert params["x1"]["sobol_first"] > 0.9
    assert max(params["x2"]["sobol_total"], params["x3"]["sobol_total"]) < 0.05
    assert correlated["model_source"] == "strategy"
    assert correlated["model"]["n_train"] == N_LOW + N_TARGET


def test_sobol_indices_lie_in_unit_interval_up_to_estimator_error(correlated):
    for e in correlated["importance"]["parameters"]:
        for key in ("sobol_first", "sobol_total"):
            assert -0.05 <= e[key] <= 1.05, (e["name"], key, e[key])
        lo, hi = e["sobol_total_ci"]
        assert lo <= e["sobol_total"] <= hi
    assert 0.8 < correlated["importance"]["sobol"]["sum_first"] < 1.1


def test_direction_does_not_change_the_ranking():
    torch.manual_seed(0)
    space = three_param_space(minimize=True)
    fm, _ = ex.model_for(space, make_strategy("multi_fidelity", space, seed=0), history(minimize=True))
    imp = ex.parameter_importance(space, fm, n_sobol=128)
    assert imp["parameters"][0]["name"] == "x1"


@pytest.mark.parametrize("kernel", ["linear_truncated", "product"])
def test_fidelity_correlation_is_high_for_a_correlated_low_fidelity_and_lower_for_an_uncorrelated_one(kernel):
    (c,) = explained("correlated", kernel)["fidelity_correlation"]
    (u,) = explained("uncorrelated", kernel)["fidelity_correlation"]
    assert c["fidelity"] == u["fidelity"] == "low"
    assert c["mean_pearson"] > 0.9
    assert c["mean_pearson"] > u["mean_pearson"] + 0.5
    assert c["posterior_correlation"]["mean"] > u["posterior_correlation"]["mean"] + 0.2
    if kernel == "product":  # the RBF over the fidelity learns the correlation itself
        assert c["prior_correlation"]["mean"] > 0.6 > 0.3 > u["prior_correlation"]["mean"]
    for e in (c, u):
        for key in ("prior_correlation", "posterior_correlation"):
            lo, mean, hi = e[key]["min"], e[key]["mean"], e[key]["max"]
            assert -1.0 <= lo <= mean + 1e-12 and mean <= hi + 1e-12 and hi <= 1.0
    # the nested design measured the first N_TARGET recipes at both fidelities
    assert c["observed_pairs"] == N_TARGET and c["observed_pearson"] > 0.95
    assert u["observed_pearson"] < 0.5


@pytest.mark.parametrize("kernel", ["linear_truncated", "product"])
def test_dominant_parameter_ranks_first_by_sobol_with_either_kernel(kernel):
    for low in ("correlated", "uncorrelated"):
        assert explained(low, kernel)["importance"]["parameters"][0]["name"] == "x1"


def test_explanation_is_json_able(correlated):
    import json

    text = json.dumps(correlated, allow_nan=False)
    assert "x1" in text


def test_single_fidelity_model_has_no_fidelity_correlation():
    torch.manual_seed(0)
    space = three_param_space()
    h = history()
    res = ex.explain_history(space, make_strategy("single_fidelity", space, seed=0), h, n_sobol=128)
    assert res["fidelity_correlation"] == []
    assert res["model"]["n_train"] == N_TARGET
    assert res["importance"]["parameters"][0]["name"] == "x1"


def test_model_free_strategy_gets_an_explanation_model():
    torch.manual_seed(0)
    space = three_param_space()
    res = ex.explain_history(space, make_strategy("random", space, seed=0), history(), n_sobol=128, n_correlation=64)
    assert res["model_source"] == "explanation"
    assert res["importance"]["parameters"][0]["name"] == "x1"
    assert len(res["fidelity_correlation"]) == 1


def test_too_little_data_gives_no_model():
    space = three_param_space()
    res = ex.explain_history(space, make_strategy("multi_fidelity", space, seed=0), history().iloc[:1])
    assert res["model"] is None and res["importance"] is None and res["fidelity_correlation"] == []


def test_molecule_parameter_aggregates_its_descriptor_columns():
    torch.manual_seed(0)
    space = make_thermoset_space()
    U = torch.quasirandom.SobolEngine(len(space.parameters), scramble=True, seed=5).draw(20, dtype=torch.double)
    recipes = space.decode(space.from_unit(U))
    rows = []
    for r in recipes:
        for fid in ("closed_form", "robot"):
            rows.append({**{p.name: (float(r[p.name].to(p.unit).magnitude) if hasattr(r[p.name], "to") else r[p.name])
                            for p in space.parameters},
                         "fidelity": fid, "objective": toy_value(space, r, fid), "status": "completed"})
    fm, _ = ex.model_for(space, make_strategy("multi_fidelity", space, seed=0), pd.DataFrame(rows))
    imp = ex.parameter_importance(space, fm, n_sobol=64)
    additive = next(e for e in imp["parameters"] if e["name"] == "additive")
    cols = additive["columns"]
    assert [c["column"] for c in cols] == [n for p, n in ex.encoding_columns(space) if p == "additive"]
    assert len(cols) > 1
    ls = [c["lengthscale"] for c in cols if c["lengthscale"] is not None]
    assert additive["relevance"] == pytest.approx(math.sqrt(sum(1 / v**2 for v in ls)))
    assert additive["lengthscale"] <= min(ls) + 1e-12  # several columns: more relevant than any one
    blade = next(e for e in imp["parameters"] if e["name"] == "blade")
    assert [c["column"] for c in blade["columns"]] == ["blade=anchor", "blade=dispersion"]
    assert sum(e["relevance_share"] for e in imp["parameters"]) == pytest.approx(1.0)


# ---------------------------------------------------------------------- Sobol estimators
def test_sobol_indices_of_a_linear_function_match_the_analytic_values():
    # f = x1 + 2 x2 on the unit square: S1 = 1/5, S2 = 4/5, no interaction (first == total)
    res = ex.sobol_indices(lambda U: U[:, 0] + 2 * U[:, 1], 2, n=1024, seed=1)
    assert res["first"] == pytest.approx([0.2, 0.8], abs=0.03)
    assert res["total"] == pytest.approx([0.2, 0.8], abs=0.03)


def test_sobol_total_exceeds_first_order_with_an_interaction():
    # f = x1 * x2 (centred factors): everything is interaction, first-order indices vanish
    res = ex.sobol_indices(lambda U: (U[:, 0] - 0.5) * (U[:, 1] - 0.5), 2, n=1024, seed=2)
    assert np.all(np.abs(res["first"]) < 0.05)
    assert np.all(res["total"] > 0.9)


def test_sobol_of_a_constant_is_undefined_not_a_crash():
    res = ex.sobol_indices(lambda U: np.full(len(U), 3.0), 2, n=64, seed=0)
    assert np.isnan(res["first"]).all() and np.isnan(res["total"]).all()


@pytest.mark.parametrize("k, n", [(0, 64), (2, 4)], ids=["no-factor", "too-few-points"])
def test_sobol_rejects_bad_sizes(k, n):
    from core import OptimizerError

    with pytest.raises(OptimizerError, match="Sobol"):
        ex.sobol_indices(lambda U: U[:, 0], k, n=n)


# ---------------------------------------------------------------------- structure features
def test_structure_importance_ranks_the_feature_that_drives_the_property():
    rng = np.random.default_rng(0)
    n = 30
    cure = rng.uniform(0.6, 1.0, n)
    noise = rng.uniform(0, 1, n)
    table = pd.DataFrame({"degree_of_cure": cure, "domain_size": noise, "constant": np.ones(n),
                          "objective": 100 + 80 * cure**2 + rng.normal(0, 0.2, n)})
    torch.manual_seed(0)
    res = ex.structure_importance(table, ["degree_of_cure", "domain_size", "constant"],
                                  units={"domain_size": "nm"}, n_sobol=128)
    assert res["n"] == n
    assert res["constant"] == ["constant"]
    first, second = res["features"]
    assert first["name"] == "degree_of_cure" and first["rank_ard"] == 1 and first["rank_sobol"] == 1
    assert first["sobol_total"] > 0.9 and second["sobol_total"] < 0.1
    assert first["pearson"] > 0.95
    assert second["unit"] == "nm"


def test_structure_importance_needs_enough_rows():
    table = pd.DataFrame({"a": [1.0, 2.0, np.nan], "objective": [1.0, 2.0, 3.0]})
    with pytest.raises(InputDataError, match=">= 6 samples"):
        ex.structure_importance(table, ["a"])
    with pytest.raises(InputDataError, match="missing column"):
        ex.structure_importance(table, ["b"])


# ---------------------------------------------------------------------- suggestions
FIDS = (Fidelity("closed_form", "simulator", 1.0, 0.3, model="m"),
        Fidelity("kinetics_phase_field", "simulator", 5.0, 0.6, model="m"),
        Fidelity("robot", "robot", 40.0, 1.0, target=True))


def test_model_suggestion_lists_every_fidelity_with_its_acquisition_and_cost():
    record = {"fidelity": "kinetics_phase_field", "predicted_mean": 168.1, "predicted_std": 3.3,
              "target_mean": 164.9, "target_std": 4.0, "acquisition_value": 0.0517,
              "acquisition_by_fidelity": {"closed_form": 0.0468, "kinetics_phase_field": 0.0517, "robot": 0.0102},
              "model_id": "4fc05382baf3", "reason": "kinetics_phase_field: 0.0517 nats per cost unit",
              "strategy": "multi_fidelity"}
    out = ex.explain_suggestion(record, fidelities=FIDS, objective="Tg", unit="degC", best_before=148.2)
    assert out["kind"] == "model"
    by = {c["fidelity"]: c for c in out["considered"]}
    assert by["kinetics_phase_field"]["chosen"] and not by["robot"]["chosen"]
    assert by["robot"]["information_nats"] == pytest.approx(0.0102 * 40)
    assert by["closed_form"]["cost"] == 1.0
    text = "\n".join(out["text"])
    assert "168.1 +/- 3.3 degC" in text and "164.9" in text
    assert "exploitation" in text
    assert all(name in text for name in ("closed_form", "kinetics_phase_field", "robot"))


def test_suggestion_with_an_unoffered_fidelity_and_below_the_best_is_exploration():
    record = {"fidelity": "closed_form", "predicted_mean": 109.4, "predicted_std": 19.0, "target_mean": 129.7,
              "target_std": 16.0, "acquisition_by_fidelity": {"closed_form": 0.53, "kinetics_phase_field": 0.19},
              "model_id": "08802766e9eb", "strategy": "multi_fidelity"}
    out = ex.explain_suggestion(record, fidelities=FIDS, objective="Tg", unit="degC", best_before=169.5)
    robot = next(c for c in out["considered"] if c["fidelity"] == "robot")
    assert robot["considered"] is False and robot["acquisition"] is None
    assert "exploration" in "\n".join(out["text"])
    assert "not offered" in "\n".join(out["text"])


def test_space_filling_suggestion_says_no_model_was_used():
    record = {"fidelity": "closed_form", "model_id": "space-filling", "strategy": "multi_fidelity",
              "reason": "space-filling initial design: Sobol point 0 at closed_form (1 of 12)"}
    out = ex.explain_suggestion(record, fidelities=FIDS, objective="Tg", unit="degC")
    assert out["kind"] == "space-filling"
    assert out["acquisition_measure"] is None
    assert "no model was consulted" in out["text"][0] and "Sobol point 0" in out["text"][0]
