"""``sdl backtest``: run a campaign's strategy and the baselines against a recorded table.

No devices, simulators or store: each method runs the campaign's loop sequentially
(``q = 1``) under its budget, and every experiment is answered by the table given in
the campaign's ``[backtest]`` section (``simulators.table``):

- ``mode = "discrete"``: the strategy chooses among the table's rows (a row is never
  measured twice at one fidelity) and gets the recorded value;
- ``mode = "continuous"``: the strategy searches the whole space and a GP per fidelity,
  fitted to the table, answers (its posterior mean; plus its fitted noise with ``noise = true``).

Per method and seed the trace holds every experiment, its cost and the best value found
so far at the target fidelity. The summary gives, per method over the seeds, the final
best target value and the cumulative cost at which the best found first reached the
table's top 1 % and top 5 % (quantiles of the recorded target column).
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from controller.config.optimizer import STRATEGIES
from controller.config.campaign import CampaignConfig
from controller.loop.strategy import PHYSICS_SUFFIX, build_strategy
from controller.records.history import recipe_row
from core import ConfigError, FieldIssue, OptimizerError

TOP_FRACTIONS = (0.01, 0.05)
TRACE_FILE = "backtest_traces.csv"
SUMMARY_FILE = "backtest_summary.csv"
SUMMARY_JSON = "backtest_summary.json"
PLOT_FILE = "backtest_best_vs_cost.png"


class TableSource:
    """Answers experiments from the campaign's recorded table (see the module docstring).

    Args:
        config: a campaign with a ``[backtest]`` section.

    Raises:
        ConfigError: no ``[backtest]`` section, or the table does not fit the campaign.
    """

    def __init__(self, config: CampaignConfig):
        from simulators.table import RecordedTable, TableEmulator

        bt = config.backtest
        if bt is None:
            raise ConfigError(FieldIssue("backtest", "missing: add a [backtest] table naming the recorded table "
                                                     "(table, mode, columns); see README.md, Backtesting on recorded data"))
        self.config = config
        self.mode = bt.mode
        self.noise = bt.noise
        self.table = RecordedTable.from_file(bt.table, config.parameters, config.objective, bt.columns,
                                             bt.cost_columns, bt.units, field="backtest")
        self.target = config.target.name
        self.emulator = TableEmulator(self.table, seed=config.seed) if self.mode == "continuous" else None
        self.thresholds = {f: self.table.top_threshold(self.target, f) for f in TOP_FRACTIONS}

    def candidates(self) -> pd.DataFrame | None:
        """The rows a strategy may choose (discrete mode), None in continuous mode."""
        if self.mode != "discrete":
            return None
        return self.table.candidates().drop(columns="row")

    def measure(self, recipe: dict, fidelity: str, rng: np.random.Generator) -> tuple[float, float, int]:
        """``(value in the objective's unit, cost charged, table row or -1)`` of one experiment."""
        nominal = self.config.fidelity(fidelity).cost
        if self.emulator is None:
            row, value, cost = self.table.lookup(recipe, fidelity)
            return value, nominal if cost is None else cost, row
        value = self.emulator.answer(recipe, fidelity, rng if self.noise else None)
        return value, nominal, -1


@dataclass
class BacktestResult:
    """Traces (one row per experiment), per-run metrics and the per-method summary."""

    traces: pd.DataFrame
    runs: pd.DataFrame
    summary: pd.DataFrame
    thresholds: dict[float, float]
    files: list[Path]


def default_methods(config: CampaignConfig) -> list[str]:
    """``[backtest] methods``, else the campaign's strategy, single-fidelity BO and random."""
    if config.backtest is not None and config.backtest.methods:
        return list(config.backtest.methods)
    return list(dict.fromkeys([config.optimizer.strategy, "single_fidelity", "random"]))


def method_issues(config: CampaignConfig, methods: Sequence[str], field: str) -> list[FieldIssue]:
    """A method is a strategy name, optionally with ``+physics``: the campaign's ``[optimizer]
    physics`` model (simulator prior / features) on top of that strategy."""
    issues = []
    for m in methods:
        base = m.removesuffix(PHYSICS_SUFFIX)
        if base not in STRATEGIES:
            issues.append(FieldIssue(field, f"unknown strategy {m!r}; allowed: {list(STRATEGIES)}, "
                                            f"model strategies also with '{PHYSICS_SUFFIX}'"))
        elif m.endswith(PHYSICS_SUFFIX) and (config.optimizer.physics == "none" or base in ("random", "sobol")):
            issues.append(FieldIssue(field, f"{m!r} needs a model strategy and [optimizer] physics "
                                            "(e.g. physics = \"prior_mean\" with a physics_model)"))
    return issues


def run_method(config: CampaignConfig, source: TableSource, method: str, seed: int, budget: float,
               progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """One sequential run of ``method`` (a strategy name) with ``seed`` under ``budget``; its trace.

    Trace columns: ``method``, ``seed``, ``step``, the parameters (in their units), ``fidelity``,
    ``row`` (table row, -1 in continuous mode), ``value`` (objective's unit), ``cost``,
    ``cumulative_cost``, ``best_target`` (best value found so far at the target, NaN before the first).
    """
    strategy = build_strategy(config, method, seed=seed)
    candidates = source.candidates()
    rng = np.random.default_rng([config.seed, seed, 7])
    sign = config.objective.sign
    history: list[dict] = []
    trace: list[dict] = []
    spent, best = 0.0, math.nan
    started = time.time()
    while True:
        frame = pd.DataFrame(history) if history else None
        try:
            sug = strategy.recommend(frame, budget_left=budget - spent, q=1, candidates=candidates)[0]
        except OptimizerError:
            break  # nothing affordable is left, or every candidate has been tried
        value, cost, row = source.measure(sug.recipe, sug.fidelity, rng)
        spent += cost
        params = recipe_row(config, sug.recipe)
        history.append({**params, "fidelity": sug.fidelity, "objective": value, "status": "completed"})
        if sug.fidelity == source.target and (math.isnan(best) or sign * value > sign * best):
            best = value
        trace.append({"method": method, "seed": seed, "step": len(trace), **params, "fidelity": sug.fidelity,
                      "row": row, "value": value, "cost": cost, "cumulative_cost": spent, "best_target": best})
        if progress is not None and len(trace) % 25 == 0:
            progress(f"  {method} seed {seed}: {len(trace)} experiments, cost {spent:g} of {budget:g}, "
                     f"best {best:.4g} ({time.time() - started:.0f} s)")
    return pd.DataFrame(trace)


def _cost_to_reach(trace: pd.DataFrame, threshold: float, sign: float) -> float:
    """Cumulative cost at which the best target value first reached ``threshold``; NaN if never."""
    if trace.empty:
        return math.nan
    hit = trace[np.isfinite(trace["best_target"]) & (sign * trace["best_target"] >= sign * threshold - 1e-12)]
    return float(hit["cumulative_cost"].iloc[0]) if len(hit) else math.nan


def run_metrics(traces: pd.DataFrame, thresholds: dict[float, float], sign: float, target: str) -> pd.DataFrame:
    """One row per (method, seed): final best, cost to each top fraction, experiments and cost shares."""
    rows = []
    for (method, seed), t in traces.groupby(["method", "seed"], sort=False):
        row = {"method": method, "seed": seed, "experiments": len(t),
               "target_experiments": int((t["fidelity"] == target).sum()),
               "cost": float(t["cumulative_cost"].iloc[-1]) if len(t) else 0.0,
               "final_best": float(t["best_target"].iloc[-1]) if len(t) else math.nan}
        for frac, thr in thresholds.items():
            row[f"cost_to_top{frac * 100:g}"] = _cost_to_reach(t, thr, sign)
        rows.append(row)
    return pd.DataFrame(rows)


def summarize(runs: pd.DataFrame, thresholds: dict[float, float]) -> pd.DataFrame:
    """Per method: median and IQR of the final best; per top fraction the median cost over the seeds
    (a seed that never got there counts as infinitely expensive) and how many seeds got there."""
    rows = []
    for method, r in runs.groupby("method", sort=False):
        best = r["final_best"].to_numpy(dtype=float)
        best = best[np.isfinite(best)] if np.isfinite(best).any() else np.array([math.nan])  # NaN: no target result
        row = {"method": method, "seeds": len(r), "final_best_median": float(np.median(best)),
               "final_best_q25": float(np.quantile(best, 0.25)), "final_best_q75": float(np.quantile(best, 0.75)),
               "experiments_median": float(r["experiments"].median()),
               "target_experiments_median": float(r["target_experiments"].median())}
        for frac in thresholds:
            key = f"cost_to_top{frac * 100:g}"
            costs = r[key].to_numpy(dtype=float)
            reached = np.isfinite(costs)
            row[f"{key}_median"] = float(np.median(np.where(reached, costs, np.inf)))
            row[f"{key}_reached"] = int(reached.sum())
        rows.append(row)
    return pd.DataFrame(rows)


def format_summary(config: CampaignConfig, summary: pd.DataFrame, thresholds: dict[float, float]) -> str:
    """The summary as an aligned text table."""
    unit = config.objective.unit
    head = ["method", "seeds", f"final best [{unit}] median [IQR]", "experiments (target)"]
    head += [f"cost to top {f * 100:g} % (>= {thr:.4g})" for f, thr in thresholds.items()]
    lines = []
    for _, r in summary.iterrows():
        cells = [r["method"], f"{r['seeds']}",
                 f"{r['final_best_median']:.4g} [{r['final_best_q25']:.4g}, {r['final_best_q75']:.4g}]",
                 f"{r['experiments_median']:g} ({r['target_experiments_median']:g})"]
        for f in thresholds:
            key = f"cost_to_top{f * 100:g}"
            med = r[f"{key}_median"]
            cells.append(f"{'never' if not math.isfinite(med) else f'{med:g}'} ({r[f'{key}_reached']}/{r['seeds']} seeds)")
        lines.append(cells)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), fmt.format(*("-" * w for w in widths)), *(fmt.format(*c) for c in lines)])


