"""Multi-objective benchmark: hypervolume against cost, and the time each suggestion takes.

Run ``python -m optimizers.bench_mo [--smoke | --quick] --out DIR``. Writes:

- ``runs.csv``: one row per evaluation: ``problem, method, seed, step, fidelity, status, cost,
  cumulative_cost, n_observations, n_target, latency_s, refit_s, hv, hv_observed, front_size, load1``;
- ``summary.json``: per problem and method, median and IQR of Delta, of the final hypervolume and of the
  final observed hypervolume; the settings of the BoTorch baselines; the latency table;
- ``hv_vs_cost.png``: median (IQR band) hypervolume of the recommended front against cumulative cost.

**Hypervolume.** ``hv`` is the hypervolume, above the problem's reference point, of the *true target-fidelity
values* of the method's recommended front after that evaluation: for our strategies the recipes of
``strategy.recommendation(history).front`` (model-based: observed recipes whose posterior means at the
target are non-dominated; random: the observed target Pareto set); for MOMF and MF-HVKG the observed
recipes whose posterior means at the target, under their own model, are non-dominated (the same rule).
``hv_observed`` is the hypervolume of the target-fidelity observations themselves (non-decreasing).
MOMF and MF-HVKG start from the tutorial's initial design, one batch: their first model, and so their
first front, comes after it (``hv`` 0 before).

**Latency in the loop** (``latency_s``): one suggestion including the model fit to the history it sees
(our strategies cache the fit made for the previous recommendation: it is timed apart and added); ``refit_s``:
the recommendation after the evaluation (for MOMF / MF-HVKG one more fit of their model, for the front).

**Delta** (as ``optimizers.bench``, on hypervolume): for a seed, ``h_SF`` is single-fidelity BO's final
``hv``; ``c_M`` is the cumulative cost at which method M first has ``hv >= 0.9 h_SF`` (90 % of SF's final
hypervolume above the reference point); ``Delta = max(-1, (c_SF - c_M) / c_SF)``, -1 if M never gets there.
A seed where SF's final hypervolume is 0 has no Delta (counted in ``summary.json`` as ``seeds_without_delta``).

**Latency.** Separately from the runs, one cold suggestion (model fit + acquisition) on the Branin-Currin
problem with ``n`` random observations, 90 % at the cheap fidelity, per method, each in a fresh process
with one torch thread (as the runs); the load average is recorded with each figure (the machine may be shared).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import pathlib
import platform
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from optimizers import bench_mo_baselines as baselines
from optimizers.bench_mo_problems import MOProblem, momf_branin_currin
from optimizers.strategies import make_strategy

STRATEGY_METHODS = ("multi_fidelity", "single_fidelity", "random", "sobol")
BOTORCH_METHODS = ("momf", "mf_hvkg")
#: Problems that installed packages add (a material system's own benchmark), run in quick and full modes.
PROBLEMS_GROUP = "sdl.bench_mo_problems"

#: Effort of the BoTorch baselines in the quick and full runs: MOMF as BoTorch's tutorial runs it; MF-HVKG
#: reduced from the tutorial's (in brackets) so that a run fits on a 2-core machine: 4 fantasies (8), 4 Pareto
#: designs (10), 64 raw samples (512), 256 raw samples for the current value (1024), 50 L-BFGS iterations
#: (200), and 4 restarts / 128 raw samples (BoTorch's defaults 20 / 1024) for the one-shot initializer's
#: inner search.
REDUCED = dataclasses.replace(
    baselines.TUTORIAL, hvkg_fantasies=4, hvkg_pareto=4, hvkg_raw_samples=64, hvkg_current_raw=256, hvkg_maxiter=50,
    hvkg_inner_restarts=4, hvkg_inner_raw=128)
#: The smoke run's (CI) effort: just enough to exercise the code.
SMOKE = dataclasses.replace(
    REDUCED, momf_mc_samples=16, momf_restarts=1, momf_raw_samples=16, momf_maxiter=10,
    hvkg_fantasies=2, hvkg_pareto=2, hvkg_inner_mc=4, hvkg_raw_samples=8, hvkg_current_raw=16, hvkg_maxiter=5,
    hvkg_inner_restarts=1, hvkg_inner_raw=8)


#: Extra latency-only methods: a BoTorch baseline at its tutorial's settings (``--latency-methods``).
LATENCY_VARIANTS = {"mf_hvkg_tutorial": ("mf_hvkg", baselines.TUTORIAL)}


@dataclass(frozen=True)
class Mode:
    name: str
    seeds: int
    baseline_seeds: dict[str, int]  # BoTorch method -> seeds (fewer: they are slow)
    problems: tuple[str, ...]
    methods: tuple[str, ...]
    latency_sizes: tuple[int, ...]
    settings: baselines.BoTorchSettings


MODES = {
    "smoke": Mode("smoke", 2, {}, ("momf_branin_currin",), ("multi_fidelity", "single_fidelity", "random"), (), SMOKE),
    "quick": Mode("quick", 3, {"momf": 1, "mf_hvkg": 1}, ("momf_branin_currin",),
                  ("multi_fidelity", "single_fidelity", "random", "momf", "mf_hvkg"), (100,), REDUCED),
    "full": Mode("full", 10, {"momf": 3, "mf_hvkg": 3}, ("momf_branin_currin",),
                 ("multi_fidelity", "single_fidelity", "random", "momf", "mf_hvkg"), (100, 1000), REDUCED),
}


def mode_problems(mode: Mode) -> list[str]:
    from core.system import installed  # noqa: PLC0415

    return list(mode.problems) + (installed(PROBLEMS_GROUP) if mode.name != "smoke" else [])


def build_problem(name: str) -> MOProblem:
    if name == "momf_branin_currin":
        return momf_branin_currin()
    from core.system import load_reference  # noqa: PLC0415

    return load_reference(name, PROBLEMS_GROUP, "--problems", "multi-objective benchmark problem")()


def _row_of(space, recipe) -> dict:
    return {p.name: (float(recipe[p.name].to(p.unit).magnitude) if p.kind == "continuous" else recipe[p.name])
            for p in space.parameters}


def _outcome_row(problem: MOProblem, values: dict) -> dict:
    return {o.column: values[o.property] for o in problem.space.outcomes}


def _observed_hv(problem: MOProblem, Y_target: list[list[float]]) -> float:
    from optimizers.goals import hypervolume  # noqa: PLC0415

    if not Y_target:
        return 0.0
    return hypervolume(torch.tensor(Y_target, dtype=torch.double), problem.signed_ref)


def _load1() -> float:
    try:
        return float(os.getloadavg()[0])
    except OSError:  # pragma: no cover - not on every platform
        return math.nan


def run_strategy(problem: MOProblem, method: str, seed: int, budget: float) -> list[dict]:
    """One run of one of our strategies; one record per evaluation."""
    torch.manual_seed(seed)
    space = problem.space
    strategy = make_strategy(method, space, seed=seed)
    target = space.target_fidelity.name
    rows: list[dict] = []
    records: list[dict] = []
    Y_target: list[list[float]] = []
    spent, step = 0.0, 0
    target_only = method != "multi_fidelity"
    fit_s = 0.0
    while spent < budget - 1e-9:
        if target_only and space.target_fidelity.cost > budget - spent + 1e-9:
            break  # a single-fidelity method cannot afford another target run
        history = pd.DataFrame(rows) if rows else None
        t0 = time.perf_counter()
        try:
            sug = strategy.recommend(history, budget_left=budget - spent, q=1)[0]
        except Exception as err:  # noqa: BLE001 - a benchmark run records failure and stops
            print(f"  {problem.name}/{method}/seed {seed}: stopped: {err}", file=sys.stderr)
            break
        latency = time.perf_counter() - t0 + fit_s  # the fit to this history happened after the last evaluation
        values = problem.evaluate(sug.recipe, sug.fidelity)
        rows.append({**_row_of(space, sug.recipe), "fidelity": sug.fidelity, **_outcome_row(problem, values),
                     "status": "completed"})
        cost = space.fidelity(sug.fidelity).cost
        spent += cost
        if sug.fidelity == target:
            Y_target.append(problem.signed(values))
        t1 = time.perf_counter()
        if hasattr(strategy, "fitted_goals"):  # timed apart: it belongs to the next suggestion's latency
            strategy.fitted_goals(pd.DataFrame(rows))
        fit_s = time.perf_counter() - t1
        t1 = time.perf_counter()
        try:
            front = [p.recipe for p in strategy.recommendation(pd.DataFrame(rows)).front]
        except Exception:  # noqa: BLE001 - nothing to recommend yet (a model-free baseline before a target run)
            front = []
        refit = time.perf_counter() - t1
        records.append({
            "problem": problem.name, "method": method, "seed": seed, "step": step, "fidelity": sug.fidelity,
            "status": "completed", "cost": cost, "cumulative_cost": spent, "n_observations": len(rows),
            "n_target": len(Y_target), "latency_s": latency, "refit_s": refit, "hv": problem.hypervolume_of(front),
            "hv_observed": _observed_hv(problem, Y_target), "front_size": len(front), "load1": _load1(),
        })
        step += 1
    return records


def run_botorch(problem: MOProblem, method: str, seed: int, budget: float, settings: baselines.BoTorchSettings) -> list[dict]:
    """One run of MOMF or MF-HVKG (``optimizers.bench_mo_baselines``); one record per evaluation."""
    torch.manual_seed(seed)
    box = baselines._Box(problem)
    step_fn = baselines.STEPS[method]
    k = len(problem.space.objectives)
    target = problem.space.target_fidelity.name
    X = torch.zeros(0, box.p + 1, dtype=torch.double)
    Y = torch.zeros(0, k, dtype=torch.double)
    records: list[dict] = []
    Y_target: list[list[float]] = []
    spent, step = 0.0, 0
    design = list(baselines.initial_design(box, seed, settings))
    while spent < budget - 1e-9:
        t0 = time.perf_counter()
        if design:
            x, latency = design.pop(0), 0.0
        else:
            try:
                x, _ = step_fn(box, X, Y, settings, seed * 1000 + step)
            except Exception as err:  # noqa: BLE001 - a benchmark run records failure and stops
                print(f"  {problem.name}/{method}/seed {seed}: stopped: {type(err).__name__}: {err}", file=sys.stderr)
                break
            latency = time.perf_counter() - t0
        fid = box.fidelity_of(float(x[-1]))
        if fid.cost > budget - spent + 1e-9:  # the chosen fidelity is not affordable: the cheapest one is
            fid = box.fidelities[0]
        x = torch.cat([x[: box.p], x.new_tensor([fid.value])])
        recipe = box.recipe(x)
        values = problem.evaluate(recipe, fid.name)
        X = torch.cat([X, x.reshape(1, -1)])
        Y = torch.cat([Y, torch.tensor([problem.signed(values)], dtype=torch.double)])
        spent += fid.cost
        if fid.name == target:
            Y_target.append(problem.signed(values))
        t1 = time.perf_counter()
        # the initial design is one batch (as in the tutorial): the first model, and so the first front, after it
        front = baselines.front_recipes(box, baselines.fit_model(X, Y), X, k) if not design else []
        refit = time.perf_counter() - t1
        records.append({
            "problem": problem.name, "method": method, "seed": seed, "step": step, "fidelity": fid.name,
            "status": "completed", "cost": fid.cost, "cumulative_cost": spent, "n_observations": X.shape[0],
            "n_target": len(Y_target), "latency_s": latency, "refit_s": refit, "hv": problem.hypervolume_of(front),
            "hv_observed": _observed_hv(problem, Y_target), "front_size": len(front), "load1": _load1(),
        })
        step += 1
    return records


def _job(args) -> tuple[tuple, list[dict], float]:
    name, method, seed, budget, settings, threads = args
    torch.set_num_threads(threads)
    warnings.filterwarnings("ignore")
    problem = build_problem(name)
    t0 = time.perf_counter()
    if method in BOTORCH_METHODS:
        recs = run_botorch(problem, method, seed, budget, settings)
    else:
        recs = run_strategy(problem, method, seed, budget)
    return (name, method, seed), recs, time.perf_counter() - t0


# ---------------------------------------------------------------------- scoring
def _cost_to_reach(run: pd.DataFrame, level: float) -> float:
    hit = run[run["hv"] >= level - 1e-12]
    return float(hit["cumulative_cost"].iloc[0]) if len(hit) else math.inf


def deltas(df: pd.DataFrame) -> pd.DataFrame:
    """Per (method, seed): Delta against single-fidelity BO of the same seed, final hypervolumes."""
    out = []
    for seed, runs in df.groupby("seed"):
        sf = runs[runs["method"] == "single_fidelity"].sort_values("step")
        if sf.empty:
            continue
        level = 0.9 * float(sf["hv"].iloc[-1])
        if level <= 0.0:  # SF recommends nothing above the reference point: every method "reaches" it at once
            continue
        c_sf = _cost_to_reach(sf, level)
        for method, run in runs.groupby("method"):
            run = run.sort_values("step")
            c = _cost_to_reach(run, level)
            delta = -1.0 if not math.isfinite(c) else max(-1.0, (c_sf - c) / c_sf)
            out.append({"method": method, "seed": seed, "delta": delta, "cost_to_90pct": c,
                        "final_hv": float(run["hv"].iloc[-1]), "final_hv_observed": float(run["hv_observed"].iloc[-1]),
                        "cheap_fraction": float((run["cost"] < 1.0).mean()),
                        "evaluations": len(run)})
    return pd.DataFrame(out)


def _stats(values) -> dict:
    v = np.asarray(list(values), dtype=float)
    if v.size == 0:
        return {"median": None, "q25": None, "q75": None, "n": 0}
    return {"median": float(np.median(v)), "q25": float(np.percentile(v, 25)),
            "q75": float(np.percentile(v, 75)), "n": int(v.size)}


# ---------------------------------------------------------------------- latency
def _synthetic(problem: MOProblem, n: int, seed: int) -> tuple[pd.DataFrame, torch.Tensor, torch.Tensor]:
    """``n`` random observations, 90 % at the cheapest fidelity: as a history table and as the baselines'
    ``X`` (unit coordinates + fidelity value) and signed ``Y``."""
    space = problem.space
    box = baselines._Box(problem)
    rng = np.random.default_rng(seed)
    U = box.snap(torch.as_tensor(rng.random((n, box.p))))
    cheap, target = box.fidelities[0], space.target_fidelity
    fids = [cheap if c else target for c in rng.random(n) < 0.9]
    recipes = space.decode(space.from_unit(U))
    rows, X, Y = [], [], []
    for u, r, f in zip(U, recipes, fids):
        v = problem.evaluate(r, f.name)
        rows.append({**_row_of(space, r), "fidelity": f.name, **_outcome_row(problem, v), "status": "completed"})
        X.append(torch.cat([u, u.new_tensor([f.value])]))
        Y.append(problem.signed(v))
    return pd.DataFrame(rows), torch.stack(X), torch.tensor(Y, dtype=torch.double)


def _latency_child(method: str, n: int, settings: baselines.BoTorchSettings, seed: int, threads: int, queue) -> None:
    torch.set_num_threads(threads)
    warnings.filterwarnings("ignore")
    problem = momf_branin_currin()
    box = baselines._Box(problem)
    warm, _, _ = _synthetic(problem, 12, seed + 1)  # imports and BoTorch's compiled kernels load here, untimed
    if method not in BOTORCH_METHODS and method not in LATENCY_VARIANTS:
        make_strategy(method, problem.space, seed=seed).recommend(warm, q=1)
    history, X, Y = _synthetic(problem, n, seed)
    load_before = list(os.getloadavg())
    t0 = time.perf_counter()
    if method in LATENCY_VARIANTS:
        base, variant = LATENCY_VARIANTS[method]
        baselines.STEPS[base](box, X, Y, variant, seed)
    elif method in BOTORCH_METHODS:
        baselines.STEPS[method](box, X, Y, settings, seed)
    else:
        make_strategy(method, problem.space, seed=seed).recommend(history, q=1)
    queue.put({"seconds": time.perf_counter() - t0, "load_average_before": load_before,
               "load_average_after": list(os.getloadavg())})


def measure_latency(sizes, methods, settings: baselines.BoTorchSettings, seed: int = 0, threads: int = 1,
                    timeout_s: float = 600.0) -> list[dict]:
    """One cold suggestion (fit + acquisition) per method and size on Branin-Currin, each in a fresh process
    (stopped after ``timeout_s``); the load average before and after each."""
    import multiprocessing  # noqa: PLC0415

    ctx = multiprocessing.get_context("spawn")
    out = []
    for n in sizes:
        for method in methods:
            queue = ctx.Queue()
            proc = ctx.Process(target=_latency_child, args=(method, n, settings, seed, threads, queue))
            proc.start()
            row = {"method": method, "n_observations": n, "seconds": None}
            try:
                row.update(queue.get(timeout=timeout_s + 120.0))  # setup (data, warm-up) is not timed
            except Exception:  # noqa: BLE001 - queue.Empty: it did not finish
                row.update({"timed_out_after_s": timeout_s, "load_average_after": list(os.getloadavg())})
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join()
            out.append(row)
            secs = "did not finish" if row["seconds"] is None else f"{row['seconds']:8.2f} s"
            print(f"latency {method:16s} n={n:5d}: {secs}  (load {row.get('load_average_before', ['?'])[0]} -> "
                  f"{row['load_average_after'][0]:.2f})", flush=True)
    return out


# ---------------------------------------------------------------------- plot
def plot(df: pd.DataFrame, problems: dict[str, MOProblem], path: pathlib.Path) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    names = list(dict.fromkeys(df["problem"]))
    methods = sorted(set(df["method"]))
    colours = {m: f"C{i}" for i, m in enumerate(methods)}
    fig, axes = plt.subplots(1, len(names), figsize=(5.0 * len(names), 3.8), squeeze=False)
    for ax, name in zip(axes[0], names):
        sub = df[df["problem"] == name]
        grid = np.linspace(0, sub["cumulative_cost"].max(), 80)
        for method, runs in sub.groupby("method"):
            curves = []
            for _, run in runs.groupby("seed"):
                run = run.sort_values("step")
                idx = np.searchsorted(run["cumulative_cost"].to_numpy(), grid, side="right") - 1
                hv = run["hv"].to_numpy()
                curves.append(np.where(idx >= 0, hv[np.clip(idx, 0, None)], 0.0))
            c = np.array(curves)
            n = c.shape[0]
            ax.plot(grid, np.median(c, axis=0), color=colours[method], label=f"{method} ({n} seeds)")
            ax.fill_between(grid, np.percentile(c, 25, axis=0), np.percentile(c, 75, axis=0), alpha=0.2,
                            color=colours[method])
        max_hv = problems[name].max_hv
        if max_hv is not None:
            ax.axhline(max_hv, color="k", lw=0.8, ls="--", label="best possible")
        ax.set_title(name)
        ax.set_xlabel("cumulative cost (target-run units)")
        ax.set_ylabel("hypervolume of the front (true target)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m optimizers.bench_mo", description=__doc__.split("\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="3 seeds, short budgets")
    group.add_argument("--smoke", action="store_true", help="tiny: 1 problem, 2 seeds, our strategies only (CI)")
    parser.add_argument("--out", default="bench-out/multi_objective", help="output folder")
    parser.add_argument("--seeds", type=int, default=None, help="seeds of our strategies (override)")
    parser.add_argument("--baseline-seeds", default=None,
                        help="seeds of the BoTorch baselines, e.g. momf=3,mf_hvkg=2 (override)")
    parser.add_argument("--problems", default=None, help="comma-separated subset of problems")
    parser.add_argument("--methods", default=None, help="comma-separated methods (default: the mode's)")
    parser.add_argument("--budget", type=float, default=None, help="override every problem's budget")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (processes; one torch thread each)")
    parser.add_argument("--baselines-on-discrete", action="store_true",
                        help="run MOMF also on problems with discrete parameters (slow)")
    parser.add_argument("--no-latency", action="store_true", help="skip the latency measurement")
    parser.add_argument("--latency-only", action="store_true", help="no runs: only the latency table")
    parser.add_argument("--latency-methods", default=None,
                        help="comma-separated methods of the latency table (default: the model-based ones run); "
                             "mf_hvkg_tutorial times MF-HVKG at its tutorial's settings")
    parser.add_argument("--latency-timeout", type=float, default=600.0, help="seconds before a latency measurement is given up")
    parser.add_argument("--latency-sizes", default=None, help="comma-separated n for the latency table (override)")
    args = parser.parse_args(argv)
    mode = MODES["smoke" if args.smoke else "quick" if args.quick else "full"]
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = args.seeds or mode.seeds
    base_seeds = dict(mode.baseline_seeds)
    if args.baseline_seeds:
        base_seeds.update({k: int(v) for k, v in (kv.split("=") for kv in args.baseline_seeds.split(","))})
    names = args.problems.split(",") if args.problems else mode_problems(mode)
    methods = args.methods.split(",") if args.methods else list(mode.methods)
    # one torch thread per run: on a small shared machine two threads per process oversubscribe the cores
    threads = 1
    torch.set_num_threads(threads)
    warnings.filterwarnings("ignore")
    started = time.perf_counter()
    summary = {"mode": mode.name, "seeds": seeds, "baseline_seeds": base_seeds, "machine": platform.platform(),
               "cpus": os.cpu_count(), "jobs": args.jobs, "torch_threads_per_run": threads,
               "load_average_start": list(os.getloadavg()), "botorch_settings": mode.settings.describe(),
               "botorch_tutorial_settings": baselines.TUTORIAL.describe(), "problems": {}, "skipped": {}}
    problems: dict[str, MOProblem] = {}
    jobs = []
    for name in names:
        try:
            problem = build_problem(name)
        except Exception as err:  # noqa: BLE001 - an installed problem that cannot be built: report and skip the cell
            summary["skipped"][name] = f"{type(err).__name__}: {err}"
            print(f"skipping {name}: {summary['skipped'][name]}")
            continue
        problems[name] = problem
        budget = args.budget or problem.budget[mode.name]
        discrete = bool(baselines._Box(problem).discrete)
        for method in methods:
            if method == "mf_hvkg" and discrete:
                summary["skipped"][f"{name}/{method}"] = "MF-HVKG here needs continuous parameters only"
                continue
            if method == "momf" and discrete and not args.baselines_on_discrete:
                summary["skipped"][f"{name}/{method}"] = (
                    "not run by default: with discrete parameters each MOMF step optimizes once per choice "
                    "combination and fidelity; --baselines-on-discrete runs it")
                continue
            n = base_seeds.get(method, 0) if method in BOTORCH_METHODS else seeds
            jobs += [(name, method, seed, budget, mode.settings, threads) for seed in range(n)]
    # slow runs first, so that parallel workers finish together
    if args.latency_only:
        jobs = []
    jobs.sort(key=lambda j: (j[1] not in BOTORCH_METHODS, j[1] != "multi_fidelity"))
    records: list[dict] = []
    run_wall: list[dict] = []

    def collect(key, recs, wall):
        records.extend(recs)
        run_wall.append({"problem": key[0], "method": key[1], "seed": key[2], "wall_s": wall,
                         "load1_end": _load1()})
        print(f"{key[0]} {key[1]} seed {key[2]}: {wall:.1f} s, {len(recs)} evaluations, final hv "
              f"{recs[-1]['hv'] if recs else float('nan'):.4g}", flush=True)
        pd.DataFrame(records).to_csv(out / "partial_runs.csv", index=False)  # survives an interrupted run

    if args.jobs > 1:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            for key, recs, wall in pool.map(_job, jobs):
                collect(key, recs, wall)
    else:
        for job in jobs:
            collect(*_job(job))
    summary["runs_wall_s"] = run_wall
    if records:
        df = pd.DataFrame(records)
        df.to_csv(out / "runs.csv", index=False)
        (out / "partial_runs.csv").unlink(missing_ok=True)
        plot(df, problems, out / "hv_vs_cost.png")
        for name, sub in df.groupby("problem"):
            d = deltas(sub)
            per_method = {}
            for method, g in sub.groupby("method"):
                dm = d[d["method"] == method] if len(d) else d
                per_method[method] = {
                    "seeds": int(g["seed"].nunique()),
                    "seeds_without_delta": int(g["seed"].nunique() - len(dm)),
                    "delta": _stats(dm["delta"]) if len(dm) else _stats([]),
                    "final_hv": _stats(dm["final_hv"]) if len(dm) else _stats(g.groupby("seed")["hv"].last()),
                    "final_hv_observed": _stats(g.sort_values("step").groupby("seed")["hv_observed"].last()),
                    "cheap_fraction_of_evaluations": _stats(g.groupby("seed")["cost"].apply(lambda c: (c < 1.0).mean())),
                    "evaluations": _stats(g.groupby("seed").size()),
                    "latency_in_loop_median_s": float(g.loc[g["latency_s"] > 0, "latency_s"].median())
                    if bool((g["latency_s"] > 0).any()) else None,
                }
            p = problems[name]
            summary["problems"][name] = {"budget": float(sub.groupby(["method", "seed"])["cumulative_cost"].max().max()),
                                         "ref_point": p.ref_point, "max_hv": p.max_hv, "note": p.note,
                                         "methods": per_method}
    sizes = tuple(int(s) for s in args.latency_sizes.split(",")) if args.latency_sizes else mode.latency_sizes
    if not args.no_latency and sizes:
        lat_methods = (args.latency_methods.split(",") if args.latency_methods else
                       [m for m in ("multi_fidelity", "single_fidelity", "momf", "mf_hvkg") if m in methods])
        summary["latency"] = {"torch_threads": 1, "timeout_s": args.latency_timeout,
                              "rows": measure_latency(sizes, lat_methods, mode.settings, threads=1,
                                                      timeout_s=args.latency_timeout)}
    summary["load_average_end"] = list(os.getloadavg())
    summary["wall_s"] = time.perf_counter() - started
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    for name, cell in summary["problems"].items():
        for method, m in cell["methods"].items():
            dl = m["delta"]
            dtxt = f"Delta median {dl['median']:+.2f} [{dl['q25']:+.2f}, {dl['q75']:+.2f}]" if dl["n"] else "Delta -"
            print(f"{name:24s} {method:16s} {dtxt}  final hv {m['final_hv']['median']:.4g} ({m['seeds']} seeds)")
    wrote = "runs.csv, summary.json, hv_vs_cost.png" if records else "summary.json"
    print(f"wrote {wrote} in {out} in {summary['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
