"""Benchmark harness: does choosing the fidelity pay, and is the optimizer fast enough?

Run ``python -m optimizers.bench [--smoke | --quick] --out DIR``. Writes:

- ``runs.csv``: one row per evaluation: ``problem, method, seed, step, fidelity, status,
  cost, cumulative_cost, n_observations, latency_s, recommended_value, regret`` (``status``
  ``failed`` where the problem's evaluate raised :class:`core.SimulationError`: charged, and
  given to the strategy as a failed sample, as the loop does);
- ``summary.json``: per problem and method, median and IQR of Delta and of the
  final regret, and suggestion latency medians by number of observations;
- ``regret_vs_cost.png``: median (IQR band) simple regret against cumulative cost.

Delta (issue 3): for a seed, let ``r_SF`` be single-fidelity BO's final regret and
``r_ref`` the regret of a typical point (the target's mean over a Sobol sample);
``c_M`` is the cost at which method M first gets regret <= ``r_SF + 0.1 (r_ref - r_SF)``
(90 % of the reduction SF achieves by the end of the budget);
``Delta = max(-1, (c_SF - c_M) / c_SF)`` and -1 if M never gets there. The recommendation is
always the strategy's posterior-mean best at the target fidelity (best observed for
model-free baselines), scored on the true target function.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import platform
import resource
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from core.errors import SimulationError
from optimizers import bench_problems
from optimizers.bench_problems import Problem
from optimizers.strategies import make_strategy

METHODS = ("multi_fidelity", "single_fidelity", "random", "sobol")
# The multi-fidelity strategy with physics from the problem's cheapest fidelity (optimizers.physics);
# run with --methods, e.g. --methods multi_fidelity,single_fidelity,mf_features,mf_prior_mean,mf_sim_input
PHYSICS_METHODS = {"mf_features": "features", "mf_prior_mean": "prior_mean", "mf_sim_input": "sim_input"}
# The multi-fidelity strategy with the cheap-data check on (optimizers.trust); e.g.
# --methods multi_fidelity,mf_checked,single_fidelity
OPTION_METHODS = {"mf_checked": {"check_cheap_data": True}, "mf_adaptive": {"adaptive_start": True},
                  "mf_scaled": {"kernel": "linear_truncated_scaled"}}


@dataclass(frozen=True)
class Mode:
    name: str
    seeds: int
    problems: tuple[str, ...]
    latency_sizes: tuple[int, ...]
    latency_repeats: int
    batch_q: int  # q of the extra batch run (0: none)


MODES = {
    "smoke": Mode("smoke", 2, ("branin_favourable",), (100,), 1, 0),
    "quick": Mode("quick", 3, ("branin_favourable", "branin_unfavourable", "hartmann", "misleading"), (100, 1000), 1, 4),
    "full": Mode("full", 10, ("branin_favourable", "branin_unfavourable", "hartmann", "misleading"), (100, 1000), 3, 4),
}
#: Problems that installed packages add (a material system's own benchmark), run in quick and full modes.
PROBLEMS_GROUP = "sdl.bench_problems"


def mode_problems(mode: Mode) -> list[str]:
    """The mode's built-in problems, then (quick and full) every installed one."""
    from core.system import installed  # noqa: PLC0415

    return list(mode.problems) + (installed(PROBLEMS_GROUP) if mode.name != "smoke" else [])


def build_problem(name: str) -> Problem:
    if name == "branin_favourable":
        return bench_problems.branin(0.9, 0.1, name)
    if name == "branin_unfavourable":
        return bench_problems.branin(0.2, 0.5, name)
    if name == "hartmann":
        return bench_problems.hartmann()
    if name == "misleading":
        return bench_problems.misleading()
    from core.system import load_reference  # noqa: PLC0415

    return load_reference(name, PROBLEMS_GROUP, "--problems", "benchmark problem")()


def _row_of(space, recipe) -> dict:
    return {p.name: (float(recipe[p.name].to(p.unit).magnitude) if p.kind == "continuous" else recipe[p.name])
            for p in space.parameters}


