"""Terminal output of the CLI: run summary, sample list and one sample's lineage."""

from __future__ import annotations

import datetime as dt
import math
import sys
from typing import Any

import pint
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from controller.records.samples import Sample, from_jsonable
from controller.records.store import RecordStore


def _fmt(value: Any) -> str:
    if isinstance(value, pint.Quantity):
        mag = value.magnitude
        if getattr(mag, "ndim", 0):  # a spectrum or a curve: its size and range, not every value
            text = f"[{mag.size} values, {mag.min():.4g} to {mag.max():.4g}]"
        else:
            text = f"{mag:.4g}" if isinstance(mag, float) else str(mag)
        unit = f"{value.units:~C}"
        return f"{text} {unit}" if unit else text
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _time(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def warn_if_broken(store: RecordStore, campaign: str, command: str) -> bool:
    """One line on stderr when the campaign's record chain is broken; True if it was."""
    report = store.verify_chain(campaign)
    if report.intact:
        return False
    print(f"sdl {command}: warning: {report.line()}; see `sdl verify {campaign}`", file=sys.stderr)
    return True


def print_result(config, result, console: Console | None = None) -> None:
    # soft_wrap: summary lines keep their shape in logs and pipes (no 80-column wrapping)
    console = console or Console(highlight=False, soft_wrap=True)
    console.print()
    console.print(f"[bold]Campaign {result.name} {result.status}[/bold]: {result.stop_reason}")
    counts = ", ".join(f"{n} at {name}" for name, n in result.samples_by_fidelity.items())
    console.print(f"  samples: {counts} ({result.failed} not completed); spent {result.spent:g} of {result.budget:g}; "
                  f"wall time {result.wall_time_s:.1f} s")
    rec = result.recommendation
    if rec and rec.get("front"):
        _print_front_result(config, rec, result.ground_truth, console)
    elif rec:
        recipe = from_jsonable(rec["recipe"])
        labels = _labels(config, recipe)
        console.print(f"[bold]Recommended recipe at {rec['fidelity']}[/bold] (best posterior mean"
                      + (f"; {rec['note']}" if rec.get("note") else "") + "):")
        for name, value in recipe.items():
            console.print(f"  {name:<20} {labels.get(name, _fmt(value))}")
        std = rec.get("std")
        std_text = f" +/- {std:.2f}" if isinstance(std, (int, float)) and math.isfinite(std) else ""
        console.print(f"  predicted {rec['property']}: {rec['mean']:.2f}{std_text} {rec['unit']} (1 sigma)")
        if result.ground_truth:
            gt = result.ground_truth
            console.print(f"  simulated ground truth of the dry-run line: {gt['value']:.2f} {gt['unit']}")
    console.print(f"Records: {result.store} (campaign {result.name!r}); "
                  f"see `sdl samples {result.name} --store {result.store}`")


def print_samples(store: RecordStore, campaign: str, console: Console | None = None,
                  goals: dict[str, Any] | None = None, view: dict[str, Any] | None = None) -> None:
    """The sample list. With several objectives or outcome constraints, ``goals`` (sample id ->
    ``controller.analysis.goals.SampleGoals``) adds whether each sample met the outcome constraints and
    whether it is on the measured front at the target, and ``view`` (``goals_view``) a footer on the front."""
    # the goals' columns need room: without it rich shortens every column, sample ids first
    console = console or Console(highlight=False, width=max(Console().width, 160 if goals is None else 200))
    info = store.campaign(campaign)
    samples = store.samples(campaign, include_running=True)
    console.print(f"[bold]{campaign}[/bold]: {info['status']}" + (f" ({info['stop_reason']})" if info["stop_reason"] else ""),
                  soft_wrap=True)
    names = list(dict.fromkeys(k for s in samples for k in s.properties))
    constrained = bool(view and view.get("constraints"))
    goal_cols = (["constraints"] if constrained else []) + (["front"] if goals is not None else [])
    table = Table(box=None)
    for col in ("id", "fidelity", "status", "cost", *names, *goal_cols, "run uid", "note"):
        table.add_column(col, no_wrap=True)
    for s in samples:
        props = [_fmt(s.properties[k]) if k in s.properties else "" for k in names]
        marks = []
        if goals is not None:
            g = goals.get(s.id)
            if constrained:  # the properties only (the footer names the constraints): the table stays narrow
                marks.append("" if g is None else _met_text(g.met, _violated_properties(view, g.violated)))
            marks.append("*" if g is not None and g.on_front else "")
        table.add_row(s.id, s.fidelity, s.status, f"{s.cost:g}", *props, *marks, (s.run_uid or "")[:8],
                      (s.error or "")[:60])
    console.print(table, soft_wrap=True)
    console.print(f"{len(samples)} samples; spent {store.spent(campaign):g} of {info['budget']:g} cost units", soft_wrap=True)
    if view is not None:
        for line in measured_front_lines(view):
            console.print(escape(line), soft_wrap=True)


def _met_text(met: bool | None, violated: tuple[str, ...] | list[str]) -> str:
    if violated:
        return "violated: " + ", ".join(violated)
    return {True: "met", False: "violated", None: "-"}[met]


def _violated_properties(view: dict[str, Any], violated: tuple[str, ...]) -> list[str]:
    prop = {c["text"]: c["property"] for c in view["constraints"]}
    return list(dict.fromkeys(prop.get(text, text) for text in violated))


def _labels(config, recipe: dict[str, Any]) -> dict[str, str]:
    """Parameter name -> ``label (SMILES)`` for the molecules of ``recipe``."""
    labels = {}
    for p in config.parameters:
        if hasattr(p, "label_of") and isinstance(recipe.get(p.name), str):
            try:
                labels[p.name] = f"{p.label_of(recipe[p.name])} ({recipe[p.name]})"
            except KeyError:
                pass
    return labels


def _hv_unit(objectives: list[dict[str, Any]]) -> str:
    units = [o.get("unit") or "" for o in objectives]
    return " x ".join(f"({u})" if " " in u else u for u in units if u and u != "dimensionless")


def measured_front_lines(view: dict[str, Any]) -> list[str]:
    """A few lines on the measured front of a ``goals_view``: its samples, the hypervolume and its
    reference, and how many samples broke an outcome constraint."""
    objectives = view["objectives"]
    by_id = {m["sample"]: m for m in view["measured"]}
    lines = [f"Measured Pareto front at {view['target']}: {len(view['front'])} sample(s)"
             + (" (every objective measured and the outcome constraints met)" if view["constraints"] else "")]
    for sid in view["front"][:MAX_FRONT_LINES]:
        values = by_id[sid]["values"]
        lines.append(f"  {sid}: " + ", ".join(f"{o['property']} {_num(values.get(o['property']))} {o['unit']}"
                                              for o in objectives))
    if len(view["front"]) > MAX_FRONT_LINES:
        lines.append(f"  ... and {len(view['front']) - MAX_FRONT_LINES} more")
    ref = ", ".join(f"{o['property']} {_num(view['reference'][o['property']])} {o['unit']}" for o in objectives)
    lines.append(f"Hypervolume at {view['target']}: {_num(view['hypervolume_at_target'])} {_hv_unit(objectives)} "
                 f"(reference {ref}, from {view['reference_source']})")
    if view["constraints"]:
        lines.append(f"{len(view['violations'])} sample(s) broke an outcome constraint "
                     f"({'; '.join(c['text'] for c in view['constraints'])})")
    return lines


#: The console lists at most this many points of a front (the report and the dashboard show them all).
MAX_FRONT_LINES = 8


def _num(value: Any, digits: int = 4) -> str:
    return f"{value:.{digits}g}" if isinstance(value, (int, float)) and math.isfinite(value) else "-"


def _pm(mean: Any, std: Any) -> str:
    return _num(mean) + (f" +/- {_num(std, 2)}" if isinstance(std, (int, float)) and math.isfinite(std) else "")


def recommended_front_lines(rec: dict[str, Any], truth: dict[str, Any] | None = None,
                            limit: int = MAX_FRONT_LINES) -> list[str]:
    """A few lines on a recommendation event's front: each point's objective means +/- 1 sigma, the
    probability that the outcome constraints hold, and (dry runs) the hidden truth there."""
    objectives = rec.get("objectives") or [{"property": rec.get("property"), "unit": rec.get("unit")}]
    front = rec.get("front") or []
    truth_front = (truth or {}).get("front") or []
    lines = [f"Recommended Pareto set at {rec.get('fidelity')}: {len(front)} recipe(s), posterior mean +/- 1 sigma"]
    for i, p in enumerate(front[:limit]):
        means, stds = p.get("means") or {}, p.get("stds") or {}
        text = ", ".join(f"{o['property']} {_pm(means.get(o['property']), stds.get(o['property']))} {o['unit']}"
                         for o in objectives)
        if p.get("feasible") is not None:
            text += f"; P(constraints hold) {p['feasible']:.2f}"
        if i < len(truth_front) and truth_front[i]:
            text += " (truth " + ", ".join(f"{_num(truth_front[i].get(o['property']))}" for o in objectives) + ")"
        lines.append(f"  {i + 1}. {text}")
    if len(front) > limit:
        lines.append(f"  ... and {len(front) - limit} more (`sdl report` lists them all)")
    if truth and truth.get("hypervolume") is not None:
        n = min(len(front), len(truth_front))
        lines.append(f"  hidden-truth hypervolume of the recommended set (the first {n} recipe(s), above the "
                     f"thresholds): {_num(truth['hypervolume'])} {_hv_unit(objectives)}")
    return lines


def _print_front_result(config, rec: dict[str, Any], truth: dict[str, Any] | None, console: Console) -> None:
    for line in recommended_front_lines(rec, truth):
        console.print(escape(line))
    recipe = from_jsonable(rec["recipe"])
    labels = _labels(config, recipe)
    console.print("[bold]Compromise recipe of the set[/bold] (largest worst gain over the reference point):")
    for name, value in recipe.items():
        console.print(f"  {name:<20} {escape(labels.get(name, _fmt(value)))}")
    point = next((p for p in rec["front"] if p.get("recipe") == rec["recipe"]), None)
    objectives = rec.get("objectives") or []
    if point is not None:
        console.print("  predicted " + ", ".join(
            f"{o['property']} {_pm(point['means'].get(o['property']), point['stds'].get(o['property']))} {o['unit']}"
            for o in objectives) + " (1 sigma)")
    values = (truth or {}).get("values")
    if values:
        console.print("  simulated ground truth of the dry-run line: " + ", ".join(
            f"{o['property']} {_num(values.get(o['property']))} {o['unit']}" for o in objectives))


def print_history(sample: Sample, console: Console | None = None, labels: dict[str, str] | None = None) -> None:
    """Print the lineage tree. ``labels`` maps SMILES to the campaign file's names for them."""
    console = console or Console(highlight=False, width=max(Console().width, 120))
    labels = labels or {}
    root = Tree(f"[bold]{sample.id}[/bold]  campaign {sample.campaign}, fidelity {sample.fidelity}, "
                f"status {sample.status}, cost {sample.cost:g}")
    if sample.run_uid:
        root.add(f"Bluesky run uid {sample.run_uid}")
    recipe = root.add("[bold]Recipe[/bold]")
    for k, v in sample.recipe.items():
        recipe.add(f"{k} = {labels[v]} ({v})" if isinstance(v, str) and v in labels else f"{k} = {_fmt(v)}")
    process = root.add("[bold]Process[/bold]")
    for i, step in enumerate(sample.steps, 1):
        node = process.add(f"{i}. {step.name} on {step.device}  [{_time(step.start_time)} -> {_time(step.end_time)}]")
        if step.setpoints:
            node.add("setpoints: " + ", ".join(f"{k}={_fmt(v)}" for k, v in step.setpoints.items()))
        if step.actuals:
            node.add("actual: " + ", ".join(f"{k}={_fmt(v)}" for k, v in step.actuals.items()))
        if step.lots:
            node.add("lots: " + ", ".join(f"{k}={v}" for k, v in step.lots.items()))
        if step.ambient:
            node.add("ambient: " + ", ".join(f"{k}={_fmt(v)}" for k, v in step.ambient.items()))
    structure = root.add("[bold]Structure[/bold]")
    for k, v in sample.structure.items():
        structure.add(f"{k} = {_fmt(v)}")
    props = root.add("[bold]Properties[/bold]")
    for k, v in sample.properties.items():
        props.add(f"{k} = {_fmt(v)}")
    if sample.error:
        root.add(f"[red]error: {sample.error}[/red]")
    sug = sample.suggestion or {}
    decision = root.add("[bold]Decision[/bold] (why this sample was made)")
    for key in ("strategy", "model_id", "fidelity", "predicted_mean", "predicted_std", "target_mean", "target_std",
                "acquisition_value", "reason"):
        if sug.get(key) is not None:
            decision.add(f"{key} = {_fmt(sug[key])}")
    if sug.get("acquisition_by_fidelity"):
        decision.add("acquisition by fidelity: " + ", ".join(f"{k}={_fmt(v)}" for k, v in sug["acquisition_by_fidelity"].items()))
    console.print(root)
