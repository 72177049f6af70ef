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
    return {
        "recipe": to_jsonable(rec.recipe),
        "mean": rec.mean,
        "std": rec.std,
        "unit": config.objective.unit,
        "property": config.objective.property,
        "fidelity": target,
        "model_id": rec.model_id,
    }


def ground_truth(config: CampaignConfig, rec: dict[str, Any] | None) -> dict[str, Any] | None:
    """Dry runs only: what the simulated line's hidden truth says of the recommended recipe."""
    if rec is None or not any(f.kind == "robot" for f in config.fidelities):
        return None
    from controller.execution.robot import dry_run_truth

    truth = dry_run_truth(config, from_jsonable(rec["recipe"]))
    prop = truth.get(config.objective.property) if truth else None
    if prop is None:
        return None
    return {"property": config.objective.property, **quantity_to_record(prop.to(config.objective.unit))}
