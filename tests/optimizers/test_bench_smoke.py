"""The benchmark harness runs end to end in smoke mode and writes well-formed outputs."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from optimizers import bench


@pytest.mark.slow
def test_smoke_benchmark_outputs_are_well_formed(tmp_path):
    assert bench.main(["--smoke", "--out", str(tmp_path)]) == 0
    runs = pd.read_csv(tmp_path / "runs.csv")
    expected = {"problem", "method", "seed", "step", "fidelity", "cost", "cumulative_cost",
                "n_observations", "latency_s", "recommended_value", "regret"}
    assert expected <= set(runs.columns)
    assert set(runs["method"]) == set(bench.METHODS)
    assert sorted(runs["seed"].unique()) == [0, 1]
    assert (runs["regret"] >= 0).all() and runs["regret"].notna().all()
    for (_, _, _), run in runs.groupby(["problem", "method", "seed"]):
        assert run["cumulative_cost"].is_monotonic_increasing
        assert run["cumulative_cost"].iloc[-1] <= 5.0 + 1e-9  # the smoke budget is never overspent
    assert set(runs.loc[runs["method"] != "multi_fidelity", "fidelity"]) == {"target"}

    summary = json.loads((tmp_path / "summary.json").read_text())
    cell = summary["problems"]["branin_favourable"]["methods"]
    assert set(cell) == set(bench.METHODS)
    for stats in cell.values():
        for key in ("delta", "final_regret"):
            s = stats[key]
            assert s["n"] == 2 and s["q25"] <= s["median"] <= s["q75"]
            assert -1.0 <= stats["delta"]["median"] <= 1.0
    assert cell["single_fidelity"]["delta"]["median"] == 0.0  # SF against itself
    lat = summary["latency"][0]
    assert lat["n_observations"] == 100 and math.isfinite(lat["median_s"]) and lat["median_s"] > 0
    assert (tmp_path / "regret_vs_cost.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_deltas_without_a_single_fidelity_run_keep_the_final_regret():
    """``--methods multi_fidelity`` alone: no reference for Delta, but each run's final regret is reported
    (this raised a KeyError when the table of Deltas came back without columns)."""
    rows = [{"method": "multi_fidelity", "seed": s, "step": k, "cumulative_cost": float(k), "cost": 0.2,
             "regret": 1.0 / (k + 1)} for s in (0, 1) for k in range(4)]
    d = bench.deltas(pd.DataFrame(rows), ref_regret=1.0)
    assert list(d["method"]) == ["multi_fidelity"] * 2
    assert d["delta"].isna().all() and d["final_regret"].tolist() == [0.25, 0.25]
    assert bench._stats(d["delta"])["n"] == 0 and bench._stats(d["final_regret"])["median"] == 0.25
    with_sf = pd.DataFrame(rows + [{**r, "method": "single_fidelity", "cost": 1.0} for r in rows])
    assert bench.deltas(with_sf, ref_regret=1.0).set_index(["method", "seed"])["delta"].notna().all()
