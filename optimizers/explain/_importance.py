"""Parameter importance at the target fidelity, and the importance of structure features.

A parameter's ARD relevance is ``sqrt(sum_j 1 / l_j^2)`` over the lengthscales of its
encoded columns (each parameter spans ``[0, 1]``; one-hot choices and molecule
descriptors give several columns, which are listed too); its Sobol indices are those of
the posterior mean at the target fidelity, each parameter one factor drawn uniformly (a
discrete parameter picks a choice uniformly). With physics the parameter indices come
from the whole model (the simulator runs for every sampled recipe) and the physics
inputs get ARD and Sobol measures of the inner GP. Without physics inputs,
:func:`structure_importance` fits a secondary GP from recorded structure features to the
property and measures the features the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from core import InputDataError
from optimizers.explain._common import _f, _pearson, _ranks
from optimizers.explain._layout import (
    _Factors,
    encoding_columns,
    encoding_names,
    extra_inputs,
    gp_layout,
    lengthscale_map,
    target_lengthscales,
)
from optimizers.explain._sobol import SOBOL_POINTS, posterior_mean, sobol_indices
from optimizers.model import FittedModel, fit_model
from optimizers.space import SearchSpace

PHYSICS_SOBOL_POINTS = 256  # N when every evaluation runs a simulator (physics models)
MIN_STRUCTURE_ROWS = 6     # samples with features and property needed for a structure GP


def _relevance(ls: Mapping[str, float], cols: Sequence[str]) -> float:
    """``sqrt(sum 1 / l^2)`` over the columns that have a lengthscale (NaN if none)."""
    v = np.array([ls[c] for c in cols if c in ls and ls[c] > 0], dtype=float)
    return float(np.sqrt(np.sum(1.0 / v**2))) if len(v) else math.nan


def _sobol_entry(sob: dict[str, Any], i: int) -> dict[str, Any]:
    return {"sobol_first": _f(sob["first"][i]), "sobol_first_ci": [_f(v) for v in sob["first_ci"][i]],
            "sobol_total": _f(sob["total"][i]), "sobol_total_ci": [_f(v) for v in sob["total_ci"][i]]}


def parameter_importance(
    space: SearchSpace, fm: FittedModel, *, seed: int = 0, n_sobol: int = SOBOL_POINTS,
    n_sobol_physics: int = PHYSICS_SOBOL_POINTS,
) -> dict[str, Any]:
    """ARD and Sobol importance of every parameter (and physics input) at the target fidelity.

    Parameters: Sobol indices of the posterior mean ``fm.model`` at the target fidelity
    (with physics, the simulator is run for every sampled recipe, so the sample is
    ``n_sobol_physics``). Physics inputs (``feature:*``, ``sim:prediction``): Sobol
    indices of the inner GP over ``[parameters, physics inputs]``, each drawn
    independently. ARD lengthscales always come from the GP's kernel.

    Returns:
        ``{"parameters": [...], "features": [...], "columns": [...], "sobol": {...}, "notes": [...]}``;
        each entry has ``name``, ``lengthscale`` (effective ``1 / relevance``, encoded
        units), ``relevance``, ``relevance_share``, ``sobol_first`` / ``sobol_total`` with
        95 % intervals, ``rank_ard``, ``rank_sobol``; parameters also list their encoded
        ``columns``. Lists are ordered by total Sobol index.
    """
    gp, Z, gnames = gp_layout(space, fm)
    ls = lengthscale_map(space, fm)
    target = space.target_fidelity.value
    enc = encoding_columns(space)
    fingerprint = set(getattr(space, "fingerprint_columns", []) or [])
    physics = gp is not fm.model
    notes: list[str] = []

    xnames = encoding_names(space, int(fm.X.shape[-1]))
    fx = _Factors(space, xnames, fm.X)
    n_x = min(int(n_sobol), int(n_sobol_physics)) if physics else int(n_sobol)
    sob_x = sobol_indices(lambda U: posterior_mean(fm.model, fx.inputs(U, target)), fx.k, n=n_x, seed=seed)
    extras = extra_inputs(gnames, space)
    sob_z = None
    if extras:
        fz = _Factors(space, gnames, Z)
        sob_z = sobol_indices(lambda U: posterior_mean(gp, fz.inputs(U, target)), fz.k, n=int(n_sobol), seed=seed)
        notes.append("physics inputs: Sobol indices of the GP over [parameters, physics inputs] drawn independently "
                     "over their training ranges (the simulator ties them to the parameters)")
    elif physics:
        notes.append("the model is the simulator's prediction plus a GP of the residual: lengthscales describe the "
                     "residual GP, Sobol indices the whole posterior mean")
    if physics:
        notes.append(f"parameter Sobol indices from N={n_x} (the simulator runs for every sampled recipe)")

    columns = []
    for j, (pname, cname) in enumerate(enc):
        columns.append({"parameter": pname, "column": cname, "lengthscale": _f(ls.get(cname)),
                        "kernel": "tanimoto" if j in fingerprint else "ard"})
    for name in extras:
        columns.append({"parameter": name, "column": name, "lengthscale": _f(ls.get(name)), "kernel": "ard"})
    if fingerprint:
        notes.append("Morgan fingerprint bits are compared by a Tanimoto kernel (no lengthscale); a molecule "
                     "parameter's ARD relevance counts its descriptor columns only")

    labels = [p.name for p in space.parameters] + extras
    kinds = ["parameter"] * len(space.parameters) + ["feature"] * len(extras)
    relevance = np.array(
        [_relevance(ls, [c for pn, c in enc if pn == p.name]) for p in space.parameters]
        + [_relevance(ls, [name]) for name in extras]
    )
    total_rel = float(np.nansum(relevance)) if np.isfinite(relevance).any() else math.nan
    rank_ard = _ranks(relevance)
    p_count = len(space.parameters)
    sobol_total = np.concatenate([sob_x["total"], sob_z["total"][p_count:] if sob_z is not None else np.zeros(0)])
    rank_p = _ranks(sobol_total[:p_count])
    rank_f = _ranks(sobol_total[p_count:])
    entries = []
    for i, label in enumerate(labels):
        entry = {
            "name": label,
            "kind": kinds[i],
            "lengthscale": _f(1.0 / relevance[i]) if relevance[i] > 0 else None,
            "relevance": _f(relevance[i]),
            "relevance_share": _f(relevance[i] / total_rel) if math.isfinite(total_rel) and total_rel > 0 else None,
            **(_sobol_entry(sob_x, i) if i < p_count else _sobol_entry(sob_z, i)),
            "rank_ard": rank_ard[i],
            "rank_sobol": rank_p[i] if i < p_count else rank_f[i - p_count],
        }
        if kinds[i] == "parameter":
            entry["columns"] = [c for c in columns if c["parameter"] == label]
        entries.append(entry)
    entries.sort(key=lambda e: (e["kind"], e["rank_sobol"] or 10**6, e["rank_ard"] or 10**6))
    sobol = {"n": sob_x["n"], "evaluations": sob_x["n"] * (fx.k + 2), "seed": int(seed),
             "variance": _f(sob_x["variance"]), "estimators": "first order: Saltelli 2010; total: Jansen 1999",
             "sum_first": _f(np.nansum(sob_x["first"])) if np.isfinite(sob_x["first"]).any() else None}
    if sob_z is not None:
        sobol["with_physics_inputs"] = {
            "n": sob_z["n"], "evaluations": sob_z["n"] * (len(labels) + 2),
            "parameters": {labels[i]: _sobol_entry(sob_z, i) for i in range(p_count)},
        }
    return {
        "parameters": [e for e in entries if e["kind"] == "parameter"],
        "features": [e for e in entries if e["kind"] == "feature"],
        "columns": columns,
        "sobol": sobol,
        "notes": notes,
        "lengthscales_from": _kernel_name(gp),
    }


def structure_importance(
    table: pd.DataFrame,
    features: Sequence[str],
    *,
    units: Mapping[str, str] | None = None,
    seed: int = 0,
    n_sobol: int = 512,
    min_rows: int = MIN_STRUCTURE_ROWS,
) -> dict[str, Any]:
    """Importance of recorded structure features for the property, from a secondary GP.

    Args:
        table: one row per sample: the feature columns (float magnitudes) and
            ``objective`` (float, the property in the objective's unit).
        features: feature column names to use.
        units: feature -> unit text, for display.

    Returns:
        ``{"n": rows used, "features": [...], "constant": [...], "fit_ok": bool}``: per
        feature ``lengthscale`` (on features min-max scaled to the observed range),
        ``relevance``, Sobol ``first`` / ``total`` (features drawn independently and
        uniformly over their observed ranges), ``pearson`` with the property, ranks.

    Raises:
        InputDataError: a missing column, or fewer than ``min_rows`` complete rows.
    """
    missing = [c for c in [*features, "objective"] if c not in table.columns]
    if missing:
        raise InputDataError(f"structure table is missing column(s) {missing}; it has {list(table.columns)}")
    data = table[list(features) + ["objective"]].apply(pd.to_numeric, errors="coerce").astype(float)
    data = data[np.isfinite(data.to_numpy()).all(axis=1)]
    if len(data) < min_rows:
        raise InputDataError(f"structure importance needs >= {min_rows} samples with every feature and the property; got {len(data)}")
    raw = data[list(features)].to_numpy()
    lo, hi = raw.min(axis=0), raw.max(axis=0)
    spread = hi - lo
    keep = [j for j in range(len(features)) if spread[j] > 1e-12 * max(1.0, abs(hi[j]))]
    constant = [features[j] for j in range(len(features)) if j not in keep]
    y = data["objective"].to_numpy()
    result: dict[str, Any] = {"n": int(len(data)), "constant": constant, "features": [], "fit_ok": None}
    if not keep:
        return result
    Xn = (raw[:, keep] - lo[keep]) / spread[keep]
    X = torch.tensor(Xn, dtype=torch.double)
    Y = torch.tensor(y, dtype=torch.double).reshape(-1, 1)
    torch.manual_seed(int(seed))
    fm = fit_model(X, Y, fidelity_column=None)
    result["fit_ok"] = fm.fit_ok
    ls = target_lengthscales(fm.model, len(keep), None)
    relevance = np.where(np.isfinite(ls) & (ls > 0), 1.0 / ls, np.nan) if ls is not None else np.full(len(keep), np.nan)

    def f(U: np.ndarray) -> np.ndarray:
        return posterior_mean(fm.model, torch.as_tensor(U, dtype=torch.double))

    sob = sobol_indices(f, len(keep), n=n_sobol, seed=seed)
    rank_ard, rank_sobol = _ranks(relevance), _ranks(sob["total"])
    entries = []
    for i, j in enumerate(keep):
        name = features[j]
        entries.append({
            "name": name,
            "unit": (units or {}).get(name),
            "observed_range": [_f(lo[j]), _f(hi[j])],
            "lengthscale": _f(ls[i]) if ls is not None else None,
            "relevance": _f(relevance[i]),
            "sobol_first": _f(sob["first"][i]),
            "sobol_first_ci": [_f(v) for v in sob["first_ci"][i]],
            "sobol_total": _f(sob["total"][i]),
            "sobol_total_ci": [_f(v) for v in sob["total_ci"][i]],
            "pearson": _f(_pearson(raw[:, j], y)),
            "rank_ard": rank_ard[i],
            "rank_sobol": rank_sobol[i],
        })
    entries.sort(key=lambda e: (e["rank_sobol"] or 10**6, e["rank_ard"] or 10**6))
    result["features"] = entries
    return result


def _kernel_name(model: torch.nn.Module) -> str:
    from botorch.models.kernels import LinearTruncatedFidelityKernel

    if any(isinstance(m, LinearTruncatedFidelityKernel) for m in model.modules()):
        return "linear-truncated multi-fidelity kernel: lengthscales of its unbiased Matern part (the part left at the target)"
    cov = getattr(model, "covar_module", None)
    return type(cov).__name__ if cov is not None else type(model).__name__
