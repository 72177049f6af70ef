"""Summarize a physics-mode comparison of ``optimizers.bench`` runs (also from interrupted runs).

Usage::

    python -m optimizers.bench --quick --seeds 2 --budget 6 --problems thermoset --no-latency --no-batch \\
        --methods mf_prior_mean,mf_sim_input,mf_features,single_fidelity,multi_fidelity --out bench-out/phys
    python benchmarks/physics_summary.py bench-out/phys --out benchmarks/results/physics

Reads ``runs.csv`` or the ``partial_<problem>.csv`` files the harness writes after
every run, keeps the seeds every method finished, and writes ``<out>_summary.json``
and ``<out>_regret_vs_cost.png`` (median simple regret against cumulative cost).
"""

from __future__ import annotations

import argparse
import json
import pathlib

import pandas as pd

from optimizers import bench


def load(folder: pathlib.Path) -> pd.DataFrame:
    runs = folder / "runs.csv"
    if runs.exists():
        return pd.read_csv(runs)
    parts = sorted(folder.glob("partial_*.csv"))
    if not parts:
        raise SystemExit(f"no runs.csv or partial_*.csv in {folder}")
    return pd.concat([pd.read_csv(p) for p in parts], ignore_index=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="+", type=pathlib.Path)
    parser.add_argument("--out", required=True, help="path prefix of the outputs")
    args = parser.parse_args(argv)
    df = pd.concat([load(f) for f in args.folders], ignore_index=True)
    frames, summary = [], {}
    for name, sub in df.groupby("problem", sort=False):
        methods = sub["method"].unique()
        # seeds that every method finished, so that the comparison is paired
        complete = [s for s, g in sub.groupby("seed") if set(g["method"]) == set(methods)]
        sub = sub[sub["seed"].isin(complete)].drop(columns=["regret"], errors="ignore")
        problem = bench.build_problem(name)
        filled, ref = bench._fill_regret(sub.reset_index(drop=True), problem)
        frames.append(filled)
        d = bench.deltas(filled, ref)
        cell = {"seeds": complete, "reference_regret": ref, "methods": {}}
        for method, g in d.groupby("method"):
            runs = filled[filled["method"] == method]
            final_value = runs.sort_values(["seed", "step"]).groupby("seed")["recommended_value"].last()
            cell["methods"][method] = {
                "delta": bench._stats(g["delta"]), "final_regret": bench._stats(g["final_regret"]),
                "final_recommended_value": bench._stats(final_value),
                "cheap_fraction_of_evaluations": bench._stats(g["cheap_fraction"]),
                "latency_median_s": float(runs["latency_s"].median()),
            }
            m = cell["methods"][method]
            print(f"{name:18s} {method:16s} Delta {m['delta']['median']:+.2f}  final regret "
                  f"{m['final_regret']['median']:.3g} [{m['final_regret']['q25']:.3g}, {m['final_regret']['q75']:.3g}]  "
                  f"value {m['final_recommended_value']['median']:.4g}  cheap {m['cheap_fraction_of_evaluations']['median']:.2f}  "
                  f"latency {m['latency_median_s']:.2f} s  (n={len(complete)})")
        summary[name] = cell
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(f"{out}_summary.json").write_text(json.dumps(summary, indent=2, default=float))
    bench.plot(pd.concat(frames, ignore_index=True), pathlib.Path(f"{out}_regret_vs_cost.png"))
    print(f"wrote {out}_summary.json and {out}_regret_vs_cost.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
