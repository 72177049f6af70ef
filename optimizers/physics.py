"""Physics-informed GP models: what the cheapest simulator knows about a recipe, fed to the model.

Three modes (campaign file ``[optimizer] physics = ...``):

- ``"features"``: the simulator's structure features (degree of cure, crosslink
  density, ...) of a recipe are extra GP inputs, computed for every candidate;
- ``"prior_mean"``: the simulator's prediction of the objective is the GP's prior
  mean; the GP models the residual ``y - sim(x)`` at every fidelity;
- ``"sim_input"``: the simulator's prediction is one extra input of the
  multi-fidelity GP (an autoregressive / sim-as-feature model: the higher fidelity
  is learned as a function of the parameters *and* the cheap prediction).

The optimizer never imports the simulators: the controller (or a benchmark) injects a
:class:`PhysicsFeatures` holding a plain ``recipe -> {name: float}`` callable, built
from a simulator by :func:`simulator_physics`. Values are cached per recipe.

Because simulator outputs are not differentiable in the parameters, the acquisition
is maximized over a finite candidate set (:func:`maximize_over_candidates`): Sobol
points, fresh random points and perturbations of the best observed and best
candidate points, every candidate featurized.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from botorch.models.model import Model
from botorch.posteriors.gpytorch import GPyTorchPosterior
from gpytorch.distributions import MultivariateNormal

from core import (
    CategoricalParameter,
    ContinuousParameter,
    MoleculeParameter,
    Objective,
    OptimizerError,
    SDLError,
    ureg,
)
from optimizers.model import FittedModel, fit_model, model_id
from optimizers.space import SearchSpace

log = logging.getLogger(__name__)

PHYSICS_MODES = ("none", "features", "prior_mean", "sim_input")
PREDICTION = "prediction"  # key of the simulator's objective prediction in a PhysicsFeatures output
N_REFERENCE = 64  # Sobol points whose feature ranges fix the features' normalization
MAX_CACHED = 200_000  # recipes whose simulator values are kept (about 250 new ones per suggestion)


@dataclass(frozen=True)
class PhysicsFeatures:
    """What the optimizer may ask a (cheap) simulator, injected by the caller.

    Attributes:
        compute: ``recipe -> {name: float}``; must return every name in ``names`` and,
            for ``prior_mean`` / ``sim_input``, ``"prediction"``: the simulator's value
            of the objective in the objective's unit and direction as given (unsigned).
        names: the structure features used as inputs in ``features`` mode (None: every
            structure feature ``compute`` returns, found on its first call).
        mode: ``"features"``, ``"prior_mean"`` or ``"sim_input"``.
        model: the simulator's name (recorded with each suggestion).
        units: feature name -> unit text (recorded; the model sees normalized values).
    """

    compute: Callable[[Mapping[str, Any]], Mapping[str, float]]
    names: tuple[str, ...] | None = None
    mode: str = "features"
    model: str = ""
    units: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        if self.mode not in PHYSICS_MODES[1:]:
            raise OptimizerError(f"physics mode {self.mode!r} is not one of {list(PHYSICS_MODES[1:])}")
        if self.names is not None:
            if isinstance(self.names, str) or not self.names:
                raise OptimizerError(f"physics feature names must be a non-empty list, got {self.names!r}")
            object.__setattr__(self, "names", tuple(self.names))

    @property
    def columns(self) -> tuple[str, ...] | None:
        """Keys of ``compute``'s output the model uses, in order (None: every structure feature)."""
        if self.mode == "features":
            return self.names
        return (PREDICTION,)


def midpoint_recipe(parameters: Sequence[Any]) -> dict[str, Any]:
    """A valid recipe in the middle of the box (first choice of discrete parameters)."""
    recipe: dict[str, Any] = {}
    for p in parameters:
        if isinstance(p, ContinuousParameter):
            recipe[p.name] = ureg.Quantity(0.5 * (p.low_magnitude + p.high_magnitude), p.unit)
        elif isinstance(p, MoleculeParameter):
            recipe[p.name] = p.smiles[0]
        elif isinstance(p, CategoricalParameter):
            recipe[p.name] = p.choices[0]
    return recipe