def run_one(problem: Problem, method: str, seed: int, budget: float, q: int = 1, label: str | None = None) -> list[dict]:
    """One optimization run; returns one record per evaluation (regret filled in later when the optimum is unknown)."""
    torch.manual_seed(seed)
    space = problem.space
    if method in PHYSICS_METHODS:
        physics = problem.physics(PHYSICS_METHODS[method]) if problem.physics is not None else None
        if physics is None:  # the mode does not apply to this problem
            return []
        strategy = make_strategy("multi_fidelity", space, seed=seed, physics=physics)
    elif method in OPTION_METHODS:
        strategy = make_strategy("multi_fidelity", space, seed=seed, **OPTION_METHODS[method])
    else:
        strategy = make_strategy(method, space, seed=seed)
    rows: list[dict] = []
    records: list[dict] = []
    spent = 0.0
    step = 0
    while spent < budget - 1e-9:
        history = pd.DataFrame(rows) if rows else None
        t0 = time.perf_counter()
        try:
            sugs = strategy.recommend(history, budget_left=budget - spent, q=q)
        except Exception as err:  # noqa: BLE001 - a benchmark run records failure and stops
            print(f"  {problem.name}/{method}/seed {seed}: stopped: {err}", file=sys.stderr)
            break
        latency = time.perf_counter() - t0
        statuses = []
        for s in sugs:
            try:
                value, status = problem.evaluate(s.recipe, s.fidelity), "completed"
            except SimulationError:  # the run happened and made nothing measurable: a failed sample, as in the loop
                value, status = math.nan, "failed"
            statuses.append(status)
            rows.append({**_row_of(space, s.recipe), "fidelity": s.fidelity, "objective": value, "status": status})
            spent += space.fidelity(s.fidelity).cost
        try:
            rec = strategy.recommendation(pd.DataFrame(rows))
            rec_value = problem.evaluate(rec.recipe, space.target_fidelity.name)
        except Exception:  # noqa: BLE001 - no target observation yet for a model-free baseline
            rec_value = math.nan
        for s, status in zip(sugs, statuses):
            records.append({
                "problem": problem.name, "method": label or method, "seed": seed, "step": step,
                "fidelity": s.fidelity, "status": status, "cost": space.fidelity(s.fidelity).cost, "cumulative_cost": spent,
                "n_observations": len(rows), "latency_s": latency / len(sugs), "recommended_value": rec_value,
            })
        step += 1
    return records


def _fill_regret(df: pd.DataFrame, problem: Problem) -> tuple[pd.DataFrame, float]:
    optimum = problem.optimum
    if optimum is None:  # unknown: the best recommended value seen by any method
        vals = df["recommended_value"].dropna()
        optimum = float(vals.max() if problem.space.objective.sign > 0 else vals.min())
    ref_regret = problem.regret(problem.reference, optimum)
    reg = df["recommended_value"].map(lambda v: ref_regret if not math.isfinite(v) else min(problem.regret(v, optimum), ref_regret))
    df = df.assign(regret=reg)
    return df, ref_regret


def _cost_to_reach(run: pd.DataFrame, threshold: float) -> float:
    hit = run[run["regret"] <= threshold + 1e-12]
    return float(hit["cumulative_cost"].iloc[0]) if len(hit) else math.inf


DELTA_COLUMNS = ["method", "seed", "delta", "cost_to_90pct", "final_regret", "cheap_fraction"]


