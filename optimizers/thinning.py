"""Long histories: which rows the exact GP is fitted to once there are too many.

Cheap simulations are cheap: a campaign can hold tens of thousands of them, and an exact
GP costs O(n^3) per fit (about 6 s per suggestion at n = 1,000 on a 2-core machine). Past
:data:`MAX_TRAINING_ROWS` rows the model is fitted to a subset chosen by a stated,
deterministic rule:

1. every row at the target fidelity is kept (they are few and each one is expensive), up to
   half the cap; past that, the target rows are thinned like the others;
2. the rest of the cap is shared between the other fidelities in proportion to their rows;
3. within a fidelity that has more rows than its share, half the share goes to its best
   rows (where the acquisition looks, the model must be right) and half to a greedy
   farthest-point spread of the rest in the encoded box (so the model still covers the
   space and learns how the fidelities relate everywhere).

The rows left out are not lost: they stay in the history, count as taken (never suggested
again) and in the best-so-far. Why this rule rather than a sparse or variational GP: the
multi-fidelity kernel, the warm-started fits and the closed-form information-per-cost
rule all stay exactly as they are, the subset is reproducible from the data alone, and
the cost is bounded by the cap whatever the history's length. The benchmark
``benchmarks/large_history.py`` measures latency and memory at 1,000 and 10,000 rows and the
suggestion quality against the exact GP at 1,000.
"""

from __future__ import annotations

import torch

#: Most rows an exact GP is fitted to; past this the rows are thinned (see the module docstring).
MAX_TRAINING_ROWS = 250


def thin(X: torch.Tensor, Y: torch.Tensor, fidelity_column: int | None, target_value: float | None,
         cap: int = MAX_TRAINING_ROWS) -> torch.Tensor:
    """Indices of the rows of ``X``/``Y`` to fit to (all of them when there are at most ``cap``).

    Args:
        X: ``n x D`` encoded inputs; Y: ``n x 1`` signed objective (larger is better).
        fidelity_column: the column holding the fidelity value, or None (one fidelity).
        target_value: the target fidelity's value in that column.
        cap: the most rows to keep.

    Returns:
        sorted row indices (a ``long`` tensor).
    """
    n = X.shape[0]
    if n <= cap:
        return torch.arange(n)
    if fidelity_column is None:
        return _thin_group(X, Y, torch.arange(n), cap)
    fid = X[:, fidelity_column]
    is_target = fid == target_value
    target_rows = torch.nonzero(is_target).reshape(-1)
    keep = [_thin_group(X, Y, target_rows, min(target_rows.numel(), cap // 2))]
    room = cap - keep[0].numel()
    others = [torch.nonzero(fid == v).reshape(-1) for v in torch.unique(fid[~is_target])]
    total = sum(rows.numel() for rows in others)
    for rows in others:
        share = max(1, int(room * rows.numel() / total)) if total else 0
        keep.append(_thin_group(X, Y, rows, min(rows.numel(), share)))
    return torch.sort(torch.cat(keep)).values


def _thin_group(X: torch.Tensor, Y: torch.Tensor, rows: torch.Tensor, k: int) -> torch.Tensor:
    """``k`` of ``rows``: the best half by ``Y``, then a farthest-point spread of the rest."""
    if rows.numel() <= k:
        return rows
    n_best = k // 2
    order = torch.argsort(Y[rows, 0], descending=True, stable=True)
    best, rest = rows[order[:n_best]], rows[order[n_best:]]
    return torch.cat([best, rest[_farthest_points(X[rest], X[best], k - n_best)]])


def _farthest_points(candidates: torch.Tensor, chosen: torch.Tensor, k: int) -> torch.Tensor:
    """Greedy max-min selection of ``k`` rows of ``candidates``, away from ``chosen`` and each other."""
    if chosen.shape[0]:
        gap = torch.cdist(candidates, chosen).min(dim=1).values
    else:
        gap = (candidates - candidates.mean(dim=0)).norm(dim=1)  # start from the most outlying row
    picks = []
    for _ in range(k):
        i = int(torch.argmax(gap))
        picks.append(i)
        gap = torch.minimum(gap, (candidates - candidates[i]).norm(dim=1))
        gap[i] = -1.0
    return torch.tensor(picks, dtype=torch.long)
