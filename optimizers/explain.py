"""Why the model believes what it believes, and why it asked for an experiment.

Everything here reads a fitted GP (:class:`optimizers.model.FittedModel`) and the
campaign's :class:`SearchSpace`; nothing is fitted that the strategy would not fit
itself, except the secondary structure -> property GP of
:func:`structure_importance`.

- **Parameter importance at the target fidelity.** (1) ARD lengthscales of the kernel
  part that acts at the target fidelity (for BoTorch's linear-truncated multi-fidelity
  kernel that is the "unbiased" Matern kernel: the "biased" one vanishes at fidelity 1),
  in encoded units (each parameter spans ``[0, 1]``). A parameter encoded by several
  columns (one-hot choices, molecule descriptors) gets the relevance
  ``sqrt(sum_j 1 / l_j^2)`` of its columns; the columns are listed too. (2) Sobol
  indices of the posterior mean at the target fidelity, each parameter one factor
  drawn uniformly (a discrete parameter picks a choice uniformly), from a seeded
  scrambled Sobol sample: first order by Saltelli (2010), total by Jansen (1999), with
  bootstrap 95 % intervals.
- **Fidelity correlation.** For each lower fidelity, over a seeded sample of recipes
  ``x``: the correlation between ``f(x, s)`` and ``f(x, target)`` under the model's
  prior (its learned kernel) and posterior (what the acquisition uses), and the
  Pearson correlation of the two posterior-mean surfaces; plus the observed
  correlation of recipes measured at both.
- **Structure features.** With physics (``optimizers.physics``), ``fm.model`` wraps an
  inner GP ``fm.gp`` over ``fm.gp_inputs`` = ``[encoding, feature:* / sim:prediction,
  fidelity]`` (named by ``fm.input_names``): lengthscales come from that GP, parameter
  Sobol indices from ``fm.model`` (the simulator runs for every sampled recipe), and
  the physics inputs get ARD and Sobol measures of the inner GP. Otherwise a
  secondary GP from the recorded features to the property is fitted per fidelity
  (:func:`structure_importance`).
- **Suggestions.** :func:`explain_suggestion` turns a stored suggestion record into a
  readable account: predicted mean and uncertainty, the acquisition value and cost of
  every fidelity considered.

All outputs are JSON-able dicts (floats, strings, lists; NaN becomes None).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from core import Fidelity, InputDataError, OptimizerError
from optimizers.model import FittedModel, fit_model
from optimizers.space import DESCRIPTOR_NAMES, SearchSpace

SOBOL_POINTS = 1024        # base sample size N; the analysis evaluates N * (k + 2) points
CORRELATION_POINTS = 256   # recipes over which fidelity correlations are averaged
PHYSICS_SOBOL_POINTS = 256  # N when every evaluation runs a simulator (physics models)
BOOTSTRAP = 200            # resamples for the Sobol confidence intervals
MIN_STRUCTURE_ROWS = 6     # samples with features and property needed for a structure GP
FEATURE_PREFIX = "feature:"
FIDELITY_INPUT = "fidelity"
_EVAL_CHUNK = 4096


# ---------------------------------------------------------------------- layout
def encoding_columns(space: SearchSpace) -> list[tuple[str, str]]:
    """``(parameter, column name)`` for each of the ``space.dim`` encoded columns, in order.

    Continuous: the parameter name; categorical: ``name=choice``; molecule:
    ``name:descriptor`` / ``name:morgan:bit`` (the names of ``space.input_names``).
    """
    cols: list[tuple[str, str]] = []
    for block in space._blocks:  # noqa: SLF001 - same package; the parameter -> columns map has no public view
        p = block.parameter
        width = block.stop - block.start
        names = tuple(getattr(block, "names", ()) or ())
        if len(names) != width:
            if width == 1 and block.choice_codes is None:
                names = (p.name,)
            elif getattr(p, "kind", "") == "molecule" and width == len(DESCRIPTOR_NAMES):
                names = tuple(f"{p.name}:{n}" for n in DESCRIPTOR_NAMES)
            elif len(block.choice_values) == width:
                names = tuple(f"{p.name}={c}" for c in block.choice_values)
            else:
                names = tuple(f"{p.name}[{j}]" for j in range(width))
        cols += [(p.name, n) for n in names]
    if len(cols) != space.dim:  # pragma: no cover - guards a change of the encoding
        raise OptimizerError(f"explain: {len(cols)} column names for an encoding of {space.dim} columns")
    return cols


def encoding_names(space: SearchSpace, width: int) -> list[str]:
    """Names of the columns of an encoding ``n x width`` (``width`` is ``d`` or ``d + 1``)."""
    base = [name for _, name in encoding_columns(space)]
    if width == space.dim:
        return base
    if width == space.dim + 1:
        return base + [FIDELITY_INPUT]
    raise OptimizerError(f"explain: an encoding has {space.dim} or {space.dim + 1} columns, the model's X has {width}")


def gp_layout(space: SearchSpace, fm: FittedModel) -> tuple[torch.nn.Module, torch.Tensor, list[str]]:
    """The GP that holds the kernel, its training inputs and their names.

    Without physics that is ``fm.model`` over the encodings ``fm.X``; with physics
    (``optimizers.physics``) the inner GP over ``[encoding, features, fidelity]``.
    """
    gp = getattr(fm, "gp", None) or fm.model
    Z = getattr(fm, "gp_inputs", None)
    Z = fm.X if Z is None else Z
    names = list(getattr(fm, "input_names", None) or [])
    if len(names) != Z.shape[-1]:
        if Z.shape[-1] not in (space.dim, space.dim + 1):
            raise OptimizerError(
                f"explain: the GP has {Z.shape[-1]} input columns but no input_names; set FittedModel.input_names"
            )
        names = encoding_names(space, Z.shape[-1])
    return gp, Z, names


def extra_inputs(names: Sequence[str], space: SearchSpace) -> list[str]:
    """GP inputs that are neither encoded parameters nor the fidelity (physics: ``feature:*``, ``sim:prediction``)."""
    enc = {name for _, name in encoding_columns(space)}
    return [n for n in names if n not in enc and n != FIDELITY_INPUT]


# ---------------------------------------------------------------------- lengthscales
def target_lengthscales(model: torch.nn.Module, n_inputs: int, fidelity_column: int | None) -> np.ndarray | None:
    """ARD lengthscale per input column of the kernel part that acts at the target fidelity (NaN where none).

    Returns None when the model has no kernel with lengthscales.
    """
    from botorch.models.kernels import LinearTruncatedFidelityKernel
    from gpytorch.kernels import Kernel

    out = np.full(n_inputs, np.nan)
    found = False
    covered: set[int] = set()
    ltf_children: set[int] = set()
    for module in model.modules():
        if isinstance(module, LinearTruncatedFidelityKernel):
            # k = k_unbiased(x, x') + c(s, s') k_biased(x, x'); c = 0 when s = 1 (the target)
            dims = module.active_dims.tolist() if module.active_dims is not None else list(range(n_inputs))
            fid = {int(i) for i in module.fidelity_dims}
            own = [dims[i] for i in range(len(dims)) if i not in fid]
            _fill(out, own, module.covar_module_unbiased.lengthscale.detach().reshape(-1).double().numpy())
            covered.update(own)
            ltf_children.update(id(m) for m in module.modules())
            found = True
    for module in model.modules():
        if id(module) in ltf_children or not isinstance(module, Kernel):
            continue
        if not getattr(module, "has_lengthscale", False) or module.__class__.__name__ in ("ScaleKernel", "ProductKernel", "AdditiveKernel"):
            continue
        ls = module.lengthscale.detach().reshape(-1).double().numpy()
        cols = module.active_dims.tolist() if module.active_dims is not None else list(range(n_inputs))
        if len(ls) != len(cols) and len(ls) != 1:
            cols = [c for c in cols if c != fidelity_column]
        if len(ls) == len(cols) or len(ls) == 1:
            keep = [i for i, c in enumerate(cols) if c != fidelity_column and c not in covered]
            if not keep:
                continue
            _fill(out, [cols[i] for i in keep], ls if len(ls) == 1 else ls[keep])
            covered.update(cols[i] for i in keep)
            found = True
    return out if found else None


def lengthscale_map(space: SearchSpace, fm: FittedModel) -> dict[str, float]:
    """Input name -> ARD lengthscale at the target fidelity (inputs without one are absent)."""
    gp, Z, names = gp_layout(space, fm)
    method = getattr(fm, "lengthscales", None)
    if callable(method) and getattr(fm, "input_names", None):
        try:
            return {k: float(v) for k, v in method().items() if k != FIDELITY_INPUT and math.isfinite(float(v))}
        except Exception:  # noqa: BLE001 - fall back to reading the kernel here
            pass
    fc = names.index(FIDELITY_INPUT) if FIDELITY_INPUT in names else None
    ls = target_lengthscales(gp, len(names), fc)
    if ls is None:
        return {}
    return {n: float(v) for n, v in zip(names, ls) if math.isfinite(v)}


def _fill(out: np.ndarray, cols: list[int], ls: np.ndarray) -> None:
    if len(ls) == 1:
        out[cols] = ls[0]
    elif len(ls) == len(cols):
        out[cols] = ls
    else:  # pragma: no cover - a kernel layout this module does not know
        raise OptimizerError(f"explain: kernel has {len(ls)} lengthscales for {len(cols)} input columns")


# ---------------------------------------------------------------------- Sobol
def sobol_indices(
    f: Callable[[np.ndarray], np.ndarray], k: int, *, n: int = SOBOL_POINTS, seed: int = 0, bootstrap: int = BOOTSTRAP
) -> dict[str, Any]:
    """First-order and total Sobol indices of ``f`` over ``k`` independent uniform factors.

    Args:
        f: maps ``m x k`` points of the unit cube to ``m`` outputs.
        k: number of factors.
        n: base sample size (``n * (k + 2)`` evaluations).
        seed: scrambling seed of the Sobol sequence and of the bootstrap.

    Returns:
        ``first``, ``total`` (arrays of ``k``), ``first_ci``, ``total_ci`` (``k x 2``
        bootstrap 95 % intervals), ``variance`` of ``f`` and ``n``. Indices are NaN when
        ``f`` is constant.
    """
    if k < 1:
        raise OptimizerError(f"Sobol analysis needs at least one factor, got k={k}")
    if n < 8:
        raise OptimizerError(f"Sobol base sample size must be >= 8, got n={n}")
    engine = torch.quasirandom.SobolEngine(2 * k, scramble=True, seed=int(seed))
    U = engine.draw(int(n), dtype=torch.double).numpy()
    A, B = U[:, :k], U[:, k:]
    fA = np.asarray(f(A), dtype=float).reshape(-1)
    fB = np.asarray(f(B), dtype=float).reshape(-1)
    fAB = np.empty((k, n))
    for i in range(k):
        ABi = A.copy()
        ABi[:, i] = B[:, i]
        fAB[i] = np.asarray(f(ABi), dtype=float).reshape(-1)
    # Centering leaves the indices unchanged but removes the offset's large share of the
    # first-order estimator's variance (a property near 150 degC varies by tens).
    center = np.mean(np.concatenate([fA, fB]))
    fA, fB, fAB = fA - center, fB - center, fAB - center

    def estimate(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a, b, ab = fA[idx], fB[idx], fAB[:, idx]
        var = np.var(np.concatenate([a, b]))
        if not var > 1e-18:
            return np.full(k, np.nan), np.full(k, np.nan)
        first = np.mean(b * (ab - a), axis=1) / var               # Saltelli 2010
        total = 0.5 * np.mean((a - ab) ** 2, axis=1) / var        # Jansen 1999
        return first, total

    all_idx = np.arange(n)
    first, total = estimate(all_idx)
    rng = np.random.default_rng(int(seed))
    boots = [estimate(rng.integers(0, n, n)) for _ in range(int(bootstrap))]
    if boots and not np.isnan(first).all():
        bf = np.array([b[0] for b in boots])
        bt = np.array([b[1] for b in boots])
        first_ci = np.nanpercentile(bf, [2.5, 97.5], axis=0).T
        total_ci = np.nanpercentile(bt, [2.5, 97.5], axis=0).T
    else:
        first_ci = total_ci = np.full((k, 2), np.nan)
    return {"first": first, "total": total, "first_ci": first_ci, "total_ci": total_ci,
            "variance": float(np.var(np.concatenate([fA, fB]))), "n": int(n)}


def posterior_mean(model: torch.nn.Module, X: torch.Tensor) -> np.ndarray:
    """Posterior mean (model units, signed) at ``m x D`` inputs, in chunks."""
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, X.shape[0], _EVAL_CHUNK):
            out.append(model.posterior(X[start : start + _EVAL_CHUNK]).mean.reshape(-1))
    return torch.cat(out).numpy() if out else np.zeros(0)


# ---------------------------------------------------------------------- factors
class _Factors:
    """Sobol factors over a model's inputs at one fidelity, and how a unit point becomes an input row.

    One factor per campaign parameter (through ``space.from_unit``: a discrete parameter
    picks a choice uniformly) and one per extra input (physics ``feature:*`` /
    ``sim:prediction`` columns: uniform over their training range, independent of the
    parameters, which they are not; their indices describe the GP's response surface,
    not the physics).

    Args:
        names: names of the model's input columns.
        Z: the model's training inputs (ranges of the extra columns).
    """

    def __init__(self, space: SearchSpace, names: list[str], Z: torch.Tensor):
        self.space = space
        self.n_inputs = len(names)
        index = {n: j for j, n in enumerate(names)}
        enc = [n for _, n in encoding_columns(space)]
        missing = [n for n in enc if n not in index]
        if missing:
            raise OptimizerError(f"explain: the model's inputs {names} lack the encoded columns {missing}")
        self.param_columns = [index[n] for n in enc]
        self.fidelity_column = index.get(FIDELITY_INPUT)
        extras = extra_inputs(names, space)
        self.extra_columns = [index[n] for n in extras]
        Zd = Z.detach().double()
        self.low = Zd[:, self.extra_columns].min(dim=0).values if extras else None
        self.high = Zd[:, self.extra_columns].max(dim=0).values if extras else None
        self.labels = [p.name for p in space.parameters] + extras
        self.kinds = ["parameter"] * len(space.parameters) + ["feature"] * len(extras)

    @property
    def k(self) -> int:
        return len(self.labels)

    def inputs(self, U: np.ndarray | torch.Tensor, fidelity_value: float) -> torch.Tensor:
        """``m x k`` unit points -> ``m x n_inputs`` model inputs at ``fidelity_value``."""
        U = torch.as_tensor(np.asarray(U), dtype=torch.double)
        p = len(self.space.parameters)
        X = torch.zeros(U.shape[0], self.n_inputs, dtype=torch.double)
        X[:, self.param_columns] = self.space.from_unit(U[:, :p])
        if self.extra_columns:
            X[:, self.extra_columns] = self.low + U[:, p:] * (self.high - self.low)
        if self.fidelity_column is not None:
            X[:, self.fidelity_column] = fidelity_value
        return X


# ---------------------------------------------------------------------- public analyses
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


def fidelity_correlations(
    space: SearchSpace, fm: FittedModel, *, seed: int = 0, n: int = CORRELATION_POINTS
) -> list[dict[str, Any]]:
    """How strongly each lower fidelity tracks the target, as learned by a multi-fidelity model.

    For every non-target fidelity ``s`` and ``n`` seeded Sobol recipes ``x``:
    ``prior_correlation`` (kernel correlation of ``f(x, s)`` and ``f(x, target)``; for
    these kernels it does not depend on ``x``), ``posterior_correlation`` (the same
    under the posterior, which the acquisition uses), each as mean / min / max over
    ``x``; ``mean_pearson``: Pearson correlation of the posterior means ``mu(x, s)`` and
    ``mu(x, target)`` over ``x``; ``observed_pairs`` / ``observed_pearson``: recipes
    measured at both fidelities.

    Returns an empty list for a single-fidelity model.
    """
    xnames = encoding_names(space, int(fm.X.shape[-1]))
    if FIDELITY_INPUT not in xnames:
        return []
    gp, Z, gnames = gp_layout(space, fm)
    fx = _Factors(space, xnames, fm.X)
    target = space.target_fidelity
    fc = fx.fidelity_column
    gfc = gnames.index(FIDELITY_INPUT)
    U = torch.quasirandom.SobolEngine(fx.k, scramble=True, seed=int(seed)).draw(int(n), dtype=torch.double)
    Xt = fx.inputs(U, target.value)
    model = fm.model
    model.eval()
    gp.eval()
    mu_t = posterior_mean(model, Xt)
    Zt = Z.detach().double()[: min(int(n), Z.shape[0])].clone()
    Zt[:, gfc] = target.value
    out = []
    for fid in space.fidelities_by_cost:
        if fid.name == target.name:
            continue
        Xs = Xt.clone()
        Xs[:, fc] = fid.value
        Zs = Zt.clone()
        Zs[:, gfc] = fid.value
        with torch.no_grad():
            post_cov = model.posterior(torch.stack([Xs, Xt], dim=-2)).distribution.covariance_matrix
            prior_cov = gp.covar_module(torch.stack([Zs, Zt], dim=-2)).to_dense()
        mu_s = posterior_mean(model, Xs)
        pairs = _observed_pairs(fm, fc, fid.value, target.value)
        out.append({
            "fidelity": fid.name,
            "value": fid.value,
            "cost": fid.cost,
            "prior_correlation": _summary(_corr(prior_cov)),
            "posterior_correlation": _summary(_corr(post_cov)),
            "mean_pearson": _f(_pearson(mu_s, mu_t)),
            "observed_pairs": len(pairs),
            "observed_pearson": _f(_pearson(pairs[:, 0], pairs[:, 1])) if len(pairs) >= 3 else None,
            "n_recipes": int(n),
        })
    return out


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


def explain_model(
    space: SearchSpace,
    fm: FittedModel,
    *,
    seed: int = 0,
    n_sobol: int = SOBOL_POINTS,
    n_correlation: int = CORRELATION_POINTS,
) -> dict[str, Any]:
    """Parameter importance and fidelity correlations of one fitted model (see the module docstring)."""
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
    """
    threads = torch.get_num_threads()
    # Small matrices: extra BLAS threads only fight other processes for the cores (an
    # order of magnitude slower on a busy 2-core machine).
    torch.set_num_threads(1)
    try:
        fm, source = model_for(space, strategy, history)
        out: dict[str, Any] = {"model_source": source, "model": None, "importance": None,
                               "fidelity_correlation": [], "structure": None}
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


