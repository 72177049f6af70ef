"""The Sobol estimator: first-order (Saltelli 2010) and total (Jansen 1999) indices of any
function of independent uniform factors, from a seeded scrambled Sobol sample, with
bootstrap 95 % intervals; and the posterior mean of a GP, evaluated in chunks, which is
the function the explanations analyse."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from core import OptimizerError

SOBOL_POINTS = 1024        # base sample size N; the analysis evaluates N * (k + 2) points
BOOTSTRAP = 200            # resamples for the Sobol confidence intervals
_EVAL_CHUNK = 4096


def sobol_indices(
    f: Callable[[np.ndarray], np.ndarray], k: int, *, n: int = SOBOL_POINTS, seed: int = 0, bootstrap: int = BOOTSTRAP
) -> dict[str, Any]:
    """First-order and total Sobol indices of ``f`` over ``k`` independent uniform factors.

    Args:
        f: maps ``m x k`` points of the unit cube to ``m`` outputs.
        k: number of factors.
        n: base sample size (``n * (k + 2)`` evaluations).
        seed: scrambling seed of the Sobol sequence and of the bootstrap.

    Returns:
        ``first``, ``total`` (arrays of ``k``), ``first_ci``, ``total_ci`` (``k x 2``
        bootstrap 95 % intervals), ``variance`` of ``f`` and ``n``. Indices are NaN when
        ``f`` is constant.
    """
    if k < 1:
        raise OptimizerError(f"Sobol analysis needs at least one factor, got k={k}")
    if n < 8:
        raise OptimizerError(f"Sobol base sample size must be >= 8, got n={n}")
    engine = torch.quasirandom.SobolEngine(2 * k, scramble=True, seed=int(seed))
    U = engine.draw(int(n), dtype=torch.double).numpy()
    A, B = U[:, :k], U[:, k:]
    fA = np.asarray(f(A), dtype=float).reshape(-1)
    fB = np.asarray(f(B), dtype=float).reshape(-1)
    fAB = np.empty((k, n))
    for i in range(k):
        ABi = A.copy()
        ABi[:, i] = B[:, i]
        fAB[i] = np.asarray(f(ABi), dtype=float).reshape(-1)
    # Centering leaves the indices unchanged but removes the offset's large share of the
    # first-order estimator's variance (a property near 150 degC varies by tens).
    center = np.mean(np.concatenate([fA, fB]))
    fA, fB, fAB = fA - center, fB - center, fAB - center

    def estimate(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a, b, ab = fA[idx], fB[idx], fAB[:, idx]
        var = np.var(np.concatenate([a, b]))
        if not var > 1e-18:
            return np.full(k, np.nan), np.full(k, np.nan)
        first = np.mean(b * (ab - a), axis=1) / var               # Saltelli 2010
        total = 0.5 * np.mean((a - ab) ** 2, axis=1) / var        # Jansen 1999
        return first, total

    all_idx = np.arange(n)
    first, total = estimate(all_idx)
    rng = np.random.default_rng(int(seed))
    boots = [estimate(rng.integers(0, n, n)) for _ in range(int(bootstrap))]
    if boots and not np.isnan(first).all():
        bf = np.array([b[0] for b in boots])
        bt = np.array([b[1] for b in boots])
        first_ci = np.nanpercentile(bf, [2.5, 97.5], axis=0).T
        total_ci = np.nanpercentile(bt, [2.5, 97.5], axis=0).T
    else:
        first_ci = total_ci = np.full((k, 2), np.nan)
    return {"first": first, "total": total, "first_ci": first_ci, "total_ci": total_ci,
            "variance": float(np.var(np.concatenate([fA, fB]))), "n": int(n)}


def posterior_mean(model: torch.nn.Module, X: torch.Tensor) -> np.ndarray:
    """Posterior mean (model units, signed) at ``m x D`` inputs, in chunks."""
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, X.shape[0], _EVAL_CHUNK):
            out.append(model.posterior(X[start : start + _EVAL_CHUNK]).mean.reshape(-1))
    return torch.cat(out).numpy() if out else np.zeros(0)
