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
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP, SingleTaskMultiFidelityGP
from botorch.models.transforms.outcome import Standardize
from gpytorch.constraints import GreaterThan
from gpytorch.likelihoods import GaussianLikelihood
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import LogNormalPrior

from core import OptimizerError
from optimizers.predictor import DenseMarginalLikelihood, DensePosterior

log = logging.getLogger(__name__)

# GPyTorch asks torch.broadcast_shapes for every kernel's batch shape, and torch imports sympy at
# its first call (about 0.5 s here). Paid once when the optimizer is imported, with the rest of
# the process's start-up, rather than inside the first suggestion a controller makes.
torch.broadcast_shapes((1,), (1,))

# Noise variance floor in standardized units: simulators are noiseless, and an exact
# interpolant of thousands of points is numerically brittle; 1e-4 is ~1 % of the
# outcome's standard deviation.
NOISE_FLOOR = 1e-4
#: ``linear_truncated``: BoTorch's ``SingleTaskMultiFidelityGP`` as it comes; ``linear_truncated_scaled``: the same
#: with the dimension-scaled lengthscale prior on its shared part; ``product``: Matern(x) * RBF(fidelity).
KERNELS = ("linear_truncated", "linear_truncated_scaled", "product")
_LINEAR_TRUNCATED = KERNELS[:2]  # BoTorch's LinearTruncatedFidelityKernel, either prior on its shared part


@dataclass
class FittedModel:
    """A fitted GP, its training data and a short id.

    Attributes:
        model: botorch model over ``n x (d + 1)`` encodings (multi-fidelity) or
            ``n x d`` (single fidelity); outputs the signed (maximized) objective.
            With physics (``optimizers.physics``) it wraps ``gp``, adding simulator
            features to its inputs or the simulator's prediction to its mean.
        X, Y: training inputs ``n x (d + 1)`` / ``n x d`` and signed outputs ``n x 1``.
        model_id: 12 hex characters hashing the data and hyperparameters.
        fit_ok: False when every fitting attempt failed and the prior hyperparameters are used.
        input_names: one name per column of ``gp_inputs``, the inputs the GP's kernel
            sees: parameter names, ``blade=anchor``, ``additive:MolLogP``,
            ``additive:morgan:1057``, ``feature:degree_of_cure`` (physics features),
            ``fidelity``. Without physics ``gp_inputs`` is ``X``.
        gp: the GP with the kernel (``model`` itself without physics).
        gp_inputs: the GP's training inputs ``n x D`` (``X`` without physics).
    """

    model: torch.nn.Module
    X: torch.Tensor
    Y: torch.Tensor
    model_id: str
    fit_ok: bool
    input_names: list[str] = field(default_factory=list)
    gp: torch.nn.Module | None = None
    gp_inputs: torch.Tensor | None = None

    _dense: object = field(default=False, repr=False, compare=False)  # False: not built yet

    def dense_posterior(self):
        """``optimizers.predictor.DensePosterior`` of ``model``, built on first use; None where it does not
        cover the model (physics, an input transform)."""
        if self._dense is False:
            self._dense = DensePosterior.of(self.model)
        return self._dense

    def __post_init__(self) -> None:
        if self.gp is None:
            self.gp = self.model
        if self.gp_inputs is None:
            self.gp_inputs = self.X
        if self.input_names and len(self.input_names) != self.gp_inputs.shape[-1]:
            raise OptimizerError(f"{len(self.input_names)} input names for {self.gp_inputs.shape[-1]} model inputs: {self.input_names}")

    def lengthscales(self) -> dict[str, float]:
        """Input name -> fitted ARD lengthscale (in the encoded unit box), for every input that has one.

        Fingerprint bits (Tanimoto kernel) have none; for the linear-truncated fidelity
        kernel the lengthscales of its unbiased (fidelity-independent) part are given.
        """
        names = self.input_names or [f"x{j}" for j in range(self.gp_inputs.shape[-1])]
        return _lengthscales(self.gp.covar_module, names)


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


