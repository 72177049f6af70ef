"""What the dashboard and the HTML report show, read from the record store.

Every function here takes an open :class:`~controller.records.store.RecordStore` and returns
JSON-able data; quantities travel as ``{"value", "unit"}``. The web app serves them,
``sdl report`` renders them into one HTML file: both show the same numbers.
"""

from __future__ import annotations

import functools
import json
import math
import os
from typing import Any

from controller.analysis import goals as goal_model
from controller.config.campaign import CampaignConfig, config_from_dict
from controller.config.control import MIN_TOKEN_CHARS
from controller.records.history import meets_outcome_constraints, objective_value
from controller.records.operators import has_operators
from controller.records.samples import OPEN_STATUSES, Sample, to_jsonable
from controller.records.store import RecordStore
from core import SDLError

TOKEN_ENV = "SDL_CONTROL_TOKEN"


def campaign_config(store: RecordStore, name: str) -> CampaignConfig | None:
    """The campaign's validated settings as stored, or None if they no longer validate."""
    return _validated(store.campaign(name)["config_json"])


@functools.lru_cache(maxsize=32)
def _validated(config_json: str) -> CampaignConfig | None:
    """Validation runs a simulator and loads the material system: once per stored settings
    text, not on every dashboard request (a frozen config is safe to share)."""
    try:
        return config_from_dict(json.loads(config_json))
    except (SDLError, ValueError):
        return None


def control_token(config: CampaignConfig | None) -> str | None:
    """``$SDL_CONTROL_TOKEN`` if set, else the campaign file's ``[control] token``; None disables control.

    A token shorter than :data:`MIN_TOKEN_CHARS` counts as none (`sdl serve` refuses such an
    environment token at start; this also keeps a dashboard started another way, or a
    campaign stored before the minimum, from accepting it).
    """
    token = os.environ.get(TOKEN_ENV) or (config.control.token if config is not None else None)
    return token if token is not None and len(token) >= MIN_TOKEN_CHARS else None


def _finite(value: float) -> float | None:
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def _better(config: CampaignConfig) -> Any:
    return max if config.objective.direction == "maximize" else min


def campaigns(store: RecordStore) -> list[dict[str, Any]]:
    out = []
    for name in store.campaign_names():
        row = store.campaign(name)
        samples = store.samples(name, include_running=True)
        out.append({
            "name": name, "status": row["status"], "stop_reason": row["stop_reason"], "budget": row["budget"],
            "spent": store.spent(name), "samples": len(samples), "created": row["created"], "updated": row["updated"],
            "awaiting_approval": sum(s.status == "awaiting_approval" for s in samples),
        })
    return out


def summary(store: RecordStore, name: str) -> dict[str, Any]:
    """One campaign: goal, fidelities, budget by fidelity, best so far, recommendation, gate."""
    row = store.campaign(name)
    config = campaign_config(store, name)
    samples = store.samples(name, include_running=True)
    by_fidelity: dict[str, dict[str, float]] = {}
    for s in samples:
        entry = by_fidelity.setdefault(s.fidelity, {"samples": 0, "running": 0, "cost": 0.0, "failed": 0})
        entry["samples"] += 1
        entry["running"] += s.status in OPEN_STATUSES
        entry["failed"] += s.status in ("failed", "interrupted")
        entry["cost"] += s.cost
    out: dict[str, Any] = {
        "name": name, "status": row["status"], "stop_reason": row["stop_reason"], "budget": row["budget"],
        "spent": store.spent(name), "by_fidelity": by_fidelity, "samples": len(samples),
        "created": row["created"], "updated": row["updated"], "last_event_id": store.last_event_id(),
        "control_enabled": has_operators(store) or control_token(config) is not None,
        "auth": "operators" if has_operators(store) else "token",
    }
    out["recommendation"] = last_recommendation(store, name)
    if config is not None:
        target = config.target.name
        values = [objective_value(config, s) for s in samples if s.fidelity == target]
        values = [v for v in values if math.isfinite(v)]
        out.update({
            "description": config.description,
            "objective": {"property": config.objective.property, "unit": config.objective.unit,
                          "direction": config.objective.direction},
            "fidelities": [{"name": f.name, "kind": f.kind, "cost": f.cost, "target": f.target,
                            "model": f.model, "approval": config.control.needs_approval(f.name)}
                           for f in config.fidelities],
            "parameters": [_parameter(p) for p in config.parameters],
            "labels": molecule_labels(config),
            "best_at_target": _better(config)(values) if values else None,
            "target": target,
        })
        if goal_model.multi_goal(config):  # several objectives / outcome constraints: the views show a front
            units = {o.property: o.unit for o in goal_model.goal_outcomes(config)}
            out["goals"] = {
                "objectives": [{"property": o.property, "unit": o.unit, "direction": o.direction,
                                "threshold": o.threshold} for o in config.objectives],
                "constraints": [{"text": c.text, "property": c.property, "unit": units[c.property]}
                                for c in config.outcome_constraints],
            }
    out["awaiting"] = [approval_card(s) for s in samples if s.status == "awaiting_approval"]
    return out