def plot(config: CampaignConfig, traces: pd.DataFrame, thresholds: dict[float, float], budget: float, path: Path,
         table_median: float | None = None) -> None:
    """Best target value found vs cumulative cost: median over seeds with the interquartile band
    (the value axis starts at the table's median target value, when given: below it nothing is of interest)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.linspace(0.0, budget, 200)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method, t in traces.groupby("method", sort=False):
        curves = []
        for _, run in t.groupby("seed"):
            cost = run["cumulative_cost"].to_numpy()
            best = run["best_target"].to_numpy()
            idx = np.searchsorted(cost, grid, side="right") - 1
            curves.append(np.where(idx >= 0, best[np.clip(idx, 0, None)], np.nan))
        C = np.array(curves)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # all-NaN columns before a method's first target result
            med = np.nanmedian(C, axis=0)
            lo, hi = np.nanquantile(C, 0.25, axis=0), np.nanquantile(C, 0.75, axis=0)
        line, = ax.plot(grid, med, label=f"{method} ({C.shape[0]} seeds)")
        ax.fill_between(grid, lo, hi, color=line.get_color(), alpha=0.2)
    for (frac, thr), style in zip(thresholds.items(), (":", "--")):
        ax.axhline(thr, color="grey", linestyle=style, linewidth=1, label=f"table top {frac * 100:g} %")
    if table_median is not None and math.isfinite(table_median):
        if config.objective.sign > 0:
            ax.set_ylim(bottom=table_median)
        else:
            ax.set_ylim(top=table_median)
    ax.set_xlabel("cumulative cost [cost units]")
    ax.set_ylabel(f"best found [{config.objective.unit}]")
    ax.set_title(f"{config.name} ({config.backtest.mode}): best {config.objective.property}\nat {config.target.name} vs cost",
                 fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_backtest(
    config: CampaignConfig,
    seeds: int,
    methods: Sequence[str] | None = None,
    output_dir: str | Path | None = None,
    budget: float | None = None,
    progress: Callable[[str], None] | None = None,
    threads: int | None = 1,
) -> BacktestResult:
    """Run every method over ``seeds`` paired seeds (``config.seed + i``) and write the results.

    Writes ``backtest_traces.csv``, ``backtest_summary.csv``, ``backtest_summary.json`` and
    ``backtest_best_vs_cost.png`` to ``output_dir`` (when given). ``threads``: torch threads
    (None leaves torch's setting); one by default, because small GP fits on a machine whose
    cores are busy ran some 30 times slower with two threads than with one.

    Raises:
        ConfigError: bad seeds / methods / budget, no ``[backtest]`` section, a table that
            does not fit the campaign (all before anything runs).
    """
    issues = []
    if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= 1000:
        issues.append(FieldIssue("seeds", f"{seeds!r} must be an integer from 1 to 1000"))
    methods = list(dict.fromkeys(methods)) if methods else default_methods(config)
    issues += method_issues(config, methods, "methods")
    budget = config.budget if budget is None else budget
    cheapest = min(f.cost for f in config.fidelities)
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not math.isfinite(budget) or budget < cheapest:
        issues.append(FieldIssue("budget", f"{budget!r} must be a number of cost units >= the cheapest fidelity's cost {cheapest:g}"))
    if issues:
        raise ConfigError(issues, source=config.source)
    say = progress or (lambda _msg: None)
    if threads is not None:
        import torch

        torch.set_num_threads(max(1, int(threads)))
    source = TableSource(config)
    t = source.table
    say(f"backtest {config.name}: {len(t.recipes)} table rows ({t.dropped} outside the space left out), mode {source.mode}, "
        f"target {source.target}; top 1 % >= {source.thresholds[0.01]:.4g}, top 5 % >= {source.thresholds[0.05]:.4g} "
        f"{config.objective.unit}; budget {budget:g}; methods {methods}; {seeds} seeds")
    if source.emulator is not None:
        say("emulator (GP per fidelity) leave-one-out R^2: " + ", ".join(f"{f} {r:.3f}" for f, r in source.emulator.r2.items()))
    parts = []
    started = time.time()
    for i in range(seeds):
        seed = config.seed + i
        for method in methods:
            t0 = time.time()
            trace = run_method(config, source, method, seed, float(budget), progress=progress)
            parts.append(trace)
            best = trace["best_target"].iloc[-1] if len(trace) else math.nan
            say(f"{method} seed {seed} ({i + 1}/{seeds}): best {best:.4g} {config.objective.unit} after "
                f"{len(trace)} experiments, cost {trace['cumulative_cost'].iloc[-1] if len(trace) else 0:g} "
                f"({time.time() - t0:.0f} s; {time.time() - started:.0f} s in all)")
    traces = pd.concat(parts, ignore_index=True)
    runs = run_metrics(traces, source.thresholds, config.objective.sign, source.target)
    summary = summarize(runs, source.thresholds)
    files: list[Path] = []
    if output_dir is not None:
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        traces.to_csv(out / TRACE_FILE, index=False)
        summary.to_csv(out / SUMMARY_FILE, index=False)
        meta = {"campaign": config.name, "mode": source.mode, "budget": budget, "seeds": seeds, "methods": methods,
                "table": config.backtest.table, "table_rows": len(t.recipes), "target": source.target,
                "unit": config.objective.unit,
                "thresholds": {f"top{f * 100:g}": v for f, v in source.thresholds.items()},
                "emulator_r2": source.emulator.r2 if source.emulator is not None else None,
                "runs": runs.to_dict(orient="records"), "summary": summary.to_dict(orient="records")}
        (out / SUMMARY_JSON).write_text(json.dumps(meta, indent=2, default=_json_default), encoding="utf-8")
        plot(config, traces, source.thresholds, float(budget), out / PLOT_FILE,
             table_median=float(np.nanmedian(t.values[source.target].to_numpy(dtype=float))))
        files = [out / TRACE_FILE, out / SUMMARY_FILE, out / SUMMARY_JSON, out / PLOT_FILE]
    return BacktestResult(traces, runs, summary, source.thresholds, files)


def _json_default(obj):
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return str(obj)


__all__ = ["BacktestResult", "TableSource", "default_methods", "run_backtest", "run_method"]
