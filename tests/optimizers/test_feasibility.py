"""The optimizer learns from failures: a failing region is avoided, a failed point is not retried."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from core import Q_, ContinuousParameter, Fidelity, Objective
from optimizers import SearchSpace, make_strategy
from optimizers.feasibility import SuccessModel


def space_2d() -> SearchSpace:
    return SearchSpace(
        [ContinuousParameter("x", Q_(0.0, ""), Q_(1.0, ""), ""), ContinuousParameter("y", Q_(0.0, ""), Q_(1.0, ""), "")],
        [Fidelity("cheap", "simulator", 0.1, 0.5, model="toy"), Fidelity("robot", "robot", 1.0, 1.0, target=True)],
        Objective("v", "", "maximize"),
    )


def value(x, y):
    # The objective rises toward x = 1, but everything beyond x = 0.6 fails on the line.
    return 2.0 * x - (y - 0.5) ** 2


def history(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        x, y = rng.uniform(size=2)
        fid = "robot" if i % 3 == 0 else "cheap"
        failed = x > 0.6
        rows.append({"x": x, "y": y, "fidelity": fid, "objective": math.nan if failed else value(x, y),
                     "status": "failed" if failed else "completed"})
    return pd.DataFrame(rows)


def test_success_model_separates_the_failing_region():
    space = space_2d()
    model = SuccessModel.from_history(space, history(40, 0))
    with torch.no_grad():
        p = model.probability(torch.tensor([[0.2, 0.5], [0.95, 0.5]], dtype=torch.double))
    assert float(p[0]) > 0.7 and float(p[1]) < 0.3


def test_no_model_without_failures():
    h = history(20, 1)
    h = h[h["status"] == "completed"]
    assert SuccessModel.from_history(space_2d(), h) is None


@pytest.mark.parametrize("strategy", ["multi_fidelity", "single_fidelity"], ids=["mf", "sf"])
def test_suggestions_avoid_the_failing_region(strategy):
    torch.manual_seed(0)
    space = space_2d()
    h = history(40, 2)
    s = make_strategy(strategy, space, seed=3, initial_design={})
    sugs = s.recommend(h, q=3)
    xs = [float(sug.recipe["x"].magnitude) for sug in sugs]
    # Without the failure model the best improvement lies at x -> 1 (all failing there).
    assert all(x < 0.75 for x in xs), xs
    assert "success probability" in sugs[0].reason or strategy == "single_fidelity"


def test_failed_point_is_not_suggested_again():
    space = space_2d()
    h = history(30, 4)
    failed = h[h["status"] == "failed"].iloc[:, :3]
    s = make_strategy("multi_fidelity", space, seed=5, initial_design={})
    for sug in s.recommend(h, q=4):
        same = (np.isclose(failed["x"], sug.recipe["x"].magnitude, atol=1e-6)
                & np.isclose(failed["y"], sug.recipe["y"].magnitude, atol=1e-6) & (failed["fidelity"] == sug.fidelity))
        assert not same.any()
