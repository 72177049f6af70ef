"""Strategies: the multi-fidelity optimizer and its baselines, behind one ``recommend()``.

Every strategy answers::

    recommend(history, pending=None, budget_left=inf, q=1, allowed_fidelities=None, candidates=None) -> list[Suggestion]
    recommendation(history, candidates=None) -> Recommendation

``history``: one column per parameter (float magnitudes in the parameter's unit, or
the choice / SMILES string), ``fidelity`` (name), ``objective`` (float in the
objective's unit, NaN when failed), ``status`` (``completed`` / ``failed``).
``pending``: the parameter columns and ``fidelity`` of experiments still running.
``candidates``: a finite set to choose from (see ``optimizers.candidates``): the parameter
columns and optionally ``fidelity`` (the row may be run at that fidelity only). With it,
acquisition values are computed on the candidate rows themselves and a row already
measured, failed or pending at a fidelity is never suggested there again.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from botorch.acquisition import (
    FixedFeatureAcquisitionFunction,
    PosteriorMean,
    qLogNoisyExpectedImprovement,
)

from core import Fidelity, LimitError, OptimizerError
from optimizers.acquisition import FidelityScore, OptimizerSettings, information_per_cost, maximize
from optimizers import goals, trust
from optimizers.batch import BelieverPool
from optimizers.candidates import CandidateSet, evaluate
from optimizers.feasibility import SuccessModel, SuccessWeighted, success_log_weight
from optimizers.model import KERNELS, FittedModel, data_key, fit_model, hyperparameters
from optimizers.predictor import log_expected_improvement
from optimizers.space import SearchSpace
from optimizers.suggestion import ParetoPoint, Recommendation, Suggestion
from optimizers.thinning import MAX_TRAINING_ROWS, thin

# With linear constraints, space-filling and random points are drawn this many at a time, skipping
# those that break a constraint: at most MAX_DESIGN_DRAWS for the whole Sobol design, and per random
# point; past that a point is moved just inside the constraints instead.
DESIGN_CHUNK = 256
MAX_DESIGN_DRAWS = 1 << 16
DUPLICATE_TOL = 1e-6  # same row (pending vs training data), in encoded units
# A suggestion closer than this (max-norm in the unit box, i.e. 0.1 % of every range)
# to a finished, running or already-suggested experiment at the same fidelity counts as
# the same experiment and is not suggested.
SUGGESTION_TOL = 1e-3
# Requests the loop makes from one fit (one per free worker) that get the full acquisition search;
# later ones are chosen on the believer pool (optimizers.batch).
POOL_AFTER = 2
# With at least this many runs pending (running, or earlier in this batch), every request is chosen on
# the pool: the full search takes about a second, and with that many workers each second of it is
# several workers idle (the throughput benchmark). Fewer pending (the reference campaign: two workers
# and a robot) keeps the rule above.
POOL_PENDING = 8
# While runs are pending, a refit keeps the last optimized hyperparameters (the GP is conditioned on
# the new rows, nothing optimized) until the training rows have grown by this fraction since they were
# optimized; a request with nothing pending (sequential use: benchmarks, backtests) always optimizes.
REFIT_GROWTH = 0.2
# A pool point already running at every fidelity it could still be run at is passed over for the
# next best, up to this many; past that the full search runs.
POOL_CANDIDATES = 32
#: Adaptive start (multi-fidelity): target runs in the initial design, the first at the best cheap result.
ADAPTIVE_TARGET_RUNS = 2


def _rows_not_in(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Rows of ``A`` (``n x D``) that match no row of ``B`` (``m x D``) within ``DUPLICATE_TOL``."""
    if A.shape[0] == 0 or B.shape[0] == 0:
        return A
    dist = torch.cdist(A, B, p=float("inf"))
    return A[~(dist < DUPLICATE_TOL).any(dim=-1)]


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence([abs(int(p)) for p in parts]).generate_state(1)[0] % (2**31 - 1))


