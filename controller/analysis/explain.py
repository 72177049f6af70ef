"""``sdl explain``: what the campaign's model has learned and why it asked for each sample.

:func:`explain_campaign` rebuilds the campaign from its store (the stored config, the
optimizer's history, the same strategy with the same seed), refits the strategy's
model on every completed sample and hands it to :mod:`optimizers.explain`. The result
is a JSON-able dict (for ``--json``, the export and the dashboard); :func:`render`
prints it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pint

from controller.config.campaign import CampaignConfig, config_from_dict
from controller.analysis.goals import goal_outcomes, multi_goal
from controller.records.history import history_frame, objective_value, property_value
from controller.records.samples import Sample, to_jsonable
from controller.loop.strategy import build_strategy
from controller.records.opening import open_store
from controller.records.store import RecordStore
from core import ConfigError, FieldIssue, StoreError, unit_text

EXPLAIN_VERSION = 1


def structure_table(config: CampaignConfig, samples: list[Sample]) -> tuple[pd.DataFrame, dict[str, str]]:
    """Recorded structure features of the completed samples with an objective value.

    Returns:
        The table (``fidelity``, ``objective`` in the objective's unit, one float column
        per feature, NaN where a sample lacks it; each feature in the unit it was first
        recorded in) and feature -> unit text.
    """
    units: dict[str, pint.Unit] = {}
    rows = []
    for s in samples:
        y = objective_value(config, s)
        if s.status != "completed" or not math.isfinite(y) or not s.structure:
            continue
        row: dict[str, Any] = {"fidelity": s.fidelity, "objective": y}
        for name, value in s.structure.items():
            if isinstance(value, pint.Quantity):
                unit = units.setdefault(name, value.units)
                try:
                    row[name] = float(value.to(unit).magnitude)
                except pint.DimensionalityError:
                    continue
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                units.setdefault(name, None)
                row[name] = float(value)
        rows.append(row)
    table = pd.DataFrame(rows)
    return table, {k: (unit_text(u) if u is not None else "") for k, u in units.items()}


def _best_before(config: CampaignConfig, samples: list[Sample], sample: Sample) -> float | None:
    """Best target-fidelity objective among samples completed before ``sample`` was suggested."""
    asked = (sample.suggestion or {}).get("time") or sample.created
    values = [objective_value(config, s) for s in samples
              if s.fidelity == config.target.name and s.completed is not None and s.completed < asked]
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return None
    return max(values) if config.objective.direction == "maximize" else min(values)


def explain_sample(config: CampaignConfig, samples: list[Sample], sample: Sample) -> dict[str, Any]:
    """Why ``sample`` was suggested, with its recipe (molecule labels) and what it measured."""
    from optimizers.explain import explain_suggestion

    out = explain_suggestion(
        sample.suggestion or {}, fidelities=config.fidelities, objective=config.objective.property,
        unit=config.objective.unit, best_before=_best_before(config, samples, sample),
        maximize=config.objective.direction == "maximize",
    )
    recipe = {}
    for p in config.parameters:
        v = sample.recipe.get(p.name)
        if isinstance(v, str) and hasattr(p, "label_of"):
            try:
                v = f"{p.label_of(v)} ({v})"
            except KeyError:
                pass
        recipe[p.name] = v
    measured = objective_value(config, sample)
    out.update({"sample": sample.id, "seq": sample.seq, "status": sample.status, "cost": sample.cost,
                "recipe": to_jsonable(recipe), "measured": measured if math.isfinite(measured) else None})
    if out["measured"] is not None and out["predicted"]["mean"] is not None:
        std = out["predicted"]["std"] or 0.0
        err = out["measured"] - out["predicted"]["mean"]
        out["text"].append(f"Measured {out['measured']:.4g} {config.objective.unit}: "
                           f"{err:+.3g} {config.objective.unit} from the prediction"
                           + (f" ({err / std:+.2g} sigma)." if std > 0 else "."))
    predicted = (sample.suggestion or {}).get("predicted_outcomes") or {}
    if predicted:  # several objectives / outcome constraints: every modelled outcome, predicted and measured
        out["outcomes"] = []
        for o in goal_outcomes(config):
            p = predicted.get(o.property) or {}
            value = property_value(sample, o.property, o.unit)
            entry = {"property": o.property, "unit": o.unit, "mean": p.get("mean"), "std": p.get("std"),
                     "target_mean": p.get("target_mean"), "target_std": p.get("target_std"),
                     "measured": value if math.isfinite(value) else None}
            out["outcomes"].append(entry)
        out["text"].append("Every outcome there (predicted at " + str(sample.fidelity) + " +/- 1 sigma; measured): " + "; ".join(
            f"{e['property']} {_num(e['mean'])} +/- {_num(e['std'])} {e['unit']}"
            + (f", measured {_num(e['measured'])}" if e["measured"] is not None else "") for e in out["outcomes"]) + ".")
    return out


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) and math.isfinite(value) else "-"


def _suggestion_row(config: CampaignConfig, s: Sample) -> dict[str, Any]:
    sug = s.suggestion or {}
    y = objective_value(config, s)
    mid = sug.get("model_id") or ""
    return {"sample": s.id, "seq": s.seq, "fidelity": s.fidelity, "status": s.status, "cost": s.cost,
            "kind": "model" if mid not in ("", "space-filling", "random") else (mid or "unknown"),
            "model_id": mid, "predicted_mean": sug.get("predicted_mean"), "predicted_std": sug.get("predicted_std"),
            "target_mean": sug.get("target_mean"), "target_std": sug.get("target_std"),
            "acquisition_value": sug.get("acquisition_value"), "measured": y if math.isfinite(y) else None}


def explain_campaign(
    store: RecordStore | str | Path,
    campaign: str,
    sample_id: str | None = None,
    *,
    n_sobol: int | None = None,
    n_correlation: int | None = None,
) -> dict[str, Any]:
    """Explain a recorded campaign: parameter and structure-feature importance at the target
    fidelity, fidelity correlations, and (``sample_id``) why one sample was suggested.

    Args:
        store: an open :class:`RecordStore` or the path of one.
        campaign: the campaign's name.
        sample_id: also explain this sample's suggestion.
        n_sobol, n_correlation: sample sizes of the Sobol analysis and of the fidelity
            correlations (defaults of :mod:`optimizers.explain`).

    Returns:
        A JSON-able dict: ``campaign``, ``model``, ``importance`` (``parameters``,
        ``features``, ``columns``, ``sobol``), ``fidelity_correlation``, ``structure``,
        ``suggestions`` (one compact row per sample) and, with ``sample_id``, ``suggestion``.
        With several objectives or outcome constraints also ``outcomes``: the same model,
        importance and fidelity correlations for each objective and constrained property, from
        the strategy's own GP of that outcome (the top-level ones are the first objective's);
        ``campaign`` then lists ``objectives`` and ``outcome_constraints``.

    Raises:
        StoreError: unknown campaign or sample, or a sample of another campaign.
    """
    from optimizers import explain as ex

    for flag, value, least in (("--sobol-points", n_sobol, 8), ("n_correlation", n_correlation, 2)):
        if value is not None and not (isinstance(value, int) and value >= least):
            raise ConfigError(FieldIssue(flag, f"{value!r} must be an integer >= {least}"))
    own = not isinstance(store, RecordStore)
    if own:
        store = open_store(store)  # a path or a database URL, as every command takes it
    try:
        row = store.campaign(campaign)
        sample = None
        if sample_id is not None:
            sample = store.sample(sample_id)
            if sample.campaign != campaign:
                raise StoreError(f"sample {sample_id!r} belongs to campaign {sample.campaign!r}, not {campaign!r}")
        config = config_from_dict(json.loads(row["config_json"]), source=f"{store.location} (campaign {campaign})")
        samples = store.samples(campaign)
        spent = store.spent(campaign)
    finally:
        if own:
            store.close()

    strategy = build_strategy(config)  # exactly as the loop builds it (physics included)
    history = history_frame(config, samples)
    features, units = structure_table(config, samples)
    kwargs = {}
    if n_sobol is not None:
        kwargs["n_sobol"] = int(n_sobol)
    if n_correlation is not None:
        kwargs["n_correlation"] = int(n_correlation)
    result = ex.explain_history(strategy.space, strategy, history, structure=features, structure_units=units,
                                seed=config.seed, **kwargs)
    counts = history.groupby("fidelity").size().to_dict() if len(history) else {}
    out: dict[str, Any] = {
        "version": EXPLAIN_VERSION,
        "campaign": {
            "name": campaign, "status": row.get("status"), "strategy": config.optimizer.strategy, "seed": config.seed,
            "physics": config.optimizer.physics,
            "physics_model": config.optimizer.physics_model if config.optimizer.physics != "none" else None,
            "objective": config.objective.property, "unit": config.objective.unit,
            "direction": config.objective.direction, "target_fidelity": config.target.name,
            "fidelities": [{"name": f.name, "cost": f.cost, "value": f.value, "samples": int(counts.get(f.name, 0))}
                           for f in config.fidelities],
            "samples": len(samples), "spent": spent, "budget": config.budget,
            **({"objectives": [{"property": o.property, "unit": o.unit, "direction": o.direction}
                               for o in config.objectives],
                "outcome_constraints": [c.text for c in config.outcome_constraints]} if multi_goal(config) else {}),
        },
        **result,
        "suggestions": [_suggestion_row(config, s) for s in samples],
    }
    if sample is not None:
        out["suggestion"] = explain_sample(config, samples, sample)
    return to_jsonable(out)


def write_explanation(store: RecordStore | str | Path, campaign: str, path: str | Path,
                      n_sobol: int | None = None) -> Path:
    """Write :func:`explain_campaign` as JSON to ``path`` (for ``sdl export --explain``)."""
    out = Path(path)
    result = explain_campaign(store, campaign, n_sobol=n_sobol)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return out
