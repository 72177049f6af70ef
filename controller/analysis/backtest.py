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

A campaign with outcome constraints or several objectives drives the strategies with every
outcome (the table has a column per fidelity and outcome):

- one objective with outcome constraints: "best" counts only target results that meet the
  constraints, and the top 1 % / 5 % are quantiles of the table's feasible target rows;
- several objectives: the measure is the hypervolume of the feasible target results found so
  far, against a reference point fixed per backtest (each objective's ``threshold``, else the
  worst value among the table's feasible target rows less 10 % of their range, the optimizer's
  own rule). The table's best hypervolume is that of all its feasible target rows; the summary
  gives the final hypervolume as a share of it and the cost at which each method first reached
  90 % of it (a fixed bar, the same for every method, so that no baseline has to be among the
  methods compared).

In both, each run ends with the strategy's recommendation (its Pareto set, ``Strategy.recommendation``):
each recommended recipe is looked up at the target (the recorded row; the emulator's mean in
continuous mode) and the summary counts the runs whose recommendation holds a recipe that
violates an outcome constraint (and, with several objectives, the hypervolume of the
recommended recipes that do not).
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
#: Several objectives: the shares of the table's best hypervolume whose cost is reported.
HV_FRACTIONS = (0.9,)
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
        self.objectives = tuple(config.objectives or (config.objective,))
        self.constraints = tuple(config.outcome_constraints)
        self.table = RecordedTable.from_file(bt.table, config.parameters, self.objectives, bt.columns,
                                             bt.cost_columns, bt.units, field="backtest",
                                             outcome_constraints=self.constraints)
        self.outcomes = self.table.outcomes
        self.units = {o.property: o.unit for o in self.outcomes}
        self.target = config.target.name
        #: "single" (one objective, nothing else: as it always was), "constrained" (one objective with
        #: outcome constraints) or "multi" (several objectives)
        self.goal = "multi" if len(self.objectives) > 1 else "constrained" if self.constraints else "single"
        feasible = self.table.feasible(self.target) if self.constraints else None
        if feasible is not None and not feasible.any():
            raise ConfigError(FieldIssue("outcome_constraints", f"no row of the table meets them at the target fidelity "
                                                                f"{self.target!r}: there is nothing to find"))
        self.emulator = TableEmulator(self.table, seed=config.seed) if self.mode == "continuous" else None
        self.reference: np.ndarray | None = None
        self.best_hypervolume = math.nan
        if self.goal == "multi":
            Y = self._signed_rows(self.table.feasible(self.target))
            self.reference = self._reference(Y)
            self.best_hypervolume = self.hypervolume(Y)
            if not self.best_hypervolume > 0:
                raise ConfigError(FieldIssue("objectives", "no feasible target row of the table improves on every "
                                                           "objective's threshold: the table's best hypervolume is 0"))
            self.thresholds = {f: f * self.best_hypervolume for f in HV_FRACTIONS}
        else:
            self.thresholds = {f: self.table.top_threshold(self.target, f, feasible) for f in TOP_FRACTIONS}

    # ------------------------------------------------------------------ several outcomes
    def _signed_rows(self, rows: np.ndarray) -> np.ndarray:
        """Signed objective values (larger is better) of the table's ``rows`` at the target (``n x k``)."""
        vals = self.table.outcome_values
        return np.column_stack([o.sign * vals[o.property][self.target].to_numpy(dtype=float)[rows]
                                for o in self.objectives])

    def _reference(self, Y: np.ndarray) -> np.ndarray:
        """Signed reference point: each objective's threshold, else the worst of ``Y`` less 10 % of its range
        (the optimizer's rule, ``optimizers.goals.reference_point``)."""
        import torch

        from optimizers.goals import reference_point

        return reference_point(self.objectives, torch.as_tensor(Y, dtype=torch.double)).numpy()

    def signed(self, values: dict[str, float]) -> np.ndarray:
        """Signed objective values of one result (property -> value)."""
        return np.array([o.sign * values[o.property] for o in self.objectives], dtype=float)

    def hypervolume(self, Y: np.ndarray) -> float:
        """Hypervolume of signed objective rows ``Y`` (``n x k``) above the backtest's reference point."""
        import torch

        from optimizers.goals import hypervolume

        Y = np.asarray(Y, dtype=float).reshape(-1, len(self.objectives))
        return hypervolume(torch.as_tensor(Y, dtype=torch.double), torch.as_tensor(self.reference, dtype=torch.double))

    def meets(self, values: dict[str, float]) -> bool:
        """Whether one result (property -> value in the outcome's unit) meets every outcome constraint."""
        return all(c.holds(values[c.property], self.units[c.property]) for c in self.constraints)

    def truth(self, recipe: dict) -> dict[str, float]:
        """Every outcome of ``recipe`` at the target: the recorded row (discrete; NaN where the table has none)
        or the emulator's mean (continuous)."""
        if self.emulator is None:
            return self.table.outcomes_of(self.table.row_of(recipe), self.target)
        return self.emulator.answer_outcomes(recipe, self.target)

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

    def measure_outcomes(self, recipe: dict, fidelity: str, rng: np.random.Generator) -> tuple[dict[str, float], float, int]:
        """``({property: value in the outcome's unit}, cost charged, table row or -1)`` of one experiment."""
        nominal = self.config.fidelity(fidelity).cost
        if self.emulator is None:
            row, values, cost = self.table.lookup_outcomes(recipe, fidelity)
            return values, nominal if cost is None else cost, row
        return self.emulator.answer_outcomes(recipe, fidelity, rng if self.noise else None), nominal, -1


