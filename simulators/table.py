"""A recorded table as a source of experiments: backtests on data a lab already has.

A table (CSV or Parquet) holds one row per recorded recipe:

- one column per campaign parameter, named after it. Numbers carry their unit in the
  header (``cure_temperature [degC]``) or in ``units`` (column -> unit); a column may use
  any unit of the parameter's dimension (``additive_fraction [%]`` for a dimensionless
  fraction). Molecule parameters hold SMILES (or the campaign's labels), categorical ones
  the choice string.
- one property column per fidelity (``tg_closed_form [degC]``), in any unit of the
  objective's dimension; an empty cell means the recipe was not measured at that fidelity.
  A campaign with several objectives or outcome constraints has one column per fidelity
  and *outcome* (each objective, each property an outcome constraint names), in any unit of
  that outcome's dimension; a recipe counts as measured at a fidelity when every outcome is.
- optionally one cost column per fidelity: the cost actually charged for that row (the
  fidelity's nominal cost otherwise).

:class:`RecordedTable` loads and checks it (every problem is reported at once, naming the
column) and answers in two modes:

- **discrete**: the rows are the candidates; :meth:`RecordedTable.lookup` returns the
  recorded value of a row (:meth:`RecordedTable.lookup_outcomes` every outcome's).
- **continuous**: :class:`TableEmulator` fits one Gaussian process per fidelity (and outcome) to the
  table (ARD RBF kernel with the outcome standardized, inputs scaled to the unit box,
  one-hot for molecule and categorical parameters) and answers any recipe with its
  posterior mean, plus Gaussian noise of the fitted noise level when asked.

Rows outside the campaign's space (a number outside the bounds, a molecule or choice the
campaign does not list) are left out and counted in :attr:`RecordedTable.dropped`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pint

from core import (
    CategoricalParameter,
    ConfigError,
    ContinuousParameter,
    FieldIssue,
    InputDataError,
    MoleculeParameter,
    Objective,
    OutcomeConstraint,
    Parameter,
    Q_,
)
from core.goals import Outcome, outcomes as goal_outcomes

_HEADER = re.compile(r"^\s*(?P<name>.*?)\s*\[(?P<unit>[^\]]*)\]\s*$")
MODES = ("discrete", "continuous")
MATCH_TOL = 1e-6  # relative to each parameter's range: a recipe is a table row when closer than this


def split_header(column: str) -> tuple[str, str | None]:
    """``"cure_temperature [degC]"`` -> ``("cure_temperature", "degC")``; no brackets -> unit None."""
    m = _HEADER.match(str(column))
    if m:
        return m["name"], m["unit"].strip() or None
    return str(column).strip(), None


def read_table(path: str | Path, field: str = "table") -> pd.DataFrame:
    """Read a CSV (``.csv``, ``.csv.gz``, ``.tsv``) or Parquet (``.parquet``, ``.pq``) file.

    Raises:
        ConfigError: missing or unreadable file, unknown suffix, no rows; the issue names ``field``.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(FieldIssue(field, f"table file {str(path)!r} does not exist"))
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            frame = pd.read_parquet(path)
        elif name.endswith((".csv", ".csv.gz")):
            frame = pd.read_csv(path)
        elif name.endswith(".tsv"):
            frame = pd.read_csv(path, sep="\t")
        else:
            raise ConfigError(FieldIssue(field, f"{path.name!r}: unknown table format; use .csv, .csv.gz, .tsv, .parquet or .pq"))
    except ConfigError:
        raise
    except Exception as err:  # noqa: BLE001 - pandas/pyarrow raise many types for a bad file
        raise ConfigError(FieldIssue(field, f"cannot read {str(path)!r}: {type(err).__name__}: {err}")) from err
    if len(frame) == 0:
        raise ConfigError(FieldIssue(field, f"{str(path)!r} has no rows"))
    return frame


@dataclass(frozen=True)
class _Column:
    header: str
    unit: str | None


