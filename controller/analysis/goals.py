"""Several objectives and outcome constraints, as the records show them.

A campaign with more than one objective or with outcome constraints (:func:`multi_goal`) is
judged by a front, not by one best value. This read model answers, from the stored samples:

- **per sample** (:func:`sample_goals`): whether it met the outcome constraints (and which it
  broke) and whether it is on the *measured* Pareto front at the target fidelity;
- **the measured front** at the target: the completed target-fidelity samples that meet every
  outcome constraint and that no other such sample dominates (every objective at least as good,
  one strictly better);
- **hypervolume vs cumulative cost** per fidelity (:func:`hypervolume_series`): the hypervolume
  dominated by the feasible samples of that fidelity recorded so far, above one reference point
  fixed for the whole plot (:func:`reference`);
- **the predicted front** of the campaign's last ``recommendation`` event (posterior means ± one
  standard deviation per objective), with the dry run's hidden-truth hypervolume when present.

The export, ``sdl samples``, the dashboard and the report all read these functions, so they show
the same front. Values are in each outcome's campaign unit and in its own direction (a minimized
objective is shown as measured); signs are applied only inside the computations.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pint

from controller.records.history import non_dominated
from controller.records.samples import Sample
from core import Q_
from core.goals import Outcome, outcomes

#: Reference of the hypervolume, as :func:`reference` reports where it came from.
FROM_THRESHOLDS = "thresholds"
FROM_DATA = "data"
FROM_BOTH = "thresholds and data"


def objectives_of(config: Any) -> tuple:
    """The campaign's objectives (``objectives``, else the single ``objective``)."""
    return tuple(getattr(config, "objectives", ()) or (config.objective,))


def constraints_of(config: Any) -> tuple:
    return tuple(getattr(config, "outcome_constraints", ()) or ())


def multi_goal(config: Any) -> bool:
    """Several objectives or any outcome constraint: the views show a front and the constraints."""
    return config is not None and (len(objectives_of(config)) > 1 or bool(constraints_of(config)))


def raw_multi_goal(raw: dict[str, Any]) -> bool:
    """:func:`multi_goal` of stored campaign settings before validating them (which loads the material system)."""
    return bool(raw.get("outcome_constraints")) or len(raw.get("objectives") or ()) > 1


def goal_outcomes(config: Any) -> tuple[Outcome, ...]:
    """The objectives in order, then each property only an outcome constraint names (``core.goals.outcomes``)."""
    return outcomes(objectives_of(config), constraints_of(config))


@dataclass(frozen=True)
class SampleGoals:
    """What one sample is worth against the campaign's goals.

    Attributes:
        values: outcome property -> measured value in the campaign's unit (NaN: not measured).
        met: every outcome constraint holds (True), one is broken (False), or unknown (None: the
            campaign has no outcome constraints, the sample did not complete, or a constrained
            property was not measured and nothing measured breaks a constraint).
        violated: the constraints it broke, as written in the campaign file.
        feasible: completed, every objective measured, and no outcome constraint broken or unmeasured.
        on_front: on the measured Pareto front at the target fidelity.
    """

    values: dict[str, float]
    met: bool | None
    violated: tuple[str, ...]
    feasible: bool
    on_front: bool


def _constraint_units(config: Any) -> dict[str, str]:
    return {o.property: o.unit for o in goal_outcomes(config)}


def measured_values(samples: Sequence[Sample], units: dict[str, str]) -> dict[str, dict[str, float]]:
    """Sample id -> property -> value in ``units[property]`` (NaN when not measured or not completed),
    as ``controller.records.history.property_value`` gives it, but converted one stored unit at a
    time: a pint conversion per value made a dashboard request on a few thousand samples take seconds."""
    out: dict[str, dict[str, float]] = {s.id: {} for s in samples}
    for prop, unit in units.items():
        by_unit: dict[Any, list[tuple[str, float]]] = {}
        for s in samples:
            value = s.properties.get(prop) if s.status == "completed" else None
            if isinstance(value, pint.Quantity) and not np.ndim(value.magnitude):
                by_unit.setdefault(value.units, []).append((s.id, float(value.magnitude)))
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                out[s.id][prop] = float(value)
            else:
                out[s.id][prop] = math.nan
        for stored, items in by_unit.items():
            converted = Q_(np.array([m for _, m in items]), stored).to(unit).magnitude
            for (sid, _), v in zip(items, np.atleast_1d(converted)):
                out[sid][prop] = float(v)
    return out


