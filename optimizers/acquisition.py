"""Fast cost-aware acquisition: the point by target-fidelity improvement, the fidelity by information per cost.

Step 1 maximizes LogEI of the posterior *at the target fidelity* over the encoded box
(discrete parameters by enumerating their choices, or by snapping when there are too
many combinations). Step 2 scores every allowed, affordable fidelity ``m`` at that
point by how much one observation there would tell about the target value::

    rho_m^2 = Cov(f(x, 1), y(x, m))^2 / (Var f(x, 1) * (Var f(x, m) + noise))
    IG_m    = -0.5 * log(1 - rho_m^2)            (nats)
    score_m = IG_m / cost_m

The posterior covariance carries what the model has learned about how well each
fidelity tracks the target, so a cheap fidelity that is uncorrelated with the target
stops being bought.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from botorch.acquisition import AcquisitionFunction
from botorch.generation.gen import gen_candidates_scipy
from botorch.optim import optimize_acqf, optimize_acqf_mixed

from core import Fidelity
from optimizers.space import SearchSpace

# rho^2 is capped so that a noiseless observation is worth a large but finite IG.
MAX_RHO2 = 1.0 - 1e-6


@dataclass(frozen=True)
class OptimizerSettings:
    """Effort of the inner acquisition optimization (kept small: the loop must never wait)."""

    raw_samples: int = 256
    num_restarts: int = 4
    maxiter: int = 100


def maximize(
    acqf: AcquisitionFunction,
    space: SearchSpace,
    *,
    q: int = 1,
    seed: int = 0,
    settings: OptimizerSettings = OptimizerSettings(),
) -> tuple[torch.Tensor, float]:
    """Maximize ``acqf`` over the ``d`` parameter columns of the encoded box.

    ``acqf`` takes ``b x q x d`` inputs (the fidelity column already fixed, if any).

    With linear constraints (``space.inequality_constraints()``) the raw samples are feasible
    Sobol points (``space.feasible_samples``) and BoTorch optimizes with SLSQP under the
    constraints; a candidate left a hair outside a boundary is moved just inside
    (``space.make_feasible``).

    Returns:
        ``q x d`` candidates (valid encodings: discrete blocks on choices; feasible) and the
        acquisition value.
    """
    if space.has_constraints:
        X, val = _maximize(acqf, space, q, seed, settings, constrained=True)
        return space.make_feasible(X), val
    return _maximize(acqf, space, q, seed, settings)


def _maximize(acqf, space: SearchSpace, q: int, seed: int, settings: OptimizerSettings,
              constrained: bool = False) -> tuple[torch.Tensor, float]:
    constraints, mixed_constraints = {}, {}
    if constrained:
        def raw_samples(n: int, q: int, seed: int | None) -> torch.Tensor:  # n x q x d feasible starting points
            return space.feasible_samples(n * q, seed).reshape(n, q, space.dim)

        constraints = {"inequality_constraints": space.inequality_constraints(), "generator": raw_samples}
        mixed_constraints = {"inequality_constraints": constraints["inequality_constraints"],
                             "ic_gen_kwargs": {"generator": raw_samples}}
    d = space.dim
    bounds = torch.zeros(2, d, dtype=torch.double)
    bounds[1] = 1.0
    combos = space.discrete_combinations()
    options = {"seed": seed, "maxiter": settings.maxiter, "batch_limit": 64}
    n_cont = len(space.continuous_columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if combos is not None and n_cont == 0:
            cand = torch.tensor([[c[j] for j in range(d)] for c in combos], dtype=torch.double)
            if q == 1:
                with torch.no_grad():
                    vals = acqf(cand.unsqueeze(-2))
                i = int(vals.argmax())
                return cand[i : i + 1], float(vals[i])
            X, val = optimize_acqf_mixed(
                acqf, bounds=bounds, q=q, num_restarts=1, raw_samples=1,
                fixed_features_list=combos, options=options,
            )
            return X, float(val.max())
        if combos is not None and combos != [{}] and q == 1:
            X, val = _maximize_over_choices(acqf, space, combos, seed, settings, constrained)
            return space.snap(X), val
        if combos is not None and combos != [{}]:
            X, val = optimize_acqf_mixed(
                acqf, bounds=bounds, q=q, num_restarts=settings.num_restarts,
                raw_samples=settings.raw_samples, fixed_features_list=combos, options=options, **mixed_constraints,
            )
            return space.snap(X), float(val.max())
        X, val = optimize_acqf(
            acqf, bounds=bounds, q=q, num_restarts=settings.num_restarts,
            raw_samples=settings.raw_samples, options=options, sequential=q > 1, **constraints,
        )
        X = space.snap(X)
        if space.has_discrete:  # relaxed then snapped: score the snapped point
            with torch.no_grad():
                val = acqf(X.unsqueeze(0) if q > 1 else X.unsqueeze(-2))
        return X, float(val.max())


def _maximize_over_choices(acqf, space: SearchSpace, combos: list[dict[int, float]], seed: int,
                           settings: OptimizerSettings, constrained: bool) -> tuple[torch.Tensor, float]:
    """One suggestion over continuous parameters and a few discrete choices, in one batched L-BFGS.

    ``optimize_acqf_mixed`` runs a full optimization per combination of choices, one after the
    other; on a campaign's small models the time is per acquisition call, not per point, so
    that cost grows with the number of combinations. Here every combination is scored on
    the same ``raw_samples`` space-filling points (no gradients), the ``2 * num_restarts``
    best (point, combination) pairs start one batched optimization of the continuous columns,
    each with its combination held fixed, and the best result wins.
    """
    columns = sorted(combos[0])
    choices = torch.tensor([[c[j] for j in columns] for c in combos], dtype=torch.double)
    base = space.feasible_samples(settings.raw_samples, seed)
    n = base.shape[0]
    X = base.repeat(len(combos), 1)
    X[:, columns] = choices.repeat_interleave(n, dim=0)
    with torch.no_grad():
        vals = torch.cat([acqf(chunk.unsqueeze(-2)) for chunk in X.split(512)])
    k = min(2 * settings.num_restarts, X.shape[0])
    start = X[vals.topk(k).indices]
    fixed = {j: start[:, i].clone() for i, j in enumerate(columns)}
    options: dict = {"maxiter": settings.maxiter}
    extra: dict = {}
    if constrained:
        extra["inequality_constraints"] = space.inequality_constraints()
        options["max_optimization_problem_aggregation_size"] = 1  # SLSQP, one start at a time
    X_opt, v_opt = gen_candidates_scipy(start.unsqueeze(-2), acqf, lower_bounds=0.0, upper_bounds=1.0,
                                        options=options, fixed_features=fixed, **extra)
    best = int(v_opt.argmax())
    return X_opt[best].reshape(1, -1), float(v_opt[best])


@dataclass(frozen=True)
class FidelityScore:
    fidelity: Fidelity
    information: float  # nats about f(x, target) from one observation at this fidelity
    per_cost: float


def information_per_cost(
    model, x: torch.Tensor, space: SearchSpace, fidelities: Sequence[Fidelity]
) -> list[FidelityScore]:
    """Score each fidelity by the information one observation gives about ``f(x, target)``, per cost.

    Args:
        model: multi-fidelity model over ``n x (d + 1)`` encodings.
        x: ``d`` encoded parameters.
        fidelities: the candidate fidelities (already filtered for allowed / affordable).
    """
    target = space.target_fidelity
    rows = [torch.cat([x, x.new_tensor([target.value])])]
    rows += [torch.cat([x, x.new_tensor([f.value])]) for f in fidelities]
    Xj = torch.stack(rows)
    with torch.no_grad():
        post = model.posterior(Xj)
        cov = post.distribution.covariance_matrix
        if cov.dim() > 2:
            cov = cov.squeeze(0)
        var_y = model.posterior(Xj, observation_noise=True).variance.reshape(-1)
    var_t = cov[0, 0].clamp_min(1e-12)
    scores = []
    for i, f in enumerate(fidelities, start=1):
        rho2 = (cov[0, i] ** 2 / (var_t * var_y[i].clamp_min(1e-12))).clamp(0.0, MAX_RHO2)
        ig = float(-0.5 * torch.log1p(-rho2))
        scores.append(FidelityScore(f, ig, ig / f.cost))
    return scores
