"""Several objectives and outcome constraints: one GP per outcome, hypervolume at the target, fidelity by information.

When a space has several objectives or an outcome constraint (``SearchSpace.multi_goal``):

- **Model.** Every outcome (each objective, each property an outcome constraint names) gets
  its own GP on the same inputs (``fit_model``, multi-fidelity kernel, warm starts per
  outcome), joined in a BoTorch ``ModelListGP``. Independent outputs keep each fit as cheap
  as the single-objective one and let an outcome that is measured less often still be modelled.
- **Point.** The recipe is chosen at the target fidelity by ``qLogNoisyExpectedHypervolumeImprovement``
  (several objectives) or ``qLogNoisyExpectedImprovement`` (one objective with outcome
  constraints), with the observed recipes as the noisy baseline, the running ones as pending,
  and each outcome constraint as a smooth feasibility weight on the posterior samples (the
  probability that the constraint holds, in BoTorch's constrained MC acquisition). The linear
  constraints on parameters bound the search as in the single-objective path.
- **Fidelity.** The information-per-cost rule of ``optimizers.acquisition`` summed over the
  outcomes: the outputs are independent, so the information one observation gives about
  all of them at the target is the sum of what it gives about each.
- **Confirmation.** The point's baseline counts every observed recipe as reached at its
  predicted target value, so that acquisition alone never sends a recipe seen only cheaply to
  the target. Each multi-fidelity step also values those recipes (``confirmation_candidates``)
  by the same acquisition over the front *measured at the target* (``baseline(measured=True)``),
  per cost, against the chosen point at the cost of the fidelity it would run at; a recipe that
  improves the measured front more per cost is run at the target (``MultiFidelityStrategy``).
- **Recommendation.** The Pareto set at the target fidelity: the observed recipes whose
  posterior means are not dominated among those likely (>= 50 %) to meet the outcome
  constraints, each with its means and standard deviations per objective.

Why this rather than MOMF or MF-HVKG: MOMF needs a continuous fidelity and one joint
model with the fidelity as an extra objective; MF-HVKG solves a nested fantasy problem per
candidate (minutes per suggestion). Choosing the point by hypervolume at the target and the
fidelity by closed-form information per cost keeps each suggestion about as fast as one
qLogNEHVI call; ``python -m optimizers.bench_mo`` compares the three on the same problems.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from botorch.acquisition import qLogNoisyExpectedImprovement
from botorch.acquisition.multi_objective import qLogNoisyExpectedHypervolumeImprovement
from botorch.acquisition.multi_objective import utils as mo_utils
from botorch.acquisition.multi_objective.objective import IdentityMCMultiOutputObjective
from botorch.acquisition.objective import GenericMCObjective
from botorch.models import ModelListGP
from botorch.utils.multi_objective.box_decompositions.dominated import (
    DominatedPartitioning,
)
from botorch.utils.multi_objective.pareto import is_non_dominated

from core import Fidelity, Objective
from optimizers.acquisition import (
    FidelityScore,
    OptimizerSettings,
    information_per_cost,
)
from optimizers.model import FittedModel, fit_model, hyperparameters
from optimizers.predictor import DenseModelListGP
from optimizers.space import SearchSpace

def _no_jit_compile() -> None:
    """Keep BoTorch from compiling its fused qLogNEHVI kernel at the first multi-objective suggestion.

    BoTorch builds it with the system's C++ compiler on first use: minutes in the middle of a
    campaign's first decision, a lock under ``~/.cache/torch_extensions`` that every later run waits
    on forever if that process is killed mid-build (seen here), and a different code path on a
    machine without a compiler. The pure-PyTorch path gives the same values; a pre-built
    ``logei_fused_ext`` module is still used when one is installed.
    """
    try:
        from botorch.acquisition.multi_objective import logei as _logei
    except ImportError:  # pragma: no cover - a BoTorch without the fused kernel
        return
    if getattr(_logei, "_load_attempted", True):
        return
    try:
        import logei_fused_ext  # noqa: PLC0415 - only a pre-built one

        _logei._C = logei_fused_ext
    except ImportError:
        pass
    _logei._load_attempted = True


_no_jit_compile()


#: A recipe belongs to the recommended front only if the outcome constraints hold there with at least this probability.
FEASIBLE_PROBABILITY = 0.5
#: The recommended front lists at most this many recipes (spread along the first objective).
MAX_FRONT = 50
#: Local searches from the best raw samples (per discrete choice set: twice this many). Each evaluation of the
#: hypervolume acquisition costs a joint posterior of every outcome over the baseline (~50 ms on 2 cores
#: for two multi-fidelity GPs), so the search starts from fewer, better points than the single-objective one.
GOAL_RESTARTS = 1
GOAL_MAXITER = 50
#: Rows of the noisy baseline kept for the hypervolume acquisition (the ones most likely to be on the front).
MAX_BASELINE = 128


@dataclass
class FittedGoals:
    """One fitted GP per outcome of the space, and their ``ModelListGP``.

    Attributes:
        fits: one :class:`optimizers.model.FittedModel` per ``space.outcomes`` entry.
        model: the ``ModelListGP`` (outputs in ``space.outcomes`` order, signed).
        X, Y: the training rows (``n x D``) and signed outcomes (``n x m``).
        model_id: 12 hex characters over every outcome's model.
    """

    fits: list[FittedModel]
    model: ModelListGP
    X: torch.Tensor
    Y: torch.Tensor
    model_id: str

    @property
    def fit_ok(self) -> bool:
        return all(f.fit_ok for f in self.fits)


def fit_goals(X: torch.Tensor, Y: torch.Tensor, *, fidelity_column: int | None, kernel: str,
              warm_states: Sequence[dict | None] | None, maxiter: int, fingerprint_columns: Sequence[int] = (),
              input_names: Sequence[str] | None = None) -> FittedGoals:
    """Fit one GP per column of ``Y`` (signed outcomes) on the same inputs ``X``."""
    warm = list(warm_states) if warm_states is not None else [None] * Y.shape[-1]
    fits = [fit_model(X, Y[:, k : k + 1], fidelity_column=fidelity_column, kernel=kernel, warm_state=warm[k],
                      maxiter=maxiter, fingerprint_columns=fingerprint_columns, input_names=input_names)
            for k in range(Y.shape[-1])]
    model = DenseModelListGP(*[f.model for f in fits], dense=[f.dense_posterior() for f in fits])
    model.eval()
    h = hashlib.sha1("".join(f.model_id for f in fits).encode())
    return FittedGoals(fits, model, X, Y, h.hexdigest()[:12])


def warm_states(fg: FittedGoals) -> list[dict | None]:
    return [hyperparameters(f.gp) if f.fit_ok else None for f in fg.fits]


def constraint_callables(space: SearchSpace) -> list:
    """BoTorch outcome constraints (negative where feasible) for ``space``'s outcome constraints."""
    out = []
    for k, a, b in space.constraint_rows():
        out.append(lambda Y, k=k, a=a, b=b: b - a * Y[..., k])
    return out


