"""The dense posterior (acquisition search) and marginal likelihood (fits) equal BoTorch's, or are not used."""

from __future__ import annotations

import pytest
import torch
from botorch.acquisition import FixedFeatureAcquisitionFunction
from botorch.acquisition.analytic import LogExpectedImprovement
from botorch.models import SingleTaskGP
from botorch.models.transforms.input import Normalize

from botorch.optim.closures import get_loss_closure_with_grads
from botorch.optim.utils import get_parameters
from gpytorch.mlls import ExactMarginalLogLikelihood

from optimizers.model import NOISE_FLOOR, _build, fit_model, hyperparameters
from optimizers.predictor import DenseLogEI, DenseMarginalLikelihood, DensePosterior, log_expected_improvement


def _data(n: int = 30, d: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, d + 1, generator=g, dtype=torch.double)
    X[:, -1] = torch.where(torch.rand(n, generator=g) < 0.3, 1.0, 0.4).double()
    Y = 3.0 * X[:, :d].sin().sum(-1, keepdim=True) + X[:, -1:] + 20.0  # offset and scale: the outcome transform matters
    return X, Y


def _fitted(kernel: str | None):
    X, Y = _data()
    if kernel is None:
        fm = fit_model(X[:, :-1], Y, fidelity_column=None)
    elif kernel == "fingerprints":  # columns 0-1 as fingerprint bits: Tanimoto times the linear truncated kernel
        X[:, :2] = (X[:, :2] > 0.5).double()
        fm = fit_model(X, Y, fidelity_column=X.shape[-1] - 1, fingerprint_columns=[0, 1])
    else:
        fm = fit_model(X, Y, fidelity_column=X.shape[-1] - 1, kernel=kernel)
    fm.model.eval()
    return fm.model


def _conditioned(model):
    g = torch.Generator().manual_seed(5)
    Xp = torch.rand(3, model.train_inputs[0].shape[-1], generator=g, dtype=torch.double)
    with torch.no_grad():
        model.posterior(Xp[:1])
        return model.condition_on_observations(Xp, model.posterior(Xp).mean)


@pytest.mark.parametrize("kernel", ["linear_truncated", "linear_truncated_scaled", "product", None, "fingerprints"])
@pytest.mark.parametrize("conditioned", [False, True])
def test_dense_posterior_equals_botorch_posterior_and_its_gradient(kernel, conditioned):
    model = _fitted(kernel)
    if conditioned:
        model = _conditioned(model)
    dense = DensePosterior.of(model)
    assert dense is not None
    D = model.train_inputs[0].shape[-1]
    x = torch.rand(7, D, generator=torch.Generator().manual_seed(9), dtype=torch.double)
    x = torch.cat([x, model.train_inputs[0][:2]]).requires_grad_(True)  # training rows too: distance 0
    post = model.posterior(x)
    m_ref, v_ref = post.mean.reshape(-1), post.variance.reshape(-1)
    g_ref = torch.autograd.grad((m_ref + v_ref).sum(), x)[0]
    m, v = dense(x)
    g = torch.autograd.grad((m + v).sum(), x)[0]
    assert torch.allclose(m, m_ref, rtol=0, atol=1e-8)
    assert torch.allclose(v, v_ref, rtol=1e-7, atol=1e-10)
    assert torch.allclose(dense.mean(x.detach()), m_ref.detach(), rtol=0, atol=1e-8)  # the mean alone
    assert torch.isfinite(g).all()
    assert torch.allclose(g, g_ref, rtol=1e-6, atol=1e-8)


def test_log_ei_at_the_target_fidelity_is_botorchs():
    model = _fitted("linear_truncated")
    d = model.train_inputs[0].shape[-1] - 1
    best = 26.0  # near the data's top (Y is about 20-27): log EI neither saturated nor -inf
    fast = log_expected_improvement(model, best)
    assert isinstance(fast, DenseLogEI)
    ref = FixedFeatureAcquisitionFunction(LogExpectedImprovement(model, best_f=best), d=d + 1, columns=[d], values=[1.0])
    new = FixedFeatureAcquisitionFunction(fast, d=d + 1, columns=[d], values=[1.0])
    x = torch.rand(16, 1, d, generator=torch.Generator().manual_seed(2), dtype=torch.double)
    assert torch.allclose(new(x), ref(x), atol=1e-9)


