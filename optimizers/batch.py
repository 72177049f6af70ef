"""Batches from one fit: exact kriging believer on a fixed space-filling pool.

The loop asks for one suggestion per free worker. The first suggestion after a fit gets the
full acquisition optimization (``optimizers.acquisition``); every further one is chosen with
the model conditioned on the running experiments and on the suggestions before it, each
believed at its posterior mean (kriging believer). Believing the mean leaves the posterior
mean unchanged everywhere and shrinks the covariance by a Schur complement, so on a fixed
pool of points that update is plain linear algebra on one joint posterior:

    Sigma <- Sigma - Sigma[:, B] (Sigma[B, B] + noise I)^-1 Sigma[B, :]

:class:`BelieverPool` computes the joint posterior of the pool at every fidelity (and of the
running experiments) once per fit; each further suggestion then costs a rank-one update and
an argmax (about a millisecond for a pool of a few hundred points) instead of a model
conditioning and a search (hundreds of milliseconds), which is what lets a controller on
two cores keep dozens of simulation workers fed. Its log EI and information per cost are
those of the conditioned model, exactly (a test compares them).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from botorch.acquisition.analytic import _log_ei_helper

from core import Fidelity
from optimizers.acquisition import MAX_RHO2
from optimizers.predictor import DensePosterior
from optimizers.space import SearchSpace

#: Two encoded rows closer than this (max-norm) are the same experiment.
SAME_ROW_TOL = 1e-6


class BelieverPool:
    """A pool of recipes, at every fidelity, under one fitted model conditioned step by step.

    Args:
        model: the fitted multi-fidelity model over ``n x (d + 1)`` encodings.
        space: the search space (fidelity values, the objective's sign).
        pool: ``m x d`` valid encodings (meeting the linear constraints).
        pending: ``b x (d + 1)`` running or already-suggested rows to condition on.
        success_log: ``m`` log success probabilities (and penalties) of the pool's recipes, or None.
        dense: the model's ``optimizers.predictor.DensePosterior`` where it has one: the joint posterior
            then comes from it (the same numbers, several times faster than GPyTorch's).
    """

    def __init__(self, model, space: SearchSpace, pool: torch.Tensor, pending: torch.Tensor,
                 success_log: torch.Tensor | None = None, dense: DensePosterior | None = None):
        self.space = space
        self.pool = pool
        self.fidelities = list(space.fidelities_by_cost)
        m = pool.shape[0]
        rows = [torch.cat([pool, pool.new_full((m, 1), f.value)], dim=-1) for f in self.fidelities]
        X = torch.cat([*rows, pending]) if pending.shape[0] else torch.cat(rows)
        with torch.no_grad():
            if dense is not None:  # the same numbers as the model's posterior, without GPyTorch's overhead
                mean, cov = dense.joint(X)
                self.noise = max(dense.noise, 1e-12)
            else:
                post = model.posterior(X)
                mean, cov = post.mean, post.distribution.covariance_matrix
                if cov.dim() > 2:
                    cov = cov.squeeze(0)
                # the observation noise of one row (homoskedastic): with minus without
                probe = model.posterior(X[:1], observation_noise=True).variance.reshape(-1)[0]
                self.noise = float((probe - cov[0, 0]).clamp_min(1e-12))
        self.mean = mean.reshape(-1).detach()
        self.base_var = cov.diagonal().clone().clamp_min(0.0)
        self.cov = cov.detach().clone()
        self.m = m
        self.rows = X
        self.success_log = success_log
        self.conditioned: list[torch.Tensor] = []  # rows believed so far, in order
        n_pool = m * len(self.fidelities)
        self._believe_all(list(range(n_pool, n_pool + pending.shape[0])))
        self.conditioned.extend(pending)

    # ------------------------------------------------------------------ state
    def _index(self, j: int, fidelity: Fidelity) -> int:
        return self.fidelities.index(fidelity) * self.m + j

    def _believe(self, i: int) -> None:
        """Condition on row ``i`` observed at its posterior mean (a rank-one Schur update)."""
        c = self.cov[:, i].clone()
        self.cov -= torch.outer(c, c) / (c[i] + self.noise)

    def _believe_all(self, rows: list[int]) -> None:
        """Condition on ``rows`` at once: the block Schur update, equal to believing them one by one
        (conditioning on a set is conditioning on its members in turn) at one matrix product instead
        of a full-matrix update per row."""
        if len(rows) > 1:
            idx = torch.as_tensor(rows)
            S = self.cov[:, idx]
            L, info = torch.linalg.cholesky_ex(S[idx] + self.noise * torch.eye(len(rows), dtype=S.dtype))
            if int(info) == 0:  # else numerically singular (two running rows alike): one by one copes
                W = torch.linalg.solve_triangular(L, S.transpose(0, 1), upper=False)
                self.cov -= W.transpose(0, 1) @ W
                return
        for i in rows:
            self._believe(i)

    def follows(self, pending: torch.Tensor) -> bool:
        """Whether ``pending`` holds every row this pool conditioned on, and otherwise only rows
        of the pool (those it then believes too). False when another row appeared or one went
        away: the caller builds a new pool."""
        if self.conditioned:
            done = torch.stack(self.conditioned)
            seen = torch.cdist(pending, done, p=float("inf")) < SAME_ROW_TOL if pending.shape[0] else None
            if seen is None or not bool(seen.any(dim=0).all()):
                return False
            new = pending[~seen.any(dim=1)]
        else:
            new = pending
        for row in new:
            i = self._find(row)
            if i is None:
                return False
            self._believe(i)
            self.conditioned.append(row)
        return True

    def _find(self, row: torch.Tensor) -> int | None:
        hit = ((self.rows - row).abs().max(dim=-1).values < SAME_ROW_TOL).nonzero().reshape(-1)
        return int(hit[0]) if hit.numel() else None

    # ------------------------------------------------------------------ choices
    def log_ei(self, best_f: float) -> torch.Tensor:
        """``m`` values: log EI over ``best_f`` at the target fidelity of every pool point (plus the
        success weight), under the model conditioned on everything believed so far."""
        t = self._index(0, self.space.target_fidelity)
        mean = self.mean[t : t + self.m]
        sigma = self.cov.diagonal()[t : t + self.m].clamp_min(1e-12).sqrt()
        log_ei = _log_ei_helper((mean - best_f) / sigma) + sigma.log()
        return log_ei + self.success_log if self.success_log is not None else log_ei

    def best(self, best_f: float) -> tuple[int, float]:
        """The pool point with the highest (success-weighted) log EI at the target fidelity."""
        log_ei = self.log_ei(best_f)
        j = int(log_ei.argmax())
        return j, float(log_ei[j])

    def ranked(self, best_f: float, k: int) -> list[tuple[int, float]]:
        """The ``k`` pool points with the highest (success-weighted) log EI, best first (the best one
        may already be running at every fidelity the caller may use: then the next is taken)."""
        log_ei = self.log_ei(best_f)
        top = log_ei.topk(min(k, self.m))
        return [(int(j), float(v)) for v, j in zip(top.values, top.indices)]

    def information(self, j: int, fidelities: Sequence[Fidelity]) -> list[tuple[Fidelity, float]]:
        """Nats about ``f(x_j, target)`` from one observation at each fidelity (as
        ``optimizers.acquisition.information_per_cost``, on the conditioned covariance)."""
        t = self._index(j, self.space.target_fidelity)
        var_t = self.cov[t, t].clamp_min(1e-12)
        out = []
        for f in fidelities:
            i = self._index(j, f)
            rho2 = (self.cov[t, i] ** 2 / (var_t * (self.cov[i, i] + self.noise).clamp_min(1e-12))).clamp(0.0, MAX_RHO2)
            out.append((f, float(-0.5 * torch.log1p(-rho2))))
        return out

    def predicted(self, j: int, fidelity: Fidelity) -> tuple[float, float]:
        """The fitted model's (unconditioned) posterior mean and std of pool point ``j`` at ``fidelity``,
        in the objective's unit and sign."""
        i = self._index(j, fidelity)
        return self.space.to_objective(float(self.mean[i])), float(self.base_var[i].sqrt())