def reference_point(objectives: Sequence[Objective], Y: torch.Tensor) -> torch.Tensor:
    """The hypervolume reference point in signed objective space (one value per objective).

    An objective's ``threshold`` where stated; otherwise the worst value of that objective among
    ``Y`` (signed outcomes, ``n x m``) less 10 % of its observed range (a point every observation
    improves on, as BoTorch's ``infer_reference_point`` does with the nadir).
    """
    ref = torch.zeros(len(objectives), dtype=torch.double)
    for i, o in enumerate(objectives):
        if o.threshold is not None:
            ref[i] = o.sign * float(o.threshold)
        elif Y.shape[0]:
            col = Y[:, i]
            span = float(col.max() - col.min())
            ref[i] = float(col.min()) - 0.1 * (span if span > 0 else max(abs(float(col.min())), 1.0))
        else:
            ref[i] = -1.0
    return ref


def hypervolume(Y_objectives: torch.Tensor, ref: torch.Tensor) -> float:
    """Hypervolume dominated by signed objective values ``Y_objectives`` (``n x k``) above ``ref``."""
    if Y_objectives.shape[0] == 0:
        return 0.0
    Y = Y_objectives[(Y_objectives > ref).all(dim=-1)]
    if Y.shape[0] == 0:
        return 0.0
    if Y.shape[-1] == 1:
        return float((Y.max() - ref[0]).clamp_min(0))
    return float(DominatedPartitioning(ref_point=ref, Y=Y).compute_hypervolume())


