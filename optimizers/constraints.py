"""Linear constraints in the optimizer's unit box: BoTorch's ``inequality_constraints``, feasibility, repair.

A :class:`core.constraints.LinearConstraint` on physical magnitudes becomes one row of
``G u >= h`` over the min-max scaled parameters ``u`` in ``[0, 1]`` (the encoding of a
continuous parameter is linear, so the constraint stays linear). Rows are scaled to unit
length, so a row's slack ``G[i] @ u - h[i]`` is the distance to its boundary in the unit box.

The feasible set inside the box is convex; its Chebyshev centre (the middle of the largest
ball inside it) is a strictly feasible point, and :meth:`EncodedConstraints.repair` moves an
infeasible point toward it just far enough (a point the acquisition optimizer left a hair
outside a boundary, or a space-filling point when feasible ones are too rare to draw).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from core import ContinuousParameter, InputDataError, OptimizerError
from core.constraints import LinearConstraint

#: A point is feasible when no row's slack is below ``-FEASIBILITY_TOL`` (unit-box distance).
FEASIBILITY_TOL = 1e-12
#: A repaired point is at least this far inside every boundary it had crossed.
REPAIR_MARGIN = 1e-9
#: The largest ball inside the feasible set must have at least this radius (unit box): a set
#: thinner than this (an equality written as two inequalities, a single point) cannot be sampled.
MIN_RADIUS = 1e-6


def unit_box_rows(constraints: Sequence[LinearConstraint], parameters: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """Constraints as ``G u >= h`` over one unit coordinate per parameter (``len(parameters)`` columns).

    ``u[j]`` is ``(magnitude - low) / (high - low)`` of continuous parameter ``j``; columns
    of other parameters are zero. Rows have unit length.

    Raises:
        ConfigError: a constraint names an unknown or non-continuous parameter, or mixes
            dimensions (from :meth:`LinearConstraint.normal_form`, naming its field).
    """
    units = {p.name: p.unit for p in parameters if isinstance(p, ContinuousParameter)}
    discrete = {p.name: p.kind for p in parameters if not isinstance(p, ContinuousParameter)}
    index = {p.name: j for j, p in enumerate(parameters)}
    G = np.zeros((len(constraints), len(parameters)))
    h = np.zeros(len(constraints))
    for i, c in enumerate(constraints):
        a, b = c.normal_form(units, discrete)  # sum(a * magnitude) <= b
        for name, x in zip(c.names, a):
            p = parameters[index[name]]
            span = p.high_magnitude - p.low_magnitude
            G[i, index[name]] = -x * span
            b -= x * p.low_magnitude
        h[i] = -b
        norm = float(np.linalg.norm(G[i]))
        G[i] /= norm
        h[i] /= norm
    return G, h


def chebyshev_center(G: np.ndarray, h: np.ndarray) -> tuple[np.ndarray | None, float]:
    """Centre and radius of the largest ball in ``{u in [0, 1]^k : G u >= h}`` (unit-length rows).

    Returns:
        ``(centre, radius)``; ``(None, -inf)`` when the set is empty. Columns no row uses
        are 0.5 in the centre.
    """
    from scipy.optimize import linprog  # noqa: PLC0415 - only campaigns with constraints need it

    k = G.shape[1]
    cols = np.flatnonzero(np.abs(G).sum(axis=0) > 0) if G.shape[0] else np.zeros(0, dtype=int)
    center = np.full(k, 0.5)
    if cols.size == 0:
        return (center, 0.5) if np.all(h <= 0) else (None, -np.inf)
    n = cols.size
    eye = np.eye(n)
    ones = np.ones((n, 1))
    A = np.vstack([np.hstack([-G[:, cols], np.ones((G.shape[0], 1))]),  # G u - r >= h
                   np.hstack([-eye, ones]),                              # u - r >= 0
                   np.hstack([eye, ones])])                              # u + r <= 1
    b = np.concatenate([-h, np.zeros(n), np.ones(n)])
    cost = np.zeros(n + 1)
    cost[-1] = -1.0
    res = linprog(cost, A_ub=A, b_ub=b, bounds=[(0.0, 1.0)] * n + [(0.0, 0.5)], method="highs")
    if res.status == 2:
        return None, -np.inf
    if res.status != 0:
        raise OptimizerError(f"the feasible set of the linear constraints could not be computed: {res.message}")
    center[cols] = np.clip(res.x[:n], 0.0, 1.0)
    return center, float(res.x[-1])


def culprits(G: np.ndarray, h: np.ndarray) -> list[int]:
    """A smallest-by-deletion set of rows whose feasible set in the box is empty or thinner than
    :data:`MIN_RADIUS` (every row of it is needed for that); empty if the whole set is fine."""
    def bad(rows: list[int]) -> bool:
        return chebyshev_center(G[rows], h[rows])[1] < MIN_RADIUS

    keep = list(range(G.shape[0]))
    if not bad(keep):
        return []
    for i in range(G.shape[0]):
        trial = [j for j in keep if j != i]
        if bad(trial):
            keep = trial
    return keep


def vertices(G: np.ndarray, h: np.ndarray, max_systems: int = 50_000) -> np.ndarray | None:
    """The vertices of ``{u in [0, 1]^k : G u >= h}`` (``n x k``), each moved a hair toward the
    Chebyshev centre so that it meets every row strictly; None when more than ``max_systems``
    linear systems would have to be solved to enumerate them.

    A vertex is where ``k`` of the boundaries meet: ``j`` constraint rows and ``k - j`` box faces.
    Rows every point of the box meets are never needed.
    """
    import itertools  # noqa: PLC0415
    from math import comb  # noqa: PLC0415

    k = G.shape[1]
    rows = np.flatnonzero(np.minimum(G, 0.0).sum(axis=1) < h)
    m = rows.size
    if sum(comb(m, j) * comb(k, j) * 2 ** (k - j) for j in range(min(m, k) + 1)) > max_systems:
        return None
    center, _ = chebyshev_center(G, h)
    if center is None:
        return np.zeros((0, k))
    found = []
    for j in range(min(m, k) + 1):
        for active in itertools.combinations(rows, j):
            A_rows, b_rows = G[list(active)], h[list(active)]
            for free in itertools.combinations(range(k), j):
                fixed = [c for c in range(k) if c not in free]
                for ends in itertools.product((0.0, 1.0), repeat=k - j):
                    u = np.empty(k)
                    u[fixed] = ends
                    if j:
                        A = A_rows[:, list(free)]
                        if abs(np.linalg.det(A)) < 1e-12:
                            continue
                        u[list(free)] = np.linalg.solve(A, b_rows - A_rows[:, fixed] @ np.asarray(ends))
                    if np.all(u >= -1e-9) and np.all(u <= 1 + 1e-9) and np.all(G @ u - h >= -1e-9):
                        found.append(np.clip(u, 0.0, 1.0))
    if not found:
        return np.zeros((0, k))
    V = np.unique(np.round(np.array(found), 12), axis=0)
    return V + 1e-9 * (center - V)


class EncodedConstraints:
    """The rows ``G x >= h`` over the ``d`` columns of a search space's encoding.

    Args:
        G: ``m x d`` unit-length rows (zero on every column that is not a continuous parameter).
        h: ``m`` right-hand sides.
        labels: one text per row, for messages.

    Raises:
        InputDataError: the feasible set in the box is empty or too thin to sample.
    """

    def __init__(self, G: torch.Tensor, h: torch.Tensor, labels: Sequence[str]):
        self.G = G.to(torch.double)
        self.h = h.to(torch.double)
        self.labels = tuple(labels)
        # rows some point of the box breaks; the others hold everywhere in it and change nothing
        self.binding = self.G.clamp(max=0.0).sum(-1) < self.h
        center, radius = chebyshev_center(self.G.numpy(), self.h.numpy())
        if center is None or radius < MIN_RADIUS:
            rows = culprits(self.G.numpy(), self.h.numpy())
            named = ", ".join(repr(self.labels[i]) for i in rows)
            what = "no point of the parameters' box satisfies" if center is None else \
                "only a flat sliver of the parameters' box (an equality or a single point) satisfies"
            raise InputDataError(f"{what} the linear constraint(s) {named}; loosen them or widen the bounds")
        self.center = torch.as_tensor(center, dtype=torch.double)
        self.radius = radius
        self.columns = torch.nonzero(self.G.abs().sum(0) > 0).reshape(-1)

    def __len__(self) -> int:
        return self.G.shape[0]

    @property
    def any_binding(self) -> bool:
        return bool(self.binding.any())

    def inequality_constraints(self) -> list[tuple[torch.Tensor, torch.Tensor, float]]:
        """BoTorch's ``(indices, coefficients, rhs)`` of every binding row: ``sum(coef * x[idx]) >= rhs``."""
        out = []
        for i in torch.nonzero(self.binding).reshape(-1).tolist():
            idx = torch.nonzero(self.G[i]).reshape(-1)
            out.append((idx, self.G[i, idx].clone(), float(self.h[i])))
        return out

    def slack(self, X: torch.Tensor) -> torch.Tensor:
        """``... x m`` slacks (negative: broken) of ``... x d[+1]`` encodings."""
        d = self.G.shape[1]
        return torch.as_tensor(X, dtype=torch.double)[..., :d] @ self.G.T - self.h

    def feasible(self, X: torch.Tensor, tol: float = FEASIBILITY_TOL) -> torch.Tensor:
        """``...`` booleans: the encoding meets every row (within ``tol``)."""
        return (self.slack(X) >= -tol).all(dim=-1)

    def repair(self, X: torch.Tensor) -> torch.Tensor:
        """Move each row of ``n x d[+1]`` encodings that breaks a constraint, or lies within
        :data:`REPAIR_MARGIN` of its boundary (an optimum on the boundary, to within rounding), toward
        the centre on the constrained columns only, until it is :data:`REPAIR_MARGIN` inside every
        boundary; other rows are unchanged."""
        X = torch.as_tensor(X, dtype=torch.double).clone()
        shape = X.shape
        X = X.reshape(-1, shape[-1])
        cols = self.columns
        X[:, cols] = X[:, cols].clamp(0.0, 1.0)
        g = self.slack(X)  # n x m
        bad = (g < REPAIR_MARGIN).any(dim=-1)
        if bool(bad.any()):
            gc = self.slack(self.center.reshape(1, -1))[0]  # all >= radius > REPAIR_MARGIN
            need = torch.where(g < REPAIR_MARGIN, (REPAIR_MARGIN - g) / (gc - g), torch.zeros_like(g))
            t = need.max(dim=-1).values.clamp(0.0, 1.0)[bad].unsqueeze(-1)
            rows = torch.nonzero(bad).reshape(-1)
            sub = X[rows][:, cols]
            X[rows.unsqueeze(-1), cols] = sub + t * (self.center[cols] - sub)
        return X.reshape(shape)


    def samples(self, n: int, seed: int | None, max_draws: int = 1 << 16) -> torch.Tensor:
        """``n x d`` feasible points spread over the box: scrambled Sobol points that meet every row (at
        most ``max_draws`` drawn), topped up with further ones moved just inside when feasible points are rare.

        The acquisition optimizer starts from these: uniform over the feasible set, like its own raw
        samples over the box, and much faster than its hit-and-run polytope sampler.
        """
        d = self.G.shape[1]
        engine = torch.quasirandom.SobolEngine(d, scramble=True, seed=seed)
        found: list[torch.Tensor] = []
        have = drawn = 0
        chunk = max(256, 4 * n)
        while have < n and drawn < max_draws:
            X = engine.draw(chunk, dtype=torch.double)
            X = X[self.feasible(X)]
            found.append(X)
            have += X.shape[0]
            drawn += chunk
        if have < n:
            found.append(self.repair(engine.draw(n - have, dtype=torch.double)))
        return torch.cat(found)[:n]


__all__ = [
    "FEASIBILITY_TOL",
    "MIN_RADIUS",
    "EncodedConstraints",
    "chebyshev_center",
    "culprits",
    "unit_box_rows",
    "vertices",
]