# ---------------------------------------------------------------------- suggestions
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


# ---------------------------------------------------------------------- small helpers
def _f(v: Any) -> float | None:
    """JSON-able float (None for None / NaN / inf)."""
    if v is None:
        return None
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _ranks(values: np.ndarray) -> list[int | None]:
    """1 = largest; None for NaN."""
    values = np.asarray(values, dtype=float)
    order = [i for i in np.argsort(-np.nan_to_num(values, nan=-np.inf)) if np.isfinite(values[i])]
    ranks: list[int | None] = [None] * len(values)
    for r, i in enumerate(order, start=1):
        ranks[int(i)] = r
    return ranks


def _corr(cov: torch.Tensor) -> np.ndarray:
    c = cov.detach().double()
    denom = (c[..., 0, 0].clamp_min(1e-300) * c[..., 1, 1].clamp_min(1e-300)).sqrt()
    return (c[..., 0, 1] / denom).clamp(-1.0, 1.0).reshape(-1).numpy()


def _summary(r: np.ndarray) -> dict[str, float | None]:
    return {"mean": _f(np.mean(r)), "min": _f(np.min(r)), "max": _f(np.max(r))}


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or np.std(a) < 1e-15 or np.std(b) < 1e-15:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def _observed_pairs(fm: FittedModel, fc: int, low: float, target: float) -> np.ndarray:
    """``m x 2`` (value at ``low``, value at target) of recipes observed at both (mean of repeats)."""
    X, Y = fm.X.detach().double(), fm.Y.detach().double().reshape(-1)
    others = [j for j in range(X.shape[1]) if j != fc]
    lo_rows = torch.nonzero(X[:, fc] == low).reshape(-1)
    t_rows = torch.nonzero(X[:, fc] == target).reshape(-1)
    pairs = []
    for i in lo_rows.tolist():
        same = [t for t in t_rows.tolist() if float((X[t, others] - X[i, others]).abs().max()) < 1e-6]
        if same:
            pairs.append((float(Y[i]), float(Y[same].mean())))
    return np.array(pairs, dtype=float).reshape(-1, 2)


def _kernel_name(model: torch.nn.Module) -> str:
    from botorch.models.kernels import LinearTruncatedFidelityKernel

    if any(isinstance(m, LinearTruncatedFidelityKernel) for m in model.modules()):
        return "linear-truncated multi-fidelity kernel: lengthscales of its unbiased Matern part (the part left at the target)"
    cov = getattr(model, "covar_module", None)
    return type(cov).__name__ if cov is not None else type(model).__name__