def pareto_mask(Y_objectives: torch.Tensor) -> torch.Tensor:
    """Which rows of signed objective values (``n x k``) no other row dominates."""
    if Y_objectives.shape[0] == 0:
        return torch.zeros(0, dtype=torch.bool)
    return is_non_dominated(Y_objectives, deduplicate=True)


def non_dominated_2d(Y: torch.Tensor, maximize: bool = True, deduplicate: bool = True) -> torch.Tensor:
    """BoTorch's ``is_non_dominated`` (same arguments, same answer), by one sort for two objectives.

    Pruning qLogNEHVI's baseline asks it about 2,048 posterior samples of every baseline point
    at once. Past 5 MB of pairwise comparisons BoTorch loops over the points: 0.14 s per
    pruning at 100 points, a tenth of a suggestion. With two objectives, sorting by the first
    (then the second, both descending) leaves a point dominated exactly when an earlier point
    with a strictly larger first value has at least its second value, or a point tied with it on the
    first has a larger second: a prefix maximum. Other cases (more objectives, minimizing,
    deduplicating, NaN) go to BoTorch's function."""
    if Y.shape[-1] != 2 or not maximize or deduplicate or Y.shape[-2] < 2 or bool(torch.isnan(Y).any()):
        return is_non_dominated(Y, maximize=maximize, deduplicate=deduplicate)
    order = torch.argsort(Y[..., 1], dim=-1, descending=True, stable=True)
    order = order.gather(-1, torch.argsort(Y[..., 0].gather(-1, order), dim=-1, descending=True, stable=True))
    y1, y2 = Y[..., 0].gather(-1, order), Y[..., 1].gather(-1, order)  # by first, then second, descending
    n = y1.shape[-1]
    pos = torch.arange(n, device=Y.device).expand_as(y1)
    starts = torch.ones_like(y1, dtype=torch.bool)
    starts[..., 1:] = y1[..., 1:] != y1[..., :-1]
    group = torch.where(starts, pos, torch.zeros_like(pos)).cummax(dim=-1).values  # where each tie group starts
    before = torch.full_like(y2, -math.inf)
    before[..., 1:] = y2.cummax(dim=-1).values[..., :-1]  # the largest second value before each position
    larger_first = before.gather(-1, group) >= y2  # a point with a larger first value and at least this second
    tied_first = y2.gather(-1, group) > y2  # a point with the same first value and a larger second
    out = torch.empty_like(starts)
    out.scatter_(-1, order, ~(larger_first | tied_first))
    return out


_PRUNING_SWAP = threading.Lock()


@contextlib.contextmanager
def _fast_pruning():
    """``non_dominated_2d`` for BoTorch's baseline pruning while an acquisition is built (the same answers).
    One build at a time swaps it in, and BoTorch's own function is put back, so two threads building
    acquisitions cannot leave the swap in place."""
    with _PRUNING_SWAP:
        mo_utils.is_non_dominated = non_dominated_2d
        try:
            yield
        finally:
            mo_utils.is_non_dominated = is_non_dominated