@dataclass
class BacktestResult:
    """Traces (one row per experiment), per-run metrics and the per-method summary.

    ``thresholds``: top fraction -> target value (one objective), or share of the table's best
    hypervolume -> that hypervolume (several objectives, ``goal == "multi"``).
    """

    traces: pd.DataFrame
    runs: pd.DataFrame
    summary: pd.DataFrame
    thresholds: dict[float, float]
    files: list[Path]
    goal: str = "single"
    best_hypervolume: float = math.nan


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
    With outcome constraints or several objectives also ``outcome.PROPERTY`` (every other outcome, in
    its unit) and ``feasible`` (the result meets the outcome constraints); ``best_target`` counts only
    feasible target results; with several objectives ``hypervolume`` (of the feasible target results
    so far) takes the place of ``best_target``.
    """
    return run_one(config, source, method, seed, budget, progress)[0]


def run_one(config: CampaignConfig, source: TableSource, method: str, seed: int, budget: float,
            progress: Callable[[str], None] | None = None) -> tuple[pd.DataFrame, dict | None]:
    """:func:`run_method`'s trace and, with outcome constraints or several objectives, how the run's
    final recommendation fares at the target (see :func:`judge_recommendation`; None otherwise)."""
    if source.goal != "single":
        with warnings.catch_warnings():
            # one GP per outcome on a few dozen rows: gpytorch's jitter notices would flood the console
            warnings.filterwarnings("ignore", message=r"A not p\.d\., added jitter")
            return _run_goals(config, source, method, seed, budget, progress)
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
    return pd.DataFrame(trace), None


def _run_goals(config: CampaignConfig, source: TableSource, method: str, seed: int, budget: float,
               progress: Callable[[str], None] | None) -> tuple[pd.DataFrame, dict]:
    """:func:`run_one` with every outcome: the history holds each outcome's column, the trace the
    feasibility and (several objectives) the hypervolume so far."""
    strategy = build_strategy(config, method, seed=seed)
    candidates = source.candidates()
    rng = np.random.default_rng([config.seed, seed, 7])
    multi = source.goal == "multi"
    first = source.objectives[0]
    others = [o for o in source.outcomes if o.property != first.property]
    history: list[dict] = []
    trace: list[dict] = []
    front: list[np.ndarray] = []  # signed objectives of the feasible target results
    spent, best, hv = 0.0, math.nan, 0.0
    started = time.time()
    while True:
        frame = pd.DataFrame(history) if history else None
        try:
            sug = strategy.recommend(frame, budget_left=budget - spent, q=1, candidates=candidates)[0]
        except OptimizerError:
            break  # nothing affordable is left, or every candidate has been tried
        values, cost, row = source.measure_outcomes(sug.recipe, sug.fidelity, rng)
        spent += cost
        params = recipe_row(config, sug.recipe)
        history.append({**params, "fidelity": sug.fidelity, **{o.column: values[o.property] for o in source.outcomes},
                        "status": "completed"})
        ok = source.meets(values)
        if sug.fidelity == source.target and ok:
            if multi:
                front.append(source.signed(values))
                hv = source.hypervolume(np.array(front))
            elif math.isnan(best) or first.sign * values[first.property] > first.sign * best:
                best = values[first.property]
        entry = {"method": method, "seed": seed, "step": len(trace), **params, "fidelity": sug.fidelity, "row": row,
                 "value": values[first.property], **{f"outcome.{o.property}": values[o.property] for o in others},
                 "feasible": ok, "cost": cost, "cumulative_cost": spent}
        entry.update({"hypervolume": hv} if multi else {"best_target": best})
        trace.append(entry)
        if progress is not None and len(trace) % 25 == 0:
            now = (f"hypervolume {hv:.4g} ({100 * hv / source.best_hypervolume:.0f} % of the table's best)" if multi
                   else f"best feasible {best:.4g}")
            progress(f"  {method} seed {seed}: {len(trace)} experiments, cost {spent:g} of {budget:g}, "
                     f"{now} ({time.time() - started:.0f} s)")
    return pd.DataFrame(trace), judge_recommendation(source, strategy, pd.DataFrame(history) if history else None)


def judge_recommendation(source: TableSource, strategy, history: pd.DataFrame | None) -> dict:
    """Look up each recipe of the strategy's recommendation (its Pareto set) at the target.

    Returns ``rec_points`` (recipes recommended), ``rec_unknown`` (of those, with no recorded target
    value), ``rec_violations`` (with a known target value that breaks an outcome constraint), and
    ``rec_hypervolume`` (several objectives: of the recommended recipes that meet them) or ``rec_best``
    (one objective: the best first objective among them; NaN when none).
    """
    points: tuple = ()
    if history is not None:
        try:
            rec = strategy.recommendation(history)
            points = tuple(rec.front) or ({"recipe": rec.recipe},)
        except OptimizerError:
            points = ()
    known, unknown = [], 0
    for p in points:
        recipe = p["recipe"] if isinstance(p, dict) else p.recipe
        truth = source.truth(recipe)
        if all(math.isfinite(v) for v in truth.values()):
            known.append(truth)
        else:
            unknown += 1
    good = [t for t in known if source.meets(t)]
    out = {"rec_points": len(points), "rec_unknown": unknown, "rec_violations": len(known) - len(good)}
    if source.goal == "multi":
        out["rec_hypervolume"] = source.hypervolume(np.array([source.signed(t) for t in good])) if good else 0.0
    else:
        first = source.objectives[0]
        vals = [t[first.property] for t in good]
        out["rec_best"] = (max(vals, key=lambda v: first.sign * v)) if vals else math.nan
    return out


def _cost_to_reach(trace: pd.DataFrame, threshold: float, sign: float, column: str = "best_target") -> float:
    """Cumulative cost at which the best target value (or ``column``) first reached ``threshold``; NaN if never."""
    if trace.empty:
        return math.nan
    hit = trace[np.isfinite(trace[column]) & (sign * trace[column] >= sign * threshold - 1e-12)]
    return float(hit["cumulative_cost"].iloc[0]) if len(hit) else math.nan


def _hv_key(frac: float) -> str:
    return f"cost_to_hv{frac * 100:g}"


def run_metrics(traces: pd.DataFrame, thresholds: dict[float, float], sign: float, target: str,
                recommendations: dict | None = None, best_hypervolume: float | None = None) -> pd.DataFrame:
    """One row per (method, seed): final best (several objectives: final hypervolume and its share of
    ``best_hypervolume``), cost to each top fraction (hypervolume share), experiments and cost shares, and
    the run's recommendation as :func:`judge_recommendation` found it (``recommendations``: (method, seed) ->)."""
    multi = "hypervolume" in traces.columns
    rows = []
    for (method, seed), t in traces.groupby(["method", "seed"], sort=False):
        row = {"method": method, "seed": seed, "experiments": len(t),
               "target_experiments": int((t["fidelity"] == target).sum()),
               "cost": float(t["cumulative_cost"].iloc[-1]) if len(t) else 0.0}
        if multi:
            row["final_hypervolume"] = float(t["hypervolume"].iloc[-1]) if len(t) else 0.0
            row["final_hv_share"] = row["final_hypervolume"] / best_hypervolume
            for frac, thr in thresholds.items():
                row[_hv_key(frac)] = _cost_to_reach(t, thr, 1.0, column="hypervolume")
        else:
            row["final_best"] = float(t["best_target"].iloc[-1]) if len(t) else math.nan
            for frac, thr in thresholds.items():
                row[f"cost_to_top{frac * 100:g}"] = _cost_to_reach(t, thr, sign)
        rec = (recommendations or {}).get((method, seed))
        if rec is not None:
            row.update(rec)
            if multi:
                row["rec_hv_share"] = rec["rec_hypervolume"] / best_hypervolume
        rows.append(row)
    return pd.DataFrame(rows)


