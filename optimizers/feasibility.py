"""Learning from failures: a model of where experiments fail, so the search avoids it.

Failed samples (a device fault, a simulator that could not compute) carry no objective
value, so the objective GP never sees them. A second GP ``g`` is fitted to the
*outcome* of every finished row, +1 for completed and -1 for failed, over the
parameters only (failures are a property of the recipe, seen at any fidelity), as in
constrained Bayesian optimization with a GP on the constraint (Gardner et al., 2014):
``p(x) = P(g(x) > 0) = Phi(mu(x) / sigma(x))``. The acquisition adds ``log p(x)`` to
its log-scale value, so a region that keeps failing (``mu`` well below 0, small
``sigma``) is abandoned (below ``AVOID_BELOW`` it is treated as infeasible), an
unexplored one keeps ``p`` near 0.5, and a single failure only dents its neighbourhood.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import torch
from botorch.acquisition import AcquisitionFunction
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from gpytorch.mlls import ExactMarginalLogLikelihood

from optimizers.space import STATUS_COLUMN, SearchSpace

# p(x) is floored so log p stays finite.
MIN_SUCCESS_PROBABILITY = 1e-6
# Below this success probability a point is treated as infeasible: the expected
# improvement of an extrapolated objective can otherwise outweigh a small p(x) and
# send the search back into a region that keeps failing.
AVOID_BELOW = 0.05
AVOID_PENALTY = 100.0


class SuccessModel:
    """``p(x)``: probability that an experiment at encoded parameters ``x`` completes.

    Args:
        X: ``n x d`` encoded parameters of finished rows.
        success: ``n`` tensor of 1.0 (completed) / 0.0 (failed).
    """

    def __init__(self, X: torch.Tensor, success: torch.Tensor):
        self.X = X
        self.success = success
        labels = (2.0 * success - 1.0).reshape(-1, 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # No outcome standardization: 0 must stay the boundary between success and failure.
            self.model = SingleTaskGP(X, labels, outcome_transform=None)
            try:
                fit_gpytorch_mll(ExactMarginalLogLikelihood(self.model.likelihood, self.model))
            except Exception:  # noqa: BLE001 - the prior hyperparameters still give a smooth p(x)
                pass
        self.model.eval()

    @classmethod
    def from_history(cls, space: SearchSpace, history: pd.DataFrame) -> "SuccessModel | None":
        """A model when the history holds at least one failure and one success, else None."""
        if len(history) == 0 or STATUS_COLUMN not in history:
            return None
        status = history[STATUS_COLUMN].to_numpy()
        finished = np.isin(status, ("completed", "failed"))
        if not (status == "failed").any() or not (status == "completed").any():
            return None
        rows = history[finished]
        X = space.encode(rows, kind="history")[:, : space.dim]
        y = torch.tensor((rows[STATUS_COLUMN] == "completed").to_numpy(dtype=float), dtype=torch.double)
        return cls(X, y)

    def probability(self, X: torch.Tensor) -> torch.Tensor:
        """``p(x)`` for ``... x d`` inputs, in [MIN_SUCCESS_PROBABILITY, 1]."""
        post = self.model.posterior(X)
        mean = post.mean.squeeze(-1)
        std = post.variance.squeeze(-1).clamp_min(1e-12).sqrt()
        p = torch.distributions.Normal(0.0, 1.0).cdf(mean / std)
        return p.clamp(MIN_SUCCESS_PROBABILITY, 1.0)


class SuccessWeighted(AcquisitionFunction):
    """``acqf(X) + sum_q [log p(x_q) - penalty if p(x_q) < AVOID_BELOW]`` for a log-scale
    acquisition over ``b x q x d`` inputs."""

    def __init__(self, acqf: AcquisitionFunction, success: SuccessModel):
        super().__init__(model=success.model)  # the wrapped acquisition keeps its own model
        self.acqf = acqf
        self.success = success

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.acqf(X) + success_log_weight(self.success, X)


def success_log_weight(success: SuccessModel, X: torch.Tensor) -> torch.Tensor:
    """What :class:`SuccessWeighted` adds to a log-scale acquisition: ``sum_q [log p(x_q) - penalty
    if p(x_q) < AVOID_BELOW]`` over ``b x q x d`` inputs (``n x d``: one point each)."""
    if X.dim() == 2:
        X = X.unsqueeze(-2)
    p = success.probability(X)
    penalty = (p < AVOID_BELOW).to(p) * AVOID_PENALTY
    return (p.log() - penalty).sum(dim=-1)