def search_settings(settings: OptimizerSettings) -> OptimizerSettings:
    """The acquisition search's effort for goals: as many raw samples, fewer and shorter local searches."""
    return dataclasses.replace(settings, num_restarts=min(settings.num_restarts, GOAL_RESTARTS),
                               maxiter=min(settings.maxiter, GOAL_MAXITER))


def acquisition(model, space: SearchSpace, X_baseline: torch.Tensor, X_pending: torch.Tensor | None,
                ref: torch.Tensor):
    """The point-choosing acquisition over the model's full inputs (fix the fidelity column outside).

    Several objectives: qLogNEHVI over the objectives, the outcome constraints as feasibility
    weights; one objective with outcome constraints: qLogNEI likewise.
    """
    constraints = constraint_callables(space) or None
    pending = X_pending if X_pending is not None and X_pending.shape[0] else None
    n_obj = len(space.objectives)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if n_obj > 1:
            objective = None
            if len(space.outcomes) > n_obj:
                objective = IdentityMCMultiOutputObjective(outcomes=space.objective_indices)
            with _fast_pruning():
                return qLogNoisyExpectedHypervolumeImprovement(
                    model, ref_point=ref, X_baseline=X_baseline, objective=objective, constraints=constraints,
                    X_pending=pending, prune_baseline=True)
        return qLogNoisyExpectedImprovement(
            model, X_baseline=X_baseline, objective=GenericMCObjective(lambda Y, X=None: Y[..., 0]),
            constraints=constraints, X_pending=pending, prune_baseline=True)


def training_recipes(space: SearchSpace, fg: FittedGoals, multi_fidelity: bool) -> torch.Tensor:
    """Every distinct recipe the goals were fitted to, as a model input at the target fidelity."""
    X = fg.X.clone()
    if multi_fidelity:
        X[:, -1] = space.target_fidelity.value
    return torch.unique(X, dim=0)


def baseline(space: SearchSpace, fg: FittedGoals, multi_fidelity: bool, measured: bool = False) -> torch.Tensor:
    """The noisy baseline: every distinct training recipe at the target fidelity; past ``MAX_BASELINE``
    the ones whose posterior means are best (non-dominated first, then by the sum of standardized
    objectives).

    ``measured``: only the recipes with a target-fidelity result (all of them while there is none).
    The improvement is then over the front measured at the target, so a recipe seen only cheaply
    that the model puts on the front is worth a target run; with every recipe in the baseline it
    counts as reached already and is never confirmed.
    """
    X = training_recipes(space, fg, multi_fidelity)
    if measured and multi_fidelity:
        target = fg.X[fg.X[:, -1] == space.target_fidelity.value]
        if target.shape[0]:
            X = torch.unique(target, dim=0)
    return _best_predicted(space, fg, X)


def confirmation_candidates(space: SearchSpace, fg: FittedGoals) -> torch.Tensor:
    """The recipes with results at cheaper fidelities only, as model inputs at the target fidelity; past
    ``MAX_BASELINE`` the best by posterior mean (non-dominated first, then by the sum of standardized
    objectives)."""
    target = space.target_fidelity.value
    measured = torch.unique(fg.X[fg.X[:, -1] == target], dim=0)
    X = training_recipes(space, fg, True)
    if measured.shape[0]:
        seen = ((X.unsqueeze(1) - measured.unsqueeze(0)).abs().amax(-1) < 1e-12).any(-1)
        X = X[~seen]
    return _best_predicted(space, fg, X)


def _best_predicted(space: SearchSpace, fg: FittedGoals, X: torch.Tensor) -> torch.Tensor:
    """``X``, or past ``MAX_BASELINE`` rows the ones whose posterior means are best (non-dominated first,
    then by the sum of standardized objectives)."""
    if X.shape[0] <= MAX_BASELINE:
        return X
    means = posterior_means(fg.model, X)[:, : len(space.objectives)]
    z = (means - means.mean(0)) / means.std(0).clamp_min(1e-12)
    score = z.sum(-1) + 1e3 * pareto_mask(means).double()
    return X[score.topk(MAX_BASELINE).indices]


