"""Small helpers shared by the explanation modules: JSON-able floats (NaN and inf become
None), ranks (1 = largest) and a Pearson correlation that is NaN, not an error, for
constant or too-short inputs."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _f(v: Any) -> float | None:
    """JSON-able float (None for None / NaN / inf)."""
    if v is None:
        return None
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _ranks(values: np.ndarray) -> list[int | None]:
    """1 = largest; None for NaN."""
    values = np.asarray(values, dtype=float)
    order = [i for i in np.argsort(-np.nan_to_num(values, nan=-np.inf)) if np.isfinite(values[i])]
    ranks: list[int | None] = [None] * len(values)
    for r, i in enumerate(order, start=1):
        ranks[int(i)] = r
    return ranks


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or np.std(a) < 1e-15 or np.std(b) < 1e-15:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])
