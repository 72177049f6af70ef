"""The multi-objective benchmark harness: smoke mode end to end, the BoTorch baselines, Delta's definition."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from optimizers import bench_mo, bench_mo_baselines
from optimizers.bench_mo_problems import momf_branin_currin

COLUMNS = {"problem", "method", "seed", "step", "fidelity", "status", "cost", "cumulative_cost", "n_observations",
           "n_target", "latency_s", "refit_s", "hv", "hv_observed", "front_size", "load1"}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench_mo")
    assert bench_mo.main(["--smoke", "--out", str(out), "--no-latency"]) == 0
    return out, pd.read_csv(out / "runs.csv"), json.loads((out / "summary.json").read_text())


def test_smoke_writes_runs_summary_and_plot(smoke):
    out, df, summary = smoke
    assert COLUMNS <= set(df.columns)
    assert (out / "hv_vs_cost.png").stat().st_size > 0
    assert set(df["method"]) == {"multi_fidelity", "single_fidelity", "random"}
    assert set(df["seed"]) == {0, 1}
    cell = summary["problems"]["momf_branin_currin"]
    assert set(cell["methods"]) == {"multi_fidelity", "single_fidelity", "random"}
    for m in cell["methods"].values():
        assert m["delta"]["n"] == 2
        assert -1.0 <= m["delta"]["q25"] <= m["delta"]["median"] <= m["delta"]["q75"] <= 1.0
    assert cell["methods"]["single_fidelity"]["delta"]["median"] == 0.0  # SF against itself


def test_smoke_costs_fidelities_and_hypervolumes_are_consistent(smoke):
    _, df, _ = smoke
    problem = momf_branin_currin()
    budget = problem.budget["smoke"]
    costs = {f.name: f.cost for f in problem.space.fidelities}
    assert set(df["fidelity"]) <= set(costs)
    assert (df["cost"] == df["fidelity"].map(costs)).all()
    for (method, _seed), run in df.groupby(["method", "seed"]):
        run = run.sort_values("step")
        assert run["cumulative_cost"].iloc[-1] <= budget + 1e-9
        assert run["cumulative_cost"].diff().dropna().gt(0).all()
        # the hypervolume of the target observations only grows; the recommended front's stays in [0, max]
        assert run["hv_observed"].diff().dropna().ge(-1e-12).all()
        assert run["hv"].between(0.0, problem.max_hv + 1e-9).all()
        assert (run["n_target"] == (run["fidelity"] == "target").cumsum()).all()
        if method != "multi_fidelity":
            assert (run["fidelity"] == "target").all()
    # after the initial design every model-based run recommends a non-empty front with some hypervolume
    last = df.sort_values("step").groupby(["method", "seed"]).last()
    assert (last.loc["multi_fidelity", "front_size"] > 0).all()


def test_delta_definition():
    rows = []
    # seed 0: SF reaches its final hv 1.0 at cost 4; method A reaches 0.9 at cost 1; B never does
    for step, (c, hv) in enumerate([(1, 0.2), (2, 0.5), (3, 0.8), (4, 1.0)]):
        rows.append({"method": "single_fidelity", "seed": 0, "step": step, "cumulative_cost": c, "hv": hv,
                     "hv_observed": hv, "cost": 1.0})
    for step, (c, hv) in enumerate([(0.5, 0.1), (1.0, 0.95)]):
        rows.append({"method": "A", "seed": 0, "step": step, "cumulative_cost": c, "hv": hv, "hv_observed": 0.0,
                     "cost": 0.5})
    rows.append({"method": "B", "seed": 0, "step": 0, "cumulative_cost": 4.0, "hv": 0.5, "hv_observed": 0.5,
                 "cost": 1.0})
    d = bench_mo.deltas(pd.DataFrame(rows)).set_index("method")
    assert d.loc["single_fidelity", "delta"] == 0.0
    assert d.loc["A", "delta"] == pytest.approx((4 - 1) / 4)
    assert d.loc["B", "delta"] == -1.0


def test_baseline_cost_model_is_exact_at_every_fidelity():
    problem = momf_branin_currin()
    box = bench_mo_baselines._Box(problem)
    for f in problem.space.fidelities:
        X = torch.tensor([[[0.3, 0.7, f.value]]], dtype=torch.double)
        assert float(box.cost(X)) == pytest.approx(f.cost)
    design = bench_mo_baselines.initial_design(box, 0, bench_mo_baselines.TUTORIAL)
    assert float(box.cost(design.unsqueeze(1)).sum()) < 2.0 * problem.space.target_fidelity.cost
    assert set(design[:, -1].tolist()) <= {f.value for f in problem.space.fidelities}


@pytest.mark.parametrize("method", ["momf", "mf_hvkg"])
def test_botorch_baselines_run_and_charge_the_same_costs(method):
    problem = momf_branin_currin()
    torch.set_num_threads(1)
    recs = pd.DataFrame(bench_mo.run_botorch(problem, method, 0, 1.3, bench_mo.SMOKE))
    assert COLUMNS <= set(recs.columns)
    costs = {f.name: f.cost for f in problem.space.fidelities}
    assert (recs["cost"] == recs["fidelity"].map(costs)).all()
    assert recs["cumulative_cost"].iloc[-1] <= 1.3 + 1e-9
    assert (recs["latency_s"] > 0).sum() >= 1  # at least one model-based suggestion after the design batch
    assert recs["hv_observed"].diff().dropna().ge(-1e-12).all()
    assert recs["hv"].iloc[-1] > 0.0 and recs["front_size"].iloc[-1] > 0
