"""kernel = "linear_truncated_scaled": the multi-fidelity GP's shared kernel takes SingleTaskGP's
dimension-scaled lengthscale prior instead of BoTorch's Gamma(3, 6)."""

from __future__ import annotations

import math

import pytest
import torch
from gpytorch.priors import GammaPrior

from optimizers.model import OptimizerError, _build, dim_scaled_prior, fit_model
from optimizers.strategies import make_strategy


def _shared(model):
    ltk = next(m for m in model.modules() if type(m).__name__ == "LinearTruncatedFidelityKernel")
    return ltk.covar_module_unbiased


@pytest.mark.parametrize("fingerprints", [False, True])
def test_scaled_variant_has_the_dimension_scaled_prior_and_the_default_keeps_botorchs(fingerprints):
    torch.manual_seed(0)
    d = 9
    X = torch.rand(12, d + 1, dtype=torch.double)
    X[:, -1] = (X[:, -1] > 0.5).double()
    if fingerprints:
        X[:, :2] = (X[:, :2] > 0.5).double()
    Y = X[:, :1].sin()
    fp = [0, 1] if fingerprints else ()
    n = d - 2 if fingerprints else d
    k = _shared(_build(X, Y, d, "linear_truncated_scaled", 1e-6, fp))
    prior = k.lengthscale_prior
    assert prior.loc.item() == pytest.approx(math.sqrt(2) + 0.5 * math.log(n))
    assert prior.scale.item() == pytest.approx(math.sqrt(3))
    assert k.lengthscale.shape[-1] == n
    # BoTorch's own constraint and starting value are kept (softplus(0))
    assert torch.allclose(k.lengthscale, torch.full_like(k.lengthscale, math.log(2.0)))
    default = _shared(_build(X, Y, d, "linear_truncated", 1e-6, fp)).lengthscale_prior
    assert isinstance(default, GammaPrior)
    assert (default.concentration.item(), default.rate.item()) == (3.0, 6.0)
    # the prior's median grows with the number of inputs
    assert dim_scaled_prior(16).loc > dim_scaled_prior(4).loc


def test_an_unknown_kernel_is_refused_before_any_fit(thermoset_space):
    with pytest.raises(OptimizerError, match="linear_truncated_scaled"):
        make_strategy("multi_fidelity", thermoset_space, kernel="rbf")
    assert make_strategy("multi_fidelity", thermoset_space, kernel="linear_truncated_scaled").kernel == \
        "linear_truncated_scaled"


def _r2_at_target(kernel: str, seed: int) -> tuple[float, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    d = 10

    def f(X, s):
        return (torch.sin(3 * X[:, 0]) + 2 * (X[:, 1] - 0.4) ** 2 - 0.2 * (1 - s)).unsqueeze(-1)

    Xc = torch.rand(40, d, generator=g, dtype=torch.double)
    Xt = Xc[:8]
    X = torch.cat([torch.cat([Xc, torch.full((40, 1), 0.5, dtype=torch.double)], -1),
                   torch.cat([Xt, torch.ones(8, 1, dtype=torch.double)], -1)])
    Y = torch.cat([f(Xc, 0.5), f(Xt, 1.0)])
    fm = fit_model(X, Y, fidelity_column=d, kernel=kernel)
    Xh = torch.rand(200, d, generator=g, dtype=torch.double)
    with torch.no_grad():
        pred = fm.model.posterior(torch.cat([Xh, torch.ones(200, 1, dtype=torch.double)], -1)).mean
    truth = f(Xh, 1.0)
    return 1 - float(((pred - truth) ** 2).mean() / truth.var()), _shared(fm.gp).lengthscale.detach().reshape(-1)


def test_many_inputs_few_that_matter_the_scaled_prior_generalizes():
    """Ten inputs, two that matter, 40 cheap and 8 target rows: the scaled variant explains nearly all of the
    held-out variance at the target and finds the eight inputs that do not matter; BoTorch's Gamma(3, 6)
    keeps every lengthscale short and explains less."""
    r2_scaled, ls = _r2_at_target("linear_truncated_scaled", 1)
    r2_default, _ = _r2_at_target("linear_truncated", 1)
    assert r2_scaled > 0.95, r2_scaled
    assert r2_scaled > r2_default + 0.1, (r2_scaled, r2_default)
    assert float(ls[2:].min()) > float(ls[:2].max())  # the eight inputs that do not matter are the smoothest
