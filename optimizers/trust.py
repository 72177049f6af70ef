"""Does the cheap data help predict the target? A cross-validated check of a multi-fidelity fit.

A multi-fidelity GP learns how the fidelities relate from its own marginal likelihood, and
with few target runs that estimate can be badly wrong: a cheap simulator that does not rank
the recipes (a reference lab's closed-form model, Spearman about -0.1 against its target) still
gets a high learned correlation from three target runs, and the strategy then keeps buying it
while its recommendation at the target is no better than a typical recipe.

The check asks the question on the data instead of the kernel: leave each target run out and
predict it from everything else (the cheap runs included), with the fitted hyperparameters;
then do the same with the target runs alone (a target-only GP, or the mean of the other
target runs). If the cheap data makes the target predictions clearly worse (by more than a
standard error) than the target runs alone do, it is misleading the model *now*, and the
strategy spends at the target (a single-fidelity step) and recommends from the target runs
until the check passes again.

Leave-one-out residuals of an exact GP are closed-form (Rasmussen & Williams, eq. 5.12):
``r_i = [K^-1 (y - m)]_i / [K^-1]_ii``, one Cholesky of the n x n training covariance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

#: Fewest target runs the check needs: with two, "the other target runs" is one number.
MIN_TARGET_RUNS = 3
#: The cheap data is distrusted when the mean log error ratio is above 0 by more than this many of
#: its standard errors (over the target runs).
MIN_T = 1.0


@dataclass(frozen=True)
class TrustCheck:
    """How well the multi-fidelity GP predicts each target run left out, against the target runs alone.

    Attributes:
        n_target: target runs left out one at a time.
        error_ratio: geometric mean over the target runs of (|multi-fidelity leave-one-out
            error| + e) / (|target-only leave-one-out error| + e): a target-only GP's error, or
            the other target runs' mean's without one; e is a tenth of the target runs' standard
            deviation, so that two near-exact predictions are a tie, not a ratio of two tiny
            numbers. The geometric mean weighs every run alike: one run far out in a corner
            where the objective is huge does not decide it, as it would a sum of squares.
        trusted: False when the cheap data makes the typical target prediction worse
            (``error_ratio > 1``) by more than one standard error of the mean log ratio
            (``MIN_T``); True with fewer than ``MIN_TARGET_RUNS`` target runs.
    """

    n_target: int
    error_ratio: float
    trusted: bool

    def describe(self) -> str:
        if self.n_target < MIN_TARGET_RUNS:
            return f"too few target runs ({self.n_target}) to check the cheap data"
        verdict = ("misleads the model" if not self.trusted else "helps" if self.error_ratio <= 1.0
                   else "is no clear help (within a standard error)")
        return (f"the cheap data {verdict}: its leave-one-out predictions of the {self.n_target} target runs "
                f"err {self.error_ratio:.2f}x as much as the target runs' own")


def loo_residuals(gp) -> torch.Tensor:
    """Leave-one-out residuals ``y_i - mean_{-i}`` of an exact GP's training targets, in the GP's
    (standardized) output space, with its hyperparameters held."""
    gp.eval()  # (BoTorch keeps the training inputs transformed in eval mode: the kernel's inputs)
    X = gp.train_inputs[0]
    y = gp.train_targets.reshape(-1)
    with torch.no_grad():
        K = gp.covar_module(X).to_dense()
        noise = gp.likelihood.noise.reshape(-1)
        K = K + torch.diag(noise.expand(K.shape[0]))
        m = gp.mean_module(X).reshape(-1)
        L = torch.linalg.cholesky(K + 1e-9 * torch.eye(K.shape[0], dtype=K.dtype))
        Kinv = torch.cholesky_inverse(L)
        alpha = Kinv @ (y - m)
        return alpha / Kinv.diagonal()


def check(mf_gp, at_target: torch.Tensor, target_gp=None, X_mf_target: torch.Tensor | None = None,
          X_target: torch.Tensor | None = None) -> TrustCheck:
    """The check for a fitted multi-fidelity GP.

    Args:
        mf_gp: the multi-fidelity GP (BoTorch, with a ``Standardize`` outcome transform or none).
        at_target: boolean mask of its training rows that are target runs.
        target_gp: a GP fitted to target runs alone, or None to compare with the other target
            runs' mean.
        X_mf_target, X_target: the recipes (no fidelity column) of ``mf_gp``'s target rows and of
            ``target_gp``'s rows, to pair the two GPs' runs when their rows differ (a thinned
            history); without them the rows are taken to be the same, in the same order. Runs
            only one GP has are left out of the comparison.
    """
    n_t = int(at_target.sum())
    if n_t < MIN_TARGET_RUNS:
        return TrustCheck(n_t, float("nan"), True)
    r_mf = (loo_residuals(mf_gp)[at_target] * _output_scale(mf_gp)).abs()
    y_t = mf_gp.train_targets.reshape(-1)[at_target] * _output_scale(mf_gp)
    if target_gp is None:
        r_ref = (y_t - (y_t.sum() - y_t) / (n_t - 1)).abs()
    else:
        r_ref = (loo_residuals(target_gp).reshape(-1) * _output_scale(target_gp)).abs()
        if X_mf_target is not None and X_target is not None:
            dist, j = torch.cdist(X_mf_target, X_target, p=float("inf")).min(dim=-1)
            paired = dist < 1e-9
            r_mf, y_t, r_ref = r_mf[paired], y_t[paired], r_ref[j[paired]]
        if r_ref.numel() != r_mf.numel() or r_mf.numel() < MIN_TARGET_RUNS:
            return TrustCheck(int(r_mf.numel()), float("nan"), True)
    # errors under a tenth of the target runs' spread count as exact: two near-perfect predictions are a tie,
    # not a ratio of two tiny numbers
    eps = 0.1 * float(y_t.std()) + 1e-12
    log_ratio = torch.log(r_mf + eps) - torch.log(r_ref + eps)
    ratio = float(torch.exp(log_ratio.mean()))
    # worse by more than one standard error of the mean log ratio: with a handful of target runs a
    # ratio a little above 1 is noise (it flipped back and forth on the misleading-bump benchmark)
    t = float(log_ratio.mean() / (log_ratio.std() / math.sqrt(log_ratio.numel()) + 1e-12))
    return TrustCheck(int(r_mf.numel()), ratio, not (ratio > 1.0 and t > MIN_T))


def _output_scale(gp) -> float:
    """Standard deviation the GP's ``Standardize`` divided its outputs by (1 without one), so that
    residuals of two GPs standardized on different rows compare in the same units."""
    tf = getattr(gp, "outcome_transform", None)
    stdvs = getattr(tf, "stdvs", None)
    return float(stdvs.reshape(-1)[0]) if stdvs is not None else 1.0
