"""Tables built from stored samples: the optimizer's history and the export table.

``config`` is anything with ``parameters`` (``core`` parameter objects), ``objective``
(``core.Objective``) and ``parameter(name)``, and optionally ``objectives`` and
``outcome_constraints``: a ``CampaignConfig``, but records never import the config loader.
With several objectives or outcome constraints the history has one more column per outcome
(``outcome.<property>``, the rule of ``core.goals.outcomes``).
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np
import pandas as pd
import pint

from core import ContinuousParameter, unit_text
from core.goals import Outcome, outcomes
from controller.records.samples import Sample


def recipe_row(config: Any, recipe: dict[str, Any]) -> dict[str, Any]:
    """Recipe -> optimizer columns: magnitudes in each parameter's unit, strings otherwise."""
    row: dict[str, Any] = {}
    for p in config.parameters:
        value = recipe[p.name]
        if isinstance(p, ContinuousParameter):
            row[p.name] = float(value.to(p.unit).magnitude) if isinstance(value, pint.Quantity) else float(value)
        else:
            row[p.name] = value
    return row


def property_value(sample: Sample, prop: str, unit: str) -> float:
    """A completed sample's property in ``unit``, NaN if it has none."""
    value = sample.properties.get(prop)
    if value is None or sample.status != "completed":
        return math.nan
    if isinstance(value, pint.Quantity):
        return float(value.to(unit).magnitude)
    return float(value)


def objective_value(config: Any, sample: Sample) -> float:
    """The sample's objective in the objective unit, NaN if it has none."""
    return property_value(sample, config.objective.property, config.objective.unit)


def meets_outcome_constraints(config: Any, sample: Sample) -> bool:
    """Whether a sample's measured properties meet every outcome constraint of ``config`` (a sample
    missing a constrained property does not)."""
    for c in getattr(config, "outcome_constraints", ()):
        value = property_value(sample, c.property, c.unit)
        if not math.isfinite(value) or not c.holds(value, c.unit):
            return False
    return True


def extra_outcomes(config: Any) -> tuple[Outcome, ...]:
    """The outcomes past the first objective (other objectives, constrained properties): their history columns."""
    objectives = tuple(getattr(config, "objectives", ()) or (config.objective,))
    return outcomes(objectives, tuple(getattr(config, "outcome_constraints", ())))[1:]


def history_frame(config: Any, samples: Iterable[Sample], rows_by_id: dict[str, dict] | None = None) -> pd.DataFrame:
    """The optimizer's view of the store (columns per ``docs/interfaces.md``).

    ``rows_by_id``: a cache of each finished sample's row, kept by a caller that builds the
    frame again and again (the loop, every decision): a recorded sample never changes, and
    converting every recipe's quantities anew made each decision cost O(samples)."""
    rows = []
    extra = extra_outcomes(config)
    for s in samples:
        if s.status not in ("completed", "failed"):
            continue  # interrupted, rejected or cancelled: nothing was measured, nothing to learn
        row = rows_by_id.get(s.id) if rows_by_id is not None else None
        if row is None:
            row = {**recipe_row(config, s.recipe), "fidelity": s.fidelity,
                   "objective": objective_value(config, s), "status": s.status,
                   **{o.column: property_value(s, o.property, o.unit) for o in extra}}
            if rows_by_id is not None:
                rows_by_id[s.id] = row
        rows.append(row)
    columns = [p.name for p in config.parameters] + ["fidelity", "objective", "status"] + [o.column for o in extra]
    return pd.DataFrame(rows, columns=columns)


def non_dominated(Y: Any) -> np.ndarray:
    """Which rows of signed objective values (``n x k``, larger is better) no other row dominates.

    Unlike ``optimizers.goals.pareto_mask`` two samples that measured the same values are both
    kept: each of them is on the front.
    """
    Y = np.asarray(Y, dtype=float).reshape(len(Y), -1)
    n = Y.shape[0]
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        better_or_equal = (Y >= Y[i]).all(axis=1)
        strictly = (Y > Y[i]).any(axis=1)
        keep[i] = not bool((better_or_equal & strictly).any())
    return keep


def _column(name: str, value: Any) -> str:
    if isinstance(value, pint.Quantity):
        text = unit_text(value.units)
        return name if text == "dimensionless" else f"{name} [{text}]"
    return name


def _magnitude(value: Any) -> Any:
    return float(value.magnitude) if isinstance(value, pint.Quantity) else value


def _is_array(value: Any) -> bool:
    """A spectrum or a curve: kept whole in the record and the documents, not a table cell."""
    return bool(getattr(getattr(value, "magnitude", value), "ndim", 0)) or isinstance(value, list)


def sample_table(config_or_none: Any | None, samples: list[Sample]) -> pd.DataFrame:
    """One row per sample for export: id, fidelity, cost, status, parameters with units in
    the column names, structure features, properties, Bluesky run uid, and the decision."""
    rows = []
    for s in samples:
        row: dict[str, Any] = {"id": s.id, "campaign": s.campaign, "seq": s.seq, "fidelity": s.fidelity,
                               "cost": s.cost, "status": s.status}
        for name, value in s.recipe.items():
            if config_or_none is not None and isinstance(value, pint.Quantity):
                p = config_or_none.parameter(name)
                value = value.to(p.unit)
            row[_column(name, value)] = _magnitude(value)
        for name, value in s.structure.items():
            if not _is_array(value):
                row[_column(f"structure.{name}", value)] = _magnitude(value)
        for name, value in s.properties.items():
            if not _is_array(value):
                row[_column(f"property.{name}", value)] = _magnitude(value)
        row["run_uid"] = s.run_uid
        sug = s.suggestion or {}
        for key in ("strategy", "model_id", "predicted_mean", "predicted_std", "acquisition_value"):
            row[f"suggestion.{key}"] = sug.get(key)
        row["error"] = s.error
        row["created"] = pd.Timestamp(s.created, unit="s", tz="UTC") if s.created else None
        row["completed"] = pd.Timestamp(s.completed, unit="s", tz="UTC") if s.completed else None
        rows.append(row)
    return pd.DataFrame(rows)
