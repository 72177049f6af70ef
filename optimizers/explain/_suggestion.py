"""Why this suggestion: a stored suggestion record (``Suggestion.to_record()``) told as a
readable account: the predicted mean and uncertainty at the chosen and the target
fidelity, exploitation or exploration against the best value seen before, and the
acquisition value and cost of every fidelity considered."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core import Fidelity
from optimizers.explain._common import _f


def explain_suggestion(
    record: Mapping[str, Any],
    *,
    fidelities: Sequence[Fidelity],
    objective: str,
    unit: str,
    best_before: float | None = None,
    maximize: bool = True,
) -> dict[str, Any]:
    """A readable account of why a suggestion was made, from its stored record.

    Args:
        record: ``Suggestion.to_record()`` as stored with the sample (``fidelity``,
            ``predicted_mean``/``std``, ``target_mean``/``std``, ``acquisition_value``,
            ``acquisition_by_fidelity``, ``model_id``, ``reason``, ``strategy``).
        fidelities: the campaign's fidelities (costs and the target).
        objective, unit: the property and its unit.
        best_before: best target-fidelity value observed before the suggestion, if known.
        maximize: direction of the objective.

    Returns:
        ``kind`` (``model`` / ``space-filling`` / ``random`` / ``baseline``), the
        predictions, ``considered``: one entry per fidelity (``cost``, ``acquisition``,
        ``information_nats`` for the multi-fidelity rule, ``considered``, ``chosen``),
        and ``text``: the explanation as lines.
    """
    fids = {f.name: f for f in fidelities}
    target = next((f for f in fidelities if f.target), max(fidelities, key=lambda f: f.value))
    chosen = str(record.get("fidelity", ""))
    strategy = str(record.get("strategy", ""))
    model_id = str(record.get("model_id", ""))
    by_fid = {str(k): v for k, v in (record.get("acquisition_by_fidelity") or {}).items()}
    if model_id in ("space-filling", "random", "observed", ""):
        kind = "random" if model_id == "random" else "space-filling"
    else:
        kind = "model"
    info_rule = strategy == "multi_fidelity" and kind == "model"
    measure = ("information about the target value per cost unit (nats / cost unit)" if info_rule
               else "qLogNEI at the target fidelity" if strategy == "single_fidelity" and kind == "model"
               else None)
    considered = []
    for f in sorted(fidelities, key=lambda f: (f.cost, f.value)):
        acq = by_fid.get(f.name)
        entry = {"fidelity": f.name, "cost": f.cost, "target": f.name == target.name,
                 "considered": acq is not None, "acquisition": _f(acq), "chosen": f.name == chosen,
                 "information_nats": _f(acq * f.cost) if info_rule and acq is not None else None}
        considered.append(entry)
    pm, ps = _f(record.get("predicted_mean")), _f(record.get("predicted_std"))
    tm, ts = _f(record.get("target_mean")), _f(record.get("target_std"))
    lines: list[str] = []
    cost = fids[chosen].cost if chosen in fids else None
    head = f"Run at {chosen}" + (f" (cost {cost:g})" if cost is not None else "")
    if kind != "model":
        lines.append(f"{head}: {record.get('reason') or kind} - no model was consulted ({kind} design).")
    else:
        if pm is not None:
            lines.append(f"{head}: the model ({model_id}) predicts {objective} {pm:.4g} +/- {ps or 0:.2g} {unit} there (1 sigma).")
        if tm is not None and chosen != target.name:
            lines.append(f"At the target fidelity {target.name} it predicts {tm:.4g} +/- {ts or 0:.2g} {unit}.")
        if best_before is not None and tm is not None:
            better = tm > best_before if maximize else tm < best_before
            gap = abs(tm - best_before)
            if better:
                lines.append(f"That beats the best {target.name} value observed before it ({best_before:.4g} {unit}) "
                             f"by {gap:.3g} {unit}: mostly exploitation.")
            else:
                lines.append(f"That is {gap:.3g} {unit} short of the best {target.name} value observed before it "
                             f"({best_before:.4g} {unit}); chosen for its uncertainty ({ts or 0:.2g} {unit}): exploration.")
        if info_rule:
            lines.append("The recipe maximizes expected improvement (log EI) at the target fidelity; the fidelity is the "
                         "one whose observation tells most about the target value per cost unit:")
        elif measure:
            lines.append(f"The recipe maximizes {measure}.")
        for c in considered:
            if not c["considered"]:
                lines.append(f"  {c['fidelity']:<22} cost {c['cost']:<8g} not offered (busy, not allowed or not affordable then)")
                continue
            tail = f"  {c['information_nats']:.3g} nats" if c["information_nats"] is not None else ""
            mark = "  <- chosen" if c["chosen"] else ""
            lines.append(f"  {c['fidelity']:<22} cost {c['cost']:<8g} acquisition {c['acquisition']:.3g}{tail}{mark}")
        if record.get("reason"):
            lines.append(f"Strategy's note: {record['reason']}")
    return {
        "fidelity": chosen, "strategy": strategy, "model_id": model_id, "kind": kind,
        "predicted": {"at": chosen, "mean": pm, "std": ps, "unit": unit},
        "target_prediction": {"at": target.name, "mean": tm, "std": ts, "unit": unit},
        "acquisition_value": _f(record.get("acquisition_value")), "acquisition_measure": measure,
        "considered": considered, "best_before": _f(best_before), "reason": record.get("reason") or "",
        "text": lines,
    }
