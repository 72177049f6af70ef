"""Terminal output of the CLI: run summary, sample list and one sample's lineage."""

from __future__ import annotations

import datetime as dt
import math
import sys
from typing import Any

import pint
from rich.console import Console
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
    if rec:
        recipe = from_jsonable(rec["recipe"])
        labels = {}
        for p in config.parameters:
            if hasattr(p, "label_of") and isinstance(recipe.get(p.name), str):
                labels[p.name] = f"{p.label_of(recipe[p.name])} ({recipe[p.name]})"
        console.print(f"[bold]Recommended recipe at {rec['fidelity']}[/bold] (best posterior mean):")
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


def print_samples(store: RecordStore, campaign: str, console: Console | None = None) -> None:
    console = console or Console(highlight=False, width=max(Console().width, 160))
    info = store.campaign(campaign)
    samples = store.samples(campaign, include_running=True)
    console.print(f"[bold]{campaign}[/bold]: {info['status']}" + (f" ({info['stop_reason']})" if info["stop_reason"] else ""),
                  soft_wrap=True)
    names = list(dict.fromkeys(k for s in samples for k in s.properties))
    table = Table(box=None)
    for col in ("id", "fidelity", "status", "cost", *names, "run uid", "note"):
        table.add_column(col, no_wrap=True)
    for s in samples:
        props = [_fmt(s.properties[k]) if k in s.properties else "" for k in names]
        table.add_row(s.id, s.fidelity, s.status, f"{s.cost:g}", *props, (s.run_uid or "")[:8], (s.error or "")[:60])
    console.print(table, soft_wrap=True)
    console.print(f"{len(samples)} samples; spent {store.spent(campaign):g} of {info['budget']:g} cost units", soft_wrap=True)


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
