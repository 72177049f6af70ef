"""The cheap-data check (``optimizers.trust``): exact leave-one-out residuals, a verdict that follows
whether the cheap fidelity tracks the target, and a multi-fidelity strategy that spends at the target
and recommends from the target runs while the cheap data misleads."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from core import Fidelity, Objective
from optimizers import make_strategy, trust
from optimizers.bench_problems import _unit_params
from optimizers.model import fit_model
from optimizers.space import SearchSpace


def target_fn(x: torch.Tensor) -> torch.Tensor:
    return -((x[..., 0] - 0.3) ** 2) - (x[..., 1] - 0.7) ** 2


def tracking(x):  # a cheap fidelity that ranks recipes as the target does
    return 0.8 * target_fn(x) + 0.05


def backwards(x):  # a cheap fidelity that gets the trend backwards (and so ranks the recipes wrong)
    return -target_fn(x)


def mf_data(cheap, n_cheap: int = 16, n_target: int = 6, seed: int = 0):
    U = torch.quasirandom.SobolEngine(2, scramble=True, seed=seed).draw(n_cheap, dtype=torch.double)
    Xc = torch.cat([U, torch.full((n_cheap, 1), 0.5, dtype=torch.double)], dim=-1)
    Xt = torch.cat([U[:n_target], torch.ones(n_target, 1, dtype=torch.double)], dim=-1)  # nested, as the design
    X = torch.cat([Xc, Xt])
    Y = torch.cat([cheap(Xc[:, :2]), target_fn(Xt[:, :2])]).unsqueeze(-1)
    return X, Y


def test_leave_one_out_residuals_equal_the_prediction_without_the_row():
    X = torch.quasirandom.SobolEngine(2, scramble=True, seed=1).draw(12, dtype=torch.double)
    Y = target_fn(X).unsqueeze(-1) + 0.01 * torch.sin(40 * X[:, :1])
    gp = fit_model(X, Y, fidelity_column=None).gp
    r = trust.loo_residuals(gp)
    Xt = X  # the project's GPs have no input transform
    y = gp.train_targets
    with torch.no_grad():
        K = gp.covar_module(Xt).to_dense() + gp.likelihood.noise * torch.eye(12, dtype=X.dtype)
        m = gp.mean_module(Xt)
        for i in range(12):
            keep = torch.arange(12) != i
            k = K[i, keep]
            pred = m[i] + k @ torch.linalg.solve(K[keep][:, keep], y[keep] - m[keep])
            assert float(r[i]) == pytest.approx(float(y[i] - pred), rel=1e-5, abs=1e-7)


def test_a_cheap_fidelity_that_tracks_the_target_is_trusted_and_a_backwards_one_is_not():
    for cheap, trusted in ((tracking, True), (backwards, False)):
        X, Y = mf_data(cheap)
        fm = fit_model(X, Y, fidelity_column=2)
        at_t = X[:, -1] == 1.0
        target_only = fit_model(X[at_t, :2], Y[at_t], fidelity_column=None)
        checked = trust.check(fm.gp, at_t, target_only.gp, X[at_t, :2], target_only.X)
        assert checked.n_target == 6
        assert checked.trusted is trusted, (cheap.__name__, checked)
        assert (checked.error_ratio < 1) is trusted
        # without a target-only GP the reference is the other target runs' mean
        assert trust.check(fm.gp, at_t).n_target == 6


def test_too_few_target_runs_to_tell_are_trusted():
    X, Y = mf_data(backwards, n_target=2)
    fm = fit_model(X, Y, fidelity_column=2)
    checked = trust.check(fm.gp, X[:, -1] == 1.0)
    assert checked.trusted and checked.n_target == 2 and math.isnan(checked.error_ratio)
    assert "too few target runs" in checked.describe()


def space() -> SearchSpace:
    return SearchSpace(_unit_params(("x1", "x2"), (0.0, 0.0), (1.0, 1.0)),
                       [Fidelity("cheap", "simulator", 0.1, 0.5), Fidelity("target", "robot", 1.0, 1.0, target=True)],
                       Objective("y", "", "maximize"))


def history(cheap) -> pd.DataFrame:
    X, Y = mf_data(cheap)
    return pd.DataFrame({"x1": X[:, 0].numpy(), "x2": X[:, 1].numpy(),
                         "fidelity": ["target" if v == 1.0 else "cheap" for v in X[:, 2].tolist()],
                         "objective": Y[:, 0].numpy(), "status": "completed"})


def test_while_the_cheap_data_misleads_the_strategy_spends_at_the_target_and_recommends_from_it():
    s = space()
    strategy = make_strategy("multi_fidelity", s, seed=0, initial_design={}, check_cheap_data=True)
    h = history(backwards)
    assert not strategy.cheap_data_check(h).trusted
    sugs = strategy.recommend(h, q=2)
    assert [x.fidelity for x in sugs] == ["target", "target"]
    assert all("target-only step" in x.reason and "misleads" in x.reason for x in sugs)
    assert all(x.strategy == "multi_fidelity" for x in sugs)
    rec = strategy.recommendation(h)
    assert rec.note.startswith("from the target runs alone")
    # the recommendation is a target-only model's: its best target run or better, never a cheap-only recipe
    best_target = h[h["fidelity"] == "target"]["objective"].max()
    assert rec.mean >= best_target - 0.05
    assert rec.to_record()["note"] == rec.note


def test_trusted_cheap_data_and_the_default_unchecked_strategy_leave_the_multi_fidelity_model_in_charge():
    s = space()
    trusting = make_strategy("multi_fidelity", s, seed=0, initial_design={}, check_cheap_data=True)
    h = history(tracking)
    assert trusting.cheap_data_check(h).trusted
    assert "target-only" not in trusting.recommend(h)[0].reason
    assert trusting.recommendation(h).note == ""
    unchecked = make_strategy("multi_fidelity", s, seed=0, initial_design={})  # off by default
    h = history(backwards)
    assert unchecked.cheap_data_check(h) is None
    assert "target-only" not in unchecked.recommend(h)[0].reason
    assert "note" not in unchecked.recommendation(h).to_record()


def test_the_campaign_file_switches_the_check_and_the_adaptive_start_on():
    import tomllib
    from pathlib import Path

    from controller.config.campaign import config_from_dict
    from controller.loop.strategy import build_strategy

    raw = tomllib.loads((Path(__file__).resolve().parents[2] / "configs" / "thermoset_dryrun.toml").read_text())
    assert build_strategy(config_from_dict(raw)).check_cheap_data is False
    raw["optimizer"]["check_cheap_data"] = True
    assert build_strategy(config_from_dict(raw)).check_cheap_data is True
    assert build_strategy(config_from_dict(raw)).adaptive_start is False
    raw["optimizer"]["adaptive_start"] = True
    adaptive = build_strategy(config_from_dict(raw))
    assert adaptive.adaptive_start is True and adaptive.initial_design["robot"] == 2


def test_the_benchmark_harness_runs_the_checked_strategy_as_its_own_method():
    from optimizers import bench

    records = bench.run_one(bench.build_problem("misleading"), "mf_checked", seed=0, budget=4.5)
    assert records and {r["method"] for r in records} == {"mf_checked"}
    assert records[-1]["cumulative_cost"] <= 4.5 + 1e-9
    assert {r["fidelity"] for r in records} == {"low", "target"}