def simulator_physics(simulator: Any, mode: str, objective: Objective, features: Sequence[str] | None = None,
                      *, seed: int = 0) -> PhysicsFeatures:
    """Build :class:`PhysicsFeatures` from a simulator object (``run(recipe, seed)`` -> result).

    The result must have ``structure`` and ``properties`` dicts of pint quantities (as
    ``simulators.SimulationResult``); duck-typed, so ``optimizers`` never imports ``simulators``.

    Args:
        features: structure feature names for ``features`` mode (None: every feature the
            simulator returns, found by running it on the first call).
    """
    prop, unit = objective.property, objective.unit
    wanted = None if features is None else tuple(features)

    def compute(recipe: Mapping[str, Any]) -> dict[str, float]:
        res = simulator.run(dict(recipe), seed=seed)
        out = {name: float(q.magnitude) for name, q in res.structure.items()}
        if prop in res.properties:
            out[PREDICTION] = float(res.properties[prop].to(unit).magnitude)
        return out

    return PhysicsFeatures(compute, wanted, mode, getattr(simulator, "name", type(simulator).__name__))


def available_features(simulator: Any, parameters: Sequence[Any]) -> tuple[list[str], list[str]]:
    """(structure feature names, property names) the simulator returns, by running it on the box's midpoint."""
    res = simulator.run(midpoint_recipe(parameters), seed=0)
    return sorted(res.structure), sorted(res.properties)


class PhysicsModel(Model):
    """A GP over ``[encoding, simulator features, fidelity]`` or with the simulator as prior mean, seen
    from outside as a model over ``... x q x (d [+ 1])`` encodings like every other model here.

    Args:
        gp: the fitted GP (over augmented inputs, or over the residual).
        augment: ``X -> [X[..., :d], features(X), X[..., d:]]`` (None: inputs unchanged).
        prior: ``X -> signed prior mean`` of shape ``X.shape[:-1]`` (None: zero).
    """

    def __init__(self, gp: Model, augment: Callable | None = None, prior: Callable | None = None):
        super().__init__()
        self.gp = gp
        self._augment = augment
        self._prior = prior

    @property
    def num_outputs(self) -> int:
        return 1

    def _inputs(self, X: torch.Tensor) -> torch.Tensor:
        return self._augment(X) if self._augment is not None else X

    def posterior(self, X, output_indices=None, observation_noise=False, posterior_transform=None, **kwargs):
        post = self.gp.posterior(self._inputs(X), observation_noise=observation_noise)
        if self._prior is not None:
            mvn = post.distribution
            shift = self._prior(X).to(mvn.mean)
            post = GPyTorchPosterior(MultivariateNormal(mvn.mean + shift.reshape(mvn.mean.shape), mvn.lazy_covariance_matrix))
        if posterior_transform is not None:
            post = posterior_transform(post)
        return post

    def condition_on_observations(self, X: torch.Tensor, Y: torch.Tensor, **kwargs) -> "PhysicsModel":
        Yr = Y - self._prior(X).reshape(Y.shape) if self._prior is not None else Y
        return PhysicsModel(self.gp.condition_on_observations(self._inputs(X), Yr, **kwargs), self._augment, self._prior)