def last_recommendation(store: RecordStore, name: str) -> dict[str, Any] | None:
    """The payload of the campaign's last ``recommendation`` event (``recommendation``, ``ground_truth``), or None."""
    recommendations = [e for e in store.events(name) if e["kind"] == "recommendation"]
    return recommendations[-1]["payload"] if recommendations else None


def molecule_labels(config: CampaignConfig | None) -> dict[str, str]:
    """Canonical SMILES -> the label the campaign file gave it (recipes carry the SMILES)."""
    out: dict[str, str] = {}
    for p in config.parameters if config is not None else ():
        if isinstance(getattr(p, "choices", None), dict):
            out.update({smiles: label for label, smiles in p.choices.items()})
    return out


def _parameter(p: Any) -> dict[str, Any]:
    out = {"name": p.name, "kind": type(p).__name__.replace("Parameter", "").lower()}
    for key in ("low", "high"):
        if hasattr(p, key):
            out[key] = to_jsonable(getattr(p, key))
    if hasattr(p, "unit"):
        out["unit"] = str(p.unit)
    if hasattr(p, "choices"):
        out["choices"] = to_jsonable(p.choices)
    return out


def approval_card(s: Sample) -> dict[str, Any]:
    """What an operator needs to approve or reject a run: recipe, prediction, and why."""
    sug = s.suggestion or {}
    return {
        "sample": s.id, "fidelity": s.fidelity, "cost": s.cost, "recipe": to_jsonable(s.recipe),
        "predicted_mean": sug.get("predicted_mean"), "predicted_std": sug.get("predicted_std"),
        "objective_unit": sug.get("objective_unit"), "reason": sug.get("reason"),
        "acquisition_by_fidelity": sug.get("acquisition_by_fidelity"), "strategy": sug.get("strategy"),
        "model_id": sug.get("model_id"), "requested": s.created,
    }