class RecordedTable:
    """Recorded recipes and their property values per fidelity, checked against a campaign's space.

    Args:
        frame: the raw table (as read by :func:`read_table`).
        parameters: the campaign's parameters.
        objective: the property optimized, or every objective of the campaign (the first is
            *the* objective); property columns are converted to each outcome's unit.
        fidelity_columns: fidelity name -> property column (the full header, or the name
            without its ``[unit]``) when the campaign has one outcome; with several objectives
            or outcome constraints, fidelity name -> {property -> column}, one per outcome.
        cost_columns: fidelity name -> cost column (optional).
        units: column (header or bare name) -> unit, for headers without ``[unit]``.
        field: dotted config field that errors name (``backtest``).
        outcome_constraints: the campaign's outcome constraints (their properties need columns too).

    Attributes:
        recipes: one row per kept table row; one column per parameter as the optimizer
            reads tables (floats in the parameter's unit, canonical SMILES, choice strings).
        outcomes: the campaign's outcomes (``core.goals.outcomes``): property, unit, history column.
        outcome_values: property -> (fidelity name -> float column in the outcome's unit).
        values: the first objective's ``outcome_values`` (NaN: not measured).
        costs: fidelity name -> float column of recorded costs (only fidelities with a cost column).
        dropped: rows left out because they lie outside the campaign's space.

    Raises:
        ConfigError: every missing column, unknown or mismatched unit, non-numeric or
            negative cost, invalid SMILES, naming the column (and the first bad row).
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        parameters: Sequence[Parameter],
        objective: Objective | Sequence[Objective],
        fidelity_columns: Mapping[str, str | Mapping[str, str]],
        cost_columns: Mapping[str, str] | None = None,
        units: Mapping[str, str] | None = None,
        field: str = "table",
        outcome_constraints: Sequence[OutcomeConstraint] = (),
    ):
        self.parameters = tuple(parameters)
        objectives = (objective,) if isinstance(objective, Objective) else tuple(objective)
        self.objectives = objectives
        self.objective = objectives[0]
        self.outcome_constraints = tuple(outcome_constraints)
        self.outcomes: tuple[Outcome, ...] = goal_outcomes(objectives, self.outcome_constraints)
        self.field = field
        units = dict(units or {})
        cost_columns = dict(cost_columns or {})
        issues: list[FieldIssue] = []
        headers = {str(c): split_header(str(c)) for c in frame.columns}
        for col in units:
            if not any(col == h or col == base for h, (base, _) in headers.items()):
                issues.append(FieldIssue(f"{field}.units.{col}", f"no column {col!r} in the table; it has {list(headers)}"))

        def find(name: str, where: str, what: str) -> _Column | None:
            exact = [h for h in headers if h == name]
            # "tg [degC]" in the config finds "tg [K]" in the table: the header's unit is what the data are in
            wanted = split_header(name)[0]
            hits = exact or [h for h, (base, _) in headers.items() if base == wanted]
            if not hits:
                issues.append(FieldIssue(where, f"the table has no {what} column {name!r}; it has {list(headers)}"))
                return None
            if len(hits) > 1:
                issues.append(FieldIssue(where, f"{len(hits)} columns match {name!r}: {hits}; keep one"))
                return None
            header = hits[0]
            base, unit = headers[header]
            given = units.get(header, units.get(base))
            if unit and given and unit != given:
                issues.append(FieldIssue(where, f"column {header!r} has unit {unit!r} in its header but {given!r} in {field}.units"))
            return _Column(header, unit or given)

        kept = np.ones(len(frame), dtype=bool)
        recipe_cols: dict[str, np.ndarray] = {}
        for p in self.parameters:
            col = find(p.name, f"{field}.parameters.{p.name}", "parameter")
            if col is None:
                continue
            raw = frame[col.header]
            if isinstance(p, ContinuousParameter):
                mags = self._numbers(raw, col, p.unit, f"{field}.parameters.{p.name}", issues, allow_missing=False)
                if mags is None:
                    continue
                span = p.high_magnitude - p.low_magnitude
                tol = 1e-9 * span
                inside = (mags >= p.low_magnitude - tol) & (mags <= p.high_magnitude + tol)
                kept &= inside
                recipe_cols[p.name] = np.clip(mags, p.low_magnitude, p.high_magnitude)
            else:
                codes, inside = self._choices(raw, p, col, issues)
                if codes is None:
                    continue
                kept &= inside
                recipe_cols[p.name] = codes
        self.outcome_values = {o.property: pd.DataFrame(index=range(len(frame))) for o in self.outcomes}
        for fid, where, o, name in self._outcome_columns(fidelity_columns, issues):
            col = find(name, where, f"property ({fid})" if len(self.outcomes) == 1 else f"{o.property} ({fid})")
            if col is None:
                continue
            mags = self._numbers(frame[col.header], col, o.unit, where, issues, allow_missing=True)
            if mags is not None:
                self.outcome_values[o.property][fid] = mags
        self.values = self.outcome_values[self.objective.property]
        self.costs = pd.DataFrame(index=range(len(frame)))
        for fid, name in cost_columns.items():
            if fid not in fidelity_columns:
                issues.append(FieldIssue(f"{field}.cost_columns.{fid}", f"{fid!r} has no property column in {field}.columns"))
                continue
            col = find(name, f"{field}.cost_columns.{fid}", f"cost ({fid})")
            if col is None:
                continue
            costs = pd.to_numeric(frame[col.header], errors="coerce").to_numpy(dtype=float)
            have = all(fid in v for v in self.outcome_values.values())
            measured = self._measured_in(self.outcome_values, fid) if have else False
            bad = np.flatnonzero(measured & ~(np.isfinite(costs) & (costs > 0))) if have else []
            if len(bad):
                i = int(bad[0])
                issues.append(FieldIssue(f"{field}.cost_columns.{fid}", f"column {col.header!r} row {i + 2}: "
                                         f"{frame[col.header].iloc[i]!r} is not a positive cost ({len(bad)} such rows)"))
                continue
            self.costs[fid] = costs
        if issues:
            raise ConfigError(issues)
        if fidelity_columns and not any(np.isfinite(self.values[f].to_numpy()).any() for f in self.values):
            raise ConfigError(FieldIssue(f"{field}.columns", "no row has a property value"))
        keep = np.flatnonzero(kept)
        self.dropped = int(len(frame) - len(keep))
        if len(keep) == 0:
            raise ConfigError(FieldIssue(field, f"none of the {len(frame)} rows lies inside the campaign's parameter space; "
                                                "check the bounds and the units of the parameter columns"))
        self.recipes = pd.DataFrame({p.name: recipe_cols[p.name][keep] for p in self.parameters})
        self.outcome_values = {k: v.iloc[keep].reset_index(drop=True) for k, v in self.outcome_values.items()}
        self.values = self.outcome_values[self.objective.property]
        self.costs = self.costs.iloc[keep].reset_index(drop=True)
        self._scaled = self._scale(self.recipes)

    @classmethod
    def from_file(cls, path: str | Path, parameters, objective, fidelity_columns, cost_columns=None, units=None,
                  field: str = "table", outcome_constraints: Sequence[OutcomeConstraint] = ()) -> RecordedTable:
        """Read ``path`` with :func:`read_table` and check it (see the class)."""
        return cls(read_table(path, f"{field}.table"), parameters, objective, fidelity_columns, cost_columns, units, field,
                   outcome_constraints)

    # ------------------------------------------------------------------ checking
    def _outcome_columns(self, fidelity_columns: Mapping[str, object], issues: list[FieldIssue]):
        """``(fidelity, config field, outcome, column)`` for every outcome column the config names.

        One outcome: ``fidelity = "column"`` (field ``columns.FIDELITY``) or a table naming it.
        Several: ``fidelity = {property = "column", ...}`` with every outcome (``columns.FIDELITY.PROPERTY``).
        """
        field = self.field
        names = [o.property for o in self.outcomes]
        example = ", ".join(f'{p} = "column"' for p in names)
        out = []
        for fid, spec in fidelity_columns.items():
            where = f"{field}.columns.{fid}"
            if isinstance(spec, str):
                if len(self.outcomes) > 1:
                    issues.append(FieldIssue(where, f"the campaign has {len(names)} outcomes ({', '.join(names)}): give "
                                                    f"one column for each, {fid} = {{ {example} }}"))
                    continue
                out.append((fid, where, self.outcomes[0], spec))
                continue
            if not isinstance(spec, Mapping):
                issues.append(FieldIssue(where, f'must be "column" or a table {{ {example} }}'))
                continue
            for prop in spec:
                if prop not in names:
                    issues.append(FieldIssue(f"{where}.{prop}", f"{prop!r} is not an objective or outcome-constraint "
                                                                f"property of the campaign; they are {names}"))
            for o in self.outcomes:
                col = spec.get(o.property)
                if not isinstance(col, str) or not col:
                    issues.append(FieldIssue(f"{where}.{o.property}", f"missing: the table column with the {o.property} "
                                                                      f"values at {fid} ({'objective' if o.objective else 'outcome constraint'}"
                                                                      f", any unit of {o.unit!r}'s dimension)"))
                    continue
                out.append((fid, f"{where}.{o.property}", o, col))
        return out

    @staticmethod
    def _measured_in(outcome_values: Mapping[str, pd.DataFrame], fidelity: str) -> np.ndarray:
        """Which rows have every outcome recorded at ``fidelity``."""
        ok = None
        for frame in outcome_values.values():
            have = np.isfinite(frame[fidelity].to_numpy(dtype=float))
            ok = have if ok is None else ok & have
        return ok

    def _numbers(self, raw: pd.Series, col: _Column, unit: str, where: str, issues: list[FieldIssue],
                 allow_missing: bool) -> np.ndarray | None:
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(values) & raw.notna().to_numpy()) if allow_missing else np.flatnonzero(~np.isfinite(values))
        if len(bad):
            i = int(bad[0])
            issues.append(FieldIssue(where, f"column {col.header!r} row {i + 2}: {raw.iloc[i]!r} is not a number "
                                            f"({len(bad)} such rows)"))
            return None
        col_unit = col.unit
        if col_unit is None:
            if Q_(1, unit).dimensionality != Q_(1, "dimensionless").dimensionality:
                issues.append(FieldIssue(where, f"column {col.header!r} has no unit; write it in the header "
                                                f"('{col.header} [{unit}]') or in {self.field}.units"))
                return None
            col_unit = "dimensionless"
        try:
            return np.asarray(Q_(values, col_unit).to(unit).magnitude, dtype=float)
        except pint.UndefinedUnitError as err:
            issues.append(FieldIssue(where, f"column {col.header!r}: unknown unit {col_unit!r} ({err})"))
        except pint.DimensionalityError:
            issues.append(FieldIssue(where, f"column {col.header!r}: unit {col_unit!r} does not fit {unit!r} "
                                            f"(dimension {Q_(1, unit).dimensionality})"))
        except (pint.PintError, ValueError, TypeError) as err:
            issues.append(FieldIssue(where, f"column {col.header!r}: unit {col_unit!r} is not usable ({err})"))
        return None

    def _choices(self, raw: pd.Series, p: Parameter, col: _Column, issues: list[FieldIssue]):
        where = f"{self.field}.parameters.{p.name}"
        out = np.empty(len(raw), dtype=object)
        inside = np.ones(len(raw), dtype=bool)
        if isinstance(p, MoleculeParameter):
            from core.space import canonical_smiles  # noqa: PLC0415 - rdkit only here

            allowed = set(p.smiles)
            cache: dict[str, str] = {}
            for i, v in enumerate(raw):
                if not isinstance(v, str) or not v.strip():
                    issues.append(FieldIssue(where, f"column {col.header!r} row {i + 2}: {v!r} is not a SMILES string"))
                    return None, inside
                if v not in cache:
                    if v in p.choices:
                        cache[v] = p.choices[v]
                    else:
                        try:
                            cache[v] = canonical_smiles(v, where)
                        except ConfigError:
                            issues.append(FieldIssue(where, f"column {col.header!r} row {i + 2}: {v!r} is not a valid SMILES string"))
                            return None, inside
                out[i] = cache[v]
                inside[i] = cache[v] in allowed
            return out, inside
        assert isinstance(p, CategoricalParameter)
        for i, v in enumerate(raw):
            out[i] = str(v)
            inside[i] = str(v) in p.choices
        return out, inside

    # ------------------------------------------------------------------ queries
    @property
    def fidelities(self) -> list[str]:
        return list(self.values.columns)

    def measured(self, fidelity: str) -> np.ndarray:
        """Which rows have a recorded value at ``fidelity`` (every outcome's, with several)."""
        self._check_fidelity(fidelity)
        return self._measured_in(self.outcome_values, fidelity)

    def feasible(self, fidelity: str) -> np.ndarray:
        """Which rows are measured at ``fidelity`` and meet every outcome constraint there."""
        ok = self.measured(fidelity).copy()
        for c in self.outcome_constraints:
            o = next(x for x in self.outcomes if x.property == c.property)
            v = self.outcome_values[o.property][fidelity].to_numpy(dtype=float)
            bound = c.bound_in(o.unit)
            with np.errstate(invalid="ignore"):
                ok &= (v >= bound) if c.operator == ">=" else (v <= bound)
        return ok

    def candidates(self, fidelities: Sequence[str] | None = None) -> pd.DataFrame:
        """Rows that may be chosen: the parameter columns, ``fidelity`` and ``row`` (index into
        :attr:`recipes`); one entry per row and fidelity with a recorded value (of every outcome)."""
        parts = []
        for fid in fidelities if fidelities is not None else self.fidelities:
            have = np.flatnonzero(self.measured(fid))
            part = self.recipes.iloc[have].copy()
            part["fidelity"] = fid
            part["row"] = have
            parts.append(part)
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[*self.recipes.columns, "fidelity", "row"])

    def row_of(self, recipe: Mapping[str, object]) -> int:
        """Index of the table row whose recipe is ``recipe`` (quantities or magnitudes in the parameter's unit).

        Raises:
            InputDataError: no row matches.
        """
        x = self._scale_recipe(recipe)
        dist = np.abs(self._scaled - x).max(axis=1)
        i = int(dist.argmin())
        if not dist[i] <= MATCH_TOL:
            raise InputDataError(f"the recipe {dict(recipe)} is not a row of the table (nearest row {i} "
                                 f"differs by {dist[i]:.3g} of a parameter's range)")
        return i

    def lookup(self, recipe: Mapping[str, object], fidelity: str) -> tuple[int, float, float | None]:
        """``(row, value in the objective's unit, recorded cost or None)`` of a recipe at one fidelity.

        Raises:
            InputDataError: the recipe is no row of the table, or that row has no value at ``fidelity``.
        """
        self._check_fidelity(fidelity)
        i = self.row_of(recipe)
        value = float(self.values[fidelity].iloc[i])
        if not math.isfinite(value):
            raise InputDataError(f"table row {i} has no recorded value at fidelity {fidelity!r}")
        return i, value, self.cost(i, fidelity)

    def lookup_outcomes(self, recipe: Mapping[str, object], fidelity: str) -> tuple[int, dict[str, float], float | None]:
        """``(row, {property: value in the outcome's unit}, recorded cost or None)`` of a recipe at one fidelity.

        Raises:
            InputDataError: the recipe is no row of the table, or that row lacks an outcome at ``fidelity``.
        """
        self._check_fidelity(fidelity)
        i = self.row_of(recipe)
        values = self.outcomes_of(i, fidelity)
        missing = [p for p, v in values.items() if not math.isfinite(v)]
        if missing:
            raise InputDataError(f"table row {i} has no recorded {', '.join(missing)} at fidelity {fidelity!r}")
        return i, values, self.cost(i, fidelity)

    def outcomes_of(self, row: int, fidelity: str) -> dict[str, float]:
        """Every outcome's recorded value (NaN: not measured) of ``row`` at ``fidelity``."""
        self._check_fidelity(fidelity)
        return {o.property: float(self.outcome_values[o.property][fidelity].iloc[row]) for o in self.outcomes}

    def cost(self, row: int, fidelity: str) -> float | None:
        """The recorded cost of ``row`` at ``fidelity``, or None without a cost column."""
        if fidelity in self.costs:
            return float(self.costs[fidelity].iloc[row])
        return None

    def top_threshold(self, fidelity: str, fraction: float, rows: np.ndarray | None = None) -> float:
        """The value a result must reach (in the objective's direction) to be in the best ``fraction`` of the
        recorded values at ``fidelity``: the ``1 - fraction`` quantile when maximizing. ``rows``: a boolean
        mask of the rows that count (e.g. :meth:`feasible`), all by default."""
        self._check_fidelity(fidelity)
        v = self.values[fidelity].to_numpy()
        if rows is not None:
            v = v[rows]
        v = v[np.isfinite(v)]
        if len(v) == 0:
            raise InputDataError(f"the table has no recorded value at fidelity {fidelity!r}"
                                 + (" among the rows that count" if rows is not None else ""))
        q = 1.0 - fraction if self.objective.sign > 0 else fraction
        return float(np.quantile(v, q, method="higher" if self.objective.sign > 0 else "lower"))

    def _check_fidelity(self, fidelity: str) -> None:
        if fidelity not in self.values:
            raise InputDataError(f"the table has no column for fidelity {fidelity!r}; it has {self.fidelities}")

    # ------------------------------------------------------------------ encoding (emulator, matching)
    def _scale(self, recipes: pd.DataFrame) -> np.ndarray:
        """Continuous parameters min-max scaled by their bounds; choices one-hot."""
        cols = []
        for p in self.parameters:
            v = recipes[p.name]
            if isinstance(p, ContinuousParameter):
                cols.append(((v.to_numpy(dtype=float) - p.low_magnitude) / (p.high_magnitude - p.low_magnitude))[:, None])
            else:
                choices = list(p.smiles if isinstance(p, MoleculeParameter) else p.choices)
                onehot = np.zeros((len(v), len(choices)))
                for i, c in enumerate(v):
                    if c in choices:
                        onehot[i, choices.index(c)] = 1.0
                    else:
                        onehot[i, :] = np.nan
                cols.append(onehot)
        return np.hstack(cols)

    def _scale_recipe(self, recipe: Mapping[str, object]) -> np.ndarray:
        row = {}
        for p in self.parameters:
            if p.name not in recipe:
                raise InputDataError(f"recipe is missing {p.name!r}; it has {sorted(recipe)}")
            v = recipe[p.name]
            if isinstance(p, ContinuousParameter):
                row[p.name] = [p.magnitude(v)]
            else:
                if isinstance(p, MoleculeParameter) and v in p.choices:
                    v = p.choices[v]
                row[p.name] = [v]
        x = self._scale(pd.DataFrame(row))[0]
        if np.isnan(x).any():
            bad = {p.name: row[p.name][0] for p in self.parameters if not isinstance(p, ContinuousParameter)
                   and row[p.name][0] not in (p.smiles if isinstance(p, MoleculeParameter) else p.choices)}
            raise InputDataError(f"recipe {bad}: not one of the campaign's choices")
        return x