def posterior_means(model, X: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model.posterior(c).mean for c in X.split(chunk)]) if X.shape[0] else X.new_zeros(0, 1)


def information(fg: FittedGoals, x: torch.Tensor, space: SearchSpace, fidelities: Sequence[Fidelity]) -> list[FidelityScore]:
    """Information per cost about every outcome at the target: the sum over the independent outputs."""
    per_outcome = [information_per_cost(f.model, x, space, fidelities) for f in fg.fits]
    out = []
    for i, f in enumerate(fidelities):
        ig = sum(scores[i].information for scores in per_outcome)
        out.append(FidelityScore(f, ig, ig / f.cost))
    return out


def feasibility(space: SearchSpace, means: torch.Tensor, variances: torch.Tensor) -> torch.Tensor:
    """Probability that every outcome constraint holds, per row (outputs independent, Gaussian marginals)."""
    p = torch.ones(means.shape[0], dtype=torch.double)
    normal = torch.distributions.Normal(0.0, 1.0)
    for k, a, b in space.constraint_rows():
        z = (a * means[:, k] - b) / variances[:, k].clamp_min(1e-18).sqrt()
        p = p * normal.cdf(z)
    return p


@dataclass(frozen=True)
class FrontRow:
    """One recipe of a front: its index among the candidates, signed means and variances of every outcome,
    and the probability that the outcome constraints hold."""

    index: int
    means: torch.Tensor
    variances: torch.Tensor
    feasible: float


def predicted_front(space: SearchSpace, model, X: torch.Tensor) -> list[FrontRow]:
    """The recipes among ``X`` (full model inputs) whose posterior means are non-dominated among those
    likely to meet the outcome constraints; sorted by the first objective (best first), at most ``MAX_FRONT``."""
    if X.shape[0] == 0:
        return []
    with torch.no_grad():
        posts = [model.posterior(c) for c in X.split(1024)]
        means = torch.cat([p.mean for p in posts])
        var = torch.cat([p.variance for p in posts])
    feas = feasibility(space, means, var)
    ok = feas >= FEASIBLE_PROBABILITY
    if not bool(ok.any()):  # nothing likely feasible yet: the front of the most likely ones
        ok = feas >= float(feas.max()) - 1e-12
    idx = torch.nonzero(ok).reshape(-1)
    k = len(space.objectives)
    on_front = idx[pareto_mask(means[idx, :k])]
    on_front = on_front[means[on_front, 0].argsort(descending=True)]
    if on_front.numel() > MAX_FRONT:
        keep = torch.linspace(0, on_front.numel() - 1, MAX_FRONT).round().long()
        on_front = on_front[keep]
    return [FrontRow(int(i), means[i], var[i], float(feas[i])) for i in on_front]


def compromise(rows_means: torch.Tensor, ref: torch.Tensor) -> int:
    """The front point with the largest worst normalized gain over the reference point (a balanced
    choice when one recipe must be named): ``argmax_i min_j (y_ij - ref_j) / (max_i y_ij - ref_j)``."""
    gain = rows_means - ref
    scale = gain.max(dim=0).values.clamp_min(1e-12)
    return int((gain / scale).min(dim=-1).values.argmax())


def observed_front(space: SearchSpace, Y: torch.Tensor) -> torch.Tensor:
    """Indices of rows of signed outcomes ``Y`` that meet the outcome constraints and are non-dominated."""
    if Y.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long)
    ok = torch.nonzero(space.meets_outcome_constraints(Y)).reshape(-1)
    k = len(space.objectives)
    return ok[pareto_mask(Y[ok, :k])] if ok.numel() else ok


__all__ = [
    "FittedGoals", "FrontRow", "acquisition", "baseline", "compromise", "feasibility", "fit_goals", "hypervolume",
    "information", "observed_front", "pareto_mask", "predicted_front", "reference_point",
]
