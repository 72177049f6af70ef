"""A GP's posterior and marginal likelihood as plain tensors: the acquisition search's and the fit's inner loops.

Maximizing log EI runs L-BFGS over a few restarts: about 30 posterior evaluations with
gradients per search. Through GPyTorch each one costs about 15 ms on a campaign's small
models, nearly all of it framework work (lazy kernel tensors, batch-shape bookkeeping,
module traversal) rather than arithmetic; the reference dry run spent half its wall time
there. Hyperparameters and training data are fixed during a search, so
:class:`DensePosterior` factors ``K + noise I`` once and evaluates

    mean(x) = c + k(x, X) alpha,        alpha = (K + noise I)^-1 (y - c)
    var(x)  = k(x, x) - |L^-1 k(X, x)|^2

with the kernel written out in torch operations, then undoes the outcome standardization:
the same numbers as ``model.posterior(x)`` (checked on every build), at a fraction of the cost.

It covers the models ``optimizers.model`` builds from Matern / RBF / Tanimoto kernels,
BoTorch's linear truncated fidelity kernel, products and a scale kernel, a constant mean,
Gaussian noise and a ``Standardize`` outcome transform. Anything else (a physics prior mean,
an input transform, another kernel) returns None from :meth:`DensePosterior.of` and the
caller keeps BoTorch's own path.

The fit has the same shape of problem: L-BFGS evaluates the marginal likelihood and its gradient
60-150 times with the data fixed. :class:`DenseMarginalLikelihood` computes both densely (the
same kernel functions, read with live hyperparameters) and is handed to BoTorch's
``fit_gpytorch_mll`` as its closure, so BoTorch's optimizer, bounds and retries are unchanged.
Fitted hyperparameters agree with GPyTorch's to about 1e-10 (``tests/optimizers/test_predictor.py``).

Several outcomes (``optimizers.goals``) are one GP each in a ``ModelListGP``, and qLogNEHVI asks it
for the joint posterior of the baseline and each candidate at every evaluation. :class:`DenseModelListGP`
answers that plain request (no observation noise, every output, no transform) from each outcome's
:class:`DensePosterior` and builds the same ``MultitaskMultivariateNormal`` BoTorch would, so the
acquisition's Monte Carlo path (its base samples and cached baseline root) is unchanged.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import torch
from botorch.acquisition.analytic import LogExpectedImprovement
from botorch.models import ModelListGP
from botorch.models.kernels import LinearTruncatedFidelityKernel
from botorch.models.transforms.outcome import Standardize
from botorch.posteriors import GPyTorchPosterior
from gpytorch.distributions import MultitaskMultivariateNormal, MultivariateNormal
from gpytorch.kernels import MaternKernel, ProductKernel, RBFKernel, ScaleKernel
from gpytorch.kernels.kernel import sq_dist
from gpytorch.likelihoods import GaussianLikelihood
from gpytorch.likelihoods.noise_models import HomoskedasticNoise
from gpytorch.means import ConstantMean
from linear_operator.operators import DenseLinearOperator
from linear_operator.utils.cholesky import psd_safe_cholesky

from optimizers.featurize import TanimotoKernel

log = logging.getLogger(__name__)

#: A build whose predictions differ from ``model.posterior`` by more than this (relative to the
#: prior scale) is not used.
CHECK_TOL = 1e-6

Kernel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (a: m x D, b: n x D) -> m x n
Diag = Callable[[torch.Tensor], torch.Tensor]  # a: m x D -> m


class _Unsupported(Exception):
    pass


def _sliced(k, fn: Kernel, diag: Diag) -> tuple[Kernel, Diag]:
    dims = getattr(k, "active_dims", None)
    if dims is None:
        return fn, diag
    idx = dims.clone()

    def sliced(a, b):
        a_ = a.index_select(-1, idx)
        return fn(a_, a_ if b is a else b.index_select(-1, idx))

    return sliced, lambda a: diag(a.index_select(-1, idx))


def _sq_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if a is b:  # the training matrix: GPyTorch's own expansion (n x n, no n x n x D difference tensor)
        return sq_dist(a, a, x1_eq_x2=True)  # zeroes the diagonal unless differentiating, as GPyTorch
    return (a.unsqueeze(-2) - b.unsqueeze(-3)).pow(2).sum(-1)


def _hyper(k, name: str, live: bool) -> Callable[[], torch.Tensor]:
    """Hyperparameter ``name`` of ``k``: read at each call (``live``, differentiable) or fixed now."""
    if live:
        return lambda: getattr(k, name)
    value = getattr(k, name).detach()
    return lambda: value


def _stationary(k, live: bool = False) -> tuple[Kernel, Diag]:
    if k.batch_shape != torch.Size([]):
        raise _Unsupported("batched kernel")
    lengthscale = _hyper(k, "lengthscale", live)

    def scaled(a, b):
        ls = lengthscale().reshape(-1)
        a_ = a / ls
        return a_, (a_ if b is a else b / ls)

    if type(k) is RBFKernel:
        def fn(a, b):
            return torch.exp(-0.5 * _sq_dist(*scaled(a, b)))
    elif type(k) is MaternKernel and k.nu in (0.5, 1.5, 2.5):
        nu = float(k.nu)

        def fn(a, b):
            dist = _sq_dist(*scaled(a, b)).clamp_min(1e-30).sqrt()  # as GPyTorch: no NaN gradient at 0
            exp = torch.exp(-math.sqrt(2 * nu) * dist)
            if nu == 0.5:
                return exp
            if nu == 1.5:
                return (1 + math.sqrt(3) * dist) * exp
            return (1 + math.sqrt(5) * dist + 5.0 / 3.0 * dist**2) * exp
    else:
        raise _Unsupported(type(k).__name__)
    return fn, lambda a: a.new_ones(a.shape[:-1])


def _linear_truncated(k: LinearTruncatedFidelityKernel, live: bool = False) -> tuple[Kernel, Diag]:
    if len(k.fidelity_dims) != 1 or k.batch_shape != torch.Size([]):
        raise _Unsupported("linear truncated kernel with several fidelity columns or a batch")
    unbiased, _ = _stationary(k.covar_module_unbiased, live)
    biased, _ = _stationary(k.covar_module_biased, live)
    power = _hyper(k, "power", live)
    s_col = int(k.fidelity_dims[0])

    def split(a):
        keep = [j for j in range(a.shape[-1]) if j != s_col]
        return a[..., keep], a[..., s_col].clamp(0, 1)

    def fn(a, b):
        xa, sa = split(a)
        xb, sb = (xa, sa) if b is a else split(b)
        sa, sb = sa.unsqueeze(-1), sb.unsqueeze(-2)
        bias = (1 - sa) * (1 - sb) * (1 + sa * sb).pow(power().reshape(()))
        return unbiased(xa, xb) + bias * biased(xa, xb)

    def diag(a):
        _, s = split(a)
        return 1 + (1 - s) ** 2 * (1 + s * s).pow(power().reshape(()))

    return fn, diag


def _kernel(k, live: bool = False) -> tuple[Kernel, Diag]:
    """``k`` as torch functions of its inputs: hyperparameters fixed now, or read at each call (``live``)."""
    if type(k) is ScaleKernel:
        if k.batch_shape != torch.Size([]):
            raise _Unsupported("batched scale kernel")
        outputscale = _hyper(k, "outputscale", live)
        fn, diag = _kernel(k.base_kernel, live)
        out = ((lambda a, b: outputscale().reshape(()) * fn(a, b)),
               (lambda a: outputscale().reshape(()) * diag(a)))
    elif type(k) is ProductKernel:
        parts = [_kernel(sub, live) for sub in k.kernels]

        def fn(a, b):
            res = parts[0][0](a, b)
            for f, _ in parts[1:]:
                res = res * f(a, b)
            return res

        def diag(a):
            res = parts[0][1](a)
            for _, dg in parts[1:]:
                res = res * dg(a)
            return res

        out = fn, diag
    elif type(k) is LinearTruncatedFidelityKernel:
        out = _linear_truncated(k, live)
    elif type(k) is TanimotoKernel:  # no hyperparameters: its own forward is plain torch already
        out = (lambda a, b: k.forward(a, b)), (lambda a: k.forward(a, a, diag=True))
    else:
        out = _stationary(k, live)
    return _sliced(k, *out)


def _check_covered(model) -> None:
    """Raise ``_Unsupported`` unless ``model`` is what the dense code writes out: one output, no input
    transform, a homoskedastic Gaussian likelihood, a constant mean and unbatched training data."""
    if getattr(model, "input_transform", None) is not None or getattr(model, "num_outputs", 1) != 1:
        raise _Unsupported("input transform or several outputs")
    lik = model.likelihood
    if type(lik) is not GaussianLikelihood or type(lik.noise_covar) is not HomoskedasticNoise:
        raise _Unsupported(f"likelihood {type(lik).__name__}")
    if type(model.mean_module) is not ConstantMean:
        raise _Unsupported(f"mean {type(model.mean_module).__name__}")
    if model.train_inputs[0].dim() != 2 or model.train_targets.dim() != 1:
        raise _Unsupported("batched training data")


def _checked_once(structure: tuple | None, check: Callable[[], bool]) -> bool:
    """``check()`` unless ``structure`` passed it before (see ``_VERIFIED``); a pass is remembered."""
    if structure is not None and structure in _VERIFIED:
        return True
    if not check():
        return False
    if structure is not None and len(_VERIFIED) < 256:
        _VERIFIED.add(structure)
    return True


class DensePosterior:
    """Posterior mean and variance of a fitted single-output GP, in the model's outcome units.

    Build with :meth:`of`; call with ``... x D`` inputs (differentiable in them).
    """

    def __init__(self, kernel: Kernel, diag: Diag, X: torch.Tensor, alpha: torch.Tensor, L: torch.Tensor,
                 constant: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor, noise: torch.Tensor):
        self._k, self._diag, self._X, self._alpha, self._L = kernel, diag, X, alpha, L
        self._c, self._shift, self._scale = constant, shift, scale
        #: the observation noise variance, in the outcome's units squared
        self.noise = float(noise * scale**2)

    @classmethod
    def of(cls, model) -> DensePosterior | None:
        """The dense posterior of ``model`` in eval mode, or None where it is not covered (see the module)."""
        try:
            post = cls._build(model)
        except _Unsupported as why:
            log.debug("dense posterior not used: %s", why)
            return None
        except Exception as err:  # noqa: BLE001 - e.g. a Cholesky failure: BoTorch's path copes
            log.debug("dense posterior not built: %s", err)
            return None
        try:
            structure = ("posterior", _structure(model))
        except Exception:  # noqa: BLE001 - no signature: check every time
            structure = None
        if structure is not None and structure in _VERIFIED:
            return post if post._finite() else None
        return post if _checked_once(structure, lambda: post._agrees(model)) else None

    @classmethod
    def _build(cls, model) -> DensePosterior:
        _check_covered(model)
        lik = model.likelihood
        ot = getattr(model, "outcome_transform", None)
        if ot is not None and (type(ot) is not Standardize or ot.training):
            raise _Unsupported(f"outcome transform {type(ot).__name__}")
        X = model.train_inputs[0].detach()
        y = model.train_targets.detach()
        kernel, diag = _kernel(model.covar_module)
        with torch.no_grad():
            c = model.mean_module.constant.detach().reshape(())
            noise = lik.noise.detach().reshape(())
            K = kernel(X, X) + noise * torch.eye(X.shape[0], dtype=X.dtype)
            L = torch.linalg.cholesky(K)
            alpha = torch.cholesky_solve((y - c).unsqueeze(-1), L)
        if ot is None:
            shift, scale = X.new_zeros(()), X.new_ones(())
        else:
            shift, scale = ot.means.detach().reshape(()), ot.stdvs.detach().reshape(())
        return cls(kernel, diag, X, alpha, L, c, shift, scale, noise)

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance (no observation noise) at each row of ``x`` (``... x D``), shape ``...``."""
        shape = x.shape[:-1]
        a = x.reshape(-1, x.shape[-1])
        Ks = self._k(a, self._X)  # m x n
        mean = self._c + (Ks @ self._alpha).squeeze(-1)
        V = torch.linalg.solve_triangular(self._L, Ks.transpose(-1, -2), upper=False)
        var = (self._diag(a) - V.pow(2).sum(-2)).clamp_min(1e-10)  # GPyTorch's floor as well
        return (self._shift + self._scale * mean).reshape(shape), (self._scale**2 * var).reshape(shape)

    def joint(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean (``... x m``) and joint covariance (``... x m x m``, no observation noise) of the rows of
        ``x`` (``... x m x D``; leading dimensions are separate batches); differentiable in ``x``."""
        Ks = self._k(x, self._X)  # ... x m x n
        mean = self._c + (Ks @ self._alpha).squeeze(-1)
        V = torch.linalg.solve_triangular(self._L, Ks.transpose(-1, -2), upper=False)  # L broadcasts over batches
        cov = self._k(x, x) - V.transpose(-1, -2) @ V
        return self._shift + self._scale * mean, self._scale**2 * cov

    def mean(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean alone at each row of ``x`` (``... x D``), shape ``...``."""
        a = x.reshape(-1, x.shape[-1])
        mean = self._c + (self._k(a, self._X) @ self._alpha).squeeze(-1)
        return (self._shift + self._scale * mean).reshape(x.shape[:-1])

    def _finite(self) -> bool:
        """Finite weights and a finite prediction at the first training rows."""
        with torch.no_grad():
            m, v = self(self._X[:3])
        return bool(torch.isfinite(self._alpha).all() and torch.isfinite(m).all() and torch.isfinite(v).all())

    def _agrees(self, model) -> bool:
        """The build predicts what ``model.posterior`` predicts at a few training and random rows."""
        X = self._X
        g = torch.Generator().manual_seed(0)
        probe = torch.cat([X[: min(3, X.shape[0])], torch.rand(3, X.shape[-1], generator=g, dtype=X.dtype)])
        with torch.no_grad():
            ref = model.posterior(probe)
            m_ref, v_ref = ref.mean.reshape(-1), ref.variance.reshape(-1)
            m, v = self(probe)
        tol = CHECK_TOL * float(self._scale) * (1 + float(self._diag(probe).max()))
        ok = bool((m - m_ref).abs().max() <= tol) and bool((v - v_ref).abs().max() <= tol * float(self._scale))
        if not ok:
            log.debug("dense posterior disagrees with the model (%g, %g); not used",
                      float((m - m_ref).abs().max()), float((v - v_ref).abs().max()))
        return ok


class DenseModelListGP(ModelListGP):
    """A ``ModelListGP`` whose plain joint posterior comes from each model's :class:`DensePosterior`.

    ``posterior(X)`` without observation noise, output indices or a posterior transform returns a
    ``GPyTorchPosterior`` over a ``MultitaskMultivariateNormal`` of independent outputs, as
    ``ModelListGP.posterior`` does, with the means and covariances computed densely (the same
    numbers to about 1e-10; the dense posteriors were checked against each model when built).
    Every other request, and every model list with a model the dense code does not cover, goes
    to BoTorch's own ``ModelListGP.posterior``.

    Args:
        models: the fitted single-output GPs (eval mode).
        dense: each model's dense posterior, or None for a model it does not cover.
    """

    def __init__(self, *models, dense=None):
        super().__init__(*models)
        dense = list(dense or [])
        # None (BoTorch's path throughout) unless every model has one. BoTorch's own copies of a list
        # (conditioning, fantasies, output subsets) are built without ``dense`` and so take its path.
        self._dense = dense if len(dense) == len(models) and all(d is not None for d in dense) else None

    def posterior(self, X, output_indices=None, observation_noise=False, posterior_transform=None, **kwargs):
        dense = self._dense
        if (dense is None or output_indices is not None or observation_noise is not False
                or posterior_transform is not None or kwargs or self.training or X.dim() < 2):
            return super().posterior(X, output_indices=output_indices, observation_noise=observation_noise,
                                     posterior_transform=posterior_transform, **kwargs)
        mvns = []
        for d in dense:
            mean, cov = d.joint(X)
            mvns.append(MultivariateNormal(mean, DenseLinearOperator(cov)))  # lazy: no Cholesky here
        mvn = mvns[0] if len(mvns) == 1 else MultitaskMultivariateNormal.from_independent_mvns(mvns=mvns)
        return GPyTorchPosterior(distribution=mvn)


class DenseLogEI(LogExpectedImprovement):
    """BoTorch's log EI with its posterior moments from a :class:`DensePosterior` (same value, cheaper)."""

    def __init__(self, model, best_f, dense: DensePosterior, maximize: bool = True):
        super().__init__(model, best_f=best_f, maximize=maximize)
        self._dense = dense

    def _mean_and_sigma(self, X, compute_sigma: bool = True, min_var: float = 1e-12):
        mean, var = self._dense(X.squeeze(-2))
        mean = mean.unsqueeze(-1)
        if not compute_sigma:
            return mean, None
        return mean, var.clamp_min(min_var).sqrt().view(mean.shape)


def log_expected_improvement(model, best_f: float) -> LogExpectedImprovement:
    """Log EI of ``model``: the dense form where it covers the model, BoTorch's otherwise."""
    dense = DensePosterior.of(model)
    if dense is None:
        return LogExpectedImprovement(model, best_f=best_f)
    return DenseLogEI(model, best_f, dense)


#: Model structures (see ``_structure``) whose dense marginal likelihood, or (``("posterior", structure)``)
#: dense posterior, has matched GPyTorch's once: the check (a GPyTorch evaluation, about a fifth of a fit's
#: cost, or most of a fit with held hyperparameters) is not repeated for them.
_VERIFIED: set[tuple] = set()


def _structure(model) -> tuple:
    """What decides the marginal likelihood's formula: each module's path, type, active input columns,
    constraint and prior types, the input width, and whether GPyTorch would leave Cholesky for
    iterative solves (above its ``max_cholesky_size``, where its value is an estimate)."""
    from gpytorch import settings

    parts = []
    for name, module in model.named_modules():
        dims = getattr(module, "active_dims", None)
        parts.append((name, type(module).__qualname__, None if dims is None else tuple(dims.tolist()),
                      getattr(module, "nu", None)))
    priors = tuple((name, type(prior).__qualname__) for name, _, prior, _, _ in model.named_priors())
    constraints = tuple((name, type(c).__qualname__, repr(c)) for name, c in model.named_constraints())
    n = model.train_targets.shape[-1]
    return (tuple(parts), priors, constraints, model.train_inputs[0].shape[-1],
            n > settings.max_cholesky_size.value())


class DenseMarginalLikelihood:
    """The negative exact marginal log likelihood of a GP in training mode, with its gradients, as plain tensors.

    BoTorch fits a GP by L-BFGS over ``-mll(model(X), y)``; through GPyTorch each evaluation costs about
    11 ms at n = 100 here, almost all of it framework work (the fit of a campaign step takes 60-150 of
    them). This closure computes the same value densely (the same kernel, Cholesky with GPyTorch's
    jitter fallback, the same priors, divided by n) and writes the gradients of the same parameters, so
    ``fit_gpytorch_mll(mll, closure=...)`` runs BoTorch's own optimizer, bounds and retries on it.
    Build with :meth:`of`, which checks value and gradients against GPyTorch's closure first.
    """

    def __init__(self, mll, parameters: dict[str, torch.Tensor]):
        model = mll.model
        self._model, self.parameters = model, parameters
        self._kernel, _ = _kernel(model.covar_module, live=True)
        self._X = model.train_inputs[0].detach()
        self._y = model.train_targets.detach()
        self._priors = [(module, prior, closure) for _, module, prior, closure, _ in model.named_priors()]

    @classmethod
    def of(cls, mll) -> DenseMarginalLikelihood | None:
        """The dense closure of ``mll`` (GPyTorch's exact marginal likelihood), or None where it is not covered."""
        from botorch.optim.utils import get_parameters
        from gpytorch.mlls import ExactMarginalLogLikelihood

        try:
            model = mll.model
            if type(mll) is not ExactMarginalLogLikelihood:
                raise _Unsupported(type(mll).__name__)
            _check_covered(model)
            if list(model.added_loss_terms()):
                raise _Unsupported("added loss terms")
            closure = cls(mll, get_parameters(mll, requires_grad=True))
            structure = _structure(model)
        except _Unsupported as why:
            log.debug("dense marginal likelihood not used: %s", why)
            return None
        except Exception as err:  # noqa: BLE001 - GPyTorch's own closure copes
            log.debug("dense marginal likelihood not built: %s", err)
            return None
        return closure if _checked_once(structure, lambda: closure._agrees(mll)) else None

    def loss(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``-mll`` (minus the log density of y under N(c, K + noise I) plus the priors', over n) and a surrogate.

        The surrogate has the same gradient in the hyperparameters, written through the kernel only:
        with ``W = (K + noise I)^-1 - alpha alpha^T`` (``alpha = (K + noise I)^-1 (y - c)``), the
        gradient of ``-log N`` is ``tr(W dK)/2`` in the kernel, ``tr(W)/2`` in the noise and
        ``-sum(alpha)`` in the constant mean; autograd never goes through the Cholesky factor.
        """
        model = self._model
        y = self._y
        n = y.shape[0]
        K = self._kernel(self._X, self._X)
        noise = model.likelihood.noise.reshape(())
        c = model.mean_module.constant.reshape(())
        with torch.no_grad():
            L = psd_safe_cholesky(K + noise * torch.eye(n, dtype=K.dtype))
            diff = (y - c).unsqueeze(-1)
            alpha = torch.cholesky_solve(diff, L)
            W = torch.cholesky_inverse(L) - alpha @ alpha.transpose(-1, -2)
            nlp = 0.5 * (diff * alpha).sum() + L.diagonal().log().sum() + 0.5 * n * math.log(2 * math.pi)
        prior = K.new_zeros(())
        for module, p, closure in self._priors:
            prior = prior + p.log_prob(closure(module)).sum()
        surrogate = 0.5 * (W * K).sum() + 0.5 * W.diagonal().sum() * noise - alpha.sum() * c
        return (nlp - prior.detach()) / n, (surrogate - prior) / n

    def __call__(self, **kwargs) -> tuple[torch.Tensor, tuple[torch.Tensor | None, ...]]:
        for p in self.parameters.values():
            p.grad = None
        value, surrogate = self.loss()
        surrogate.backward()
        return value, tuple(p.grad for p in self.parameters.values())

    def _agrees(self, mll) -> bool:
        """Value and gradients equal GPyTorch's at the current hyperparameters (relative 1e-8 / 1e-6)."""
        from botorch.optim.closures import get_loss_closure_with_grads

        was_training = mll.training
        mll.train()
        try:
            ref_value, ref_grads = get_loss_closure_with_grads(mll, parameters=self.parameters)()
            ref_value, ref_grads = ref_value.detach().clone(), [None if g is None else g.clone() for g in ref_grads]
            value, grads = self()
        finally:
            for p in self.parameters.values():
                p.grad = None
            mll.train(was_training)
        ok = bool(torch.isfinite(value)) and abs(float(value - ref_value)) <= 1e-8 * (1 + abs(float(ref_value)))
        for g, r in zip(grads, ref_grads):
            if (g is None) != (r is None):
                ok = False
            elif g is not None:
                ok = ok and bool((g - r).abs().max() <= 1e-6 * (1 + float(r.abs().max())))
        if not ok:
            log.debug("dense marginal likelihood disagrees with GPyTorch's (%g vs %g); not used",
                      float(value), float(ref_value))
        return ok
