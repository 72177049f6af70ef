"""The multi-fidelity GP's shared kernel uses SingleTaskGP's dimension-scaled lengthscale prior."""

from __future__ import annotations

import math

import pytest
import torch

from optimizers.model import _build, dim_scaled_prior, fit_model


def _unbiased(model):
    k = model.covar_module.base_kernel
    k = k.kernels[0] if hasattr(k, "kernels") else k
    return k.covar_module_unbiased


@pytest.mark.parametrize("fingerprints", [False, True])
def test_shared_kernel_gets_the_dimension_scaled_prior_and_starts_at_its_mode(fingerprints):
    torch.manual_seed(0)
    d = 9
    X = torch.rand(12, d + 1, dtype=torch.double)
    X[:, -1] = (X[:, -1] > 0.5).double()
    if fingerprints:
        X[:, :2] = (X[:, :2] > 0.5).double()
    Y = X[:, :1].sin()
    model = _build(X, Y, d, "linear_truncated", 1e-6, [0, 1] if fingerprints else ())
    if fingerprints:
        ltk = next(m for m in model.modules() if type(m).__name__ == "LinearTruncatedFidelityKernel")
        k, n = ltk.covar_module_unbiased, d - 2
    else:
        k, n = _unbiased(model), d
    prior = k.lengthscale_prior
    assert prior.loc.item() == pytest.approx(math.sqrt(2) + 0.5 * math.log(n))
    assert prior.scale.item() == pytest.approx(math.sqrt(3))
    assert torch.allclose(k.lengthscale, torch.full_like(k.lengthscale, float(prior.mode)))
    assert k.lengthscale.shape[-1] == n
    # the prior's median grows with the number of inputs
    assert dim_scaled_prior(16).loc > dim_scaled_prior(4).loc


def test_many_inputs_few_that_matter_the_model_still_generalizes():
    """Ten inputs, two that matter, 40 cheap and 8 target rows: with BoTorch's Gamma(3, 6) prior on the shared
    kernel the fit kept every lengthscale short (0.2-0.8) and explained 0.75 of the held-out variance at the
    target; with the dimension-scaled prior 0.99 (three data seeds)."""
    g = torch.Generator().manual_seed(1)
    d = 10

    def f(X, s):
        return (torch.sin(3 * X[:, 0]) + 2 * (X[:, 1] - 0.4) ** 2 - 0.2 * (1 - s)).unsqueeze(-1)

    Xc = torch.rand(40, d, generator=g, dtype=torch.double)
    Xt = Xc[:8]
    X = torch.cat([torch.cat([Xc, torch.full((40, 1), 0.5, dtype=torch.double)], -1),
                   torch.cat([Xt, torch.ones(8, 1, dtype=torch.double)], -1)])
    Y = torch.cat([f(Xc, 0.5), f(Xt, 1.0)])
    fm = fit_model(X, Y, fidelity_column=d)
    Xh = torch.rand(200, d, generator=g, dtype=torch.double)
    with torch.no_grad():
        pred = fm.model.posterior(torch.cat([Xh, torch.ones(200, 1, dtype=torch.double)], -1)).mean
    truth = f(Xh, 1.0)
    r2 = 1 - float(((pred - truth) ** 2).mean() / truth.var())
    assert r2 > 0.95, r2
    ls = _unbiased(fm.gp).lengthscale.reshape(-1)
    assert float(ls[2:].min()) > float(ls[:2].max())  # the eight inputs that do not matter are the smoothest
