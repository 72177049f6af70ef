"""``sdl report CAMPAIGN --output PATH.html``: one self-contained HTML file per campaign.

The report holds the campaign's goal, what ran at each fidelity, the plots (inline SVG),
the recommendation with its uncertainty, the model's explanation and the sample table.
It needs nothing else to be opened: no scripts, no network, no files beside it. It is
made from the same data as the dashboard (:mod:`controller.analysis.readmodels`).
"""

from __future__ import annotations

import html
import io
import math
import time
from pathlib import Path
from typing import Any

from controller.records.store import RecordStore
from controller.analysis import readmodels as data

REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'"
CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1d2330;max-width:1100px;margin:24px auto;padding:0 16px}
h1{font-size:24px;margin-bottom:2px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #d9dde5;padding-bottom:4px}h3{font-size:15px;margin:16px 0 4px}
table{border-collapse:collapse;width:100%;margin:6px 0}th,td{text-align:left;padding:3px 8px;border-bottom:1px solid #e5e7eb;vertical-align:top}
th{color:#6b7280;font-size:12px}td.n{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#6b7280}
.plots{display:grid;grid-template-columns:1fr 1fr;gap:12px}.plots svg{width:100%;height:auto}
.box{background:#f7f8fa;border:1px solid #d9dde5;border-radius:8px;padding:10px 14px}
"""


def _e(value: Any) -> str:
    return html.escape(str(value if value is not None else "–"))


def _num(value: Any, digits: int = 4) -> str:
    if isinstance(value, (int, float)) and math.isfinite(value):
        return f"{value:.{digits}g}"
    return "–"


def _qty(value: Any, labels: dict[str, str] | None = None) -> str:
    if isinstance(value, str) and labels and value in labels:
        return labels[value]  # a molecule's SMILES -> its label in the campaign file
    if isinstance(value, dict) and "value" in value:
        unit = value.get("unit") or ""
        return f"{_num(value['value']) if isinstance(value['value'], (int, float)) else value['value']} {'' if unit == 'dimensionless' else unit}".strip()
    if isinstance(value, float):
        return _num(value)
    return str(value)


def _svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _plots(progress: dict[str, Any]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    unit = progress.get("unit", "")
    out = []
    fig, ax = plt.subplots(figsize=(5.4, 3.4))
    for fidelity, points in (progress.get("best") or {}).items():
        label = fidelity + (" (target)" if fidelity == progress.get("target") else "")
        ax.step([p["cost"] for p in points], [p["best"] for p in points], where="post", marker="o", ms=3, label=label)
    ax.set_xlabel("cumulative cost (cost units)")
    ax.set_ylabel(f"best {progress.get('property', '')} ({unit})")
    ax.set_title("Best so far vs cumulative cost")
    if progress.get("best"):
        ax.legend(fontsize=8)
    out.append(_svg(fig))
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5.4, 3.4))
    pred = progress.get("predicted") or []
    for fidelity in sorted({p["fidelity"] for p in pred}):
        pts = [p for p in pred if p["fidelity"] == fidelity]
        ax.errorbar([p["predicted"] for p in pts], [p["measured"] for p in pts],
                    xerr=[p["std"] or 0 for p in pts], fmt="o", ms=3, alpha=0.8, label=fidelity)
    if pred:
        values = [p["predicted"] for p in pred] + [p["measured"] for p in pred]
        lo, hi = min(values), max(values)
        ax.plot([lo, hi], [lo, hi], "--", color="#9ca3af", lw=1)
        ax.legend(fontsize=8)
    ax.set_xlabel(f"predicted ({unit})")
    ax.set_ylabel(f"measured ({unit})")
    ax.set_title("Suggestions: predicted vs measured")
    out.append(_svg(fig))
    plt.close(fig)
    return "".join(f"<div>{svg}</div>" for svg in out)


def _unit(unit: str | None) -> str:
    return f" ({unit})" if unit and unit != "dimensionless" else ""


def _goal_plots(g: dict[str, Any]) -> str:
    """The measured (and predicted) Pareto front at the target, and hypervolume vs cumulative cost."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    axes = g["outcomes"][:2]
    fig, ax = plt.subplots(figsize=(5.4, 3.8))
    if len(axes) == 2:
        px, py = axes[0]["property"], axes[1]["property"]
        pts = [m for m in g["measured"] if m["values"].get(px) is not None and m["values"].get(py) is not None]
        front = set(g["front"])
        for label, keep, style in (("constraints met", lambda m: m["feasible"] and m["sample"] not in front,
                                    {"color": "#2456c7", "alpha": 0.75}),
                                   ("a constraint broken", lambda m: not m["feasible"],
                                    {"facecolors": "none", "edgecolors": "#b42318"})):
            chosen = [m for m in pts if keep(m)]
            if chosen:
                ax.scatter([m["values"][px] for m in chosen], [m["values"][py] for m in chosen], s=18, label=label, **style)
        on = sorted((m for m in pts if m["sample"] in front), key=lambda m: m["values"][px])
        if on:
            ax.plot([m["values"][px] for m in on], [m["values"][py] for m in on], "o-", color="#15803d", ms=5,
                    label="measured front")
        pred = [p for p in g.get("predicted") or [] if p["means"].get(px) is not None and p["means"].get(py) is not None]
        if pred:
            ax.errorbar([p["means"][px] for p in pred], [p["means"][py] for p in pred],
                        xerr=[p["stds"].get(px) or 0 for p in pred], yerr=[p["stds"].get(py) or 0 for p in pred],
                        fmt="D", ms=4, color="#d97706", alpha=0.85, label="predicted front (±1σ)")
        for c in g["constraints"]:
            if c["property"] in (px, py):
                (ax.axhline if c["property"] == py else ax.axvline)(c["bound"], ls="--", lw=1, color="#b42318")
        ax.set_xlabel(f"{px}{_unit(axes[0]['unit'])}")
        ax.set_ylabel(f"{py}{_unit(axes[1]['unit'])}")
        if pts or pred:
            ax.legend(fontsize=7)
    else:  # one outcome (a constraint on the objective itself): its values in the order measured
        p0 = axes[0]["property"]
        vals = [(i, m) for i, m in enumerate(g["measured"]) if m["values"].get(p0) is not None]
        ax.scatter([i for i, _ in vals], [m["values"][p0] for _, m in vals],
                   c=["#15803d" if m["on_front"] else "#2456c7" if m["feasible"] else "#b42318" for _, m in vals], s=18)
        ax.set_xlabel("sample at the target fidelity")
        ax.set_ylabel(f"{p0}{_unit(axes[0]['unit'])}")
    ax.set_title(f"Pareto front at {g['target']}")
    out.append(_svg(fig))
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5.4, 3.8))
    for fidelity, points in (g.get("hypervolume") or {}).items():
        label = fidelity + (" (target)" if fidelity == g["target"] else "")
        ax.step([p["cost"] for p in points], [p["hypervolume"] for p in points], where="post", marker="o", ms=3, label=label)
    ax.set_xlabel("cumulative cost (cost units)")
    ax.set_ylabel("hypervolume")
    ax.set_title("Hypervolume vs cumulative cost")
    if g.get("hypervolume"):
        ax.legend(fontsize=8)
    out.append(_svg(fig))
    plt.close(fig)
    return "".join(f"<div>{svg}</div>" for svg in out)


def _goals_section(g: dict[str, Any], labels: dict[str, str]) -> str:
    """Several objectives / outcome constraints: the front (measured and predicted), hypervolume, violations."""
    objectives = g["objectives"]
    heads = "".join(f"<th>{_e(o['property'])}{_e(_unit(o['unit']))}</th>" for o in objectives)
    by_id = {m["sample"]: m for m in g["measured"]}
    ref = ", ".join(f"{_e(o['property'])} {_num(g['reference'][o['property']])} {_e(o['unit'])}" for o in objectives)
    parts = [f"<h2>Pareto front at {_e(g['target'])}</h2><div class='plots'>{_goal_plots(g)}</div>",
             f"<p>Hypervolume of the feasible samples at {_e(g['target'])}: <b>{_num(g['hypervolume_at_target'])}</b> "
             f"above the reference point {ref} (from {_e(g['reference_source'])}, fixed for the plot)."
             + (f" The recommended set's hidden-truth hypervolume (dry run): <b>{_num(g['truth']['hypervolume'])}</b>."
                if g.get("truth") and g["truth"].get("hypervolume") is not None else "") + "</p>",
             f"<h3>Measured front: {len(g['front'])} sample(s)</h3>"
             + ("<p class='muted'>Completed at the target fidelity, every objective measured, the outcome constraints "
                "met, and no other such sample at least as good in every objective and better in one.</p>")
             + (f"<table id='measured-front'><tr><th>sample</th>{heads}</tr>" + "".join(
                 f"<tr><td>{_e(sid)}</td>" + "".join(f"<td class=n>{_num(by_id[sid]['values'].get(o['property']))}</td>"
                                                    for o in objectives) + "</tr>" for sid in g["front"]) + "</table>"
                if g["front"] else "<p class='muted'>No feasible sample at the target yet.</p>")]
    pred = g.get("predicted")
    if pred:
        truth = (g.get("truth") or {}).get("front") or []
        constrained = bool(g["constraints"])
        parts.append(f"<h3>Recommended (predicted) front: {len(pred)} recipe(s)</h3><p class='muted'>Posterior mean ± one "
                     f"standard deviation at {_e(g['target'])} (model {_e(g.get('predicted_model'))})"
                     + (", and the probability that every outcome constraint holds" if constrained else "")
                     + (f"; the dry-run line's hidden truth for the first {len(truth)}" if truth else "") + ".</p>"
                     f"<table id='predicted-front'><tr><th>#</th>{heads}"
                     + ("<th>P(constraints hold)</th>" if constrained else "") + ("<th>hidden truth</th>" if truth else "")
                     + "<th>recipe</th></tr>" + "".join(
                         f"<tr><td class=n>{i + 1}</td>" + "".join(
                             f"<td class=n>{_num(p['means'].get(o['property']))} ± {_num(p['stds'].get(o['property']), 2)}</td>"
                             for o in objectives)
                         + (f"<td class=n>{_num(p.get('feasible'), 2)}</td>" if constrained else "")
                         + (f"<td>{_e(', '.join(_num(truth[i].get(o['property'])) for o in objectives)) if i < len(truth) and truth[i] else '–'}</td>"
                            if truth else "")
                         + f"<td>{_e(', '.join(f'{k}={_qty(v, labels)}' for k, v in (p.get('recipe') or {}).items()))}</td></tr>"
                         for i, p in enumerate(pred)) + "</table>")
    if g["constraints"]:
        texts = "; ".join(c["text"] for c in g["constraints"])
        parts.append(f"<h3>Outcome constraints</h3><p>{_e(texts)}: {len(g['violations'])} sample(s) broke one.</p>")
        if g["violations"]:
            parts.append("<table id='violations'><tr><th>sample</th><th>fidelity</th><th>broke</th><th>measured</th></tr>" + "".join(
                f"<tr><td>{_e(v['sample'])}</td><td>{_e(v['fidelity'])}</td><td>{_e('; '.join(v['violated']))}</td>"
                "<td>" + _e(", ".join(f"{c['property']} {_num(v['values'].get(c['property']))}" for c in g["constraints"]))
                + "</td></tr>" for v in g["violations"]) + "</table>")
    return "\n".join(parts)


def _model_explanation(e: dict[str, Any], prop: str, target: str) -> str:
    """One model's importance table and fidelity correlations."""
    imp = e["importance"]
    rows = "".join(
        f"<tr><td>{_e(x.get('rank_sobol'))}</td><td>{_e(x['name'])}</td><td class=n>{_num(x.get('lengthscale'), 3)}</td>"
        f"<td class=n>{_num(x.get('sobol_first'), 2)}</td><td class=n>{_num(x.get('sobol_total'), 2)}</td></tr>"
        for x in sorted(imp["parameters"] + imp.get("features", []), key=lambda x: x.get("rank_sobol") or 99))
    out = (f"<p>Model {_e(e['model']['model_id'])} fitted on {_e(e['model']['n_train'])} completed observations. "
           f"Importance of each input for {_e(prop)} at {_e(target)}: "
           "ARD lengthscale (smaller = more important; each parameter spans 1) and Sobol indices of the posterior mean.</p>"
           "<table><tr><th>rank</th><th>input</th><th>lengthscale</th><th>Sobol first</th><th>Sobol total</th></tr>"
           f"{rows}</table>")
    fc = e.get("fidelity_correlation") or []
    if fc:
        out += ("<p>How each fidelity tracks the target, as the model learned it:</p><table><tr><th>fidelity</th><th>cost</th>"
                "<th>posterior correlation</th><th>Pearson of posterior means</th></tr>" + "".join(
                    f"<tr><td>{_e(f['fidelity'])}</td><td class=n>{_num(f['cost'])}</td>"
                    f"<td class=n>{_num((f.get('posterior_correlation') or {}).get('mean'), 2)}</td>"
                    f"<td class=n>{_num(f.get('mean_pearson'), 2)}</td></tr>" for f in fc) + "</table>")
    return out


def _explanation(store: RecordStore, name: str) -> str:
    from controller.analysis.explain import explain_campaign

    try:
        e = explain_campaign(store, name)
    except Exception as err:  # noqa: BLE001 - a report without an explanation beats no report
        return f"<p class='muted'>No explanation: {_e(type(err).__name__)}: {_e(err)}</p>"
    if not e.get("model"):
        return "<p class='muted'>No model yet: too few completed observations.</p>"
    target = e["campaign"]["target_fidelity"]
    if e.get("outcomes"):  # several objectives / outcome constraints: each outcome's own GP
        out = "".join(f"<h3>{_e(o['property'])}{_e(_unit(o['unit']))}: "
                      f"{_e(o['direction'] + ' (objective)' if o['objective'] else 'constrained outcome')}</h3>"
                      + (_model_explanation(o, o["property"], target) if o.get("model")
                         else "<p class='muted'>No model yet for this outcome.</p>") for o in e["outcomes"])
    else:
        out = _model_explanation(e, e["campaign"]["objective"], target)
    st = e.get("structure") or {}
    primary = (st.get("by_fidelity") or {}).get(st.get("primary"))
    if primary:
        out += (f"<p>Structure features and the property at {_e(st['primary'])} ({_e(primary['n'])} samples, {_e(st.get('source'))}):</p>"
                "<table><tr><th>feature</th><th>unit</th><th>Sobol total</th><th>Pearson r</th></tr>" + "".join(
                    f"<tr><td>{_e(f['name'])}</td><td>{_e(f.get('unit') or '')}</td><td class=n>{_num(f.get('sobol_total'), 2)}</td>"
                    f"<td class=n>{_num(f.get('pearson'), 2)}</td></tr>" for f in primary["features"]) + "</table>")
    return out


def render_report(store: RecordStore, name: str) -> str:
    """The whole report as one HTML string."""
    s = data.summary(store, name)
    rows = data.sample_rows(store, name)
    progress = data.progress_series(store, name)
    goals = data.goal_series(store, name)  # None: one objective, no outcome constraints
    obj = s.get("objective") or {}
    labels = s.get("labels") or {}
    rec_event = s["recommendation"]  # the last recommendation event's payload
    rec = (rec_event or {}).get("recommendation")
    truth = (rec_event or {}).get("ground_truth")
    # The file is opened from disk, where no server sends a CSP: it carries its own (no script at all).
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><meta http-equiv='Content-Security-Policy' "
             f"content=\"{REPORT_CSP}\"><title>Campaign {_e(name)}</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>Campaign {_e(name)}</h1><div class='muted'>status {_e(s['status'])}; report written "
             f"{time.strftime('%Y-%m-%d %H:%M:%S')}; {_e(s.get('stop_reason') or '')}</div>",
             "<h2>Goal</h2>",
             (f"<p>{_e(obj.get('direction'))} <b>{_e(obj.get('property'))}</b> ({_e(obj.get('unit'))}) at the "
              if goals is None else
              "<p>" + ", ".join(f"{_e(o['direction'])} <b>{_e(o['property'])}</b> ({_e(o['unit'])}"
                                + (f"; worst acceptable {_num(o['threshold'])}" if o["threshold"] is not None else "") + ")"
                                for o in goals["objectives"])
              + (f", subject to {_e('; '.join(c['text'] for c in goals['constraints']))}," if goals["constraints"] else "")
              + " at the ")
             + f"<b>{_e(s.get('target'))}</b> fidelity, within a budget of {_num(s['budget'])} cost units. {_e(s.get('description') or '')}</p>",
             "<table><tr><th>parameter</th><th>kind</th><th>range / choices</th></tr>" + "".join(
                 f"<tr><td>{_e(p['name'])}</td><td>{_e(p['kind'])}</td><td>"
                 + (f"{_e(_qty(p['low']))} … {_e(_qty(p['high']))}" if "low" in p else _e(", ".join(map(str, p.get('choices') or []))))
                 + "</td></tr>" for p in s.get("parameters", [])) + "</table>",
             "<h2>What ran at each fidelity</h2><table><tr><th>fidelity</th><th>kind</th><th>cost each</th><th>samples</th>"
             "<th>failed</th><th>cost spent</th><th>approval</th></tr>" + "".join(
                 f"<tr><td>{_e(f['name'])}{' (target)' if f['target'] else ''}</td><td>{_e(f['kind'])} {_e(f.get('model') or '')}</td>"
                 f"<td class=n>{_num(f['cost'])}</td><td class=n>{s['by_fidelity'].get(f['name'], {}).get('samples', 0)}</td>"
                 f"<td class=n>{s['by_fidelity'].get(f['name'], {}).get('failed', 0)}</td>"
                 f"<td class=n>{_num(s['by_fidelity'].get(f['name'], {}).get('cost', 0))}</td><td>{'operator' if f['approval'] else 'autonomous'}</td></tr>"
                 for f in s.get("fidelities", [])) + f"</table><p>Spent {_num(s['spent'])} of {_num(s['budget'])} cost units.</p>",
             f"<h2>Progress</h2><div class='plots'>{_plots(progress)}</div>",
             _goals_section(goals, labels) if goals is not None else "",
             "<h2>Recommendation</h2>"]
    if rec and rec.get("front"):
        point = next((p for p in rec["front"] if p.get("recipe") == rec["recipe"]), None)
        predicted = ", ".join(f"{_e(o['property'])} {_num(point['means'].get(o['property']))} ± "
                              f"{_num(point['stds'].get(o['property']), 2)} {_e(o['unit'])}"
                              for o in rec.get("objectives") or []) if point else ""
        truth_values = (truth or {}).get("values") or {}
        parts.append(f"<div class='box'><p>A set of <b>{len(rec['front'])}</b> recipe(s) at {_e(rec['fidelity'])} "
                     "(the predicted front above). The compromise point (the largest worst gain over the reference point)"
                     + (f" is predicted at {predicted} (posterior mean ± one standard deviation)" if predicted else "")
                     + ":</p><table>" + "".join(f"<tr><td>{_e(k)}</td><td>{_e(_qty(v, labels))}</td></tr>"
                                                for k, v in rec["recipe"].items()) + "</table>"
                     + ("<p class='muted'>Dry run: the simulated line's hidden truth for this recipe is "
                        + _e(", ".join(f"{o['property']} {_num(truth_values.get(o['property']))} {o['unit']}"
                                       for o in rec.get("objectives") or [])) + ".</p>" if truth_values else "") + "</div>")
    elif rec:
        parts.append(f"<div class='box'><p><b>{_num(rec['mean'], 4)} ± {_num(rec['std'], 2)} {_e(rec['unit'])}</b> predicted "
                     f"{_e(rec['property'])} at {_e(rec['fidelity'])} (posterior mean ± one standard deviation; model {_e(rec.get('model_id'))})</p>"
                     "<table>" + "".join(f"<tr><td>{_e(k)}</td><td>{_e(_qty(v, labels))}</td></tr>" for k, v in rec["recipe"].items())
                     + "</table>" + (f"<p class='muted'>Dry run: the simulated line's hidden truth for this recipe is "
                                     f"{_e(_qty(truth))}.</p>" if truth else "") + "</div>")
    else:
        parts.append("<p class='muted'>No recommendation yet (the campaign has not finished or has no target-fidelity data).</p>")
    parts.append(f"<h2>Why: the model's explanation</h2>{_explanation(store, name)}")
    if goals is None:
        value_heads = "<th>objective</th>"

        def values(r: dict[str, Any]) -> str:
            return f"<td class=n>{_num(r['objective'])}</td>"
    else:  # every objective, whether the constraints were met, and the front
        value_heads = "".join(f"<th>{_e(o['property'])}{_e(_unit(o['unit']))}</th>" for o in goals["objectives"]) + (
            "<th>constraints</th>" if goals["constraints"] else "") + "<th>front</th>"

        def values(r: dict[str, Any]) -> str:
            cells = "".join(f"<td class=n>{_num((r.get('outcomes') or {}).get(o['property']))}</td>" for o in goals["objectives"])
            if goals["constraints"]:
                met = ("broke " + "; ".join(r.get("violated") or []) if r.get("violated")
                       else {True: "met", False: "broken", None: "–"}[r.get("met")])
                cells += f"<td>{_e(met)}</td>"
            return cells + f"<td>{'★' if r.get('on_front') else ''}</td>"
    parts.append(f"<h2>Samples</h2><table><tr><th>sample</th><th>fidelity</th><th>status</th>{value_heads}"
                 "<th>predicted</th><th>cost</th><th>recipe</th><th>decision / error</th></tr>" + "".join(
                     f"<tr><td>{_e(r['id'])}</td><td>{_e(r['fidelity'])}</td><td>{_e(r['status'])}</td>"
                     f"{values(r)}"
                     f"<td class=n>{_num(r['predicted_mean'])}{' ± ' + _num(r['predicted_std'], 2) if r['predicted_std'] is not None else ''}</td>"
                     f"<td class=n>{_num(r['cost'])}</td><td>{_e(', '.join(f'{k}={_qty(v, labels)}' for k, v in r['recipe'].items()))}</td>"
                     f"<td>{_e((r['approval'] or {}).get('decision', '') + ' ' + (r['approval'] or {}).get('operator', '') if r['approval'] else (r['error'] or ''))}</td></tr>"
                     for r in rows) + "</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(store: RecordStore, name: str, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(store, name), encoding="utf-8")
    return out