def sample_rows(store: RecordStore, name: str, fidelity: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
    """The sample table: one flat row per sample (recipe values with their units)."""
    config = campaign_config(store, name)
    rows = []
    samples = store.samples(name, include_running=True)
    goals = goal_model.sample_goals(config, samples) if goal_model.multi_goal(config) else {}
    for s in samples:
        if fidelity and s.fidelity != fidelity or status and s.status != status:
            continue
        sug = s.suggestion or {}
        value = objective_value(config, s) if config is not None else math.nan
        rows.append({
            "id": s.id, "seq": s.seq, "fidelity": s.fidelity, "status": s.status, "cost": s.cost,
            "objective": _finite(value), "predicted_mean": _finite(sug.get("predicted_mean")),
            "predicted_std": _finite(sug.get("predicted_std")), "recipe": to_jsonable(s.recipe),
            "created": s.created, "completed": s.completed, "error": s.error,
            "approval": sug.get("approval"), "fault": s.fault,
        })
        g = goals.get(s.id)
        if g is not None:  # every objective and constrained property, and where the sample stands
            rows[-1].update({"outcomes": {k: _finite(v) for k, v in g.values.items()}, "met": g.met,
                             "violated": list(g.violated), "on_front": g.on_front})
    return rows


def sample_detail(store: RecordStore, sample_id: str) -> dict[str, Any]:
    """One sample's Process -> Structure -> Property lineage, with units."""
    s = store.sample(sample_id)
    data = s.to_json()
    data["runs"] = store.runs_of(sample_id)
    data["decision"] = store.decision(sample_id)
    config = campaign_config(store, s.campaign)
    data["why"] = []
    if config is not None and s.suggestion:
        from controller.analysis.explain import explain_sample

        try:
            data["why"] = explain_sample(config, store.samples(s.campaign), s).get("text", [])
        except Exception as err:  # noqa: BLE001 - the lineage is shown even if the explanation is not
            data["why"] = [f"(no explanation: {type(err).__name__}: {err})"]
    return data


def progress_series(store: RecordStore, name: str) -> dict[str, Any]:
    """Plot data: best so far per fidelity against the campaign's cumulative cost, and the
    suggestions' predicted vs measured values."""
    config = campaign_config(store, name)
    if config is None:
        return {"best": {}, "predicted": []}
    better = _better(config)
    cumulative, best, series, predicted = 0.0, {}, {}, []
    for s in sorted(store.samples(name), key=lambda s: (s.completed or s.created, s.seq)):
        cumulative += s.cost
        value = objective_value(config, s)
        if not math.isfinite(value):
            continue
        if meets_outcome_constraints(config, s):  # a sample that broke an outcome constraint is never the best
            best[s.fidelity] = value if s.fidelity not in best else better(best[s.fidelity], value)
        if s.fidelity in best:
            series.setdefault(s.fidelity, []).append({"cost": cumulative, "best": best[s.fidelity], "sample": s.id})
        mean = _finite((s.suggestion or {}).get("predicted_mean"))
        if mean is not None:
            predicted.append({"sample": s.id, "fidelity": s.fidelity, "predicted": mean, "measured": value,
                              "std": _finite((s.suggestion or {}).get("predicted_std"))})
    return {"best": series, "predicted": predicted, "unit": config.objective.unit,
            "property": config.objective.property, "target": config.target.name}


def goal_series(store: RecordStore, name: str) -> dict[str, Any] | None:
    """The campaign's goals (:func:`controller.analysis.goals.goals_view`): measured and predicted Pareto
    front at the target, hypervolume vs cumulative cost per fidelity, constraint violations. None for a
    campaign with one objective and no outcome constraints."""
    config = campaign_config(store, name)
    if not goal_model.multi_goal(config):
        return None
    return goal_model.goals_view(config, store.samples(name), last_recommendation(store, name))


def device_states(store: RecordStore, name: str) -> dict[str, Any]:
    """The synthesis line as the latest robot run's documents left it: per device, its last
    readings with units, and the step the run was at."""
    config = campaign_config(store, name)
    robot_fidelities = {f.name for f in config.fidelities if f.kind == "robot"} if config is not None else None
    latest, uid = None, None
    for s in reversed(store.samples(name, include_running=True)):  # newest first; stop at the first run
        if robot_fidelities is not None and s.fidelity not in robot_fidelities:
            continue
        uid = s.run_uid or store.run_uid_of(s.id)  # a running sample's run is in its row, not yet its record
        if uid:
            latest = s
            break
    if latest is None:
        return {"sample": None, "devices": {}, "step": None, "exit_status": None}
    units: dict[str, str] = {}
    stream_of: dict[str, str] = {}
    owner: dict[str, str] = {}  # data key -> the device that reads it (descriptors' object_keys)
    devices: dict[str, dict[str, Any]] = {}
    step, exit_status, started = None, None, None
    for doc_name, doc in store.documents(uid):
        if doc_name == "start":
            started = doc.get("time")
        elif doc_name == "descriptor":
            stream_of[doc["uid"]] = doc.get("name", "primary")
            for key, info in (doc.get("data_keys") or {}).items():
                units[key] = info.get("units") or ""
            for device, keys in (doc.get("object_keys") or {}).items():
                owner.update({key: device for key in keys})
        elif doc_name == "event":
            step = stream_of.get(doc.get("descriptor"), step)
            for key, value in (doc.get("data") or {}).items():
                device = owner.get(key, key)
                devices.setdefault(device, {})[key] = {"value": value, "unit": units.get(key, ""),
                                                      "time": (doc.get("timestamps") or {}).get(key, doc.get("time")),
                                                      "stream": stream_of.get(doc.get("descriptor"))}
        elif doc_name == "stop":
            exit_status = doc.get("exit_status")
    return {"sample": latest.id, "sample_status": latest.status, "run_uid": uid, "started": started,
            "step": step, "exit_status": exit_status, "devices": devices}
