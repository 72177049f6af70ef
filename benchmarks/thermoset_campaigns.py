"""Reference-system benchmark through the whole loop (issue 3's "reference material system" cell).

    python benchmarks/thermoset_campaigns.py [--seeds 5] [--budget 400] [--out bench-out/thermoset]

Runs the default dry-run campaign (``configs/thermoset_dryrun.toml``: two simulators and
the simulated robot line) with each strategy and paired seeds, then replays every
campaign: after each robot sample it asks the strategy for its recommendation (the
posterior-mean best at the robot fidelity, or the best measured robot sample for model-free
baselines) from the records available at that moment, and scores it with the simulated
line's hidden ground truth (a noise-free film made with that recipe, which no campaign sees).

Writes ``curves.csv`` (method, seed, cumulative cost, true Tg of the recommendation),
``summary.json`` (per method: median / IQR of the final true Tg and of Delta, the robot and
simulator sample counts) and ``true_value_vs_cost.png``. Delta as in ``optimizers.bench``,
on the true value: c = the cost at which a method's recommendation first reaches 90 % of
the improvement single-fidelity BO reaches by the end; Delta = (c_SF - c_M) / c_SF, -1 if never.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd

from controller.loop.runner import CampaignRunner
from controller.config.campaign import config_from_dict
from controller.records.history import history_frame
from controller.execution.robot import dry_run_truth
from controller.records.store import RecordStore

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("multi_fidelity", "single_fidelity", "random")


def run_campaign(method: str, seed: int, budget: float, out: Path) -> dict:
    from optimizers import SearchSpace, make_strategy

    raw = tomllib.loads((ROOT / "configs" / "thermoset_dryrun.toml").read_text())
    raw["name"] = f"bench-{method}-{seed}"
    raw["seed"] = seed
    raw["budget"] = budget
    raw["optimizer"]["strategy"] = method
    if method != "multi_fidelity":
        raw["optimizer"]["initial_design"] = {"robot": 3}
    config = config_from_dict(raw)
    store_path = out / "stores" / f"{config.name}.sqlite"
    store_path.unlink(missing_ok=True)
    started = time.time()
    CampaignRunner(config, store_path=store_path, speedup=1e5, show_progress=False).run()
    wall = time.time() - started

    store = RecordStore(store_path)
    samples = store.samples(config.name)
    store.close()
    space = SearchSpace(config.parameters, config.fidelities, config.objective)
    strategy = make_strategy(method, space, seed=seed, initial_design=config.optimizer.initial_design or None)
    curve, cost = [], 0.0
    for i, s in enumerate(samples):
        cost += s.cost
        if s.fidelity != config.target.name or s.status != "completed":
            continue
        rec = strategy.recommendation(history_frame(config, samples[: i + 1]))
        truth = dry_run_truth(config, rec.recipe, sample_id=f"truth-{i}")
        curve.append({"method": method, "seed": seed, "cumulative_cost": cost,
                      "true_tg": float(truth[config.objective.property].to("degC").magnitude)})
    counts = {f.name: sum(s.fidelity == f.name for s in samples) for f in config.fidelities}
    print(f"{method:16s} seed {seed}: {wall:5.1f} s, samples {counts}, final true Tg "
          f"{curve[-1]['true_tg'] if curve else float('nan'):.1f} degC", flush=True)
    return {"curve": curve, "counts": counts, "wall_s": wall}


def value_at(curve: pd.DataFrame, cost: float) -> float:
    before = curve[curve["cumulative_cost"] <= cost + 1e-9]
    return float(before["true_tg"].iloc[-1]) if len(before) else math.nan


def delta(curve_m: pd.DataFrame, curve_sf: pd.DataFrame) -> float:
    if curve_m.empty or curve_sf.empty:
        return -1.0
    start = float(curve_sf["true_tg"].iloc[0])
    goal = start + 0.9 * (float(curve_sf["true_tg"].iloc[-1]) - start)
    reach = lambda c: c[c["true_tg"] >= goal - 1e-9]["cumulative_cost"]  # noqa: E731
    c_sf, c_m = reach(curve_sf), reach(curve_m)
    if c_m.empty:
        return -1.0
    return max(-1.0, (float(c_sf.iloc[0]) - float(c_m.iloc[0])) / float(c_sf.iloc[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=float, default=400.0)
    parser.add_argument("--out", default="bench-out/thermoset")
    args = parser.parse_args()
    out = Path(args.out)
    (out / "stores").mkdir(parents=True, exist_ok=True)
    rows, meta = [], {}
    for seed in range(args.seeds):
        for method in METHODS:
            res = run_campaign(method, seed, args.budget, out)
            rows += res["curve"]
            meta[(method, seed)] = res
    curves = pd.DataFrame(rows)
    curves.to_csv(out / "curves.csv", index=False)

    summary = {"budget": args.budget, "seeds": args.seeds, "methods": {}}
    for method in METHODS:
        finals, deltas, counts = [], [], []
        for seed in range(args.seeds):
            c = curves[(curves.method == method) & (curves.seed == seed)]
            sf = curves[(curves.method == "single_fidelity") & (curves.seed == seed)]
            finals.append(float(c["true_tg"].iloc[-1]) if len(c) else math.nan)
            deltas.append(delta(c, sf))
            counts.append(meta[(method, seed)]["counts"])
        q = lambda v: {"median": float(np.nanmedian(v)), "iqr": [float(np.nanpercentile(v, 25)), float(np.nanpercentile(v, 75))]}  # noqa: E731
        summary["methods"][method] = {
            "final_true_tg_degC": q(finals), "delta": q(deltas),
            "samples_median": {k: float(np.median([c[k] for c in counts])) for k in counts[0]},
        }
        print(f"{method:16s} final true Tg median {summary['methods'][method]['final_true_tg_degC']['median']:.1f} degC "
              f"IQR {summary['methods'][method]['final_true_tg_degC']['iqr']}, Delta median "
              f"{summary['methods'][method]['delta']['median']:+.2f}")
    (out / "summary.json").write_text(json.dumps(summary, indent=2))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    grid = np.linspace(0, args.budget, 81)
    for method in METHODS:
        per_seed = [[value_at(curves[(curves.method == method) & (curves.seed == s)], g) for g in grid]
                    for s in range(args.seeds)]
        arr = np.array(per_seed, dtype=float)
        med = np.nanmedian(arr, axis=0)
        ax.plot(grid, med, label=method)
        ax.fill_between(grid, np.nanpercentile(arr, 25, axis=0), np.nanpercentile(arr, 75, axis=0), alpha=0.2)
    ax.set_xlabel("cumulative cost (robot sample = 40)")
    ax.set_ylabel("true Tg of the recommendation [degC]")
    ax.set_title("thermoset dry run, simulated robot")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "true_value_vs_cost.png", dpi=120)
    print(f"wrote {out / 'curves.csv'}, {out / 'summary.json'}, {out / 'true_value_vs_cost.png'}")


if __name__ == "__main__":
    main()
