"""Long histories: the rule that picks the rows the GP is fitted to, and a strategy using it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from optimizers import make_strategy
from optimizers.bench_problems import hartmann
from optimizers.thinning import thin


def rows(n_cheap: int, n_target: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n_cheap + n_target, 3, generator=g, dtype=torch.double)
    X[:, -1] = torch.cat([torch.full((n_cheap,), 0.5), torch.ones(n_target)]).double()
    Y = -((X[:, :2] - 0.3) ** 2).sum(dim=1, keepdim=True)
    return X, Y


def test_a_short_history_is_kept_whole():
    X, Y = rows(40, 5)
    assert torch.equal(thin(X, Y, 2, 1.0, cap=100), torch.arange(45))


def test_target_rows_are_kept_and_the_cap_holds():
    X, Y = rows(2000, 30)
    kept = thin(X, Y, 2, 1.0, cap=200)
    assert kept.numel() <= 200 and len(set(kept.tolist())) == kept.numel()
    assert set(range(2000, 2030)) <= set(kept.tolist()), "every target row is kept"
    cheap = kept[kept < 2000]
    best = torch.argsort(Y[:2000, 0], descending=True)[:cheap.numel() // 2]
    assert set(best.tolist()) <= set(cheap.tolist()), "the best cheap rows are kept"
    assert torch.equal(kept, thin(X, Y, 2, 1.0, cap=200)), "the rule is deterministic"


def test_the_spread_covers_the_box():
    """The farthest-point half reaches every corner region, not just the optimum's."""
    X, Y = rows(4000, 0)
    kept = thin(X, Y, 2, 1.0, cap=100)
    corners = {(bool(x[0] > 0.5), bool(x[1] > 0.5)) for x in X[kept]}
    assert len(corners) == 4


def test_too_many_target_rows_are_thinned_too():
    X, Y = rows(100, 1000)
    kept = thin(X, Y, 2, 1.0, cap=200)
    assert kept.numel() <= 200 and (kept >= 100).sum() == 100  # half the cap to the target


@pytest.mark.parametrize("cap", [5])
def test_the_cap_must_leave_a_model(cap):
    from core import OptimizerError

    with pytest.raises(OptimizerError, match="max_training_rows"):
        make_strategy("multi_fidelity", hartmann().space, max_training_rows=cap)


def test_a_strategy_on_a_long_history_fits_the_subset_and_suggests():
    problem = hartmann()
    space = problem.space
    U = torch.quasirandom.SobolEngine(6, scramble=True, seed=3).draw(400, dtype=torch.double)
    recipes = space.decode(space.from_unit(U))
    fids = ["s050"] * 360 + ["s075"] * 28 + ["target"] * 12
    hist = pd.DataFrame([{**{k: float(v.magnitude) for k, v in r.items()}, "fidelity": f,
                          "objective": problem.evaluate(r, f), "status": "completed"} for r, f in zip(recipes, fids)])
    strategy = make_strategy("multi_fidelity", space, seed=1, initial_design={}, max_training_rows=60)
    fm = strategy.fitted(hist)
    assert fm.X.shape[0] <= 60 and int((fm.X[:, -1] == 1.0).sum()) == 12
    sug = strategy.recommend(hist, q=2)
    assert len(sug) == 2
    a, b = ([float(v.magnitude) for v in s.recipe.values()] for s in sug)
    assert not np.allclose(a, b), "the batch suggested one recipe twice"
    assert "conditioned on 1 pending" in sug[1].reason, "the second item is conditioned on the first only"