def _build(X: torch.Tensor, Y: torch.Tensor, fidelity_column: int | None, kernel: str, noise_floor: float,
           fingerprint_columns: Sequence[int] = ()):
    lik = _likelihood(noise_floor)
    if fingerprint_columns:
        return _build_with_fingerprints(X, Y, fidelity_column, kernel, lik, list(fingerprint_columns))
    if fidelity_column is None:
        return SingleTaskGP(X, Y, likelihood=lik, outcome_transform=Standardize(m=1))
    if kernel in _LINEAR_TRUNCATED:
        model = SingleTaskMultiFidelityGP(
            X, Y, data_fidelities=[fidelity_column], likelihood=lik, outcome_transform=Standardize(m=1)
        )
        if kernel == "linear_truncated_scaled":
            # BoTorch gives the shared (fidelity-independent) part a Gamma(3, 6) lengthscale prior whatever the
            # number of inputs; this variant gives it SingleTaskGP's dimension-scaled prior instead (constraint
            # and starting value stay BoTorch's). See README, "Backtesting on recorded data".
            ltk = model.covar_module.base_kernel
            ltk = ltk.kernels[0] if hasattr(ltk, "kernels") else ltk
            ltk.covar_module_unbiased = _matern(X.shape[-1] - 1).to(X)
        return model
    if kernel == "product":
        # Matern over the parameters times an RBF over the fidelity value: the correlation
        # between two fidelities is the fidelity kernel, learned from the data.
        from gpytorch.kernels import MaternKernel, RBFKernel, ScaleKernel
        from gpytorch.priors import GammaPrior

        d = X.shape[-1] - 1
        base = MaternKernel(nu=2.5, ard_num_dims=d, active_dims=list(range(d)), lengthscale_prior=dim_scaled_prior(d))
        fid = RBFKernel(active_dims=[fidelity_column], lengthscale_prior=GammaPrior(3.0, 6.0))
        return SingleTaskGP(X, Y, likelihood=lik, covar_module=ScaleKernel(base * fid), outcome_transform=Standardize(m=1))
    raise OptimizerError(f"unknown kernel {kernel!r}; choose one of {KERNELS}")


def dim_scaled_prior(d: int) -> LogNormalPrior:
    """The lengthscale prior of BoTorch's ``SingleTaskGP`` (Hvarfner et al. 2024, "Vanilla Bayesian optimization
    performs great in high dimensions"): its median grows with the square root of the number of inputs ``d``."""
    return LogNormalPrior(loc=math.sqrt(2) + 0.5 * math.log(max(d, 1)), scale=math.sqrt(3))


def _matern(dims: list[int] | int):
    """Matern 5/2 with the dimension-scaled lengthscale prior over ``dims``: a list of active columns, or a
    count (every column the kernel is given)."""
    from gpytorch.kernels import MaternKernel

    d = dims if isinstance(dims, int) else len(dims)
    return MaternKernel(nu=2.5, ard_num_dims=d, active_dims=None if isinstance(dims, int) else dims,
                        lengthscale_prior=dim_scaled_prior(d))


def _build_with_fingerprints(X, Y, fidelity_column, kernel, lik, fp: list[int]):
    """Tanimoto on the fingerprint bits times the usual kernel of the other columns (and the fidelity)."""
    from botorch.models.kernels import LinearTruncatedFidelityKernel
    from gpytorch.kernels import RBFKernel, ScaleKernel
    from gpytorch.priors import GammaPrior

    from optimizers.featurize import TanimotoKernel

    if kernel not in KERNELS:
        raise OptimizerError(f"unknown kernel {kernel!r}; choose one of {KERNELS}")
    other = [j for j in range(X.shape[-1]) if j not in fp and j != fidelity_column]
    parts = [TanimotoKernel(active_dims=fp)]
    if fidelity_column is None:
        if other:
            parts.append(_matern(other))
    elif kernel in _LINEAR_TRUNCATED and other:
        scaled = {"covar_module_unbiased": _matern(len(other))} if kernel == "linear_truncated_scaled" else {}
        parts.append(LinearTruncatedFidelityKernel(fidelity_dims=[len(other)], dimension=len(other) + 1, nu=2.5,
                                                   active_dims=other + [fidelity_column], power_prior=GammaPrior(3.0, 3.0),
                                                   **scaled))
    else:
        if other:
            parts.append(_matern(other))
        parts.append(RBFKernel(active_dims=[fidelity_column], lengthscale_prior=GammaPrior(3.0, 6.0)))
    covar = parts[0]
    for k in parts[1:]:
        covar = covar * k
    return SingleTaskGP(X, Y, likelihood=lik, covar_module=ScaleKernel(covar), outcome_transform=Standardize(m=1))


def _lengthscales(kernel, names: list[str]) -> dict[str, float]:
    from botorch.models.kernels import LinearTruncatedFidelityKernel
    from gpytorch.kernels import AdditiveKernel, ProductKernel, ScaleKernel

    out: dict[str, float] = {}
    dims = kernel.active_dims.tolist() if getattr(kernel, "active_dims", None) is not None else list(range(len(names)))
    if isinstance(kernel, ScaleKernel):
        return _lengthscales(kernel.base_kernel, names)
    if isinstance(kernel, (ProductKernel, AdditiveKernel)):
        for k in kernel.kernels:
            out.update(_lengthscales(k, names))
        return out
    if isinstance(kernel, LinearTruncatedFidelityKernel):
        fid = {int(i) for i in kernel.fidelity_dims}
        own = [dims[i] for i in range(len(dims)) if i not in fid]
        ls = kernel.covar_module_unbiased.lengthscale.detach().reshape(-1)
        return {names[j]: float(v) for j, v in zip(own, ls)}
    if getattr(kernel, "has_lengthscale", False):
        ls = kernel.lengthscale.detach().reshape(-1)
        if ls.numel() == len(dims):
            return {names[j]: float(v) for j, v in zip(dims, ls)}
        if ls.numel() == 1:
            return {names[j]: float(ls[0]) for j in dims}
    return out


