"""A finite set of candidate rows that a strategy chooses among (e.g. the rows of a recorded table).

``candidates`` (a pandas DataFrame) has one column per parameter, as history tables do,
and optionally ``fidelity``: a row with a fidelity may be run at that fidelity only; without
the column every row may be run at every fidelity. The same recipe may appear on several
rows with different fidelities.
"""

from __future__ import annotations

import pandas as pd
import torch

from core import InputDataError
from optimizers.space import FIDELITY_COLUMN, SearchSpace

# Rows closer than this (max-norm in the unit box) are one recipe.
SAME_ROW_TOL = 1e-9


class CandidateSet:
    """Encoded candidate recipes and the fidelities each may be run at.

    Args:
        space: the campaign's search space.
        candidates: the parameter columns and, optionally, ``fidelity``.

    Attributes:
        X: ``n x d`` encodings of the distinct recipes.
        allowed: ``n x F`` booleans, column ``j`` for ``space.fidelities[j]``; a recipe that
            breaks one of the space's linear constraints is allowed nowhere.
        feasible: ``n`` booleans: the recipe meets the space's linear constraints.

    Raises:
        InputDataError: not a DataFrame, no rows, a missing parameter column or a bad value
            (naming the column), an unknown fidelity, every row breaking a linear constraint.
    """

    def __init__(self, space: SearchSpace, candidates: pd.DataFrame):
        if not isinstance(candidates, pd.DataFrame):
            raise InputDataError(f"candidates must be a pandas DataFrame, got {type(candidates).__name__}")
        if len(candidates) == 0:
            raise InputDataError("candidates has no rows; give at least one recipe to choose from")
        self.space = space
        names = [f.name for f in space.fidelities]
        table = candidates
        if FIDELITY_COLUMN not in candidates.columns:
            table = candidates.assign(**{FIDELITY_COLUMN: space.target_fidelity.name})
        X_full = space.encode(table, kind="candidates")
        X = X_full[:, :-1]
        fid_index = torch.as_tensor([names.index(str(f)) for f in table[FIDELITY_COLUMN]])
        # distinct recipes: rows equal within SAME_ROW_TOL are merged
        keep: list[int] = []
        owner = torch.empty(X.shape[0], dtype=torch.long)
        rounded = torch.round(X / SAME_ROW_TOL / 10) if X.shape[1] else X
        seen: dict[tuple, int] = {}
        for i in range(X.shape[0]):
            key = tuple(rounded[i].tolist())
            j = seen.get(key)
            if j is None:
                j = seen[key] = len(keep)
                keep.append(i)
            owner[i] = j
        self.X = X[keep]
        self.allowed = torch.zeros(len(keep), len(names), dtype=torch.bool)
        if FIDELITY_COLUMN in candidates.columns:
            self.allowed[owner, fid_index] = True
        else:
            self.allowed[:] = True
        self.feasible = torch.ones(len(keep), dtype=torch.bool)
        if space.has_constraints:
            self.feasible = space.is_feasible(self.X).reshape(-1)
            if not bool(self.feasible.any()):
                raise InputDataError(f"none of the {len(keep)} candidate recipes meets the linear constraints "
                                     f"{[str(c) for c in space.linear_constraints]}")
            self.allowed &= self.feasible.unsqueeze(-1)

    def __len__(self) -> int:
        return self.X.shape[0]

    def full(self, fidelity) -> torch.Tensor:
        """``n x (d + 1)``: every recipe with ``fidelity``'s value in the fidelity column."""
        return torch.cat([self.X, self.X.new_full((len(self), 1), fidelity.value)], dim=-1)

    def open(self, fidelity, taken: torch.Tensor, tol: float) -> torch.Tensor:
        """``n`` booleans: allowed at ``fidelity`` and not within ``tol`` (max-norm) of a ``taken`` row there."""
        j = [f.name for f in self.space.fidelities].index(fidelity.name)
        mask = self.allowed[:, j].clone()
        at_f = taken[taken[:, -1] == fidelity.value, :-1] if taken.shape[0] else taken[:, :-1]
        if at_f.shape[0] and mask.any():
            dist = torch.cdist(self.X, at_f, p=float("inf"))
            mask &= ~(dist < tol).any(dim=-1)
        return mask

    def nearest(self, x: torch.Tensor, mask: torch.Tensor) -> int | None:
        """Index of the open recipe (``mask``) closest to the ``d`` encoding ``x``; None if none is open."""
        if not bool(mask.any()):
            return None
        dist = (self.X - x.reshape(1, -1)).pow(2).sum(-1)
        dist[~mask] = float("inf")
        return int(dist.argmin())


def evaluate(acqf, X: torch.Tensor, chunk: int = 512) -> torch.Tensor:
    """Acquisition values of ``n x d`` rows, one at a time (``q = 1``), in chunks; returns ``n`` values."""
    out = []
    with torch.no_grad():
        for start in range(0, X.shape[0], chunk):
            out.append(acqf(X[start : start + chunk].unsqueeze(-2)).reshape(-1))
    v = torch.cat(out) if out else X.new_zeros(0)
    return torch.where(torch.isfinite(v), v, torch.full_like(v, -float("inf")))
