"""What a finished campaign reports: its result, the recommendation and (dry runs) the hidden truth."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from controller.config.campaign import CampaignConfig
from controller.records.history import history_frame
from controller.records.samples import Sample, from_jsonable, to_jsonable
from controller.records.store import RecordStore
from core import SDLError, quantity_to_record


@dataclass
class CampaignResult:
    """What a finished (or stopped) campaign reports."""

    name: str
    store: str
    status: str
    stop_reason: str
    budget: float
    spent: float
    samples_by_fidelity: dict[str, int]
    failed: int
    recommendation: dict[str, Any] | None
    wall_time_s: float
    ground_truth: dict[str, Any] | None = None
    resumed: bool = False


def recommendation(config: CampaignConfig, strategy: Any, samples: list[Sample],
                   store: RecordStore) -> dict[str, Any] | None:
    """The strategy's recommended recipe at the target fidelity, or None (no data, or it failed:
    the failure is logged in the store's event log)."""
    history = history_frame(config, samples)
    target = config.target.name
    if not (history["fidelity"] == target).any() and len(history) == 0:
        return None
    try:
        rec = strategy.recommendation(history)
    except SDLError as err:
        store.log_event(config.name, "recommendation_failed", {"error": str(err)})
        return None
    out = {
        "recipe": to_jsonable(rec.recipe),
        "mean": rec.mean,
        "std": rec.std,
        "unit": config.objective.unit,
        "property": config.objective.property,
        "fidelity": target,
        "model_id": rec.model_id,
    }
    if rec.note:
        out["note"] = rec.note
    if rec.front:  # several objectives / outcome constraints: the Pareto set, ``recipe`` its compromise point
        out["objectives"] = [{"property": o.property, "unit": o.unit, "direction": o.direction,
                              "threshold": o.threshold} for o in config.objectives]
        out["units"] = config.outcome_units
        out["front"] = [{"recipe": to_jsonable(p.recipe), "means": p.means, "stds": p.stds, "feasible": p.feasible}
                        for p in rec.front]
    return out


#: Dry runs score at most this many recipes of a recommended front on the hidden truth.
MAX_TRUTH_FRONT = 12


def ground_truth(config: CampaignConfig, rec: dict[str, Any] | None) -> dict[str, Any] | None:
    """Dry runs only: what the simulated line's hidden truth says of the recommended recipe (and, with
    several objectives, of each recipe of the front, and the hidden hypervolume they reach)."""
    if rec is None or not any(f.kind == "robot" for f in config.fidelities):
        return None
    from controller.execution.robot import dry_run_truth

    truth = dry_run_truth(config, from_jsonable(rec["recipe"]))
    prop = truth.get(config.objective.property) if truth else None
    if prop is None:
        return None
    out = {"property": config.objective.property, **quantity_to_record(prop.to(config.objective.unit))}
    if rec.get("front"):
        out["values"] = _values(config, truth)
        # the named recipe is one of the front: its truth is not made again
        front = [out["values"] if p["recipe"] == rec["recipe"]
                 else _values(config, dry_run_truth(config, from_jsonable(p["recipe"])) or {})
                 for p in rec["front"][:MAX_TRUTH_FRONT]]
        out["front"] = front
        if config.multi_objective and all(o.threshold is not None for o in config.objectives):
            out["hypervolume"] = front_hypervolume(config, front)
    return out


def front_hypervolume(config: CampaignConfig, values: list[dict[str, float | None]]) -> float:
    """Hypervolume of objective values (property -> value in the campaign's units) above the objectives'
    thresholds, counting only the points that meet the outcome constraints."""
    import torch  # noqa: PLC0415

    from optimizers.goals import hypervolume  # noqa: PLC0415

    units = config.outcome_units
    ok = []
    for v in values:
        if any(v.get(o.property) is None for o in config.objectives):
            continue
        if all(v.get(c.property) is not None and c.holds(v[c.property], units[c.property])
               for c in config.outcome_constraints):
            ok.append([o.sign * v[o.property] for o in config.objectives])
    ref = torch.tensor([o.sign * o.threshold for o in config.objectives], dtype=torch.double)
    return hypervolume(torch.tensor(ok, dtype=torch.double).reshape(-1, len(config.objectives)), ref)


def _values(config: CampaignConfig, truth: dict[str, Any]) -> dict[str, float | None]:
    """Every objective's and constrained property's true value in the campaign's units."""
    return {p: float(truth[p].to(u).magnitude) if truth.get(p) is not None else None
            for p, u in config.outcome_units.items()}
