"""Fidelity correlation: how strongly each lower fidelity tracks the target. For each
lower fidelity ``s``, over a seeded sample of recipes ``x``: the correlation between
``f(x, s)`` and ``f(x, target)`` under the model's prior (its learned kernel) and
posterior (what the acquisition uses), the Pearson correlation of the two
posterior-mean surfaces, and the observed correlation of recipes measured at both."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from optimizers.explain._common import _f, _pearson
from optimizers.explain._layout import (
    FIDELITY_INPUT,
    _Factors,
    encoding_names,
    gp_layout,
)
from optimizers.explain._sobol import posterior_mean
from optimizers.model import FittedModel
from optimizers.space import SearchSpace

CORRELATION_POINTS = 256   # recipes over which fidelity correlations are averaged


def fidelity_correlations(
    space: SearchSpace, fm: FittedModel, *, seed: int = 0, n: int = CORRELATION_POINTS
) -> list[dict[str, Any]]:
    """How strongly each lower fidelity tracks the target, as learned by a multi-fidelity model.

    For every non-target fidelity ``s`` and ``n`` seeded Sobol recipes ``x``:
    ``prior_correlation`` (kernel correlation of ``f(x, s)`` and ``f(x, target)``; for
    these kernels it does not depend on ``x``), ``posterior_correlation`` (the same
    under the posterior, which the acquisition uses), each as mean / min / max over
    ``x``; ``mean_pearson``: Pearson correlation of the posterior means ``mu(x, s)`` and
    ``mu(x, target)`` over ``x``; ``observed_pairs`` / ``observed_pearson``: recipes
    measured at both fidelities.

    Returns an empty list for a single-fidelity model.
    """
    xnames = encoding_names(space, int(fm.X.shape[-1]))
    if FIDELITY_INPUT not in xnames:
        return []
    gp, Z, gnames = gp_layout(space, fm)
    fx = _Factors(space, xnames, fm.X)
    target = space.target_fidelity
    fc = fx.fidelity_column
    gfc = gnames.index(FIDELITY_INPUT)
    U = torch.quasirandom.SobolEngine(fx.k, scramble=True, seed=int(seed)).draw(int(n), dtype=torch.double)
    Xt = fx.inputs(U, target.value)
    model = fm.model
    model.eval()
    gp.eval()
    mu_t = posterior_mean(model, Xt)
    Zt = Z.detach().double()[: min(int(n), Z.shape[0])].clone()
    Zt[:, gfc] = target.value
    out = []
    for fid in space.fidelities_by_cost:
        if fid.name == target.name:
            continue
        Xs = Xt.clone()
        Xs[:, fc] = fid.value
        Zs = Zt.clone()
        Zs[:, gfc] = fid.value
        with torch.no_grad():
            post_cov = model.posterior(torch.stack([Xs, Xt], dim=-2)).distribution.covariance_matrix
            prior_cov = gp.covar_module(torch.stack([Zs, Zt], dim=-2)).to_dense()
        mu_s = posterior_mean(model, Xs)
        pairs = _observed_pairs(fm, fc, fid.value, target.value)
        out.append({
            "fidelity": fid.name,
            "value": fid.value,
            "cost": fid.cost,
            "prior_correlation": _summary(_corr(prior_cov)),
            "posterior_correlation": _summary(_corr(post_cov)),
            "mean_pearson": _f(_pearson(mu_s, mu_t)),
            "observed_pairs": len(pairs),
            "observed_pearson": _f(_pearson(pairs[:, 0], pairs[:, 1])) if len(pairs) >= 3 else None,
            "n_recipes": int(n),
        })
    return out


def _corr(cov: torch.Tensor) -> np.ndarray:
    c = cov.detach().double()
    denom = (c[..., 0, 0].clamp_min(1e-300) * c[..., 1, 1].clamp_min(1e-300)).sqrt()
    return (c[..., 0, 1] / denom).clamp(-1.0, 1.0).reshape(-1).numpy()


def _summary(r: np.ndarray) -> dict[str, float | None]:
    return {"mean": _f(np.mean(r)), "min": _f(np.min(r)), "max": _f(np.max(r))}


def _observed_pairs(fm: FittedModel, fc: int, low: float, target: float) -> np.ndarray:
    """``m x 2`` (value at ``low``, value at target) of recipes observed at both (mean of repeats)."""
    X, Y = fm.X.detach().double(), fm.Y.detach().double().reshape(-1)
    others = [j for j in range(X.shape[1]) if j != fc]
    lo_rows = torch.nonzero(X[:, fc] == low).reshape(-1)
    t_rows = torch.nonzero(X[:, fc] == target).reshape(-1)
    pairs = []
    for i in lo_rows.tolist():
        same = [t for t in t_rows.tolist() if float((X[t, others] - X[i, others]).abs().max()) < 1e-6]
        if same:
            pairs.append((float(Y[i]), float(Y[same].mean())))
    return np.array(pairs, dtype=float).reshape(-1, 2)