class TableEmulator:
    """One Gaussian process per fidelity (and outcome) fitted to a :class:`RecordedTable` (continuous backtests).

    The GP (botorch ``SingleTaskGP``: ARD RBF kernel with the default lengthscale prior,
    outcome standardized, fitted noise) takes the table's scaled encoding (continuous
    parameters by their bounds, choices one-hot). :meth:`answer` returns its posterior
    mean, plus Gaussian noise with the fitted noise standard deviation when ``noise`` is on
    (seeded by the caller's generator).

    Args:
        table: the recorded table.
        fidelities: the fidelities to emulate (default: all with a column).
        seed: seed of the fits.

    Attributes:
        r2: fidelity name -> leave-one-out coefficient of determination of the GP (closed
            form for a GP, with the hyperparameters fitted to every row), for the first objective.
        noise_std: fidelity name -> fitted noise standard deviation, objective's unit.
        outcome_r2, outcome_noise_std: property -> the same per fidelity, for every outcome
            (each outcome's GP is fitted to the rows that recorded it, in the outcome's unit).
    """

    def __init__(self, table: RecordedTable, fidelities: Sequence[str] | None = None, seed: int = 0):
        self.table = table
        self._models: dict[tuple[str, str], object] = {}
        self.outcome_r2: dict[str, dict[str, float]] = {o.property: {} for o in table.outcomes}
        self.outcome_noise_std: dict[str, dict[str, float]] = {o.property: {} for o in table.outcomes}
        fids = list(fidelities if fidelities is not None else table.fidelities)
        for fid in fids:
            table._check_fidelity(fid)
        # the first objective's fits first, in fidelity order, each seeded alike: a one-outcome table fits as it always did
        for o in table.outcomes:
            for fid in fids:
                y = table.outcome_values[o.property][fid].to_numpy(dtype=float)
                have = np.flatnonzero(np.isfinite(y))
                if len(have) < 3:
                    what = f"fidelity {fid!r}" if len(table.outcomes) == 1 else f"{o.property} at fidelity {fid!r}"
                    raise InputDataError(f"{what}: {len(have)} recorded values; an emulator needs at least 3")
                X = table._scaled[have]
                Y = y[have]
                model = self._fit(X, Y, seed)
                self._models[(o.property, fid)] = model
                scale = float(model.outcome_transform.stdvs.reshape(-1)[0])
                self.outcome_noise_std[o.property][fid] = float(model.likelihood.noise.detach().sqrt().reshape(-1)[0]) * scale
                self.outcome_r2[o.property][fid] = self._loo_r2(model, Y, scale)
        first = table.objective.property
        self.r2: dict[str, float] = self.outcome_r2[first]
        self.noise_std: dict[str, float] = self.outcome_noise_std[first]

    @staticmethod
    def _fit(X: np.ndarray, Y: np.ndarray, seed: int):
        import torch
        from botorch.fit import fit_gpytorch_mll
        from botorch.models import SingleTaskGP
        from botorch.models.transforms import Standardize
        from gpytorch.mlls import ExactMarginalLogLikelihood

        torch.manual_seed(seed)
        Xt = torch.tensor(X, dtype=torch.double)
        Yt = torch.tensor(Y, dtype=torch.double).reshape(-1, 1)
        model = SingleTaskGP(Xt, Yt, outcome_transform=Standardize(m=1))
        try:
            fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model),
                             optimizer_kwargs={"options": {"maxiter": 150}})
        except Exception as err:  # noqa: BLE001 - botorch raises several types when a fit fails
            raise InputDataError(f"the table emulator could not be fitted: {err}") from err
        model.eval()
        return model

    @staticmethod
    def _loo_r2(model, Y: np.ndarray, scale: float) -> float:
        """Leave-one-out R^2 in closed form: residual_i = [K^-1 y]_i / [K^-1]_ii (standardized units)."""
        import torch

        with torch.no_grad():
            X = model.train_inputs[0]
            y = model.train_targets.reshape(-1, 1)
            K = model.covar_module(X).to_dense() + model.likelihood.noise.reshape(-1)[0] * torch.eye(X.shape[0], dtype=X.dtype)
            K_inv = torch.cholesky_inverse(torch.linalg.cholesky(K))
            resid = ((K_inv @ y).reshape(-1) / K_inv.diagonal()).numpy() * scale
        ss_tot = float(((Y - Y.mean()) ** 2).sum())
        return 1.0 - float((resid**2).sum()) / ss_tot if ss_tot > 0 else float("nan")

    @staticmethod
    def _mean(model, X: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return model.posterior(torch.as_tensor(X, dtype=torch.double)).mean.reshape(-1).numpy()

    def answer(self, recipe: Mapping[str, object], fidelity: str, rng: np.random.Generator | None = None) -> float:
        """The emulated value (objective's unit) of any recipe inside the space at ``fidelity``;
        with ``rng``, plus Gaussian noise of the fitted noise level."""
        return self.answer_outcomes(recipe, fidelity, rng, only_first=True)[self.table.objective.property]

    def answer_outcomes(self, recipe: Mapping[str, object], fidelity: str, rng: np.random.Generator | None = None,
                        only_first: bool = False) -> dict[str, float]:
        """Every outcome's emulated value (property -> value in its unit) at ``fidelity``; with ``rng``, each
        plus Gaussian noise of its fitted noise level (drawn in the outcomes' order)."""
        fitted = sorted({fid for _, fid in self._models})
        if fidelity not in fitted:
            raise InputDataError(f"no emulator for fidelity {fidelity!r}; emulated: {fitted}")
        x = self.table._scale_recipe(recipe)
        out = {}
        for o in self.table.outcomes[:1] if only_first else self.table.outcomes:
            value = float(self._mean(self._models[(o.property, fidelity)], x[None, :])[0])
            if rng is not None:
                value += float(rng.normal(0.0, self.outcome_noise_std[o.property][fidelity]))
            out[o.property] = value
        return out
