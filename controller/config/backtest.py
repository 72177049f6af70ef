"""``[backtest]``: a campaign answered by a recorded table (``sdl backtest``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Sequence
from typing import Any
from core import (
    ConfigError,
    FieldIssue,
    Fidelity,
    Objective,
    OutcomeConstraint,
    Parameter,
)
from core.units import parse_unit
from controller.config.optimizer import STRATEGIES


@dataclass(frozen=True)
class BacktestSettings:
    """``[backtest]``: run the campaign against a recorded table (``sdl backtest``).

    Attributes:
        table: path of the CSV / Parquet file (relative paths are taken from the campaign file's folder).
        mode: ``discrete`` (the rows are the candidates) or ``continuous`` (a GP fitted to the
            table answers any recipe).
        columns: fidelity name -> property column of the table; with several objectives or
            outcome constraints, fidelity name -> {property -> column}, one per outcome.
        cost_columns: fidelity name -> column of recorded costs (the fidelity's cost otherwise).
        units: column -> unit, for headers without ``[unit]``.
        noise: continuous mode: add Gaussian noise of the emulator's fitted noise level.
        methods: strategies compared (default: the campaign's, ``single_fidelity``, ``random``).
    """

    table: str
    mode: str = "discrete"
    columns: dict[str, str | dict[str, str]] = field(default_factory=dict, hash=False)
    cost_columns: dict[str, str] = field(default_factory=dict, hash=False)
    units: dict[str, str] = field(default_factory=dict, hash=False)
    noise: bool = False
    methods: tuple[str, ...] = ()

BACKTEST_MODES = ("discrete", "continuous")

_BACKTEST_KEYS = ("table", "mode", "columns", "cost_columns", "units", "noise", "methods")

def parse_backtest(raw: Any, fidelities: list[Fidelity] | None, source: str | None) -> BacktestSettings | None:
    """``[backtest]``: the recorded table a backtest runs against (None when absent)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(FieldIssue("backtest", 'must be a table: table = "data.csv", mode = "discrete", columns = {...}'))
    issues = [FieldIssue(f"backtest.{k}", f"unknown field; allowed: {', '.join(_BACKTEST_KEYS)}")
              for k in sorted(set(raw) - set(_BACKTEST_KEYS))]
    table = raw.get("table")
    path = None
    if not isinstance(table, str) or not table.strip():
        issues.append(FieldIssue("backtest.table", "missing: the CSV or Parquet file of recorded results, e.g. \"data.csv\""))
    else:
        path = Path(table)
        if not path.is_absolute() and source and Path(source).exists():
            path = Path(source).resolve().parent / path
        if not path.is_file():
            issues.append(FieldIssue("backtest.table", f"file {str(path)!r} does not exist"))
    mode = raw.get("mode", "discrete")
    if mode not in BACKTEST_MODES:
        issues.append(FieldIssue("backtest.mode", f"{mode!r} is not one of {list(BACKTEST_MODES)}"))
    names = [f.name for f in fidelities or ()]

    def column_table(key: str, required: bool) -> dict[str, str]:
        value = raw.get(key, {})
        # columns: per fidelity one column, or (several outcomes) a table of property = "column"
        nested = key == "columns"

        def fits(v: Any) -> bool:
            if isinstance(v, str) and v:
                return True
            return nested and isinstance(v, dict) and bool(v) and all(isinstance(c, str) and c for c in v.values())

        if not isinstance(value, dict) or not all(fits(v) for v in value.values()):
            hint = " or fidelity = { property = \"column name\", ... }" if nested else ""
            issues.append(FieldIssue(f"backtest.{key}", f"must be a table of fidelity = \"column name\"{hint}"))
            return {}
        if fidelities is not None:
            issues.extend(FieldIssue(f"backtest.{key}.{k}", f"unknown fidelity {k!r}; allowed: {names}") for k in value if k not in names)
            if required:
                issues.extend(FieldIssue(f"backtest.{key}.{n}", "missing: the table column with this fidelity's property values")
                              for n in names if n not in value)
        return dict(value)

    columns = column_table("columns", required=True)
    cost_columns = column_table("cost_columns", required=False)
    units = raw.get("units", {})
    if not isinstance(units, dict):
        issues.append(FieldIssue("backtest.units", "must be a table of \"column\" = \"unit\""))
        units = {}
    for col, unit in units.items():
        try:
            parse_unit(unit, f"backtest.units.{col}")
        except ConfigError as err:
            issues.extend(err.issues)
    noise = raw.get("noise", False)
    if not isinstance(noise, bool):
        issues.append(FieldIssue("backtest.noise", f"{noise!r} must be true or false"))
    methods = raw.get("methods", [])
    if not isinstance(methods, list) or not all(isinstance(m, str) and m.removesuffix("+physics") in STRATEGIES
                                                for m in methods):
        issues.append(FieldIssue("backtest.methods", f"{methods!r} must be a list of strategies from {list(STRATEGIES)} "
                                                     "(a model strategy may end in '+physics')"))
        methods = []
    if issues:
        raise ConfigError(issues)
    return BacktestSettings(table=str(path), mode=mode, columns=columns, cost_columns=cost_columns,
                            units=dict(units), noise=noise, methods=tuple(dict.fromkeys(methods)))

def check_backtest_table(backtest: BacktestSettings, parameters: list[Parameter],
                         objective: Objective | Sequence[Objective],
                         outcome_constraints: Sequence[OutcomeConstraint] = ()) -> None:
    """Read the recorded table and check its columns and units against the campaign (every problem at once):
    one column per fidelity and outcome (each objective, each property an outcome constraint names)."""
    from simulators.table import RecordedTable

    RecordedTable.from_file(backtest.table, parameters, objective, backtest.columns, backtest.cost_columns,
                            backtest.units, field="backtest", outcome_constraints=outcome_constraints)
