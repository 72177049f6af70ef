"""``sdl explain`` on the console: an explanation (``controller.analysis.explain``) as tables and sentences."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table


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
    outcomes = result.get("outcomes")
    goal = (", ".join(f"{o['direction']} {o['property']} ({escape(o['unit'])})" for o in c.get("objectives", []))
            + (f" subject to {escape('; '.join(c['outcome_constraints']))}" if c.get("outcome_constraints") else "")
            if outcomes else f"{c['direction']} {c['objective']} ({escape(c['unit'])})")
    console.print(f"[bold]Campaign {c['name']}[/bold] ({c['status']}): {c['strategy']} strategy, "
                  f"{c['samples']} samples, spent {c['spent']:g} of {c['budget']:g}; {goal} at {c['target_fidelity']}")
    if outcomes:  # several objectives / outcome constraints: each outcome's own GP
        for o in outcomes:
            role = f"objective, {o['direction']}" if o["objective"] else "constrained outcome"
            _model_block(result, c, o, f"{o['property']} ({escape(o['unit'])}; {role})", console, per_outcome=True)
    else:
        _model_block(result, c, result, c["objective"], console)
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


def _model_block(result: dict[str, Any], c: dict[str, Any], entry: dict[str, Any], name: str, console: Console,
                 per_outcome: bool = False) -> None:
    """One model's lines: which model, parameter importance, how each fidelity tracks the target
    (``per_outcome``: one of several outcomes' models, named in every title)."""
    model = entry.get("model")
    if model is None:
        console.print("No model yet: fewer than 2 completed observations.")
    else:
        src = "the strategy's model" if result["model_source"] == "strategy" else "an explanation GP (the strategy has no model)"
        if model.get("physics"):
            src += f" with physics ({c.get('physics')} from {c.get('physics_model')})"
        console.print(("\n" if per_outcome else "") + f"Model {model['model_id']}"
                      + (f" of {entry['property']}" if per_outcome else "") + f": {src}, {model['n_train']} completed observations"
                      + ("" if model["fit_ok"] else " [red](fit failed: prior hyperparameters)[/red]"))
        imp = entry["importance"]
        table = Table(title=f"Parameter importance for {name} at {c['target_fidelity']}", box=None)
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
        fc = entry.get("fidelity_correlation") or []
        if fc:
            table = Table(title=f"How each fidelity tracks {c['target_fidelity']} ({entry['property'] + ', ' if per_outcome else ''}model)", box=None)
            for col in ("fidelity", "cost", "prior corr", "posterior corr (min..max)", "Pearson of means", "observed pairs"):
                table.add_column(col, no_wrap=True)
            for e in fc:
                post = e["posterior_correlation"]
                obs = f"{e['observed_pairs']}" + (f" (r={e['observed_pearson']:.2f})" if e["observed_pearson"] is not None else "")
                table.add_row(e["fidelity"], f"{e['cost']:g}", _num(e["prior_correlation"]["mean"], ".2f"),
                              f"{_num(post['mean'], '.2f')} ({_num(post['min'], '.2f')}..{_num(post['max'], '.2f')})",
                              _num(e["mean_pearson"], ".2f"), obs)
            console.print(table)


def _recipe_text(value: Any) -> str:
    if isinstance(value, dict) and "value" in value:
        v = value["value"]
        return f"{v:.4g} {value.get('unit', '')}".strip() if isinstance(v, float) else f"{v} {value.get('unit', '')}".strip()
    return str(value)