class Strategy:
    """Shared machinery: validation, budget and fidelity filtering, duplicates, initial design.

    Args:
        space: the encoded search space.
        seed: seed of every random choice (designs, acquisition restarts).
        initial_design: fidelity name -> number of space-filling points before a model
            is fitted (None: the strategy's default).
    """

    name = "base"

    def __init__(self, space: SearchSpace, seed: int = 0, initial_design: dict[str, int] | None = None):
        self.space = space
        self.seed = int(seed)
        counts = self.default_initial_design() if initial_design is None else dict(initial_design)
        for fname in counts:
            space.fidelity(fname)  # raises on unknown names
        self.initial_design = counts
        self._candidates: CandidateSet | None = None  # set for the duration of one recommend(candidates=...)
        self._n_known = 0  # set by each recommend(): how many rows of ``taken`` are the history's
        self._pending_now = 0  # rows of the pending table in the request being answered (0 outside recommend())
        self._design: tuple | None = None  # with linear constraints: (Sobol engine, feasible points, points drawn)

    # -------------------------------------------------------------- public API
    def recommend(
        self,
        history: pd.DataFrame | None,
        pending: pd.DataFrame | None = None,
        budget_left: float = math.inf,
        q: int = 1,
        allowed_fidelities: Sequence[str] | None = None,
        candidates: pd.DataFrame | None = None,
    ) -> list[Suggestion]:
        """Suggest ``q`` experiments (each with its fidelity) given the history and pending runs.

        Suggestions are sequential: each one's cost is taken from ``budget_left`` before
        the next is chosen, so fewer than ``q`` come back when the budget runs out.
        With ``candidates`` every suggestion is one of its rows, at a fidelity that row allows.

        Raises:
            InputDataError: malformed history / pending / candidates tables.
            OptimizerError: ``q < 1``, no allowed fidelity is affordable, or every candidate
                has been tried at the allowed fidelities.
        """
        if int(q) < 1:
            raise OptimizerError(f"q must be >= 1, got {q}")
        if candidates is not None:
            self._candidates = CandidateSet(self.space, candidates)
            try:
                return self.recommend(history, pending, budget_left, q, allowed_fidelities)
            finally:
                self._candidates = None
        with self.space.holding_digests():  # the tables are not edited during the request
            history = self.space.validate(history, kind="history")
            pending = self.space.validate(pending, kind="pending")
            allowed = self._allowed(allowed_fidelities)
            X_all = self.space.encode(history, kind="history") if len(history) else self._empty()
            X_pend = self.space.encode(pending, kind="pending") if len(pending) else self._empty()
            taken = torch.cat([X_all, X_pend])
            self._n_known = X_all.shape[0]  # rows of ``taken`` after these are pending or earlier in the batch
            self._pending_now = X_pend.shape[0]
            try:
                return self._suggestions(history, taken, allowed, budget_left, q)
            finally:
                self._pending_now = 0

    def _suggestions(self, history, taken, allowed, budget_left, q) -> list[Suggestion]:
        out: list[Suggestion] = []
        budget = float(budget_left)
        for i in range(int(q)):
            affordable = [f for f in allowed if f.cost <= budget + 1e-12]
            if not affordable:
                if out:
                    break
                raise OptimizerError(
                    f"no allowed fidelity is affordable with {budget_left} cost units left; costs: "
                    + ", ".join(f"{f.name} {f.cost}" for f in allowed)
                )
            sug, x_full = self._next(history, taken, affordable, batch_index=i)
            if self.space.has_constraints:  # every path makes feasible points; this keeps it so
                try:
                    self.space.check_recipe(sug.recipe)
                except LimitError as err:
                    raise OptimizerError(f"the {self.name} strategy made an infeasible suggestion: {err}") from err
            sug = dataclasses.replace(sug, featurization=self._featurization(sug.recipe))
            out.append(sug)
            taken = torch.cat([taken, x_full.reshape(1, -1)])
            budget -= self.space.fidelity(sug.fidelity).cost
        return out

    def recommendation(self, history: pd.DataFrame | None, candidates: pd.DataFrame | None = None) -> Recommendation:
        """The best recipe so far at the target fidelity (best observed value for model-free baselines;
        observed rows are candidate rows, so ``candidates`` changes nothing here)."""
        history = self.space.validate(history, kind="history")
        if self.space.multi_goal:
            return self._observed_front(history)
        X, Y = self.space.training_data(history)
        target = self.space.target_fidelity
        at_target = X[:, -1] == target.value
        if not bool(at_target.any()):
            raise OptimizerError(f"no completed observation at the target fidelity {target.name!r} yet")
        if self.space.has_constraints:
            at_target = at_target & self.space.is_feasible(X)
            if not bool(at_target.any()):
                raise OptimizerError(f"no completed observation at the target fidelity {target.name!r} meets "
                                     "the linear constraints yet")
        i = int(torch.nonzero(at_target).reshape(-1)[Y[at_target, 0].argmax()])
        recipe = self.space.decode(X[i : i + 1, :-1])[0]
        return Recommendation(recipe, self.space.to_objective(float(Y[i, 0])), None, "observed")

    def _observed_front(self, history: pd.DataFrame) -> Recommendation:
        """Several objectives / outcome constraints, model-free: the measured Pareto set at the target
        fidelity among the rows that meet the outcome constraints (all target rows' front, each marked
        infeasible, while none meets them)."""
        space = self.space
        X, Y = space.training_outcomes(history)
        at_target = X[:, -1] == space.target_fidelity.value
        if space.has_constraints:
            at_target = at_target & space.is_feasible(X)
        if not bool(at_target.any()):
            raise OptimizerError(f"no completed observation at the target fidelity {space.target_fidelity.name!r} "
                                 "with every outcome yet")
        X, Y = X[at_target], Y[at_target]
        meets = space.meets_outcome_constraints(Y)
        idx = goals.observed_front(space, Y)
        if idx.numel() == 0:
            idx = torch.arange(Y.shape[0])[goals.pareto_mask(Y[:, : len(space.objectives)])]
        idx = idx[Y[idx, 0].argsort(descending=True)][: goals.MAX_FRONT]
        feasible = [(1.0 if bool(meets[i]) else 0.0) if space.outcome_constraints else None for i in idx.tolist()]
        return self._front(X[idx, :-1], Y[idx], None, feasible, goals.reference_point(space.objectives, Y), "observed")

    def _front(self, X: torch.Tensor, means: torch.Tensor, stds: torch.Tensor | None, feasible: list,
               ref: torch.Tensor, model_id: str) -> Recommendation:
        """A recommended Pareto set: recipes ``X`` (``n x d``), their signed outcomes ``means`` (``n x m``),
        standard deviations (None: observed values), probabilities of meeting the outcome constraints;
        the named recipe is the compromise point over ``ref``."""
        space = self.space
        points = tuple(ParetoPoint(recipe,
                                   {o.property: o.sign * float(means[i, k]) for k, o in enumerate(space.outcomes)},
                                   {o.property: None if stds is None else float(stds[i, k])
                                    for k, o in enumerate(space.outcomes)},
                                   feasible[i]) for i, recipe in enumerate(space.decode(X)))
        p = points[goals.compromise(means[:, : len(space.objectives)], ref)]
        prop = space.objective.property
        return Recommendation(p.recipe, p.means[prop], p.stds[prop], model_id, points)

    # -------------------------------------------------------------- helpers
    def default_initial_design(self) -> dict[str, int]:
        return {}

    def _empty(self) -> torch.Tensor:
        return torch.zeros(0, self.space.dim + 1, dtype=torch.double)

    def _allowed(self, names: Sequence[str] | None) -> list[Fidelity]:
        if names is None:
            return list(self.space.fidelities_by_cost)
        fids = [self.space.fidelity(n) for n in names]
        if not fids:
            raise OptimizerError("allowed_fidelities is empty; allow at least one fidelity")
        return sorted(fids, key=lambda f: (f.cost, f.value))

    def _next(self, history, taken, affordable, batch_index) -> tuple[Suggestion, torch.Tensor]:
        raise NotImplementedError

    def _featurization(self, recipe) -> dict:
        """What the model sees of ``recipe`` beyond its numbers: molecule featurizations, physics inputs."""
        record = self.space.featurization_record(recipe)
        physics = getattr(self, "physics", None)
        if physics is not None:
            record["physics"] = physics.record(recipe)
        return record

    def _pending(self, taken: torch.Tensor, fm: FittedModel, X_failed: torch.Tensor) -> torch.Tensor:
        """Rows of ``taken`` that are running or earlier in this batch (not a training row, not a
        failure). Only rows after the history's are compared: with a long history, comparing
        every row against every training row would take gigabytes."""
        return _rows_not_in(_rows_not_in(taken[self._n_known:], fm.X), X_failed)

    def _is_taken(self, x_full: torch.Tensor, taken: torch.Tensor) -> bool:
        if taken.shape[0] == 0:
            return False
        return bool(((taken - x_full).abs().max(dim=-1).values < SUGGESTION_TOL).any())

    def _design_point(self, index: int) -> torch.Tensor:
        """The ``index``-th point of this strategy's scrambled Sobol sequence (``d`` encoding); with linear
        constraints, the ``index``-th point of it that meets them."""
        if self.space.has_constraints:
            return self._feasible_design_point(index)
        engine = torch.quasirandom.SobolEngine(len(self.space.parameters), scramble=True, seed=self.seed)
        if index:
            engine.fast_forward(index)
        return self.space.from_unit(engine.draw(1, dtype=torch.double))[0]

    def _feasible_design_point(self, index: int) -> torch.Tensor:
        """Sobol points that break a constraint are skipped, so design point ``i`` is still one recipe at
        every fidelity (nested design). When feasible points are too rare to find by drawing, the
        ``index``-th Sobol point is moved just inside the constraints instead."""
        if self._design is None:
            engine = torch.quasirandom.SobolEngine(len(self.space.parameters), scramble=True, seed=self.seed)
            self._design = (engine, [], 0)
        engine, found, drawn = self._design
        while len(found) <= index and drawn < MAX_DESIGN_DRAWS:
            X = self.space.from_unit(engine.draw(DESIGN_CHUNK, dtype=torch.double))
            found.extend(X[self.space.is_feasible(X)])
            drawn += DESIGN_CHUNK
        self._design = (engine, found, drawn)
        if index < len(found):
            return found[index]
        engine = torch.quasirandom.SobolEngine(len(self.space.parameters), scramble=True, seed=self.seed)
        engine.fast_forward(index)
        return self.space.make_feasible(self.space.from_unit(engine.draw(1, dtype=torch.double)))[0]

    def _space_filling(self, taken, fidelity: Fidelity, start: int, reason: str) -> tuple[Suggestion, torch.Tensor]:
        """Next Sobol point from ``start`` that is not already taken at ``fidelity`` (with candidates:
        the untried candidate nearest to Sobol point ``start``)."""
        if self._candidates is not None:
            i = self._candidates.nearest(self._design_point(start), self._candidates.open(fidelity, taken, SUGGESTION_TOL))
            if i is None:
                raise OptimizerError(f"every candidate allowed at {fidelity.name} has been tried there")
            x = self._candidates.X[i]
            sug = Suggestion(
                recipe=self.space.decode(x.reshape(1, -1))[0], fidelity=fidelity.name, model_id="space-filling",
                reason=reason.format(index=start, fidelity=fidelity.name) + " (the nearest untried candidate)",
                strategy=self.name,
            )
            return sug, torch.cat([x, x.new_tensor([fidelity.value])])
        for k in range(start, start + 10_000):
            x = self._design_point(k)
            x_full = torch.cat([x, x.new_tensor([fidelity.value])])
            if not self._is_taken(x_full, taken):
                break
        else:  # pragma: no cover - only when every discrete combination is taken
            raise OptimizerError("every point of the (discrete) search space has been tried at " + fidelity.name)
        sug = Suggestion(
            recipe=self.space.decode(x.reshape(1, -1))[0], fidelity=fidelity.name,
            model_id="space-filling", reason=reason.format(index=k, fidelity=fidelity.name), strategy=self.name,
        )
        return sug, x_full

    def _candidate_choice(self, acqf, taken, fidelities: Sequence[Fidelity]) -> tuple[torch.Tensor, float, list[Fidelity]]:
        """The candidate with the highest ``acqf`` among those still open at one of ``fidelities``.

        Returns:
            its ``d`` encoding, the acquisition value, and the fidelities it is open at.
        """
        cands = self._candidates
        masks = {f.name: cands.open(f, taken, SUGGESTION_TOL) for f in fidelities}
        any_open = torch.stack(list(masks.values())).any(dim=0)
        if not bool(any_open.any()):
            raise OptimizerError("every candidate has been tried at the allowed fidelities "
                                 f"{[f.name for f in fidelities]}; nothing is left to suggest")
        idx = torch.nonzero(any_open).reshape(-1)
        vals = evaluate(acqf, cands.X[idx])
        best = int(idx[int(vals.argmax())])
        return cands.X[best], float(vals.max()), [f for f in fidelities if bool(masks[f.name][best])]

    def _initial_design_step(self, taken, affordable) -> tuple[Suggestion, torch.Tensor] | None:
        """The next point of the nested initial design, or None once it is complete.

        Design point ``i`` is the same Sobol point at every fidelity, so the target's
        points are a subset of the cheaper fidelities' (nested design): the model sees
        the same recipes at several fidelities and learns their correlation early.
        """
        for f in affordable:
            want = self.initial_design.get(f.name, 0)
            have = int((taken[:, -1] == f.value).sum()) if taken.shape[0] else 0
            if self._candidates is not None and not bool(self._candidates.open(f, taken, SUGGESTION_TOL).any()):
                continue  # no candidate left at this fidelity
            if have < want:
                return self._space_filling(
                    taken, f, have,
                    f"space-filling initial design: Sobol point {{index}} at {{fidelity}} ({have + 1} of {want})",
                )
        return None


