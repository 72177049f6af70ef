"""Batches from one fit: the pool's kriging-believer update is exact, and the loop's one-at-a-time
requests get a batch's cheap later items without repeats."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from botorch.acquisition import FixedFeatureAcquisitionFunction, LogExpectedImprovement

from optimizers import make_strategy
from optimizers.acquisition import information_per_cost
from optimizers.batch import BelieverPool
from optimizers.bench_problems import hartmann, misleading


def fitted_strategy(n: int = 60, seed: int = 3):
    problem = hartmann()
    space = problem.space
    U = torch.quasirandom.SobolEngine(len(space.parameters), scramble=True, seed=seed).draw(n, dtype=torch.double)
    rows = []
    for i, recipe in enumerate(space.decode(space.from_unit(U))):
        fidelity = ("s050", "s075", "target")[i % 3]
        rows.append({**{k: float(q.magnitude) for k, q in recipe.items()}, "fidelity": fidelity,
                     "objective": problem.evaluate(recipe, fidelity), "status": "completed"})
    history = pd.DataFrame(rows)
    strategy = make_strategy("multi_fidelity", space, seed=seed, initial_design={})
    return strategy, strategy.fitted(history), space


def conditioned(model, rows: torch.Tensor):
    with torch.no_grad():
        model.posterior(rows[:1])
        return model.condition_on_observations(rows, model.posterior(rows).mean)


@pytest.mark.parametrize("dense", [False, True], ids=["gpytorch-posterior", "dense-posterior"])
def test_the_pool_update_equals_conditioning_the_model(dense):
    strategy, fm, space = fitted_strategy()
    d = space.dim
    pool = space.from_unit(torch.quasirandom.SobolEngine(len(space.parameters), scramble=True, seed=5)
                           .draw(32, dtype=torch.double))
    # two pool points at cheaper fidelities, and a recipe off the pool at two fidelities
    off_pool = torch.full((2, d), 0.3, dtype=torch.double)
    pending = torch.cat([torch.cat([pool[[3, 9]], pool.new_tensor([[0.5], [0.75]])], dim=-1),
                         torch.cat([off_pool, pool.new_tensor([[1.0], [0.5]])], dim=-1)])
    assert fm.dense_posterior() is not None
    believer = BelieverPool(fm.model, space, pool, pending, dense=fm.dense_posterior() if dense else None)
    best_f = 0.5
    expected_model = conditioned(fm.model, pending)
    acqf = FixedFeatureAcquisitionFunction(LogExpectedImprovement(expected_model, best_f=best_f), d=d + 1,
                                           columns=[d], values=[1.0])
    with torch.no_grad():
        expected = acqf(pool.unsqueeze(-2))
    assert torch.allclose(believer.log_ei(best_f), expected, atol=1e-4, rtol=1e-4)
    fids = list(space.fidelities_by_cost)
    for j in (0, 7, 20):
        want = [s.information for s in information_per_cost(expected_model, pool[j], space, fids)]
        got = [ig for _, ig in believer.information(j, fids)]
        assert torch.allclose(torch.tensor(got), torch.tensor(want), atol=1e-4, rtol=1e-3), (j, got, want)

    # one more suggestion from the pool: believed by a rank-one update, still exact
    extra = torch.cat([pool[20], pool.new_tensor([0.5])]).reshape(1, -1)
    assert believer.follows(torch.cat([pending.flip(0), extra]))  # order does not matter
    again = conditioned(fm.model, torch.cat([pending, extra]))
    acqf = FixedFeatureAcquisitionFunction(LogExpectedImprovement(again, best_f=best_f), d=d + 1, columns=[d],
                                           values=[1.0])
    with torch.no_grad():
        expected = acqf(pool.unsqueeze(-2))
    assert torch.allclose(believer.log_ei(best_f), expected, atol=1e-4, rtol=1e-4)
    # a row the pool does not hold: it cannot follow (the strategy builds a new pool)
    assert not believer.follows(torch.cat([pending, extra, torch.full((1, d + 1), 0.123, dtype=torch.double)]))


def test_believing_the_running_rows_at_once_equals_believing_them_one_by_one():
    _, fm, space = fitted_strategy()
    d = space.dim
    pool = space.from_unit(torch.quasirandom.SobolEngine(len(space.parameters), scramble=True, seed=5)
                           .draw(32, dtype=torch.double))
    g = torch.Generator().manual_seed(0)
    pending = torch.cat([torch.rand(6, d, generator=g, dtype=torch.double),
                         torch.tensor([[0.5], [0.75], [1.0]] * 2, dtype=torch.double)], dim=-1)
    at_once = BelieverPool(fm.model, space, pool, pending)
    # the same rows held in the pool instead, believed one by one (a rank-one update each)
    one_by_one = BelieverPool(fm.model, space, torch.cat([pool, pending[:, :d]]), pending[:0])
    by_value = {f.value: f for f in one_by_one.fidelities}
    for i, row in enumerate(pending):
        one_by_one._believe(one_by_one._index(32 + i, by_value[float(row[-1])]))
    m, n_f = 32, len(at_once.fidelities)
    for k in range(n_f):
        a = at_once.cov[k * m:(k + 1) * m, k * m:(k + 1) * m]
        b = one_by_one.cov[k * 38:k * 38 + m, k * 38:k * 38 + m]
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12)


def test_one_at_a_time_requests_make_a_batch_without_repeats():
    problem = hartmann()
    space = problem.space
    strategy = make_strategy("multi_fidelity", space, seed=0, initial_design={})
    U = torch.quasirandom.SobolEngine(len(space.parameters), scramble=True, seed=1).draw(30, dtype=torch.double)
    history = pd.DataFrame([{**{k: float(q.magnitude) for k, q in r.items()}, "fidelity": f,
                             "objective": problem.evaluate(r, f), "status": "completed"}
                            for r, f in zip(space.decode(space.from_unit(U)), ["s050", "s075", "target"] * 10)])
    pending = history.iloc[:0].drop(columns=["objective", "status"])
    reasons, rows = [], []
    for _ in range(6):  # as the loop does: one request per free worker, the earlier ones pending
        (s,) = strategy.recommend(history, pending=pending, q=1)
        reasons.append(s.reason)
        row = {k: float(q.magnitude) for k, q in s.recipe.items()} | {"fidelity": s.fidelity}
        rows.append(tuple(sorted(row.items())))
        pending = pd.concat([pending, pd.DataFrame([row])], ignore_index=True)
    assert not any("space-filling pool" in r for r in reasons[:2]), "the first two requests from a fit get the full search"
    assert all("space-filling pool" in r for r in reasons[2:]), reasons
    (first, *rest) = make_strategy("multi_fidelity", space, seed=0, initial_design={}).recommend(history, q=4)
    assert "space-filling pool" not in first.reason and all("space-filling pool" in s.reason for s in rest)
    assert len(set(rows)) == len(rows), "a batch suggested the same experiment twice"


def test_a_pool_point_running_at_every_allowed_fidelity_gives_way_to_the_next_best():
    """Only the cheap fidelity allowed (the target's worker busy), twenty requests from one fit, on a
    problem whose cheap fidelity says little about the target: the pool's best point, once running at
    the cheap fidelity, stays the best at the target, and is passed over for the next one instead of
    falling back to the full search (which took seconds per request and starved a 32-worker cluster)."""
    problem = misleading()
    space = problem.space
    strategy = make_strategy("multi_fidelity", space, seed=0, initial_design={})
    U = torch.quasirandom.SobolEngine(len(space.parameters), scramble=True, seed=1).draw(24, dtype=torch.double)
    history = pd.DataFrame([{**{k: float(q.magnitude) for k, q in r.items()}, "fidelity": f,
                             "objective": problem.evaluate(r, f), "status": "completed"}
                            for r, f in zip(space.decode(space.from_unit(U)), ["low", "low", "target"] * 8)])
    pending = history.iloc[:0].drop(columns=["objective", "status"])
    reasons, rows = [], []
    for _ in range(20):
        (s,) = strategy.recommend(history, pending=pending, q=1, allowed_fidelities=["low"])
        assert s.fidelity == "low"
        reasons.append(s.reason)
        row = {k: float(q.magnitude) for k, q in s.recipe.items()} | {"fidelity": s.fidelity}
        rows.append(tuple(sorted(row.items())))
        pending = pd.concat([pending, pd.DataFrame([row])], ignore_index=True)
    assert all("space-filling pool" in r for r in reasons[2:]), [r for r in reasons[2:] if "pool" not in r]
    assert len(set(rows)) == len(rows)


def _pending_rows(space, n: int, seed: int = 9) -> pd.DataFrame:
    U = torch.quasirandom.SobolEngine(len(space.parameters), scramble=True, seed=seed).draw(n, dtype=torch.double)
    return pd.DataFrame([{k: float(q.magnitude) for k, q in r.items()} | {"fidelity": "s050"}
                         for r in space.decode(space.from_unit(U))])


def test_with_many_runs_pending_the_first_request_from_a_fit_uses_the_pool():
    """Eight or more runs pending (a big cluster refilling): no full search, whose second of work would
    keep that many workers waiting. With fewer pending the first requests get the full search."""
    from optimizers.strategies import POOL_PENDING

    strategy, _, space = fitted_strategy()
    history = _history_of(space)
    (few,) = make_strategy("multi_fidelity", space, seed=3, initial_design={}).recommend(
        history, pending=_pending_rows(space, POOL_PENDING - 1), q=1)
    (many,) = strategy.recommend(history, pending=_pending_rows(space, POOL_PENDING), q=1)
    assert "space-filling pool" not in few.reason
    assert "space-filling pool" in many.reason


def test_hyperparameters_are_held_while_runs_are_pending_and_the_data_grew_little():
    """With runs pending, a refit on a few more rows keeps the optimized hyperparameters (milliseconds,
    not a second of waiting workers); past 20 % more rows, or with nothing pending, they are optimized."""
    from optimizers.model import hyperparameters

    space = hartmann().space
    full = _history_of(space, n=80)
    strategy = make_strategy("multi_fidelity", space, seed=3, initial_design={})
    pending = _pending_rows(space, 2)

    def fit_on(n: int, pending_now: int):
        strategy._pending_now = pending_now
        try:
            return strategy.fitted(full.iloc[:n])
        finally:
            strategy._pending_now = 0

    first = hyperparameters(fit_on(60, len(pending)).gp)  # nothing to hold yet: optimized
    held = hyperparameters(fit_on(66, len(pending)).gp)  # 10 % more rows, runs pending: held
    assert all(torch.equal(first[k], held[k]) for k in first)
    moved = hyperparameters(fit_on(66 + 1, 0).gp)  # nothing pending: optimized
    assert any(not torch.allclose(first[k], moved[k]) for k in first)
    strategy2 = make_strategy("multi_fidelity", space, seed=3, initial_design={})
    strategy2._pending_now = 2
    base = hyperparameters(strategy2.fitted(full.iloc[:60]).gp)
    grown = hyperparameters(strategy2.fitted(full.iloc[:73]).gp)  # over 20 % more rows: optimized again
    assert any(not torch.allclose(base[k], grown[k]) for k in base)
    # a long history is thinned to a fixed size; growth counts the history's rows, not the thinned set's
    thinned = make_strategy("multi_fidelity", space, seed=3, initial_design={}, max_training_rows=20)
    thinned._pending_now = 2
    base = hyperparameters(thinned.fitted(full.iloc[:60]).gp)
    grown = hyperparameters(thinned.fitted(full.iloc[:80]).gp)
    assert any(not torch.allclose(base[k], grown[k]) for k in base)


def _history_of(space, n: int = 60, seed: int = 3) -> pd.DataFrame:
    problem = hartmann()
    U = torch.quasirandom.SobolEngine(len(space.parameters), scramble=True, seed=seed).draw(n, dtype=torch.double)
    return pd.DataFrame([{**{k: float(q.magnitude) for k, q in r.items()}, "fidelity": ("s050", "s075", "target")[i % 3],
                          "objective": problem.evaluate(r, ("s050", "s075", "target")[i % 3]), "status": "completed"}
                         for i, r in enumerate(space.decode(space.from_unit(U)))])