def sample_goals(config: Any, samples: Iterable[Sample]) -> dict[str, SampleGoals]:
    """Sample id -> :class:`SampleGoals` for every sample (the front is over ``samples`` at the target)."""
    samples = list(samples)
    objectives = objectives_of(config)
    constraints = constraints_of(config)
    units = _constraint_units(config)
    target = config.target.name
    measured = measured_values(samples, units)
    bounds = [(c, c.bound_in(units[c.property])) for c in constraints]  # converted once, not per sample
    partial: dict[str, tuple[dict[str, float], bool | None, tuple[str, ...], bool]] = {}
    for s in samples:
        values = measured[s.id]
        completed = s.status == "completed"
        violated = tuple(c.text for c, bound in bounds if math.isfinite(values[c.property])
                         and not c.meets(values[c.property], bound))
        unknown = any(not math.isfinite(values[c.property]) for c in constraints)
        if not constraints or not completed:
            met = None if not violated else False
        else:
            met = False if violated else (None if unknown else True)
        feasible = (completed and all(math.isfinite(values[o.property]) for o in objectives)
                    and not violated and not unknown)
        partial[s.id] = (values, met, violated, feasible)
    on_target = [s.id for s in samples if s.fidelity == target and partial[s.id][3]]
    front: set[str] = set()
    if on_target:
        Y = np.array([[o.sign * partial[i][0][o.property] for o in objectives] for i in on_target])
        front = {i for i, keep in zip(on_target, non_dominated(Y)) if keep}
    return {i: SampleGoals(v, met, violated, feasible, i in front) for i, (v, met, violated, feasible) in partial.items()}


def signed(config: Any, values: dict[str, float]) -> list[float]:
    """The objectives of one sample as the optimizer sees them: ``sign * value`` (all maximized)."""
    return [o.sign * values[o.property] for o in objectives_of(config)]


def reference(config: Any, samples: Sequence[Sample], goals: dict[str, SampleGoals] | None = None
              ) -> tuple[list[float], str]:
    """The hypervolume reference point (signed, one value per objective) and where it came from.

    Each objective's ``threshold`` where the campaign states one; otherwise
    ``optimizers.goals.reference_point`` over every completed sample of every fidelity that
    measured all objectives (its worst value less 10 % of the observed range). Computed once
    from all the data, so the plotted hypervolume never changes its yardstick mid-plot.
    """
    import torch  # noqa: PLC0415 - the optimizer's rule, on its tensors

    from optimizers.goals import reference_point  # noqa: PLC0415

    objectives = objectives_of(config)
    goals = goals if goals is not None else sample_goals(config, samples)
    # every measurement counts here, feasible or not: the optimizer's reference sees every training row too
    rows = [signed(config, g.values) for g in goals.values()
            if all(math.isfinite(g.values[o.property]) for o in objectives)]
    Y = torch.tensor(rows, dtype=torch.double).reshape(-1, len(objectives))
    ref = reference_point(objectives, Y).tolist()
    thresholds = [o.threshold is not None for o in objectives]
    source = FROM_THRESHOLDS if all(thresholds) else FROM_DATA if not any(thresholds) else FROM_BOTH
    return [float(r) for r in ref], source