# ---------------------------------------------------------------------- baselines
class SobolStrategy(Strategy):
    """Scrambled Sobol points at the target fidelity (no model)."""

    name = "sobol"

    def _next(self, history, taken, affordable, batch_index):
        target = _target_or_raise(self.space, affordable, self.name)
        return self._space_filling(taken, target, taken.shape[0], "Sobol point {index} at {fidelity}")


class RandomStrategy(Strategy):
    """Uniform random points at the target fidelity (no model)."""

    name = "random"

    def _next(self, history, taken, affordable, batch_index):
        target = _target_or_raise(self.space, affordable, self.name)
        gen = torch.Generator().manual_seed(_seed(self.seed, taken.shape[0]))
        if self._candidates is not None:
            open_rows = torch.nonzero(self._candidates.open(target, taken, SUGGESTION_TOL)).reshape(-1)
            if open_rows.numel() == 0:
                raise OptimizerError(f"every candidate allowed at {target.name} has been tried there")
            x = self._candidates.X[int(open_rows[torch.randint(open_rows.numel(), (1,), generator=gen)])]
            sug = Suggestion(recipe=self.space.decode(x.reshape(1, -1))[0], fidelity=target.name, model_id="random",
                             reason=f"uniform random untried candidate at {target.name}", strategy=self.name)
            return sug, torch.cat([x, x.new_tensor([target.value])])
        if self.space.has_constraints:
            x_full = self._random_feasible(gen, taken, target)
            x = x_full[:-1]
        else:
            for _ in range(1000):
                x = self.space.from_unit(torch.rand(1, len(self.space.parameters), generator=gen, dtype=torch.double))[0]
                x_full = torch.cat([x, x.new_tensor([target.value])])
                if not self._is_taken(x_full, taken):
                    break
        sug = Suggestion(recipe=self.space.decode(x.reshape(1, -1))[0], fidelity=target.name,
                         model_id="random", reason=f"uniform random point at {target.name}", strategy=self.name)
        return sug, x_full

    def _random_feasible(self, gen: torch.Generator, taken: torch.Tensor, target: Fidelity) -> torch.Tensor:
        """A uniform random untried point that meets the constraints (drawn in batches; when feasible points
        are too rare to find, a random point moved just inside them)."""
        p = len(self.space.parameters)
        for _ in range(MAX_DESIGN_DRAWS // DESIGN_CHUNK):
            X = self.space.from_unit(torch.rand(DESIGN_CHUNK, p, generator=gen, dtype=torch.double))
            for x in X[self.space.is_feasible(X)]:
                x_full = torch.cat([x, x.new_tensor([target.value])])
                if not self._is_taken(x_full, taken):
                    return x_full
        x = self.space.make_feasible(self.space.from_unit(torch.rand(1, p, generator=gen, dtype=torch.double)))[0]
        return torch.cat([x, x.new_tensor([target.value])])


def _target_or_raise(space: SearchSpace, affordable: list[Fidelity], who: str) -> Fidelity:
    target = space.target_fidelity
    if target not in affordable:
        raise OptimizerError(
            f"the {who} strategy only runs the target fidelity {target.name!r}, which is not allowed "
            f"or not affordable now (allowed and affordable: {[f.name for f in affordable]})"
        )
    return target


# ---------------------------------------------------------------------- model-based
class _ModelStrategy(Strategy):
    """A strategy with a GP: caches the fit per training set and warm-starts the next one."""

    multi_fidelity = True

    def __init__(self, space, seed=0, initial_design=None, kernel: str = "linear_truncated",
                 raw_samples: int = 256, num_restarts: int = 4, fit_maxiter: int = 150, physics=None,
                 max_training_rows: int = MAX_TRAINING_ROWS):
        super().__init__(space, seed, initial_design)
        if int(max_training_rows) < 10:
            raise OptimizerError(f"max_training_rows must be at least 10, got {max_training_rows}")
        self.max_training_rows = int(max_training_rows)
        if kernel not in KERNELS:
            raise OptimizerError(f"unknown kernel {kernel!r}; choose one of {list(KERNELS)}")
        self.kernel = kernel
        self.settings = OptimizerSettings(raw_samples=raw_samples, num_restarts=num_restarts)
        self.fit_maxiter = fit_maxiter
        # physics: an optimizers.physics.PhysicsFeatures injected by the caller (simulator features / prior)
        self.physics = None
        if physics is not None:
            from optimizers.physics import PhysicsInputs  # noqa: PLC0415

            self.physics = PhysicsInputs(physics, space, seed=seed)
        self._cache: tuple[str, FittedModel] | None = None
        self._warm: dict | None = None
        self._warm_rows = 0  # training rows when the hyperparameters were last optimized
        self._from_fit = 0  # suggestions made from the cached fit: past the first, they are a batch's later items
        self._best_known: tuple | None = None  # (fit, history rows) -> best target mean of known rows, mean function
        self._pool: tuple[tuple, BelieverPool] | None = None  # (fit, history rows) -> the batch's pool
        self._goal_cache: tuple[str, goals.FittedGoals] | None = None  # several outcomes: one GP each
        self._goal_warm: list | None = None
        if self.physics is not None and space.multi_goal:
            raise OptimizerError("physics (simulator features or prior) supports one objective without outcome "
                                 "constraints; drop optimizer.physics or the extra goals")

    def _training(self, history) -> tuple[torch.Tensor, torch.Tensor]:
        return self._model_rows(*self.space.training_data(history))

    def _model_rows(self, X: torch.Tensor, Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The rows and columns the model sees: all of them, or (single fidelity) the target rows without
        the fidelity column."""
        if not self.multi_fidelity:
            keep = X[:, -1] == self.space.target_fidelity.value
            X, Y = X[keep, :-1], Y[keep]
        return X, Y

    @property
    def _input_names(self) -> list[str]:
        return self.space.input_names if self.multi_fidelity else self.space.input_names[:-1]

    def _thinned(self, X: torch.Tensor, Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The rows the GP is fitted to: all of them, or past ``MAX_TRAINING_ROWS`` the subset of
        ``optimizers.thinning`` (the rest stay in the history: taken, and in the best so far)."""
        fid_col = self.space.dim if self.multi_fidelity else None
        # (several outcomes: thinned by the first objective)
        rows = thin(X, Y[:, :1], fid_col, self.space.target_fidelity.value, cap=self.max_training_rows)
        return (X, Y) if rows.numel() == X.shape[0] else (X[rows], Y[rows])

    def fitted(self, history) -> FittedModel | None:
        """The GP fitted to the completed rows of ``history`` (None without enough data)."""
        X, Y = self._training(history)
        if X.shape[0] < 2:
            return None
        key = data_key(X, Y) + self.kernel
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        torch.manual_seed(_seed(self.seed, X.shape[0], 7))
        n_rows = X.shape[0]  # before thinning: past the cap the thinned set stays the same size
        X, Y = self._thinned(X, Y)
        fid_col = self.space.dim if self.multi_fidelity else None
        hold = (self.physics is None and self._pending_now > 0 and self._warm is not None
                and n_rows <= self._warm_rows * (1 + REFIT_GROWTH))
        if self.physics is not None:
            fm = self.physics.fit(X, Y, fidelity_column=fid_col, kernel=self.kernel, warm_state=self._warm,
                                  maxiter=self.fit_maxiter)
        else:
            fm = fit_model(
                X, Y, fidelity_column=fid_col, kernel=self.kernel, warm_state=self._warm, maxiter=self.fit_maxiter,
                fingerprint_columns=self.space.fingerprint_columns, input_names=self._input_names,
                optimize=not hold,
            )
        if fm.fit_ok and not hold:  # held hyperparameters stay counted from where they were optimized
            self._warm = hyperparameters(fm.gp)
            self._warm_rows = n_rows
        self._cache = (key, fm)
        self._from_fit = 0
        return fm

    def fitted_goals(self, history) -> goals.FittedGoals | None:
        """One GP per outcome fitted to the rows of ``history`` that have them all (None without enough data)."""
        X, Y = self._model_rows(*self.space.training_outcomes(history))
        if X.shape[0] < 2:
            return None
        key = data_key(X, Y) + self.kernel
        if self._goal_cache is not None and self._goal_cache[0] == key:
            return self._goal_cache[1]
        torch.manual_seed(_seed(self.seed, X.shape[0], 7))
        X, Y = self._thinned(X, Y)
        fg = goals.fit_goals(X, Y, fidelity_column=self.space.dim if self.multi_fidelity else None, kernel=self.kernel,
                             warm_states=self._goal_warm, maxiter=self.fit_maxiter,
                             fingerprint_columns=self.space.fingerprint_columns, input_names=self._input_names)
        self._goal_warm = goals.warm_states(fg)
        self._goal_cache = (key, fg)
        return fg

    def _goal_step(self, history, taken, affordable, batch_index) -> tuple[Suggestion, torch.Tensor]:
        """Several objectives / outcome constraints: the point by hypervolume (or constrained) improvement at
        the target, the fidelity by information per cost summed over the outcomes (``optimizers.goals``)."""
        space = self.space
        d = space.dim
        target = space.target_fidelity
        if not self.multi_fidelity:
            affordable = [target]
        fg = self.fitted_goals(history)
        if fg is None:
            return self._space_filling(taken, affordable[0], taken.shape[0],
                                       "space-filling: too few observations with every outcome for a model "
                                       "(Sobol point {index} at {fidelity})")
        failed = history[history["status"] == "failed"]
        X_failed = space.encode(failed, kind="history") if len(failed) else self._empty()
        success = SuccessModel.from_history(space, history)
        later = _rows_not_in(taken[self._n_known:], X_failed)
        if self.multi_fidelity:
            pending = self._target_input(later)  # a recipe running at any fidelity: already being looked at
        else:
            pending = later[later[:, -1] == target.value, :-1]
        acqf = goals.acquisition(fg.model, space, goals.baseline(space, fg, self.multi_fidelity), pending,
                                 self._goal_reference(fg))
        if self.multi_fidelity:
            acqf = FixedFeatureAcquisitionFunction(acqf, d=d + 1, columns=[d], values=[target.value])
        if success is not None:
            acqf = SuccessWeighted(acqf, success)
        if self._candidates is None:
            x, value = self._maximize(acqf, fg, seed=_seed(self.seed, taken.shape[0], batch_index),
                                      settings=goals.search_settings(self.settings))
            x = x[0]
            open_here = affordable
        else:
            x, value, open_here = self._candidate_choice(acqf, taken, affordable)
        rule = "log NEHVI" if len(space.objectives) > 1 else "constrained log NEI"
        scores = goals.information(fg, x, space, open_here) if self.multi_fidelity else []
        if self.multi_fidelity and target in affordable:
            x_cost = max(scores, key=lambda sc: sc.per_cost).fidelity.cost if scores else target.cost
            confirm = self._confirmation(fg, x, x_cost, pending, success, taken)
            if confirm is not None:
                x, value = confirm
                open_here = [target]
                rule += " over the front measured at the target (a recipe seen only at cheaper fidelities)"
                scores = goals.information(fg, x, space, open_here)

        def outcomes_at(fidelity: Fidelity) -> dict[str, tuple[float, float]]:
            x_in = torch.cat([x, x.new_tensor([fidelity.value])]) if self.multi_fidelity else x
            with torch.no_grad():
                post = fg.model.posterior(x_in.reshape(1, -1))
            mean, var = post.mean.reshape(-1), post.variance.reshape(-1).clamp_min(0)
            return {o.property: (o.sign * float(mean[k]), float(var[k].sqrt())) for k, o in enumerate(space.outcomes)}

        def predicted(fidelity: Fidelity) -> tuple[float, float]:
            return outcomes_at(fidelity)[space.objective.property]

        if not self.multi_fidelity:
            x_full = torch.cat([x, x.new_tensor([target.value])])
            if self._is_taken(x_full, taken):
                return self._space_filling(taken, target, taken.shape[0],
                                           "the best point is already taken; Sobol point {index}")
            at = outcomes_at(target)
            mean, std = at[space.objective.property]
            return Suggestion(
                recipe=space.decode(x.reshape(1, -1))[0], fidelity=target.name, predicted_mean=mean, predicted_std=std,
                target_mean=mean, target_std=std, acquisition_value=value, acquisition_by_fidelity={target.name: value},
                model_id=fg.model_id, strategy=self.name,
                reason=f"{rule} {value:.3g} at the target fidelity {target.name} (single-fidelity baseline)",
                predicted_outcomes={p: {"mean": m, "std": sd, "target_mean": m, "target_std": sd}
                                    for p, (m, sd) in at.items()},
            ), x_full
        step = self._suggest(fg, x, value, scores, predicted, taken, batch_index, success, X_failed, pooled=False,
                             rule=rule, outcomes_at=outcomes_at)
        if step is None:
            return self._space_filling(taken, affordable[0] if target not in affordable else target,
                                       taken.shape[0], "no untried point improves the target; Sobol point {index} at {fidelity}")
        return step

    def _confirmation(self, fg: goals.FittedGoals, x: torch.Tensor, x_cost: float, pending: torch.Tensor,
                      success: SuccessModel | None, taken: torch.Tensor) -> tuple[torch.Tensor, float] | None:
        """A recipe seen only at cheaper fidelities to run at the target instead of ``x``, or None.

        The point's acquisition counts every observed recipe as reached at its predicted target value
        (the recommendation's view), so a recipe the cheap data puts on the front is never worth
        confirming there, and a lab is left with a front it has not measured. Here both are valued by
        the same acquisition over the front *measured at the target*, per cost: the cheaply seen recipe
        (up to ``goals.MAX_BASELINE`` of them, best predicted first) at the target's cost against ``x`` at
        ``x_cost``, the cost of the fidelity ``x`` would run at. The confirmation wins when its
        improvement of that front per cost is larger. So where cheap runs cost a tenth of the target,
        ``x`` keeps a tenfold handicap in its favour and the strategy explores as before until a
        recipe is clearly worth confirming."""
        space = self.space
        target = space.target_fidelity
        X = goals.confirmation_candidates(space, fg)
        if X.shape[0] == 0:
            return None
        keep = torch.tensor([not self._is_taken(r, taken) for r in X], dtype=torch.bool)
        if space.has_constraints:
            keep &= space.is_feasible(X[:, : space.dim])
        if self._candidates is not None:  # every suggestion is a row of the request's candidates
            rows = self._candidates.X[self._candidates.open(target, taken, SUGGESTION_TOL)]
            keep &= (torch.cdist(X[:, : space.dim], rows, p=float("inf")) < SUGGESTION_TOL).any(-1) if rows.shape[0] \
                else torch.zeros_like(keep)
        X = X[keep]
        if X.shape[0] == 0:
            return None
        acqf = goals.acquisition(fg.model, space, goals.baseline(space, fg, True, measured=True), pending,
                                 self._goal_reference(fg))
        acqf = FixedFeatureAcquisitionFunction(acqf, d=space.dim + 1, columns=[space.dim], values=[target.value])
        if success is not None:
            acqf = SuccessWeighted(acqf, success)
        vals = evaluate(acqf, torch.cat([X[:, : space.dim], x.reshape(1, -1)]))
        best = int(vals[:-1].argmax())
        if not float(vals[best]) - math.log(target.cost) > float(vals[-1]) - math.log(x_cost):
            return None
        return X[best, : space.dim], float(vals[best])

    def _goal_recommendation(self, history) -> Recommendation:
        """The Pareto set at the target fidelity by posterior mean (see ``optimizers.goals.predicted_front``)."""
        space = self.space
        fg = self.fitted_goals(history)
        if fg is None:
            return self._observed_front(history)
        X = goals.training_recipes(space, fg, self.multi_fidelity)
        if space.has_constraints:
            X = X[space.is_feasible(X)]
        rows = goals.predicted_front(space, fg.model, X)
        if not rows:
            return self._observed_front(history)
        means = torch.stack([r.means for r in rows])
        stds = torch.stack([r.variances for r in rows]).clamp_min(0).sqrt()
        feasible = [r.feasible if space.outcome_constraints else None for r in rows]
        return self._front(X[[r.index for r in rows], : space.dim], means, stds, feasible, self._goal_reference(fg),
                           fg.model_id)

    def _goal_reference(self, fg: goals.FittedGoals) -> torch.Tensor:
        """The hypervolume reference point from the target rows the goals were fitted to (from every row
        while there are fewer than two)."""
        Y = fg.Y
        if self.multi_fidelity:
            at_target = fg.X[:, -1] == self.space.target_fidelity.value
            if int(at_target.sum()) >= 2:
                Y = fg.Y[at_target]
        return goals.reference_point(self.space.objectives, Y)

    def _maximize(self, acqf, fm: FittedModel, seed: int, settings: OptimizerSettings):
        """``maximize`` over the box, or over a featurized candidate set when the model uses physics."""
        if self.physics is not None:
            return self.physics.maximize(acqf, fm, seed=seed)
        return maximize(acqf, self.space, seed=seed, settings=settings)

    def _predict(self, model, x_full: torch.Tensor) -> tuple[float, float]:
        """Posterior mean / std of ``f`` at one encoded point, in the objective's unit and sign."""
        with torch.no_grad():
            post = model.posterior(x_full.reshape(1, -1))
        mean = self.space.to_objective(float(post.mean.reshape(-1)[0]))
        return mean, float(post.variance.reshape(-1)[0].clamp_min(0).sqrt())

    def _target_input(self, X: torch.Tensor) -> torch.Tensor:
        if not self.multi_fidelity:
            return X
        Xt = X.clone()
        Xt[:, -1] = self.space.target_fidelity.value
        return Xt

    def recommendation(self, history, candidates: pd.DataFrame | None = None) -> Recommendation:
        """Best posterior mean at the target fidelity, over the observed recipes and a short optimization
        (with ``candidates``: over the observed recipes and the candidate rows, nothing off the rows)."""
        history = self.space.validate(history, kind="history")
        if self.space.multi_goal:
            return self._goal_recommendation(history)
        fm = self.fitted(history)
        if fm is None:
            return super().recommendation(history)
        model = fm.model
        d = self.space.dim
        X_obs = fm.X[:, :d]
        target_value = self.space.target_fidelity.value
        if self.multi_fidelity:
            acqf = FixedFeatureAcquisitionFunction(PosteriorMean(model), d=d + 1, columns=[d], values=[target_value])
        else:
            acqf = PosteriorMean(model)
        with torch.no_grad():
            obs_vals = acqf(X_obs.unsqueeze(-2))
        if self.space.has_constraints:  # an observed recipe that breaks a constraint is never recommended
            obs_vals = torch.where(self.space.is_feasible(X_obs), obs_vals, torch.full_like(obs_vals, -math.inf))
        best_i = int(obs_vals.argmax())
        best_x, best_v = X_obs[best_i], float(obs_vals[best_i])
        if candidates is not None:
            cands = CandidateSet(self.space, candidates)
            X_c = cands.X[cands.feasible] if self.space.has_constraints else cands.X
            c_vals = evaluate(acqf, X_c)
            if float(c_vals.max()) > best_v:
                best_x, best_v = X_c[int(c_vals.argmax())], float(c_vals.max())
        try:
            if candidates is not None:
                raise LookupError("the best row is the answer: no optimization off the rows")
            x_opt, v_opt = self._maximize(acqf, fm, seed=_seed(self.seed, fm.X.shape[0], 3),
                                    settings=OptimizerSettings(raw_samples=128, num_restarts=2, maxiter=50))
            if v_opt > best_v:
                best_x, best_v = x_opt[0], v_opt
        except Exception:  # noqa: BLE001 - the observed best is a fine answer
            pass
        if self.space.has_constraints and best_v == -math.inf:
            raise OptimizerError("no recipe that meets the linear constraints could be recommended yet")
        x_full = torch.cat([best_x, best_x.new_tensor([target_value])]) if self.multi_fidelity else best_x
        mean, std = self._predict(model, x_full)
        return Recommendation(self.space.decode(best_x.reshape(1, -1))[0], mean, std, fm.model_id)


class MultiFidelityStrategy(_ModelStrategy):
    """Multi-fidelity GP with the fast cost-aware two-step acquisition (see ``optimizers.acquisition``).

    Options (``make_strategy("multi_fidelity", space, **options)``):
        initial_design: fidelity name -> count (default: ``2 * n_parameters`` at the
            cheapest fidelity, halving toward the target, at least 2 at the target; a cheap
            fidelity as dear as the target runs left out: ``default_initial_design``).
        kernel: ``"linear_truncated"`` (default), ``"linear_truncated_scaled"`` (its shared part with the
            dimension-scaled lengthscale prior; see the README) or ``"product"``.
        raw_samples, num_restarts: effort of the acquisition optimization.
        fit_maxiter: L-BFGS iterations per GP fit.
        max_training_rows: the most rows the GP is fitted to; a longer history is thinned by
            the rule of ``optimizers.thinning`` (default 250).
        physics: an ``optimizers.physics.PhysicsFeatures`` (simulator features as inputs,
            or the simulator's prediction as prior mean / input); the acquisition is then
            maximized over a featurized candidate set.
        check_cheap_data: while the cheap data clearly worsens the model's leave-one-out
            predictions of the target runs (``optimizers.trust``), take single-fidelity steps at
            the target and recommend from the target runs (default False: on the benchmark
            cells it did not pay; see the README).
        adaptive_start: at most ``ADAPTIVE_TARGET_RUNS`` (2) target runs in the initial design, the first at
            the best cheap result so far (default False: on the shipped recorded table it reached the top 5 % far
            sooner but the top 1 % no sooner; see the README). One objective only; ignored with several.

    Batches (``q > 1``, or one suggestion per free worker): the first item gets the full
    acquisition optimization; each further one is conditioned on the items before it and the
    running experiments (kriging believer) and is the best of a space-filling pool of
    ``raw_samples`` points (``optimizers.batch.BelieverPool``: one joint posterior per fit,
    then a rank-one update per item). The loop asks once per free worker, q = 1 each time:
    there the first ``POOL_AFTER`` (2) requests from a fit get the full search, later ones the pool.

    While runs are pending (the request's ``pending`` table is not empty), two rules save the
    waiting workers' time: with ``POOL_PENDING`` (8) or more pending every request uses the pool,
    and a refit keeps the last optimized hyperparameters until the history's training rows have
    grown by ``REFIT_GROWTH`` (20 %). A request with nothing pending is answered as without them.
    """

    name = "multi_fidelity"
    multi_fidelity = True

    def __init__(self, space, seed=0, initial_design=None, check_cheap_data: bool = False, adaptive_start: bool = False,
                 **options):
        super().__init__(space, seed, initial_design, **options)
        self.check_cheap_data = bool(check_cheap_data)
        target = space.target_fidelity
        # with no cheap run in the design (a fixed one, or a default that left the cheap fidelities out),
        # there is no cheap result to start from: the design stays as it is
        self.adaptive_start = (bool(adaptive_start) and not space.multi_goal
                               and any(n > 0 for name, n in self.initial_design.items() if name != target.name))
        if self.adaptive_start:
            self.initial_design[target.name] = min(self.initial_design.get(target.name, 0), ADAPTIVE_TARGET_RUNS)
        self._target_only: SingleFidelityStrategy | None = None  # the steps and recommendation when cheap data misleads
        self._checked: tuple[str, trust.TrustCheck] | None = None  # (fit id, its check)

    def cheap_data_check(self, history) -> trust.TrustCheck | None:
        """Whether the cheap data helps the model predict the target runs (``optimizers.trust``), for the
        fit to ``history``; None where the check does not apply (switched off, physics, several goals,
        no model yet)."""
        if not self.check_cheap_data or self.physics is not None or self.space.multi_goal:
            return None
        fm = self.fitted(history)
        if fm is None:
            return None
        if self._checked is not None and self._checked[0] == fm.model_id:
            return self._checked[1]
        at_target = fm.X[:, -1] == self.space.target_fidelity.value
        if int(at_target.sum()) < trust.MIN_TARGET_RUNS:
            checked = trust.TrustCheck(int(at_target.sum()), math.nan, True)
        else:
            tf = self._target_strategy().fitted(history)
            checked = trust.check(fm.gp, at_target, tf.gp if tf is not None else None, fm.X[at_target, :-1],
                                  tf.X if tf is not None else None)
        self._checked = (fm.model_id, checked)
        return checked

    def _target_strategy(self) -> SingleFidelityStrategy:
        """The single-fidelity strategy this one turns to while the cheap data misleads (no design of its
        own: it starts from the target runs there are), in step with this one's request."""
        if self._target_only is None:
            self._target_only = SingleFidelityStrategy(
                self.space, seed=self.seed, initial_design={}, kernel=self.kernel,
                raw_samples=self.settings.raw_samples, num_restarts=self.settings.num_restarts,
                fit_maxiter=self.fit_maxiter, max_training_rows=self.max_training_rows)
        self._target_only._n_known = self._n_known
        self._target_only._pending_now = self._pending_now
        self._target_only._candidates = self._candidates
        return self._target_only

    def _target_step(self, history, taken, batch_index, checked: trust.TrustCheck):
        sug, x_full = self._target_strategy()._next(history, taken, [self.space.target_fidelity], batch_index)
        reason = (f"{sug.reason.replace(' (single-fidelity baseline)', '')}, a target-only step: "
                  f"{checked.describe()}")
        return dataclasses.replace(sug, reason=reason, strategy=self.name), x_full

    def recommendation(self, history, candidates: pd.DataFrame | None = None) -> Recommendation:
        """As the base class; while the cheap data misleads (``cheap_data_check``), from the target runs alone."""
        if not self.check_cheap_data:
            return super().recommendation(history, candidates)
        history = self.space.validate(history, kind="history")
        checked = self.cheap_data_check(history)
        if checked is not None and not checked.trusted:
            rec = self._target_strategy().recommendation(history, candidates)
            return dataclasses.replace(rec, note=f"from the target runs alone: {checked.describe()}")
        return super().recommendation(history, candidates)

    def default_initial_design(self) -> dict[str, int]:
        """``max(4, 2p)`` runs at the cheapest fidelity, halving toward the target, and ``max(2, p/2)`` target
        runs. A cheap fidelity whose share would cost at least as much as the target runs is left out of the
        design: for the same cost, target runs say more about the target (the acquisition can still choose
        it later). With every cheap fidelity left out, the design is single-fidelity's, ``max(3, p + 1)``
        target runs."""
        p = len(self.space.parameters)
        fids = self.space.fidelities_by_cost
        target = self.space.target_fidelity
        counts = {}
        n = max(4, 2 * p)
        for f in fids:
            counts[f.name] = max(2, n)
            n = math.ceil(n / 2)
        counts[target.name] = max(2, math.ceil(p / 2))
        target_cost = counts[target.name] * target.cost
        for f in fids:
            if f is not target and counts[f.name] * f.cost >= target_cost:
                counts[f.name] = 0
        if not any(counts[f.name] for f in fids if f is not target):
            counts[target.name] = max(3, p + 1)
        return counts

    def _next(self, history, taken, affordable, batch_index):
        step = self._initial_design_step(taken, affordable)
        if step is not None:
            return self._adaptive_first_target_run(history, taken, step) if self.adaptive_start else step
        if self.space.multi_goal:
            return self._goal_step(history, taken, affordable, batch_index)
        fm = self.fitted(history)
        if fm is None:
            return self._space_filling(taken, affordable[0], taken.shape[0],
                                       "space-filling: too few completed observations for a model (Sobol point {index} at {fidelity})")
        checked = self.cheap_data_check(history)
        if checked is not None and not checked.trusted and self.space.target_fidelity in affordable:
            return self._target_step(history, taken, batch_index, checked)
        failed = history[history["status"] == "failed"]
        X_failed = self.space.encode(failed, kind="history") if len(failed) else self._empty()
        return self._model_step(fm, taken, affordable, batch_index, SuccessModel.from_history(self.space, history), X_failed)

    def _adaptive_first_target_run(self, history, taken, step: tuple[Suggestion, torch.Tensor]):
        """Adaptive start: the design's first target run goes to the recipe the cheap data rates best so far
        (the best completed result at the most expensive cheap fidelity that has one) instead of the next
        space-filling point. Where the cheap data tracks the target, that run is already a good recipe; where
        it does not, the model learns so from the first target run. ``step`` is kept otherwise."""
        sug, _ = step
        target = self.space.target_fidelity
        if sug.fidelity != target.name or (taken.shape[0] and bool((taken[:, -1] == target.value).any())):
            return step
        X, Y = self._training(history)
        cheap = [f for f in self.space.fidelities_by_cost if f is not target]
        for f in reversed(cheap):
            here = X[:, -1] == f.value
            if not bool(here.any()):
                continue
            i = int(torch.nonzero(here).reshape(-1)[int(Y[here, 0].argmax())])
            x_full = torch.cat([X[i, :-1], X.new_tensor([target.value])])
            if self._is_taken(x_full, taken):
                return step
            value = self.space.to_objective(float(Y[i, 0]))
            best = Suggestion(
                recipe=self.space.decode(X[i : i + 1, :-1])[0], fidelity=target.name, model_id="adaptive-start",
                reason=(f"adaptive start: the first target run at the best {f.name} result so far "
                        f"({value:.4g} {self.space.objective.unit}); then {self.initial_design[target.name] - 1} "
                        "space-filling target run(s) and the acquisition"),
                strategy=self.name,
            )
            return best, x_full
        return step

    def _condition_on_pending(self, fm: FittedModel, taken: torch.Tensor, X_failed: torch.Tensor) -> Any:
        """Kriging believer: condition on running / already-suggested points at their posterior mean.

        Failed rows are in ``taken`` (never suggested again) but are not believed: a
        failure says nothing about the objective, and believing the model's optimistic
        guess there would raise ``best_f`` and starve every feasible candidate.
        """
        model = fm.model
        # rows of ``taken`` that are neither training rows nor failures: pending and earlier in the batch
        Xp = self._pending(taken, fm, X_failed)
        if Xp.shape[0] == 0:
            return model
        with torch.no_grad():
            model.posterior(fm.X[:1])  # builds the prediction cache that fantasies need
            Yp = model.posterior(Xp).mean
            try:
                return model.condition_on_observations(Xp, Yp)
            except Exception:  # noqa: BLE001 - fall back to ignoring pending points
                return model

    def _best_f(self, fm: FittedModel, taken: torch.Tensor, X_failed: torch.Tensor) -> float:
        """The incumbent of log EI: the best posterior mean at the target fidelity over every recipe
        measured or running (failures aside).

        Kriging believer conditions on pending points at the posterior mean, which leaves the
        mean everywhere unchanged; so the known rows' part is computed once per fit and history
        (in chunks: one posterior over a long history would build an n x n covariance) and only
        the pending rows are added per suggestion."""
        key = (id(fm), fm.model_id, self._n_known)
        if self._best_known is None or self._best_known[0] != key:
            with torch.no_grad():
                dense = fm.dense_posterior()  # the mean alone, without GPyTorch's overhead per call
                mean = dense.mean if dense is not None else (lambda X: fm.model.posterior(X).mean)
                known = self._target_input(torch.cat([fm.X, _rows_not_in(taken[: self._n_known], X_failed)]))
                best = max(float(mean(chunk).max()) for chunk in known.split(1024))
            self._best_known = (key, best, mean)
        best, mean = self._best_known[1], self._best_known[2]
        later = _rows_not_in(taken[self._n_known:], X_failed)
        if later.shape[0]:
            with torch.no_grad():
                best = max(best, float(mean(self._target_input(later)).max()))
        return best

    def _model_step(self, fm: FittedModel, taken, affordable, batch_index, success: SuccessModel | None = None,
                    X_failed: torch.Tensor | None = None):
        space = self.space
        d = space.dim
        target = space.target_fidelity
        X_failed = self._empty() if X_failed is None else X_failed
        # The loop asks once per free worker (q = 1 each time): the first two requests from a fit get the
        # full search (the reference campaign rarely has more slots free at once, and its recommendation was
        # better for it: 167.2 / 167.3 degC against 158.7-164.4 in paired dry runs), the rest the pool.
        n_pending = taken.shape[0] - self._n_known
        later = batch_index > 0 or self._from_fit >= POOL_AFTER or n_pending >= POOL_PENDING
        self._from_fit += 1
        if later and self._candidates is None and self.physics is None:
            step = self._pool_step(fm, taken, affordable, batch_index, success, X_failed)
            if step is not None:
                return step
        model = self._condition_on_pending(fm, taken, X_failed)
        model.eval()
        best_f = self._best_f(fm, taken, X_failed)
        acqf = FixedFeatureAcquisitionFunction(
            log_expected_improvement(model, best_f), d=d + 1, columns=[d], values=[target.value]
        )
        if success is not None:
            acqf = SuccessWeighted(acqf, success)
        seed = _seed(self.seed, taken.shape[0], batch_index)
        if self._candidates is None:
            x, log_ei = self._maximize(acqf, fm, seed=seed, settings=self.settings)
            x = x[0]
            open_here = affordable
        else:
            x, log_ei, open_here = self._candidate_choice(acqf, taken, affordable)
        scores = information_per_cost(model, x, space, open_here)

        def predicted(fidelity: Fidelity) -> tuple[float, float]:
            return self._predict(fm.model, torch.cat([x, x.new_tensor([fidelity.value])]))

        step = self._suggest(fm, x, log_ei, scores, predicted, taken, batch_index, success, X_failed, pooled=False)
        if step is None:
            # Every fidelity at this point is known already (e.g. a small discrete space):
            # fall back to an untried space-filling point.
            return self._space_filling(taken, affordable[0] if target not in affordable else target,
                                       taken.shape[0], "no untried point improves the target; Sobol point {index} at {fidelity}")
        return step

    def _pool_step(self, fm: FittedModel, taken, affordable, batch_index, success, X_failed):
        """A later suggestion from this fit: the best point of a space-filling pool under the model
        conditioned on everything pending (``optimizers.batch.BelieverPool``), or None when the
        pool has nothing untried to offer (the full search then runs)."""
        pending = self._pending(taken, fm, X_failed)
        key = (id(fm), fm.model_id, self._n_known)
        pool = self._pool[1] if self._pool is not None and self._pool[0] == key else None
        if pool is None or not pool.follows(pending):
            P = self.space.from_unit(torch.quasirandom.SobolEngine(len(self.space.parameters), scramble=True,
                                                                   seed=_seed(self.seed, self._n_known, 11))
                                     .draw(self.settings.raw_samples, dtype=torch.double))
            if self.space.has_constraints:
                P = P[self.space.is_feasible(P)]
            if P.shape[0] == 0:
                return None
            weight = success_log_weight(success, P).detach() if success is not None else None
            pool = BelieverPool(fm.model, self.space, P, pending, weight, dense=fm.dense_posterior())
            self._pool = (key, pool)
        best_f = self._best_f(fm, taken, X_failed)
        for j, log_ei in pool.ranked(best_f, POOL_CANDIDATES):
            x = pool.pool[j]
            scores = [FidelityScore(f, ig, ig / f.cost) for f, ig in pool.information(j, affordable)]
            step = self._suggest(fm, x, log_ei, scores, lambda fidelity, j=j: pool.predicted(j, fidelity), taken,
                                 batch_index, success, X_failed, pooled=True)
            if step is not None:
                return step
        return None

    def _suggest(self, fm: FittedModel, x, log_ei: float, scores, predicted, taken, batch_index, success, X_failed,
                 pooled: bool, rule: str = "log EI", outcomes_at=None) -> tuple[Suggestion, torch.Tensor] | None:
        """The suggestion at ``x``: the untried fidelity with the most information per cost, its
        predictions and the reason, or None when every fidelity at ``x`` is taken."""
        target = self.space.target_fidelity
        ranked = sorted(scores, key=lambda s: s.per_cost, reverse=True)
        chosen = None
        for s in ranked:
            x_full = torch.cat([x, x.new_tensor([s.fidelity.value])])
            if not self._is_taken(x_full, taken) and s.information > 0:
                chosen = s
                break
        if chosen is None:
            return None
        x_full = torch.cat([x, x.new_tensor([chosen.fidelity.value])])
        mean, std = predicted(chosen.fidelity)
        t_mean, t_std = predicted(target)
        by_fid = {s.fidelity.name: s.per_cost for s in scores}
        others = ", ".join(f"{s.fidelity.name} {s.per_cost:.3g}" for s in ranked if s is not chosen)
        n_pending = self._pending(taken, fm, X_failed).shape[0]
        reason = (
            f"{chosen.fidelity.name}: {chosen.per_cost:.3g} nats per cost unit"
            + (f" vs {others}" if others else "")
            + f"; point chosen by {rule} {log_ei:.3g} at the target fidelity {target.name}"
            + (" (the best of a space-filling pool)" if pooled else "")
            + (f" (batch item {batch_index + 1}, conditioned on {n_pending} pending)" if n_pending else "")
            + (f"; predicted success probability {float(success.probability(x.reshape(1, -1)).detach()):.2f} "
               f"(from {int((success.success == 0).sum())} failures)" if success is not None else "")
        )
        sug = Suggestion(
            recipe=self.space.decode(x.reshape(1, -1))[0], fidelity=chosen.fidelity.name,
            predicted_mean=mean, predicted_std=std, target_mean=t_mean, target_std=t_std,
            acquisition_value=chosen.per_cost, acquisition_by_fidelity=by_fid,
            model_id=fm.model_id, reason=reason, strategy=self.name,
        )
        if outcomes_at is not None:
            here, there = outcomes_at(chosen.fidelity), outcomes_at(target)
            sug = dataclasses.replace(sug, predicted_outcomes={
                prop: {"mean": m, "std": sd, "target_mean": there[prop][0], "target_std": there[prop][1]}
                for prop, (m, sd) in here.items()})
        return sug, x_full


class SingleFidelityStrategy(_ModelStrategy):
    """qLogNEI with a GP on target-fidelity data only; never runs another fidelity."""

    name = "single_fidelity"
    multi_fidelity = False

    def default_initial_design(self) -> dict[str, int]:
        return {self.space.target_fidelity.name: max(3, len(self.space.parameters) + 1)}

    def _next(self, history, taken, affordable, batch_index):
        target = _target_or_raise(self.space, affordable, self.name)
        step = self._initial_design_step(taken, [target])
        if step is not None:
            return step
        if self.space.multi_goal:
            return self._goal_step(history, taken, [target], batch_index)
        fm = self.fitted(history)
        if fm is None:
            return self._space_filling(taken, target, taken.shape[0],
                                       "space-filling: too few completed target observations for a model (Sobol point {index})")
        later = taken[self._n_known:]
        at_t = later[later[:, -1] == target.value, :-1]
        failed = history[history["status"] == "failed"]
        X_failed = self.space.encode(failed, kind="history")[:, :-1] if len(failed) else self._empty()[:, :-1]
        pend = _rows_not_in(_rows_not_in(at_t, fm.X), X_failed)  # failures are not pending experiments
        pend = pend if pend.shape[0] else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            acqf = qLogNoisyExpectedImprovement(fm.model, X_baseline=fm.X, X_pending=pend, prune_baseline=True)
        success = SuccessModel.from_history(self.space, history)
        if success is not None:
            acqf = SuccessWeighted(acqf, success)
        if self._candidates is None:
            x, val = self._maximize(acqf, fm, seed=_seed(self.seed, taken.shape[0], batch_index), settings=self.settings)
            x = x[0]
        else:
            x, val, _ = self._candidate_choice(acqf, taken, [target])
        x_full = torch.cat([x, x.new_tensor([target.value])])
        if self._is_taken(x_full, taken):
            return self._space_filling(taken, target, taken.shape[0], "the best point is already taken; Sobol point {index}")
        mean, std = self._predict(fm.model, x)
        sug = Suggestion(
            recipe=self.space.decode(x.reshape(1, -1))[0], fidelity=target.name,
            predicted_mean=mean, predicted_std=std, target_mean=mean, target_std=std,
            acquisition_value=val, acquisition_by_fidelity={target.name: val}, model_id=fm.model_id,
            reason=f"qLogNEI {val:.3g} at the target fidelity {target.name} (single-fidelity baseline)",
            strategy=self.name,
        )
        return sug, x_full


STRATEGIES: dict[str, type[Strategy]] = {
    "multi_fidelity": MultiFidelityStrategy,
    "single_fidelity": SingleFidelityStrategy,
    "random": RandomStrategy,
    "sobol": SobolStrategy,
}


def make_strategy(name: str, space: SearchSpace, seed: int = 0, **options: Any) -> Strategy:
    """Build a strategy by name: ``multi_fidelity``, ``single_fidelity``, ``random`` or ``sobol``.

    Raises:
        OptimizerError: unknown name or option.
    """
    try:
        cls = STRATEGIES[name]
    except KeyError:
        raise OptimizerError(f"unknown strategy {name!r}; choose one of {sorted(STRATEGIES)}") from None
    try:
        return cls(space, seed=seed, **options)
    except TypeError as err:
        raise OptimizerError(f"strategy {name!r}: {err}") from err
