"""Gaussian-process models of the objective, fitted robustly.

``fit_model`` never returns a model that predicts NaN: it retries a failed fit from a
warm start or the defaults with a larger noise floor, and as a last resort keeps the
prior hyperparameters (which still give a valid, if vague, GP).
"""

from __future__ import annotations

import hashlib
import math
import logging
import warnings
from dataclasses import dataclass

import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP, SingleTaskMultiFidelityGP
from botorch.models.transforms.outcome import Standardize
from gpytorch.constraints import GreaterThan
from gpytorch.likelihoods import GaussianLikelihood
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import LogNormalPrior

from core import OptimizerError

log = logging.getLogger(__name__)

# Noise variance floor in standardized units: simulators are noiseless, and an exact
# interpolant of thousands of points is numerically brittle; 1e-4 is ~1 % of the
# outcome's standard deviation.
NOISE_FLOOR = 1e-4
KERNELS = ("linear_truncated", "product")


@dataclass
class FittedModel:
    """A fitted GP, its training data and a short id.

    Attributes:
        model: botorch model over ``n x (d + 1)`` encodings (multi-fidelity) or
            ``n x d`` (single fidelity); outputs the signed (maximized) objective.
        X, Y: training inputs ``n x (d + 1)`` / ``n x d`` and signed outputs ``n x 1``.
        model_id: 12 hex characters hashing the data and hyperparameters.
        fit_ok: False when every fitting attempt failed and the prior hyperparameters are used.
    """

    model: torch.nn.Module
    X: torch.Tensor
    Y: torch.Tensor
    model_id: str
    fit_ok: bool


def data_key(X: torch.Tensor, Y: torch.Tensor) -> str:
    h = hashlib.sha1()
    h.update(X.detach().contiguous().numpy().tobytes())
    h.update(Y.detach().contiguous().numpy().tobytes())
    return h.hexdigest()


def _likelihood(noise_floor: float) -> GaussianLikelihood:
    return GaussianLikelihood(
        noise_prior=LogNormalPrior(loc=-4.0, scale=1.0),
        noise_constraint=GreaterThan(noise_floor, initial_value=max(2 * noise_floor, 1e-3)),
    )


def _build(X: torch.Tensor, Y: torch.Tensor, fidelity_column: int | None, kernel: str, noise_floor: float):
    lik = _likelihood(noise_floor)
    if fidelity_column is None:
        return SingleTaskGP(X, Y, likelihood=lik, outcome_transform=Standardize(m=1))
    if kernel == "linear_truncated":
        return SingleTaskMultiFidelityGP(
            X, Y, data_fidelities=[fidelity_column], likelihood=lik, outcome_transform=Standardize(m=1)
        )
    if kernel == "product":
        # Matern over the parameters times an RBF over the fidelity value: the correlation
        # between two fidelities is the fidelity kernel, learned from the data.
        from gpytorch.kernels import MaternKernel, RBFKernel, ScaleKernel
        from gpytorch.priors import GammaPrior

        d = X.shape[-1] - 1
        base = MaternKernel(nu=2.5, ard_num_dims=d, active_dims=list(range(d)),
                            lengthscale_prior=LogNormalPrior(loc=math.sqrt(2) + 0.5 * math.log(max(d, 1)), scale=math.sqrt(3)))
        fid = RBFKernel(active_dims=[fidelity_column], lengthscale_prior=GammaPrior(3.0, 6.0))
        return SingleTaskGP(X, Y, likelihood=lik, covar_module=ScaleKernel(base * fid), outcome_transform=Standardize(m=1))
    raise OptimizerError(f"unknown kernel {kernel!r}; choose one of {KERNELS}")


def _finite(model, X: torch.Tensor) -> bool:
    model.eval()
    with torch.no_grad():
        post = model.posterior(X[: min(len(X), 64)])
        return bool(torch.isfinite(post.mean).all() and torch.isfinite(post.variance).all())


def fit_model(
    X: torch.Tensor,
    Y: torch.Tensor,
    *,
    fidelity_column: int | None,
    kernel: str = "linear_truncated",
    warm_state: dict | None = None,
    maxiter: int = 150,
) -> FittedModel:
    """Fit a GP to ``X`` (``n x D``) and signed ``Y`` (``n x 1``).

    Args:
        fidelity_column: index of the fidelity column for a multi-fidelity model, or
            None for a plain GP (single fidelity).
        kernel: ``"linear_truncated"`` (BoTorch's ``SingleTaskMultiFidelityGP``) or
            ``"product"`` (Matern(x) * RBF(fidelity)).
        warm_state: hyperparameters of an earlier fit on a subset of the data; the
            first attempt starts from them (fewer optimizer iterations).
        maxiter: L-BFGS iteration cap per attempt.

    Raises:
        OptimizerError: fewer than one observation.
    """
    if X.shape[0] < 1:
        raise OptimizerError("cannot fit a model without a completed observation")
    attempts = []
    if warm_state is not None:
        attempts.append((NOISE_FLOOR, warm_state))
    attempts += [(NOISE_FLOOR, None), (1e-3, None), (1e-2, None)]
    last_err: Exception | None = None
    for noise_floor, state in attempts:
        try:
            model = _build(X, Y, fidelity_column, kernel, noise_floor)
            if state is not None:
                _load_hyperparameters(model, state)
            mll = ExactMarginalLogLikelihood(model.likelihood, model)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit_gpytorch_mll(
                    mll,
                    optimizer_kwargs={"options": {"maxiter": maxiter}},
                    max_attempts=2,
                )
            if _finite(model, X):
                return FittedModel(model, X, Y, model_id(model, X, Y), True)
        except Exception as err:  # noqa: BLE001 - any numerical failure means "try the next attempt"
            last_err = err
            log.debug("GP fit attempt failed (noise floor %g): %s", noise_floor, err)
    log.warning("every GP fit attempt failed (%s); using prior hyperparameters", last_err)
    model = _build(X, Y, fidelity_column, kernel, 1e-2)
    model.eval()
    return FittedModel(model, X, Y, model_id(model, X, Y), False)


def _load_hyperparameters(model, state: dict) -> None:
    own = model.state_dict()
    keep = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape and "train" not in k
            and not k.startswith("outcome_transform")}
    model.load_state_dict(keep, strict=False)


def hyperparameters(model) -> dict:
    """The model's hyperparameters (no training data, no outcome statistics), detached."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()
            if not k.startswith("outcome_transform") and "train" not in k}


def model_id(model, X: torch.Tensor, Y: torch.Tensor) -> str:
    h = hashlib.sha1(data_key(X, Y).encode())
    for k, v in sorted(hyperparameters(model).items()):
        h.update(k.encode())
        h.update(v.double().round(decimals=6).numpy().tobytes())
    return h.hexdigest()[:12]
