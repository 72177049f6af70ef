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
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from controller.config.campaign import CampaignConfig, config_from_dict
from controller.records.history import history_frame, objective_value
from controller.records.samples import Sample, to_jsonable
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
    return out


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

    Raises:
        StoreError: unknown campaign or sample, or a sample of another campaign.
    """
    from optimizers import SearchSpace, make_strategy
    from optimizers import explain as ex

    for flag, value, least in (("--sobol-points", n_sobol, 8), ("n_correlation", n_correlation, 2)):
        if value is not None and not (isinstance(value, int) and value >= least):
            raise ConfigError(FieldIssue(flag, f"{value!r} must be an integer >= {least}"))
    own = not isinstance(store, RecordStore)
    if own:
        if not Path(store).exists():
            raise StoreError(f"no record store at {str(store)!r}; run a campaign first or pass --store")
        store = RecordStore(store)
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

    from controller.config.campaign import physics_for

    # the strategy exactly as CampaignRunner.run builds it (physics included), so the model is the campaign's
    space = SearchSpace(config.parameters, config.fidelities, config.objective)
    physics = physics_for(config)
    strategy = make_strategy(config.optimizer.strategy, space, seed=config.seed,
                             initial_design=config.optimizer.initial_design or None,
                             **({"physics": physics} if physics is not None else {}))
    history = history_frame(config, samples)
    features, units = structure_table(config, samples)
    kwargs = {}
    if n_sobol is not None:
        kwargs["n_sobol"] = int(n_sobol)
    if n_correlation is not None:
        kwargs["n_correlation"] = int(n_correlation)
    result = ex.explain_history(space, strategy, history, structure=features, structure_units=units,
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
        },
        **result,
        "suggestions": [_suggestion_row(config, s) for s in samples],
    }
    if sample is not None:
        out["suggestion"] = explain_sample(config, samples, sample)
    return to_jsonable(out)


# ---------------------------------------------------------------------- rendering
def _num(v: Any, fmt: str = ".3g") -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, fmt)


def _ci(entry: dict[str, Any], key: str) -> str:
    v, ci = entry.get(key), entry.get(f"{key}_ci") or [None, None]
    if v is None:
        return "-"
    if ci[0] is None:
        return f"{v:.2f}"
    return f"{v:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def render(result: dict[str, Any], console: Console | None = None) -> None:
    """Print an :func:`explain_campaign` result as tables and sentences."""
    console = console or Console(highlight=False, width=max(Console().width, 120))
    c = result["campaign"]
    console.print(f"[bold]Campaign {c['name']}[/bold] ({c['status']}): {c['strategy']} strategy, "
                  f"{c['samples']} samples, spent {c['spent']:g} of {c['budget']:g}; "
                  f"{c['direction']} {c['objective']} ({escape(c['unit'])}) at {c['target_fidelity']}")
    model = result.get("model")
    if model is None:
        console.print("No model yet: fewer than 2 completed observations.")
    else:
        src = "the strategy's model" if result["model_source"] == "strategy" else "an explanation GP (the strategy has no model)"
        if model.get("physics"):
            src += f" with physics ({c.get('physics')} from {c.get('physics_model')})"
        console.print(f"Model {model['model_id']}: {src}, {model['n_train']} completed observations"
                      + ("" if model["fit_ok"] else " [red](fit failed: prior hyperparameters)[/red]"))
        imp = result["importance"]
        table = Table(title=f"Parameter importance for {c['objective']} at {c['target_fidelity']}", box=None)
        for col in ("rank", "parameter", "ARD lengthscale", "ARD share", "Sobol first [95% CI]", "Sobol total [95% CI]"):
            table.add_column(col, no_wrap=True)
        for e in imp["parameters"] + imp["features"]:
            table.add_row(str(e["rank_sobol"] or "-"), e["name"], _num(e["lengthscale"]),
                          _num(e["relevance_share"], ".0%") if e["relevance_share"] is not None else "-",
                          _ci(e, "sobol_first"), _ci(e, "sobol_total"))
        console.print(table)
        multi = [e for e in imp["parameters"] if len(e.get("columns", [])) > 1]
        for e in multi:
            cols = ", ".join(f"{col['column'].split(':', 1)[-1].split('=', 1)[-1]} {_num(col['lengthscale'])}"
                             for col in e["columns"])
            console.print(f"  {e['name']} columns (lengthscale): {cols}")
        s = imp["sobol"]
        console.print(f"  Sobol: posterior mean at {c['target_fidelity']}, N={s['n']} ({s['evaluations']} evaluations, "
                      f"seed {s['seed']}); sum of first-order indices {_num(s['sum_first'], '.2f')}. "
                      f"Lengthscales in encoded units (each parameter spans 1); smaller = more important.")
        for note in imp.get("notes", []):
            console.print(f"  note: {escape(note)}")
        fc = result.get("fidelity_correlation") or []
        if fc:
            table = Table(title=f"How each fidelity tracks {c['target_fidelity']} (model)", box=None)
            for col in ("fidelity", "cost", "prior corr", "posterior corr (min..max)", "Pearson of means", "observed pairs"):
                table.add_column(col, no_wrap=True)
            for e in fc:
                post = e["posterior_correlation"]
                obs = f"{e['observed_pairs']}" + (f" (r={e['observed_pearson']:.2f})" if e["observed_pearson"] is not None else "")
                table.add_row(e["fidelity"], f"{e['cost']:g}", _num(e["prior_correlation"]["mean"], ".2f"),
                              f"{_num(post['mean'], '.2f')} ({_num(post['min'], '.2f')}..{_num(post['max'], '.2f')})",
                              _num(e["mean_pearson"], ".2f"), obs)
            console.print(table)
    st = result.get("structure")
    if st and st.get("source") == "model inputs":
        console.print("Structure features are model inputs: see the feature rows above.")
    elif st and st.get("by_fidelity"):
        console.print(f"[bold]Structure features[/bold] -> {c['objective']} ({st['source']}):")
        for fid, res in st["by_fidelity"].items():
            table = Table(title=f"{fid}: {res['n']} samples" + (" (primary)" if fid == st["primary"] else ""), box=None)
            for col in ("rank", "feature", "unit", "lengthscale", "Sobol total [95% CI]", "Pearson r"):
                table.add_column(col, no_wrap=True)
            for e in res["features"]:
                table.add_row(str(e["rank_sobol"] or "-"), e["name"], e.get("unit") or "", _num(e["lengthscale"]),
                              _ci(e, "sobol_total"), _num(e["pearson"], ".2f"))
            console.print(table)
            if res["constant"]:
                console.print(f"  constant in these samples: {', '.join(res['constant'])}")
        for fid, why in st.get("skipped", {}).items():
            console.print(f"  {fid}: not analysed ({why})")
    sug = result.get("suggestion")
    if sug:
        console.print(f"[bold]Why {sug['sample']} was suggested[/bold] ({sug['strategy']}, {sug['kind']}):")
        for key, value in sug["recipe"].items():
            console.print(f"  {key:<20} {escape(_recipe_text(value))}")
        for line in sug["text"]:
            console.print(f"  {escape(line)}")


def _recipe_text(value: Any) -> str:
    if isinstance(value, dict) and "value" in value:
        v = value["value"]
        return f"{v:.4g} {value.get('unit', '')}".strip() if isinstance(v, float) else f"{v} {value.get('unit', '')}".strip()
    return str(value)


def cmd_explain(args) -> int:
    """``sdl explain CAMPAIGN [--sample ID] [--json] [--store PATH]``."""
    from controller.ui.cli.main import default_store

    result = explain_campaign(args.store or default_store(), args.campaign, sample_id=args.sample,
                              n_sobol=args.sobol_points)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        render(result)
    return 0


def write_explanation(store: RecordStore | str | Path, campaign: str, path: str | Path,
                      n_sobol: int | None = None) -> Path:
    """Write :func:`explain_campaign` as JSON to ``path`` (for ``sdl export --explain``)."""
    out = Path(path)
    result = explain_campaign(store, campaign, n_sobol=n_sobol)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return out