def _finite(model, X: torch.Tensor) -> tuple[bool, object]:
    """Whether the fitted model predicts finite means and variances at (up to 64 of) its training rows,
    and its dense posterior (``optimizers.predictor``), which answers that where it covers the model:
    GPyTorch's first posterior costs more than a fit with held hyperparameters otherwise does."""
    model.eval()
    dense = DensePosterior.of(model)
    with torch.no_grad():
        if dense is not None:
            mean, var = dense(X[: min(len(X), 64)])
            return bool(torch.isfinite(mean).all() and torch.isfinite(var).all()), dense
        post = model.posterior(X[: min(len(X), 64)])
        return bool(torch.isfinite(post.mean).all() and torch.isfinite(post.variance).all()), None


def fit_model(
    X: torch.Tensor,
    Y: torch.Tensor,
    *,
    fidelity_column: int | None,
    kernel: str = "linear_truncated",
    warm_state: dict | None = None,
    maxiter: int = 150,
    fingerprint_columns: Sequence[int] = (),
    input_names: Sequence[str] | None = None,
    optimize: bool = True,
    dense: bool = True,
) -> FittedModel:
    """Fit a GP to ``X`` (``n x D``) and signed ``Y`` (``n x 1``).

    Args:
        fidelity_column: index of the fidelity column for a multi-fidelity model, or
            None for a plain GP (single fidelity).
        kernel: one of ``KERNELS``: ``"linear_truncated"`` (BoTorch's ``SingleTaskMultiFidelityGP``),
            ``"linear_truncated_scaled"`` (the same with the dimension-scaled lengthscale prior on its shared
            part) or ``"product"`` (Matern(x) * RBF(fidelity)).
        warm_state: hyperparameters of an earlier fit on a subset of the data; the
            first attempt starts from them (fewer optimizer iterations).
        maxiter: L-BFGS iteration cap per attempt.
        fingerprint_columns: columns of Morgan fingerprint bits; the kernel is then
            Tanimoto(bits) times the kernel of the other columns.
        input_names: one name per column of ``X`` (kept on the result).
        optimize: False with a ``warm_state``: keep those hyperparameters as they are (the GP is
            conditioned on the new data, nothing is optimized; milliseconds instead of about a
            second). A non-finite result falls back to optimizing.
        dense: compute the marginal likelihood densely in torch where
            ``optimizers.predictor.DenseMarginalLikelihood`` covers the model (the same value and
            gradients, checked before use, several times faster); False: GPyTorch's own.

    Raises:
        OptimizerError: fewer than one observation.
    """
    if X.shape[0] < 1:
        raise OptimizerError("cannot fit a model without a completed observation")
    names = list(input_names) if input_names is not None else []
    if names and len(names) != X.shape[-1]:
        raise OptimizerError(f"got {len(names)} input names for {X.shape[-1]} columns of X")
    if not optimize and warm_state is not None:
        try:
            model = _build(X, Y, fidelity_column, kernel, NOISE_FLOOR, fingerprint_columns)
            _load_hyperparameters(model, warm_state)
            ok, dense = _finite(model, X)
            if ok:
                return FittedModel(model, X, Y, model_id(model, X, Y), True, names, _dense=dense)
        except Exception as err:  # noqa: BLE001 - numerical trouble: optimize instead
            log.debug("GP with held hyperparameters failed: %s", err)
    attempts = []
    if warm_state is not None:
        attempts.append((NOISE_FLOOR, warm_state))
    attempts += [(NOISE_FLOOR, None), (1e-3, None), (1e-2, None)]
    last_err: Exception | None = None
    for noise_floor, state in attempts:
        try:
            model = _build(X, Y, fidelity_column, kernel, noise_floor, fingerprint_columns)
            if state is not None:
                _load_hyperparameters(model, state)
            mll = ExactMarginalLogLikelihood(model.likelihood, model)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit_gpytorch_mll(
                    mll,
                    closure=DenseMarginalLikelihood.of(mll) if dense else None,
                    optimizer_kwargs={"options": {"maxiter": maxiter}},
                    max_attempts=2,
                )
            ok, dense = _finite(model, X)
            if ok:
                return FittedModel(model, X, Y, model_id(model, X, Y), True, names, _dense=dense)
        except Exception as err:  # noqa: BLE001 - any numerical failure means "try the next attempt"
            last_err = err
            log.debug("GP fit attempt failed (noise floor %g): %s", noise_floor, err)
    log.warning("every GP fit attempt failed (%s); using prior hyperparameters", last_err)
    model = _build(X, Y, fidelity_column, kernel, 1e-2, fingerprint_columns)
    model.eval()
    return FittedModel(model, X, Y, model_id(model, X, Y), False, names)


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