def deltas(df: pd.DataFrame, ref_regret: float) -> pd.DataFrame:
    """Per (method, seed): Delta against single-fidelity BO of the same seed (NaN when that seed has no
    single-fidelity run, e.g. ``--methods multi_fidelity``), and the final regret."""
    out = []
    for seed, runs in df.groupby("seed"):
        sf = runs[runs["method"] == "single_fidelity"].sort_values(["step", "cumulative_cost"])
        thr = c_sf = None
        if not sf.empty:
            r_sf = float(sf["regret"].iloc[-1])
            thr = r_sf + 0.1 * (ref_regret - r_sf)
            c_sf = _cost_to_reach(sf, thr)
        for method, run in runs.groupby("method"):
            run = run.sort_values(["step", "cumulative_cost"])
            if thr is None:
                c = delta = math.nan
            else:
                c = _cost_to_reach(run, thr)
                # floor at -1: reaching the level late is never scored worse than never reaching it
                delta = -1.0 if not math.isfinite(c) else max(-1.0, (c_sf - c) / c_sf)
            out.append({"method": method, "seed": seed, "delta": delta, "cost_to_90pct": c,
                        "final_regret": float(run["regret"].iloc[-1]),
                        "cheap_fraction": float((run["cost"] < 1.0).mean())})
    return pd.DataFrame(out, columns=DELTA_COLUMNS)


def _stats(values) -> dict:
    v = np.asarray(list(values), dtype=float)
    v = v[~np.isnan(v)]  # a Delta without its single-fidelity reference
    if v.size == 0:
        return {"median": None, "q25": None, "q75": None, "n": 0}
    return {"median": float(np.median(v)), "q25": float(np.percentile(v, 25)),
            "q75": float(np.percentile(v, 75)), "n": int(v.size)}