def hypervolume_of(points: Sequence[Sequence[float]], ref: Sequence[float]) -> float:
    """Hypervolume dominated by signed objective rows above the signed reference ``ref``.

    One or two objectives by a sweep (exact, and fast enough to redraw a long campaign's plot on
    every update); more by ``optimizers.goals.hypervolume`` (BoTorch's box decomposition)."""
    Y = np.asarray([list(p) for p in points], dtype=float).reshape(-1, len(ref))
    r = np.asarray(list(ref), dtype=float)
    Y = Y[(Y > r).all(axis=1)]
    if Y.shape[0] == 0:
        return 0.0
    if Y.shape[1] == 1:
        return float(Y.max() - r[0])
    if Y.shape[1] == 2:
        Y = Y[non_dominated(Y)]
        Y = Y[np.argsort(-Y[:, 0], kind="stable")]  # best first objective first: the second then rises
        area, below = 0.0, r[1]
        for x, y in Y:
            if y > below:
                area += (x - r[0]) * (y - below)
                below = y
        return float(area)
    import torch  # noqa: PLC0415

    from optimizers.goals import hypervolume  # noqa: PLC0415

    return hypervolume(torch.as_tensor(Y, dtype=torch.double), torch.as_tensor(r, dtype=torch.double))


def _completion_order(samples: Iterable[Sample]) -> list[Sample]:
    return sorted(samples, key=lambda s: (s.completed or s.created, s.seq))