def test_a_model_it_does_not_cover_keeps_botorchs_path():
    X, Y = _data()
    model = SingleTaskGP(X, Y, input_transform=Normalize(d=X.shape[-1]))
    model.eval()
    assert DensePosterior.of(model) is None
    acqf = log_expected_improvement(model, 1.0)
    assert type(acqf) is LogExpectedImprovement


def test_a_build_that_disagrees_with_the_model_is_refused():
    model = _fitted("linear_truncated")
    dense = DensePosterior.of(model)
    assert dense is not None and dense._agrees(model)
    dense._alpha = dense._alpha * 1.01  # a wrong weight: predictions drift from the model's
    assert not dense._agrees(model)


# ------------------------------------------------------------------ the dense marginal likelihood
def _training(kernel: str | None):
    """A model in training mode with hyperparameters away from their defaults, and its MLL."""
    X, Y = _data(n=40)
    if kernel is None:
        model = _build(X[:, :-1], Y, None, "linear_truncated", NOISE_FLOOR)
    elif kernel == "fingerprints":
        X[:, :2] = (X[:, :2] > 0.5).double()
        model = _build(X, Y, X.shape[-1] - 1, "linear_truncated", NOISE_FLOOR, [0, 1])
    else:
        model = _build(X, Y, X.shape[-1] - 1, kernel, NOISE_FLOOR)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for _, p in model.named_parameters():
            p.add_(0.5 * torch.rand(p.shape, generator=g, dtype=p.dtype))  # upwards: raw values without a transform stay in bounds
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    mll.train()
    return mll


@pytest.mark.parametrize("kernel", ["linear_truncated", "linear_truncated_scaled", "product", None, "fingerprints"])
def test_dense_marginal_likelihood_equals_gpytorchs_value_and_gradients(kernel):
    mll = _training(kernel)
    dense = DenseMarginalLikelihood.of(mll)
    assert dense is not None
    params = get_parameters(mll, requires_grad=True)
    assert list(dense.parameters) == list(params)  # the order scipy's vector is laid out in
    ref_value, ref_grads = get_loss_closure_with_grads(mll, parameters=params)()
    ref_grads = [g.clone() for g in ref_grads]
    value, grads = dense()
    assert abs(float(value) - float(ref_value)) <= 1e-10 * (1 + abs(float(ref_value)))
    for name, g, r in zip(params, grads, ref_grads):
        assert g is not None and torch.allclose(g, r, rtol=1e-7, atol=1e-10), name


@pytest.mark.parametrize("kernel", ["linear_truncated", "product"])
def test_a_fit_with_the_dense_marginal_likelihood_finds_gpytorchs_hyperparameters(kernel):
    X, Y = _data()
    dense = fit_model(X, Y, fidelity_column=X.shape[-1] - 1, kernel=kernel)
    ref = fit_model(X, Y, fidelity_column=X.shape[-1] - 1, kernel=kernel, dense=False)
    a, b = hyperparameters(dense.model), hyperparameters(ref.model)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=1e-5, atol=1e-7), k


def test_a_likelihood_it_does_not_cover_keeps_gpytorchs_closure():
    X, Y = _data()
    model = SingleTaskGP(X, Y, input_transform=Normalize(d=X.shape[-1]))
    assert DenseMarginalLikelihood.of(ExactMarginalLogLikelihood(model.likelihood, model)) is None


def test_a_dense_likelihood_that_disagrees_with_gpytorchs_is_refused(monkeypatch):
    mll = _training("linear_truncated")
    dense = DenseMarginalLikelihood.of(mll)
    assert dense is not None
    monkeypatch.setattr(dense, "_priors", [])  # the priors left out: the value no longer matches
    assert not dense._agrees(mll)


def test_a_structure_checked_once_is_not_checked_again(monkeypatch):
    from optimizers import predictor

    monkeypatch.setattr(predictor, "_VERIFIED", set())
    calls = []
    real = DenseMarginalLikelihood._agrees
    monkeypatch.setattr(DenseMarginalLikelihood, "_agrees", lambda self, mll: calls.append(1) or real(self, mll))
    assert DenseMarginalLikelihood.of(_training("linear_truncated")) is not None
    assert DenseMarginalLikelihood.of(_training("linear_truncated")) is not None  # other data, same structure
    assert len(calls) == 1
    assert DenseMarginalLikelihood.of(_training("product")) is not None  # another kernel: checked
    assert len(calls) == 2


