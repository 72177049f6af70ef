"""BoTorch's own multi-objective multi-fidelity methods as benchmark baselines: MOMF and MF-HVKG.

Set up as BoTorch's tutorial "Multi-fidelity Multi-Objective optimization" sets them up (a
``ModelListGP`` of ``SingleTaskGP`` with a Matern-5/2 ARD kernel over the inputs *and* the fidelity,
Gamma priors, observation noise fixed at 1e-6, ``Standardize``, refitted from scratch each step; an
initial design of random points whose fidelity is drawn with probability inversely proportional to its
cost, for a budget of 2 target evaluations; the tutorial's rule "acquisition value 0: run the cheapest
fidelity"), with two changes that make the comparison fair to our discrete-fidelity problems:

- **Discrete fidelities, same costs.** The fidelity column takes only the problem's fidelity values
  (``Fidelity.value``); each one is optimized over separately (``fixed_features``) and the best
  acquisition value wins. The cost model is the problem's own: piecewise linear in the fidelity value
  through the fidelities' ``(value, cost)`` points, so it is exact at every fidelity that can be chosen.
- **Inputs.** One unit coordinate per parameter (``SearchSpace.to_unit``); a discrete parameter's
  coordinate takes only its choices' centres, each choice combination optimized over separately
  (MOMF only: MF-HVKG here needs continuous parameters).

MOMF models a third "trust" objective equal to the fidelity value (reference 0), as in the tutorial.
MF-HVKG is ``qMultiFidelityHypervolumeKnowledgeGradient`` with the tutorial's current value (the
hypervolume of the posterior mean's best ``num_pareto`` designs at the target), an
``InverseCostWeightedUtility`` over the same cost model, and the projection to the target fidelity.
Effort is set by :class:`BoTorchSettings`; :data:`TUTORIAL` holds the tutorial's numbers.

The recommended front of either method is, as for our strategies, the set of observed recipes whose
posterior means at the target fidelity are non-dominated (at most ``optimizers.goals.MAX_FRONT``).
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass

import torch

from optimizers import goals
from optimizers.bench_mo_problems import MOProblem


@dataclass(frozen=True)
class BoTorchSettings:
    """Effort of the BoTorch baselines (names as in BoTorch's tutorial)."""

    momf_mc_samples: int = 128
    momf_restarts: int = 10
    momf_raw_samples: int = 512
    momf_maxiter: int = 200
    hvkg_fantasies: int = 8
    hvkg_pareto: int = 10
    hvkg_inner_mc: int = 32
    hvkg_restarts: int = 1
    hvkg_raw_samples: int = 512
    hvkg_current_raw: int = 1024
    hvkg_maxiter: int = 200
    hvkg_inner_restarts: int = 20  # BoTorch's defaults for the one-shot initializer (the tutorial keeps them)
    hvkg_inner_raw: int = 1024
    batch_limit: int = 5
    init_target_evaluations: float = 2.0

    def describe(self) -> dict:
        return dict(self.__dict__)


#: The tutorial's settings (its full, non-smoke run).
TUTORIAL = BoTorchSettings()


class _Box:
    """The baselines' view of a problem: unit coordinates per parameter, then the fidelity value."""

    def __init__(self, problem: MOProblem):
        space = problem.space
        self.problem = problem
        self.space = space
        self.p = len(space.parameters)
        self.fidelities = sorted(space.fidelities, key=lambda f: f.value)
        self.target = space.target_fidelity
        self.discrete: list[tuple[int, list[float]]] = []
        for j, par in enumerate(space.parameters):
            if par.kind != "continuous":
                k = len(par.choices)
                self.discrete.append((j, [(i + 0.5) / k for i in range(k)]))
        self.bounds = torch.zeros(2, self.p + 1, dtype=torch.double)
        self.bounds[1] = 1.0
        vals = torch.tensor([f.value for f in self.fidelities], dtype=torch.double)
        self.bounds[0, -1], self.bounds[1, -1] = float(vals.min()), float(vals.max())
        self._values = vals
        self._costs = torch.tensor([f.cost for f in self.fidelities], dtype=torch.double)

    def cost(self, X: torch.Tensor) -> torch.Tensor:
        """Cost of each row's fidelity value (``... x q x 1``): piecewise linear through the fidelities."""
        s = X[..., -1:]
        c = self._costs[0] + torch.zeros_like(s)
        for i in range(len(self._values) - 1):
            v0, v1 = self._values[i], self._values[i + 1]
            slope = (self._costs[i + 1] - self._costs[i]) / (v1 - v0)
            c = c + slope * (s - v0).clamp(min=0.0, max=float(v1 - v0))
        return c

    def fidelity_of(self, s: float):
        return min(self.fidelities, key=lambda f: abs(f.value - s))

    def recipe(self, u: torch.Tensor) -> dict:
        return self.space.decode(self.space.from_unit(u[: self.p].reshape(1, -1)))[0]

    def snap(self, U: torch.Tensor) -> torch.Tensor:
        U = U.clone()
        for j, centres in self.discrete:
            c = torch.tensor(centres, dtype=U.dtype)
            U[..., j] = c[(U[..., j].unsqueeze(-1) - c).abs().argmin(-1)]
        return U

    def combos(self) -> list[dict[int, float]]:
        """Every combination of the discrete parameters' choices as ``fixed_features`` (one empty dict if none)."""
        if not self.discrete:
            return [{}]
        cols = [j for j, _ in self.discrete]
        return [dict(zip(cols, vals)) for vals in itertools.product(*[c for _, c in self.discrete])]


def initial_design(box: _Box, seed: int, settings: BoTorchSettings) -> torch.Tensor:
    """The tutorial's initial design on discrete fidelities: random points, fidelity drawn with probability
    proportional to 1 / cost, until the cost reaches ``init_target_evaluations`` target runs (the point that
    crosses it is dropped)."""
    gen = torch.Generator().manual_seed(int(seed))
    w = 1.0 / box._costs
    limit = settings.init_target_evaluations * box.target.cost
    rows, total = [], 0.0
    while total < limit:
        u = box.snap(torch.rand(box.p, generator=gen, dtype=torch.double))
        i = int(torch.multinomial(w, 1, generator=gen))
        rows.append(torch.cat([u, box._values[i : i + 1]]))
        total += float(box._costs[i])
    rows = rows[:-1] if len(rows) > 2 else rows
    return torch.stack(rows)


def fit_model(X: torch.Tensor, Y: torch.Tensor):
    """The tutorial's model: one ``SingleTaskGP`` per output (Matern 5/2 ARD, Gamma priors, fixed noise 1e-6,
    ``Standardize``) in a ``ModelListGP``, fitted from its priors."""
    from botorch import fit_gpytorch_mll  # noqa: PLC0415
    from botorch.models import ModelListGP, SingleTaskGP  # noqa: PLC0415
    from botorch.models.transforms.outcome import Standardize  # noqa: PLC0415
    from gpytorch.kernels import MaternKernel, ScaleKernel  # noqa: PLC0415
    from gpytorch.mlls import SumMarginalLogLikelihood  # noqa: PLC0415
    from gpytorch.priors import GammaPrior  # noqa: PLC0415

    models = []
    for i in range(Y.shape[-1]):
        y = Y[:, i : i + 1]
        models.append(SingleTaskGP(
            X, y, train_Yvar=torch.full_like(y, 1e-6), outcome_transform=Standardize(m=1),
            covar_module=ScaleKernel(MaternKernel(nu=2.5, ard_num_dims=X.shape[-1], lengthscale_prior=GammaPrior(2.0, 2.0)),
                                     outputscale_prior=GammaPrior(2.0, 0.15))))
    model = ModelListGP(*models)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fit_gpytorch_mll(SumMarginalLogLikelihood(model.likelihood, model))
        except Exception:  # noqa: BLE001 - a failed fit keeps the prior hyperparameters, as a campaign would go on
            pass
    model.eval()
    return model


def _optimize(acqf, bounds: torch.Tensor, fixed: dict[int, float], restarts: int, raw: int, maxiter: int,
              batch_limit: int, init_options: dict | None = None):
    from botorch.optim.optimize import optimize_acqf  # noqa: PLC0415

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cand, val = optimize_acqf(acqf, bounds=bounds, q=1, num_restarts=restarts, raw_samples=raw,
                                  fixed_features=fixed,
                                  options={"batch_limit": batch_limit, "maxiter": maxiter, **(init_options or {})})
    return cand.detach().reshape(-1), float(val)


def _best_over(acqf, box: _Box, restarts: int, raw: int, maxiter: int, batch_limit: int, combos,
               init_options: dict | None = None) -> tuple[torch.Tensor, float]:
    """The best point over every fidelity (its column fixed) and discrete combination."""
    best = (None, -math.inf)
    for f in box.fidelities:
        for combo in combos:
            cand, val = _optimize(acqf, box.bounds, {**combo, box.p: f.value}, restarts, raw, maxiter, batch_limit,
                                  init_options)
            if val > best[1]:
                best = (cand, val)
    x, val = best
    if val == 0.0:  # the tutorial's rule: nothing to gain anywhere, so spend the least
        x = x.clone()
        x[-1] = box.fidelities[0].value
    return x, val


def momf_step(box: _Box, X: torch.Tensor, Y: torch.Tensor, settings: BoTorchSettings, seed: int) -> tuple[torch.Tensor, float]:
    """One MOMF suggestion (fit included): the model input row (unit coordinates + fidelity value) and its value."""
    from botorch.acquisition.multi_objective.multi_fidelity import MOMF  # noqa: PLC0415
    from botorch.sampling.normal import SobolQMCNormalSampler  # noqa: PLC0415
    from botorch.utils.multi_objective.box_decompositions.non_dominated import (
        FastNondominatedPartitioning,  # noqa: PLC0415
    )

    Y_m = torch.cat([Y, X[:, -1:]], dim=-1)  # the trust objective: the fidelity value
    model = fit_model(X, Y_m)
    ref = torch.cat([box.problem.signed_ref, torch.zeros(1, dtype=torch.double)])
    partitioning = FastNondominatedPartitioning(ref_point=ref, Y=Y_m)
    sampler = SobolQMCNormalSampler(sample_shape=torch.Size([settings.momf_mc_samples]), seed=int(seed))
    acqf = MOMF(model=model, ref_point=ref, partitioning=partitioning, sampler=sampler, cost_call=box.cost)
    return _best_over(acqf, box, settings.momf_restarts, settings.momf_raw_samples, settings.momf_maxiter,
                      settings.batch_limit, box.combos())


def hvkg_step(box: _Box, X: torch.Tensor, Y: torch.Tensor, settings: BoTorchSettings, seed: int) -> tuple[torch.Tensor, float]:
    """One MF-HVKG suggestion (fit and current value included)."""
    from botorch.acquisition.cost_aware import InverseCostWeightedUtility  # noqa: PLC0415
    from botorch.acquisition.fixed_feature import FixedFeatureAcquisitionFunction  # noqa: PLC0415
    from botorch.acquisition.multi_objective.hypervolume_knowledge_gradient import (  # noqa: PLC0415
        _get_hv_value_function,
        qMultiFidelityHypervolumeKnowledgeGradient,
    )
    from botorch.acquisition.utils import project_to_target_fidelity  # noqa: PLC0415
    from botorch.models.deterministic import GenericDeterministicModel  # noqa: PLC0415
    from botorch.optim.optimize import optimize_acqf  # noqa: PLC0415
    from botorch.sampling.normal import SobolQMCNormalSampler  # noqa: PLC0415

    if box.discrete:
        raise ValueError("MF-HVKG here needs continuous parameters only")
    torch.manual_seed(int(seed))
    model = fit_model(X, Y)
    ref = box.problem.signed_ref
    p = box.p
    target = {p: box.target.value}

    def project(Z: torch.Tensor) -> torch.Tensor:
        return project_to_target_fidelity(X=Z, d=p + 1, target_fidelities=target)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value_fn = FixedFeatureAcquisitionFunction(
            acq_function=_get_hv_value_function(
                model=model, ref_point=ref,
                sampler=SobolQMCNormalSampler(sample_shape=torch.Size([settings.hvkg_inner_mc])),
                use_posterior_mean=True),
            d=p + 1, columns=[p], values=[box.target.value])
        _, current_value = optimize_acqf(value_fn, bounds=box.bounds[:, :p], q=settings.hvkg_pareto, num_restarts=1,
                                         raw_samples=settings.hvkg_current_raw, return_best_only=True,
                                         options={"maxiter": settings.hvkg_maxiter})
    acqf = qMultiFidelityHypervolumeKnowledgeGradient(
        model=model, ref_point=ref, num_fantasies=settings.hvkg_fantasies, num_pareto=settings.hvkg_pareto,
        current_value=current_value,
        cost_aware_utility=InverseCostWeightedUtility(cost_model=GenericDeterministicModel(box.cost)),
        target_fidelities=target, project=project)
    # the one-shot initializer's inner search for the posterior mean's hypervolume-maximizing set
    init = {"num_inner_restarts": settings.hvkg_inner_restarts, "raw_inner_samples": settings.hvkg_inner_raw}
    return _best_over(acqf, box, settings.hvkg_restarts, settings.hvkg_raw_samples, settings.hvkg_maxiter,
                      settings.batch_limit, [{}], init)


STEPS = {"momf": momf_step, "mf_hvkg": hvkg_step}


def front_recipes(box: _Box, model, X: torch.Tensor, n_objectives: int) -> list[dict]:
    """Observed recipes whose posterior means at the target are non-dominated (at most ``goals.MAX_FRONT``,
    spread along the first objective), as our strategies' recommended front."""
    U = torch.unique(X[:, : box.p], dim=0)
    Xt = torch.cat([U, torch.full((U.shape[0], 1), box.target.value, dtype=torch.double)], dim=-1)
    with torch.no_grad():
        means = model.posterior(Xt).mean[:, :n_objectives]
    idx = torch.nonzero(goals.pareto_mask(means)).reshape(-1)
    idx = idx[means[idx, 0].argsort(descending=True)]
    if idx.numel() > goals.MAX_FRONT:
        idx = idx[torch.linspace(0, idx.numel() - 1, goals.MAX_FRONT).round().long()]
    return [box.recipe(U[i]) for i in idx.tolist()]


__all__ = [
    "STEPS",
    "TUTORIAL",
    "BoTorchSettings",
    "fit_model",
    "front_recipes",
    "hvkg_step",
    "initial_design",
    "momf_step",
]