def _quantile_with_inf(values: np.ndarray, q: float) -> float:
    """numpy's linear quantile, but inf wherever it would interpolate towards an infinite value (numpy gives NaN)."""
    v = np.sort(np.asarray(values, dtype=float))
    pos = q * (len(v) - 1)
    lo, hi = int(math.floor(pos)), int(math.ceil(pos))
    if not (math.isfinite(v[lo]) and math.isfinite(v[hi])):
        return math.inf
    return float(v[lo] + (pos - lo) * (v[hi] - v[lo]))


def _quartiles(values: np.ndarray) -> tuple[float, float, float]:
    values = values[np.isfinite(values)] if np.isfinite(values).any() else np.array([math.nan])
    return float(np.median(values)), float(np.quantile(values, 0.25)), float(np.quantile(values, 0.75))


def summarize(runs: pd.DataFrame, thresholds: dict[float, float]) -> pd.DataFrame:
    """Per method: median and IQR of the final best (several objectives: of the final hypervolume's share
    of the table's best); per top fraction (hypervolume share) the median cost over the seeds (a seed that
    never got there counts as infinitely expensive) and how many seeds got there; with a recommendation
    judged per run, how many runs recommended a recipe that violates an outcome constraint."""
    multi = "final_hypervolume" in runs.columns
    rows = []
    for method, r in runs.groupby("method", sort=False):
        row = {"method": method, "seeds": len(r)}
        if multi:
            med, q25, q75 = _quartiles(r["final_hv_share"].to_numpy(dtype=float))
            row.update({"final_hv_share_median": med, "final_hv_share_q25": q25, "final_hv_share_q75": q75,
                        "final_hypervolume_median": float(r["final_hypervolume"].median())})
        else:
            best = r["final_best"].to_numpy(dtype=float)
            best = best[np.isfinite(best)] if np.isfinite(best).any() else np.array([math.nan])  # NaN: no target result
            row.update({"final_best_median": float(np.median(best)), "final_best_q25": float(np.quantile(best, 0.25)),
                        "final_best_q75": float(np.quantile(best, 0.75))})
        row.update({"experiments_median": float(r["experiments"].median()),
                    "target_experiments_median": float(r["target_experiments"].median())})
        for frac in thresholds:
            key = _hv_key(frac) if multi else f"cost_to_top{frac * 100:g}"
            costs = r[key].to_numpy(dtype=float)
            reached = np.isfinite(costs)
            row[f"{key}_median"] = float(np.median(np.where(reached, costs, np.inf)))
            if multi:  # quartiles too, a seed that never got there counting as infinitely expensive
                for q in (25, 75):
                    row[f"{key}_q{q}"] = _quantile_with_inf(np.where(reached, costs, np.inf), q / 100)
            row[f"{key}_reached"] = int(reached.sum())
        if "rec_points" in r.columns:
            row.update({"rec_violating_runs": int((r["rec_violations"] > 0).sum()),
                        "rec_violations": int(r["rec_violations"].sum()), "rec_points": int(r["rec_points"].sum()),
                        "rec_unknown": int(r["rec_unknown"].sum())})
            if multi:
                row["rec_hv_share_median"] = float(r["rec_hv_share"].median())
            else:
                row["rec_best_median"] = _quartiles(r["rec_best"].to_numpy(dtype=float))[0]
        rows.append(row)
    return pd.DataFrame(rows)