def measure_latency(sizes, repeats: int, seed: int = 0) -> list[dict]:
    """Time one q=1 suggestion (cold model fit + acquisition) on Branin with n synthetic observations, 90 % cheap."""
    problem = bench_problems.branin(0.9, 0.1, "branin_favourable")
    space = problem.space
    out = []
    for n in sizes:
        times = []
        for r in range(repeats):
            rng = np.random.default_rng(seed + r)
            U = torch.as_tensor(rng.random((n, 2)))
            recipes = space.decode(space.from_unit(U))
            fids = np.where(rng.random(n) < 0.9, "low", "target")
            rows = [{**_row_of(space, rc), "fidelity": f, "objective": problem.evaluate(rc, f), "status": "completed"}
                    for rc, f in zip(recipes, fids)]
            history = pd.DataFrame(rows)
            strategy = make_strategy("multi_fidelity", space, seed=seed + r)
            t0 = time.perf_counter()
            sug = strategy.recommend(history, q=1)[0]
            times.append(time.perf_counter() - t0)
            assert all(math.isfinite(v) for v in (sug.target_mean, sug.target_std)), "NaN in a suggestion"
        out.append({"n_observations": n, "median_s": float(np.median(times)), "times_s": times,
                     "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
        print(f"latency n={n}: median {np.median(times):.2f} s over {repeats}")
    return out


def plot(df: pd.DataFrame, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems = list(dict.fromkeys(df["problem"]))
    # One colour per method in every panel (a panel without the q=4 run must not shift them).
    methods = sorted(set(df["method"]))
    colours = {m: f"C{i}" for i, m in enumerate(methods)}
    fig, axes = plt.subplots(1, len(problems), figsize=(4.2 * len(problems), 3.6), squeeze=False)
    for ax, prob in zip(axes[0], problems):
        sub = df[df["problem"] == prob]
        grid = np.linspace(0, sub["cumulative_cost"].max(), 60)
        for method, runs in sub.groupby("method"):
            curves = []
            for _, run in runs.groupby("seed"):
                run = run.sort_values(["step", "cumulative_cost"])
                idx = np.searchsorted(run["cumulative_cost"].to_numpy(), grid, side="right") - 1
                reg = run["regret"].to_numpy()
                first = float(run["regret"].max())
                curves.append(np.where(idx >= 0, reg[np.clip(idx, 0, None)], first))
            c = np.array(curves)
            med = np.median(c, axis=0)
            ax.plot(grid, med, label=method, color=colours[method])
            ax.fill_between(grid, np.percentile(c, 25, axis=0), np.percentile(c, 75, axis=0), alpha=0.2,
                            color=colours[method])
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.set_title(prob)
        ax.set_xlabel("cumulative cost (target-run units)")
        ax.set_ylabel("simple regret at the target")
    handles = [plt.Line2D([], [], color=colours[m], label=m) for m in methods]
    axes[0][0].legend(handles=handles, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m optimizers.bench", description=__doc__.split("\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="3 seeds, short budgets (minutes)")
    group.add_argument("--smoke", action="store_true", help="tiny: 1 problem, 2 seeds (CI, < 60 s)")
    parser.add_argument("--out", default="bench-out", help="output folder")
    parser.add_argument("--seeds", type=int, default=None, help="override the number of seeds")
    parser.add_argument("--first-seed", type=int, default=0, help="first seed (to add seeds to an earlier run)")
    parser.add_argument("--problems", default=None, help="comma-separated subset of problems")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of methods")
    parser.add_argument("--no-latency", action="store_true", help="skip the latency measurement")
    parser.add_argument("--no-batch", action="store_true", help="skip the extra q > 1 batch run")
    parser.add_argument("--budget", type=float, default=None, help="override every problem's budget (target-run cost units)")
    args = parser.parse_args(argv)
    mode = MODES["smoke" if args.smoke else "quick" if args.quick else "full"]
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = args.seeds or mode.seeds
    problems = args.problems.split(",") if args.problems else mode_problems(mode)
    methods = args.methods.split(",")
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    warnings.filterwarnings("ignore")
    started = time.perf_counter()
    frames, summary = [], {"mode": mode.name, "seeds": seeds, "machine": platform.platform(),
                           "torch_threads": torch.get_num_threads(), "problems": {}, "skipped": {}}
    for name in problems:
        try:
            problem = build_problem(name)
        except Exception as err:  # noqa: BLE001 - an installed problem that cannot be built: report and skip the cell
            note = f"{type(err).__name__}: {err}"
            print(f"skipping {name}: {note}")
            summary["skipped"][name] = note
            continue
        budget = args.budget or problem.budget[mode.name]
        records = []
        runs = [(m, m, 1) for m in methods]
        if mode.batch_q and not args.no_batch and name == "branin_favourable" and "multi_fidelity" in methods:
            runs.append(("multi_fidelity", f"multi_fidelity_q{mode.batch_q}", mode.batch_q))
        for seed in range(args.first_seed, args.first_seed + seeds):
            for method, label, q in runs:
                t0 = time.perf_counter()
                records += run_one(problem, method, seed, budget, q=q, label=label)
                print(f"{name} {label} seed {seed}: {time.perf_counter() - t0:.1f} s", flush=True)
                pd.DataFrame(records).to_csv(out / f"partial_{name}.csv", index=False)  # survives an interrupted run
        df, ref_regret = _fill_regret(pd.DataFrame(records), problem)
        frames.append(df)
        d = deltas(df, ref_regret)
        per_method = {}
        for method, g in d.groupby("method"):
            lat = df[df["method"] == method]
            per_method[method] = {
                "delta": _stats(g["delta"]), "final_regret": _stats(g["final_regret"]),
                "cheap_fraction_of_evaluations": _stats(g["cheap_fraction"]),
                "latency_median_s": float(lat["latency_s"].median()),
            }
        summary["problems"][name] = {"budget": budget, "reference_regret": ref_regret, "note": problem.note,
                                     "optimum": problem.optimum, "methods": per_method}
    if frames:
        df = pd.concat(frames, ignore_index=True)
        df.to_csv(out / "runs.csv", index=False)
        plot(df, out / "regret_vs_cost.png")
    if not args.no_latency:
        summary["latency"] = measure_latency(mode.latency_sizes, mode.latency_repeats)
    summary["wall_s"] = time.perf_counter() - started
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    for name, cell in summary["problems"].items():
        for method, m in cell["methods"].items():
            delta = (f"Delta median {m['delta']['median']:+.2f} [{m['delta']['q25']:+.2f}, {m['delta']['q75']:+.2f}]"
                     if m["delta"]["n"] else "Delta n/a (no single_fidelity run)")
            print(f"{name:20s} {method:22s} {delta}  final regret {m['final_regret']['median']:.3g}")
    print(f"wrote {out}/runs.csv, summary.json, regret_vs_cost.png in {summary['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