class PhysicsInputs:
    """The runtime side of :class:`PhysicsFeatures` for one search space: cache, normalization, fitting, search.

    Args:
        spec: the injected physics.
        space: the encoded search space.
        seed: seed of the reference sample and the candidate sets.
    """

    def __init__(self, spec: PhysicsFeatures, space: SearchSpace, seed: int = 0):
        self.spec = spec
        self.space = space
        self.seed = int(seed)
        self._cache: dict[tuple, np.ndarray] = {}
        self._columns: tuple[str, ...] | None = spec.columns
        U = torch.quasirandom.SobolEngine(len(space.parameters), scramble=True, seed=1000 + self.seed).draw(
            N_REFERENCE, dtype=torch.double)
        ref = self.raw(space.from_unit(U))
        finite = np.where(np.isfinite(ref), ref, np.nan)
        self._lo = np.nan_to_num(np.nanmin(finite, axis=0), nan=0.0)
        hi = np.nan_to_num(np.nanmax(finite, axis=0), nan=1.0)
        self._span = np.where(hi - self._lo > 1e-12, hi - self._lo, 1.0)
        self._mid = np.nan_to_num(np.nanmean(finite, axis=0), nan=0.0)

    # ------------------------------------------------------------------ values
    @property
    def columns(self) -> tuple[str, ...]:
        return self._columns or ()

    @property
    def input_names(self) -> list[str]:
        if self.spec.mode == "features":
            return [f"feature:{n}" for n in self.columns]
        if self.spec.mode == "sim_input":
            return ["sim:prediction"]
        return []

    def _row(self, x: np.ndarray) -> np.ndarray:
        key = tuple(np.round(x, 9).tolist())
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        recipe = self.space.decode(torch.as_tensor(x).reshape(1, -1))[0]
        try:
            out = self.spec.compute(recipe)
        except SDLError as err:  # a recipe the simulator refuses: no physics for it
            log.debug("physics features failed for %s: %s", recipe, err)
            out = {}
        if self._columns is None:  # every structure feature the simulator returns
            self._columns = tuple(k for k in out if k != PREDICTION)
            if not self._columns:
                raise OptimizerError(f"simulator {self.spec.model!r} returned no structure features")
        missing = [c for c in self._columns if c not in out]
        if out and missing:
            raise OptimizerError(f"simulator {self.spec.model!r} did not return {missing}; it returns {sorted(out)}")
        row = np.array([float(out.get(c, math.nan)) for c in self._columns], dtype=float)
        if len(self._cache) >= MAX_CACHED:  # a long campaign: start afresh rather than grow without bound
            self._cache.clear()
        self._cache[key] = row
        return row

    def raw(self, X: torch.Tensor) -> np.ndarray:
        """Raw simulator values (``n x k``, NaN where the simulator failed) of ``n x d[+1]`` encodings."""
        d = self.space.dim
        Xd = X.detach().reshape(-1, X.shape[-1])[:, :d].double().numpy()
        if Xd.shape[0] == 0:
            return np.zeros((0, len(self.columns)))
        return np.stack([self._row(x) for x in Xd])

    def normalized(self, X: torch.Tensor) -> torch.Tensor:
        """Features in [0, 1] over the reference sample, shape ``X.shape[:-1] x k`` (failures at the reference mean)."""
        raw = self.raw(X)
        raw = np.where(np.isfinite(raw), raw, self._mid)
        z = (raw - self._lo) / self._span
        return torch.as_tensor(z, dtype=X.dtype).reshape(*X.shape[:-1], -1)

    def augment(self, X: torch.Tensor) -> torch.Tensor:
        """``... x (d [+ 1])`` -> ``... x (d + k [+ 1])``: features inserted before the fidelity column."""
        d = self.space.dim
        return torch.cat([X[..., :d], self.normalized(X), X[..., d:]], dim=-1)

    def prior(self, X: torch.Tensor) -> torch.Tensor:
        """Signed simulator prediction of the objective, shape ``X.shape[:-1]``."""
        raw = self.raw(X)[:, 0]
        raw = np.where(np.isfinite(raw), raw, self._mid[0])
        return torch.as_tensor(raw * self.space.objective.sign, dtype=X.dtype).reshape(X.shape[:-1])

    def record(self, recipe: Mapping[str, Any]) -> dict[str, Any]:
        """What the model used for ``recipe``: simulator, mode and the raw values."""
        x = self.space.encode_recipe(dict(recipe))[: self.space.dim].numpy()
        row = self._row(x)
        return {"model": self.spec.model, "mode": self.spec.mode,
                "values": {c: (float(v) if math.isfinite(v) else None) for c, v in zip(self.columns, row)}}

    # ------------------------------------------------------------------ model
    def fit(self, X: torch.Tensor, Y: torch.Tensor, *, fidelity_column: int | None, kernel: str,
            warm_state: dict | None, maxiter: int) -> FittedModel:
        """Fit the physics-informed GP to encodings ``X`` (``n x (d [+ 1])``) and signed ``Y``."""
        names = self.space.input_names if fidelity_column is not None else self.space.input_names[:-1]
        fp = self.space.fingerprint_columns
        if self.spec.mode == "prior_mean":
            R = Y - self.prior(X).reshape(-1, 1)
            fm = fit_model(X, R, fidelity_column=fidelity_column, kernel=kernel, warm_state=warm_state,
                           maxiter=maxiter, fingerprint_columns=fp, input_names=names)
            wrapped = PhysicsModel(fm.model, prior=self.prior)
            return FittedModel(wrapped, X, Y, model_id(fm.model, X, Y), fm.fit_ok, names, fm.model, X)
        Z = self.augment(X)
        d = self.space.dim
        extra = self.input_names
        znames = names[:d] + extra + names[d:]
        fm = fit_model(Z, Y, fidelity_column=None if fidelity_column is None else Z.shape[-1] - 1, kernel=kernel,
                       warm_state=warm_state, maxiter=maxiter, fingerprint_columns=fp, input_names=znames)
        wrapped = PhysicsModel(fm.model, augment=self.augment)
        return FittedModel(wrapped, X, Y, model_id(fm.model, Z, Y), fm.fit_ok, znames, fm.model, Z)

    # ------------------------------------------------------------------ search
    def candidates(self, fm: FittedModel, seed: int, n_sobol: int = 256, n_fresh: int = 64,
                   n_top: int = 5, n_local: int = 24) -> torch.Tensor:
        """``n x d`` candidate encodings: a fixed Sobol set (cache-friendly), fresh random points, and
        perturbations of the best observed recipes."""
        space = self.space
        p = len(space.parameters)
        U_sobol = torch.quasirandom.SobolEngine(p, scramble=True, seed=2000 + self.seed).draw(n_sobol, dtype=torch.double)
        gen = torch.Generator().manual_seed(int(seed) % (2**31 - 1))
        U_fresh = torch.rand(n_fresh, p, generator=gen, dtype=torch.double)
        d = space.dim
        top = fm.X[torch.argsort(fm.Y[:, 0], descending=True)[:n_top], :d]
        parts = [space.from_unit(U_sobol), space.from_unit(U_fresh), top]
        if top.shape[0]:
            parts.append(self.perturb(top, n_local, 0.08, gen))
        return torch.cat(parts)

    def perturb(self, X: torch.Tensor, n_each: int, scale: float, gen: torch.Generator) -> torch.Tensor:
        """``n_each`` neighbours of each row of ``X`` (``m x d``): Gaussian steps of ``scale`` in the unit
        coordinates, a discrete parameter switched to a random choice with probability ``scale * 2``."""
        U = self.space.to_unit(X).repeat_interleave(n_each, dim=0)
        step = torch.randn(U.shape, generator=gen, dtype=U.dtype) * scale
        cont = torch.tensor([isinstance(p, ContinuousParameter) for p in self.space.parameters])
        flip = torch.rand(U.shape, generator=gen, dtype=U.dtype) < 2 * scale
        new = torch.where(cont, (U + step).clamp(0.0, 1.0),
                          torch.where(flip, torch.rand(U.shape, generator=gen, dtype=U.dtype), U))
        return self.space.from_unit(new)

    def maximize(self, acqf, fm: FittedModel, seed: int) -> tuple[torch.Tensor, float]:
        """Maximize ``acqf`` (``b x 1 x d`` -> ``b``) over the candidate set, then refine around the best.

        With linear constraints only candidates that meet them are scored (when none of a set
        does, its points moved just inside the constraints are)."""
        gen = torch.Generator().manual_seed((int(seed) + 17) % (2**31 - 1))
        C = self._feasible(self.candidates(fm, seed))
        x, v = maximize_over_candidates(acqf, C)
        local = self._feasible(self.perturb(x, 48, 0.025, gen))
        x2, v2 = maximize_over_candidates(acqf, local)
        return (x2, v2) if v2 > v else (x, v)

    def _feasible(self, C: torch.Tensor) -> torch.Tensor:
        if not self.space.has_constraints:
            return C
        ok = self.space.is_feasible(C)
        return C[ok] if bool(ok.any()) else self.space.make_feasible(C)


def maximize_over_candidates(acqf, candidates: torch.Tensor, chunk: int = 256) -> tuple[torch.Tensor, float]:
    """The best row of ``candidates`` (``n x d``) by ``acqf`` (evaluated on ``b x 1 x d``): ``1 x d`` and its value."""
    if candidates.shape[0] == 0:
        raise OptimizerError("no candidate to evaluate the acquisition on")
    vals = []
    with torch.no_grad():
        for i in range(0, candidates.shape[0], chunk):
            vals.append(acqf(candidates[i : i + chunk].unsqueeze(-2)).reshape(-1))
    v = torch.cat(vals)
    v = torch.where(torch.isfinite(v), v, torch.full_like(v, -math.inf))
    i = int(v.argmax())
    return candidates[i : i + 1], float(v[i])


__all__ = [
    "PHYSICS_MODES",
    "PhysicsFeatures",
    "PhysicsInputs",
    "PhysicsModel",
    "available_features",
    "maximize_over_candidates",
    "midpoint_recipe",
    "simulator_physics",
]