def test_a_posterior_structure_checked_once_is_not_checked_again(monkeypatch):
    from optimizers import predictor

    first, second = _fitted("linear_truncated"), _fitted("linear_truncated")
    monkeypatch.setattr(predictor, "_VERIFIED", set())
    calls = []
    real = DensePosterior._agrees
    monkeypatch.setattr(DensePosterior, "_agrees", lambda self, model: calls.append(1) or real(self, model))
    assert DensePosterior.of(first) is not None and DensePosterior.of(second) is not None
    assert len(calls) == 1
    broken = _fitted("linear_truncated")
    with torch.no_grad():
        broken.likelihood.noise_covar.raw_noise.fill_(float("nan"))  # not finite: refused without a check
    assert DensePosterior.of(broken) is None


def _goal_models():
    """Two outcomes of one multi-fidelity history, one GP each (as ``optimizers.goals`` fits them)."""
    X, Y = _data(n=40)
    Y2 = -2.0 * X[:, :1].cos() + 0.5 * X[:, -1:] - 4.0
    fits = [fit_model(X, y, fidelity_column=X.shape[-1] - 1) for y in (Y, Y2)]
    for f in fits:
        f.model.eval()
    return fits


def test_dense_model_list_posterior_equals_botorchs_with_gradients():
    from botorch.models import ModelListGP

    from optimizers.predictor import DenseModelListGP

    fits = _goal_models()
    dense = DenseModelListGP(*[f.model for f in fits], dense=[f.dense_posterior() for f in fits]).eval()
    ref = ModelListGP(*[f.model for f in fits]).eval()
    D = fits[0].X.shape[-1]
    x = torch.rand(6, 5, D, generator=torch.Generator().manual_seed(3), dtype=torch.double)  # batches of 5 rows
    x = torch.cat([x, fits[0].X[:5].unsqueeze(0)]).requires_grad_(True)  # training rows too
    got, want = dense.posterior(x), ref.posterior(x)
    assert type(got.distribution) is type(want.distribution) and got._extended_shape() == want._extended_shape()
    assert torch.allclose(got.mean, want.mean, rtol=0, atol=1e-8)
    cov, cov_ref = got.distribution.covariance_matrix, want.distribution.covariance_matrix
    assert torch.allclose(cov, cov_ref, rtol=1e-7, atol=1e-9)
    g = torch.autograd.grad(got.mean.sum() + cov.diagonal(dim1=-2, dim2=-1).sum(), x)[0]
    g_ref = torch.autograd.grad(want.mean.sum() + cov_ref.diagonal(dim1=-2, dim2=-1).sum(), x)[0]
    assert torch.allclose(g, g_ref, rtol=1e-6, atol=1e-8)


def test_dense_model_list_gives_botorchs_hypervolume_acquisition_and_falls_back_otherwise():
    from botorch.acquisition.multi_objective import qLogNoisyExpectedHypervolumeImprovement
    from botorch.models import ModelListGP

    from optimizers.predictor import DenseModelListGP

    fits = _goal_models()
    dense = DenseModelListGP(*[f.model for f in fits], dense=[f.dense_posterior() for f in fits]).eval()
    ref = ModelListGP(*[f.model for f in fits]).eval()
    X_base = fits[0].X[:12]
    values = []
    for model in (dense, ref):
        torch.manual_seed(0)
        acqf = qLogNoisyExpectedHypervolumeImprovement(model, ref_point=torch.tensor([15.0, -7.0], dtype=torch.double),
                                                       X_baseline=X_base, prune_baseline=True)
        cand = torch.rand(9, 1, X_base.shape[-1], generator=torch.Generator().manual_seed(4), dtype=torch.double)
        values.append(acqf(cand))
    assert torch.isfinite(values[0]).all()
    assert torch.allclose(values[0], values[1], rtol=1e-6, atol=1e-8)
    # with observation noise (not covered densely) it is BoTorch's own posterior
    x = fits[0].X[:3]
    noisy, noisy_ref = dense.posterior(x, observation_noise=True), ref.posterior(x, observation_noise=True)
    assert torch.allclose(noisy.variance, noisy_ref.variance)
    assert (noisy.variance > dense.posterior(x).variance).all()
    # a model the dense code does not cover leaves the whole list on BoTorch's path
    partial = DenseModelListGP(*[f.model for f in fits], dense=[fits[0].dense_posterior(), None]).eval()
    assert partial._dense is None