def _cost_cell(r, key: str) -> str:
    def text(v: float) -> str:
        return "never" if not math.isfinite(v) else f"{v:g}"

    iqr = f" [{text(r[f'{key}_q25'])}, {text(r[f'{key}_q75'])}]" if f"{key}_q25" in r else ""
    return f"{text(r[f'{key}_median'])}{iqr} ({r[f'{key}_reached']}/{r['seeds']} seeds)"


def _recommendation_cell(r) -> str:
    unknown = f", {r['rec_unknown']} not in the table" if r["rec_unknown"] else ""
    return f"{r['rec_violating_runs']}/{r['seeds']} runs ({r['rec_violations']} of {r['rec_points']} recipes{unknown})"


def format_summary(config: CampaignConfig, summary: pd.DataFrame, thresholds: dict[float, float]) -> str:
    """The summary as an aligned text table."""
    unit = config.objective.unit
    multi = "final_hv_share_median" in summary.columns
    judged = "rec_points" in summary.columns
    if multi:
        head = ["method", "seeds", "final hypervolume, % of the table's best: median [IQR]", "experiments (target)"]
        head += [f"cost to {f * 100:g} % of it: median [IQR]" for f in thresholds]
        head += ["recommendation HV %", "recommendation violates constraints"]
    else:
        best = "final best feasible" if judged else "final best"
        head = ["method", "seeds", f"{best} [{unit}] median [IQR]", "experiments (target)"]
        head += [f"cost to top {f * 100:g} % (>= {thr:.4g})" for f, thr in thresholds.items()]
        if judged:
            head += ["recommendation violates constraints"]
    lines = []
    for _, r in summary.iterrows():
        if multi:
            cells = [r["method"], f"{r['seeds']}",
                     f"{100 * r['final_hv_share_median']:.1f} [{100 * r['final_hv_share_q25']:.1f}, "
                     f"{100 * r['final_hv_share_q75']:.1f}]",
                     f"{r['experiments_median']:g} ({r['target_experiments_median']:g})"]
            cells += [_cost_cell(r, _hv_key(f)) for f in thresholds]
            cells += [f"{100 * r['rec_hv_share_median']:.1f}", _recommendation_cell(r)]
        else:
            cells = [r["method"], f"{r['seeds']}",
                     f"{r['final_best_median']:.4g} [{r['final_best_q25']:.4g}, {r['final_best_q75']:.4g}]",
                     f"{r['experiments_median']:g} ({r['target_experiments_median']:g})"]
            cells += [_cost_cell(r, f"cost_to_top{f * 100:g}") for f in thresholds]
            if judged:
                cells.append(_recommendation_cell(r))
        lines.append(cells)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), fmt.format(*("-" * w for w in widths)), *(fmt.format(*c) for c in lines)])


