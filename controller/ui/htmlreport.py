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
h1{font-size:24px;margin-bottom:2px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #d9dde5;padding-bottom:4px}
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


def _explanation(store: RecordStore, name: str) -> str:
    from controller.analysis.explain import explain_campaign

    try:
        e = explain_campaign(store, name)
    except Exception as err:  # noqa: BLE001 - a report without an explanation beats no report
        return f"<p class='muted'>No explanation: {_e(type(err).__name__)}: {_e(err)}</p>"
    if not e.get("model"):
        return "<p class='muted'>No model yet: too few completed observations.</p>"
    imp = e["importance"]
    rows = "".join(
        f"<tr><td>{_e(x.get('rank_sobol'))}</td><td>{_e(x['name'])}</td><td class=n>{_num(x.get('lengthscale'), 3)}</td>"
        f"<td class=n>{_num(x.get('sobol_first'), 2)}</td><td class=n>{_num(x.get('sobol_total'), 2)}</td></tr>"
        for x in sorted(imp["parameters"] + imp.get("features", []), key=lambda x: x.get("rank_sobol") or 99))
    out = (f"<p>Model {_e(e['model']['model_id'])} fitted on {_e(e['model']['n_train'])} completed observations. "
           f"Importance of each input for {_e(e['campaign']['objective'])} at {_e(e['campaign']['target_fidelity'])}: "
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
             f"<p>{_e(obj.get('direction'))} <b>{_e(obj.get('property'))}</b> ({_e(obj.get('unit'))}) at the "
             f"<b>{_e(s.get('target'))}</b> fidelity, within a budget of {_num(s['budget'])} cost units. {_e(s.get('description') or '')}</p>",
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
             "<h2>Recommendation</h2>"]
    if rec:
        parts.append(f"<div class='box'><p><b>{_num(rec['mean'], 4)} ± {_num(rec['std'], 2)} {_e(rec['unit'])}</b> predicted "
                     f"{_e(rec['property'])} at {_e(rec['fidelity'])} (posterior mean ± one standard deviation; model {_e(rec.get('model_id'))})</p>"
                     "<table>" + "".join(f"<tr><td>{_e(k)}</td><td>{_e(_qty(v, labels))}</td></tr>" for k, v in rec["recipe"].items())
                     + "</table>" + (f"<p class='muted'>Dry run: the simulated line's hidden truth for this recipe is "
                                     f"{_e(_qty(truth))}.</p>" if truth else "") + "</div>")
    else:
        parts.append("<p class='muted'>No recommendation yet (the campaign has not finished or has no target-fidelity data).</p>")
    parts.append(f"<h2>Why: the model's explanation</h2>{_explanation(store, name)}")
    parts.append("<h2>Samples</h2><table><tr><th>sample</th><th>fidelity</th><th>status</th><th>objective</th>"
                 "<th>predicted</th><th>cost</th><th>recipe</th><th>decision / error</th></tr>" + "".join(
                     f"<tr><td>{_e(r['id'])}</td><td>{_e(r['fidelity'])}</td><td>{_e(r['status'])}</td>"
                     f"<td class=n>{_num(r['objective'])}</td>"
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