def hypervolume_series(config: Any, samples: Sequence[Sample], ref: Sequence[float],
                       goals: dict[str, SampleGoals] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Fidelity -> ``[{cost, hypervolume, sample}]``: after each feasible sample of that fidelity, the
    hypervolume of that fidelity's feasible samples so far above ``ref``, against the campaign's
    cumulative cost (every fidelity's samples, in the order they were recorded)."""
    goals = goals if goals is not None else sample_goals(config, samples)
    cumulative = 0.0
    fronts: dict[str, np.ndarray] = {}
    out: dict[str, list[dict[str, Any]]] = {}
    for s in _completion_order(samples):
        cumulative += s.cost
        g = goals.get(s.id)
        if g is None or not g.feasible:
            continue
        p = np.asarray(signed(config, g.values), dtype=float)
        series = out.setdefault(s.fidelity, [])
        front = fronts.get(s.fidelity)
        if front is not None and bool((front >= p).all(axis=1).any()):
            hv = series[-1]["hypervolume"]  # a point the front already covers adds nothing
        else:
            front = p[None, :] if front is None else np.vstack([front, p])
            front = fronts[s.fidelity] = front[non_dominated(front)]  # only the front matters: keep it small
            hv = hypervolume_of(front, ref)
        series.append({"cost": cumulative, "hypervolume": hv, "sample": s.id})
    return out


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _values_json(values: dict[str, float]) -> dict[str, float | None]:
    return {k: _finite(v) for k, v in values.items()}


def goals_view(config: Any, samples: Sequence[Sample], recommendation_event: dict[str, Any] | None = None
               ) -> dict[str, Any] | None:
    """Everything the dashboard and the report show of a campaign's goals (None for one objective and no
    outcome constraints). JSON-able; values in the campaign's units and directions.

    Keys: ``objectives`` (``property``, ``unit``, ``direction``, ``threshold``), ``constraints``
    (``text``, ``property``, ``operator``, ``bound`` in the property's unit, ``unit``), ``outcomes``
    (the plotted axes: objectives, then constrained properties), ``target``; ``reference``
    (property -> value, unsigned) and ``reference_source``; ``measured`` (every completed
    target-fidelity sample: ``sample``, ``values``, ``met``, ``violated``, ``feasible``,
    ``on_front``); ``front`` (the sample ids of the measured front, best first objective first);
    ``hypervolume`` (fidelity -> series, :func:`hypervolume_series`) and ``hypervolume_at_target``;
    ``violations`` (every sample of any fidelity that broke a constraint: ``sample``, ``fidelity``,
    ``violated``, ``values``); ``predicted`` (the recommendation event's front: ``recipe``,
    ``means``, ``stds``, ``feasible``; None before one) and ``truth`` (a dry run's hidden-truth
    ``hypervolume`` and ``front`` values, or None).
    """
    if not multi_goal(config):
        return None
    samples = list(samples)
    objectives = objectives_of(config)
    constraints = constraints_of(config)
    outs = goal_outcomes(config)
    units = {o.property: o.unit for o in outs}
    target = config.target.name
    goals = sample_goals(config, samples)
    ref, source = reference(config, samples, goals)
    series = hypervolume_series(config, samples, ref, goals)
    by_id = {s.id: s for s in samples}
    measured = [{"sample": s.id, "values": _values_json(goals[s.id].values), "met": goals[s.id].met,
                 "violated": list(goals[s.id].violated), "feasible": goals[s.id].feasible,
                 "on_front": goals[s.id].on_front}
                for s in samples if s.fidelity == target and s.status == "completed"]
    first = objectives[0]
    front = sorted((i for i, g in goals.items() if g.on_front),
                   key=lambda i: -first.sign * goals[i].values[first.property])
    at_target = series.get(target) or []
    out: dict[str, Any] = {
        "objectives": [{"property": o.property, "unit": o.unit, "direction": o.direction, "threshold": o.threshold}
                       for o in objectives],
        "constraints": [{"text": c.text, "property": c.property, "operator": c.operator,
                         "bound": c.bound_in(units[c.property]), "unit": units[c.property]} for c in constraints],
        "outcomes": [{"property": o.property, "unit": o.unit, "objective": o.objective} for o in outs],
        "target": target,
        "reference": {o.property: o.sign * r for o, r in zip(objectives, ref)},
        "reference_source": source,
        "measured": measured,
        "front": front,
        "hypervolume": series,
        "hypervolume_at_target": at_target[-1]["hypervolume"] if at_target else 0.0,
        "violations": [{"sample": i, "fidelity": by_id[i].fidelity, "violated": list(g.violated),
                        "values": _values_json(g.values)} for i, g in goals.items() if g.violated],
        "predicted": None,
        "truth": None,
    }
    payload = recommendation_event or {}
    rec = payload.get("recommendation") or {}
    if rec.get("front"):
        out["predicted"] = [{"recipe": p.get("recipe"), "means": {k: _finite(v) for k, v in (p.get("means") or {}).items()},
                             "stds": {k: _finite(v) for k, v in (p.get("stds") or {}).items()},
                             "feasible": _finite(p.get("feasible"))} for p in rec["front"]]
        out["predicted_model"] = rec.get("model_id")
    truth = payload.get("ground_truth") or {}
    if truth.get("front") or truth.get("hypervolume") is not None:
        out["truth"] = {"hypervolume": _finite(truth.get("hypervolume")), "front": truth.get("front") or []}
    return out


def goal_columns(config: Any, samples: Sequence[Sample]) -> dict[str, dict[str, Any]]:
    """Sample id -> the export's goal columns: ``constraints.met`` and ``constraints.violated`` (only
    with outcome constraints; the broken ones joined by ``"; "``) and ``pareto_front`` (on the measured
    front at the target fidelity). Empty for a campaign with one objective and no outcome constraints."""
    if not multi_goal(config):
        return {}
    has_constraints = bool(constraints_of(config))
    out = {}
    for i, g in sample_goals(config, samples).items():
        row: dict[str, Any] = {}
        if has_constraints:
            row["constraints.met"] = g.met
            row["constraints.violated"] = "; ".join(g.violated)
        row["pareto_front"] = g.on_front
        out[i] = row
    return out


__all__ = [
    "FROM_BOTH", "FROM_DATA", "FROM_THRESHOLDS", "SampleGoals", "goal_columns", "goal_outcomes", "goals_view",
    "hypervolume_of", "hypervolume_series", "multi_goal", "non_dominated", "objectives_of", "raw_multi_goal", "reference",
    "sample_goals", "signed",
]