def plot(config: CampaignConfig, traces: pd.DataFrame, thresholds: dict[float, float], budget: float, path: Path,
         table_median: float | None = None, best_hypervolume: float | None = None) -> None:
    """Best target value found vs cumulative cost: median over seeds with the interquartile band
    (the value axis starts at the table's median target value, when given: below it nothing is of interest).
    Several objectives: the hypervolume of the feasible target results as a share of ``best_hypervolume``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    multi = "hypervolume" in traces.columns
    column, scale = ("hypervolume", 100.0 / best_hypervolume) if multi else ("best_target", 1.0)
    grid = np.linspace(0.0, budget, 200)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method, t in traces.groupby("method", sort=False):
        curves = []
        for _, run in t.groupby("seed"):
            cost = run["cumulative_cost"].to_numpy()
            best = run[column].to_numpy(dtype=float) * scale
            idx = np.searchsorted(cost, grid, side="right") - 1
            curves.append(np.where(idx >= 0, best[np.clip(idx, 0, None)], np.nan))
        C = np.array(curves)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # all-NaN columns before a method's first target result
            med = np.nanmedian(C, axis=0)
            lo, hi = np.nanquantile(C, 0.25, axis=0), np.nanquantile(C, 0.75, axis=0)
        line, = ax.plot(grid, med, label=f"{method} ({C.shape[0]} seeds)")
        ax.fill_between(grid, lo, hi, color=line.get_color(), alpha=0.2)
    if multi:
        ax.axhline(100.0, color="grey", linestyle="-", linewidth=1, label="table's best")
        for frac, style in zip(thresholds, (":", "--")):
            ax.axhline(100.0 * frac, color="grey", linestyle=style, linewidth=1, label=f"{frac * 100:g} % of it")
        ax.set_ylim(bottom=0.0)
        ax.set_ylabel("hypervolume [% of the table's best]")
        title = f"{config.name} ({config.backtest.mode})\nhypervolume of the feasible results at {config.target.name} vs cost"
    else:
        for (frac, thr), style in zip(thresholds.items(), (":", "--")):
            ax.axhline(thr, color="grey", linestyle=style, linewidth=1, label=f"table top {frac * 100:g} %")
        if table_median is not None and math.isfinite(table_median):
            if config.objective.sign > 0:
                ax.set_ylim(bottom=table_median)
            else:
                ax.set_ylim(top=table_median)
        ax.set_ylabel(f"best found [{config.objective.unit}]")
        title = f"{config.name} ({config.backtest.mode}): best {config.objective.property}\nat {config.target.name} vs cost"
    ax.set_xlabel("cumulative cost [cost units]")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _goals_line(source: TableSource) -> str:
    """What a backtest with several outcomes measures (its reference point and the table's best)."""
    cons = "; outcome constraints: " + ", ".join(c.text for c in source.constraints) if source.constraints else ""
    feasible = int(source.table.feasible(source.target).sum()) if source.constraints else int(source.table.measured(source.target).sum())
    if source.goal == "constrained":
        return (f"objective {source.objectives[0].property} ({source.objectives[0].direction}){cons}; "
                f"{feasible} of the table's target rows meet them")
    objs = ", ".join(f"{o.property} [{o.unit}] ({o.direction})" for o in source.objectives)
    ref = ", ".join(f"{o.sign * r:.4g} {o.unit}" + ("" if o.threshold is not None else " (table)")
                    for o, r in zip(source.objectives, source.reference))
    levels = ", ".join(f"{f * 100:g} % = {v:.4g}" for f, v in source.thresholds.items())
    return (f"objectives {objs}{cons}; hypervolume reference ({ref}); the table's best hypervolume "
            f"{source.best_hypervolume:.4g} ({feasible} feasible target rows); {levels}")


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
    multi = source.goal == "multi"
    if multi:
        bar = ""
    else:
        bar = (f"top 1 % >= {source.thresholds[0.01]:.4g}, top 5 % >= {source.thresholds[0.05]:.4g} "
               f"{config.objective.unit}{' (feasible rows)' if source.goal == 'constrained' else ''}; ")
    say(f"backtest {config.name}: {len(t.recipes)} table rows ({t.dropped} outside the space left out), mode {source.mode}, "
        f"target {source.target}; {bar}budget {budget:g}; methods {methods}; {seeds} seeds")
    if source.goal != "single":
        say(_goals_line(source))
    if source.emulator is not None:
        if source.goal == "single":
            say("emulator (GP per fidelity) leave-one-out R^2: " + ", ".join(f"{f} {r:.3f}" for f, r in source.emulator.r2.items()))
        else:
            say("emulator (GP per fidelity and outcome) leave-one-out R^2: " + "; ".join(
                f"{p}: " + ", ".join(f"{f} {r:.3f}" for f, r in per.items()) for p, per in source.emulator.outcome_r2.items()))
    parts = []
    recs: dict = {}
    started = time.time()
    for i in range(seeds):
        seed = config.seed + i
        for method in methods:
            t0 = time.time()
            trace, rec = run_one(config, source, method, seed, float(budget), progress=progress)
            parts.append(trace)
            cost = trace['cumulative_cost'].iloc[-1] if len(trace) else 0
            if multi:
                hv = trace["hypervolume"].iloc[-1] if len(trace) else 0.0
                found = f"hypervolume {hv:.4g} ({100 * hv / source.best_hypervolume:.1f} % of the table's best)"
            else:
                best = trace["best_target"].iloc[-1] if len(trace) else math.nan
                found = f"best {'feasible ' if source.goal == 'constrained' else ''}{best:.4g} {config.objective.unit}"
            judged = ""
            if rec is not None:
                recs[(method, seed)] = rec
                judged = (f"; recommends {rec['rec_points']} recipe{'' if rec['rec_points'] == 1 else 's'}, "
                          f"{rec['rec_violations']} violating the outcome constraints")
            say(f"{method} seed {seed} ({i + 1}/{seeds}): {found} after "
                f"{len(trace)} experiments, cost {cost:g}{judged} "
                f"({time.time() - t0:.0f} s; {time.time() - started:.0f} s in all)")
    traces = pd.concat(parts, ignore_index=True)
    runs = run_metrics(traces, source.thresholds, config.objective.sign, source.target, recommendations=recs or None,
                       best_hypervolume=source.best_hypervolume if multi else None)
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
                "thresholds": ({f"hv{f * 100:g}": v for f, v in source.thresholds.items()} if multi else
                               {f"top{f * 100:g}": v for f, v in source.thresholds.items()}),
                "emulator_r2": source.emulator.r2 if source.emulator is not None else None,
                "runs": runs.to_dict(orient="records"), "summary": summary.to_dict(orient="records")}
        if source.goal != "single":
            meta["objectives"] = [{"property": o.property, "unit": o.unit, "direction": o.direction,
                                   "threshold": o.threshold} for o in source.objectives]
            meta["outcome_constraints"] = [c.text for c in source.constraints]
            if source.emulator is not None:
                meta["emulator_r2_by_outcome"] = source.emulator.outcome_r2
        if multi:
            meta["reference"] = {o.property: o.sign * float(r) for o, r in zip(source.objectives, source.reference)}
            meta["best_hypervolume"] = source.best_hypervolume
        (out / SUMMARY_JSON).write_text(json.dumps(meta, indent=2, default=_json_default), encoding="utf-8")
        plot(config, traces, source.thresholds, float(budget), out / PLOT_FILE,
             table_median=float(np.nanmedian(t.values[source.target].to_numpy(dtype=float))),
             best_hypervolume=source.best_hypervolume if multi else None)
        files = [out / TRACE_FILE, out / SUMMARY_FILE, out / SUMMARY_JSON, out / PLOT_FILE]
    return BacktestResult(traces, runs, summary, source.thresholds, files, source.goal,
                          source.best_hypervolume if multi else math.nan)


def _json_default(obj):
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return obj.item()
    return str(obj)


__all__ = ["BacktestResult", "TableSource", "default_methods", "judge_recommendation", "run_backtest", "run_method",
           "run_one"]
