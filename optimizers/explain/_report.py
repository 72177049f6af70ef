"""The front door: the model to explain (the strategy's own fitted model, or an
explanation-only GP for model-free strategies) and the assembled explanation of a
campaign history: parameter importance, fidelity correlations and structure features
(from the model's physics inputs, else a secondary GP per fidelity)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import torch

from core import InputDataError
from optimizers.explain._correlation import CORRELATION_POINTS, fidelity_correlations
from optimizers.explain._importance import parameter_importance, structure_importance
from optimizers.explain._layout import gp_layout
from optimizers.explain._sobol import SOBOL_POINTS
from optimizers.model import FittedModel, fit_model
from optimizers.space import SearchSpace


def model_for(space: SearchSpace, strategy: Any, history: pd.DataFrame) -> tuple[FittedModel | None, str]:
    """The strategy's own fitted model for ``history``, or an explanation-only GP for model-free strategies.

    Returns:
        ``(fitted model or None when there are fewer than 2 completed observations, source)``;
        ``source`` is ``"strategy"`` or ``"explanation"``.
    """
    history = space.validate(history, kind="history")
    fitted = getattr(strategy, "fitted", None)
    if callable(fitted):
        return fitted(history), "strategy"
    X, Y = space.training_data(history)
    if X.shape[0] < 2:
        return None, "explanation"
    torch.manual_seed(int(getattr(strategy, "seed", 0)))
    if len(space.fidelities) == 1:
        fm = fit_model(X[:, :-1], Y, fidelity_column=None)
    else:
        fm = fit_model(X, Y, fidelity_column=space.dim)
    return fm, "explanation"


def outcome_models(space: SearchSpace, strategy: Any, history: pd.DataFrame) -> tuple[list[FittedModel | None], str]:
    """Several objectives / outcome constraints: one fitted model per ``space.outcomes`` entry.

    The strategy's own per-outcome GPs (``fitted_goals``, the models its acquisition uses), or for
    model-free strategies one explanation GP per outcome on the rows that measured every outcome.

    Returns:
        ``(models, source)``: one entry per outcome (all None with fewer than 2 such rows);
        ``source`` is ``"strategy"`` or ``"explanation"``.
    """
    history = space.validate(history, kind="history")
    m = len(space.outcomes)
    fitted = getattr(strategy, "fitted_goals", None)
    if callable(fitted):
        fg = fitted(history)
        return (list(fg.fits) if fg is not None else [None] * m), "strategy"
    X, Y = space.training_outcomes(history)
    if X.shape[0] < 2:
        return [None] * m, "explanation"
    torch.manual_seed(int(getattr(strategy, "seed", 0)))
    if len(space.fidelities) == 1:
        return [fit_model(X[:, :-1], Y[:, k : k + 1], fidelity_column=None) for k in range(m)], "explanation"
    return [fit_model(X, Y[:, k : k + 1], fidelity_column=space.dim) for k in range(m)], "explanation"


def explain_model(
    space: SearchSpace,
    fm: FittedModel,
    *,
    seed: int = 0,
    n_sobol: int = SOBOL_POINTS,
    n_correlation: int = CORRELATION_POINTS,
) -> dict[str, Any]:
    """Parameter importance and fidelity correlations of one fitted model (see the package docstring of :mod:`optimizers.explain`)."""
    _, _, gnames = gp_layout(space, fm)
    imp = parameter_importance(space, fm, seed=seed, n_sobol=n_sobol)
    return {
        "model": {
            "model_id": fm.model_id,
            "fit_ok": bool(fm.fit_ok),
            "n_train": int(fm.X.shape[0]),
            "inputs": gnames,
            "kernel": imp.pop("lengthscales_from"),
            "physics": getattr(fm, "gp", None) is not None and fm.gp is not fm.model,
            "target_fidelity": space.target_fidelity.name,
        },
        "importance": imp,
        "fidelity_correlation": fidelity_correlations(space, fm, seed=seed, n=n_correlation),
    }


def explain_history(
    space: SearchSpace,
    strategy: Any,
    history: pd.DataFrame,
    *,
    structure: pd.DataFrame | None = None,
    structure_units: Mapping[str, str] | None = None,
    seed: int = 0,
    n_sobol: int = SOBOL_POINTS,
    n_correlation: int = CORRELATION_POINTS,
) -> dict[str, Any]:
    """Everything :func:`explain_model` says, for the strategy's model of ``history``, plus structure features.

    Args:
        structure: optional table of recorded structure features, one row per sample:
            ``fidelity`` (name), ``objective`` (float) and one float column per feature
            (NaN where a sample lacks it). Used when the model has no ``feature:`` inputs.
        structure_units: feature -> unit text.

    Returns:
        ``{"model_source", "model", "importance", "fidelity_correlation", "structure"}``;
        ``model`` is None (and the analyses empty) with fewer than 2 completed observations.
        With several objectives or outcome constraints (``space.multi_goal``) also ``outcomes``:
        one entry per ``space.outcomes`` (``property``, ``unit``, ``column``, ``objective``,
        ``direction`` and that outcome's ``model``, ``importance``, ``fidelity_correlation``),
        each from the strategy's own GP of that outcome; the top-level ``model``, ``importance``
        and ``fidelity_correlation`` are then the first objective's entry.
    """
    threads = torch.get_num_threads()
    # Small matrices: extra BLAS threads only fight other processes for the cores (an
    # order of magnitude slower on a busy 2-core machine).
    torch.set_num_threads(1)
    try:
        out: dict[str, Any] = {"model_source": None, "model": None, "importance": None,
                               "fidelity_correlation": [], "structure": None}
        if space.multi_goal:
            models, out["model_source"] = outcome_models(space, strategy, history)
            out["outcomes"] = []
            for o, fm in zip(space.outcomes, models):
                entry: dict[str, Any] = {"property": o.property, "unit": o.unit, "column": o.column,
                                         "objective": o.objective,
                                         "direction": ("maximize" if o.sign > 0 else "minimize") if o.objective else None,
                                         "model": None, "importance": None, "fidelity_correlation": []}
                if fm is not None:
                    entry.update(explain_model(space, fm, seed=seed, n_sobol=n_sobol, n_correlation=n_correlation))
                out["outcomes"].append(entry)
            first = out["outcomes"][0]
            out.update({k: first[k] for k in ("model", "importance", "fidelity_correlation")})
        else:
            fm, out["model_source"] = model_for(space, strategy, history)
            if fm is not None:
                out.update(explain_model(space, fm, seed=seed, n_sobol=n_sobol, n_correlation=n_correlation))
        if out["importance"] and out["importance"]["features"]:
            out["structure"] = {"source": "model inputs", "features": out["importance"]["features"]}
        elif structure is not None and len(structure):
            out["structure"] = structure_by_fidelity(space, structure, units=structure_units, seed=seed,
                                                     n_sobol=min(int(n_sobol), 512))
        return out
    finally:
        torch.set_num_threads(threads)


def structure_by_fidelity(
    space: SearchSpace, table: pd.DataFrame, *, units: Mapping[str, str] | None = None, seed: int = 0,
    n_sobol: int = 512,
) -> dict[str, Any]:
    """:func:`structure_importance` for each fidelity with enough samples; the primary one is the
    target fidelity if it qualifies, else the qualifying fidelity closest to it."""
    by_fid: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    feature_cols = [c for c in table.columns if c not in ("fidelity", "objective")]
    for fid in sorted(space.fidelities, key=lambda f: -f.value):
        rows = table[table["fidelity"] == fid.name]
        feats = [c for c in feature_cols if len(rows) and rows[c].notna().all()]
        if not feats:
            skipped[fid.name] = "no structure features recorded"
            continue
        try:
            res = structure_importance(rows, feats, units=units, seed=seed, n_sobol=n_sobol)
        except InputDataError as err:
            skipped[fid.name] = str(err)
            continue
        if not res["features"]:
            skipped[fid.name] = f"every recorded feature is constant ({', '.join(res['constant'])})"
            continue
        by_fid[fid.name] = res
    primary = next(iter(by_fid), None)
    return {"source": "secondary GP (recorded structure features -> property)", "primary": primary,
            "by_fidelity": by_fid, "skipped": skipped}
