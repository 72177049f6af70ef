"""Suggestions with long histories: latency, memory, and quality against the exact GP.

The multi-fidelity strategy on AugmentedHartmann (6-D; fidelities s = 0.5, 0.75 and the
target), with a history of ``n`` space-filling observations, 90 % at the cheapest fidelity,
7 % at the middle one and 3 % at the target. Each case runs in a fresh process (so its
peak memory is its own) and prints:

- ``first``: one suggestion from a new strategy: the GP fit and the acquisition, in a new
  process (so it includes about a second that each process pays once, at its first GP), and
  the median over three further histories of the same size in that process
  (``first_in_running_process_s``: what a running controller sees);
- ``again``: a second suggestion on the same history, as the loop asks for the next free
  worker (the fit is cached; a later item of a batch: ``optimizers.batch.BelieverPool``);
- ``batch16``: 16 suggestions from one fit (n = 1,000 only; the fit is cached, so all 16 are
  later items; ``batch16_fresh_s``: the same from a new strategy, fit and full first search included);
- ``peak_rss``: the process's peak resident memory.

Quality (n = 1,000, where the exact GP still fits): for several seeds, the true target value
of the recommended recipe (best posterior mean at the target) with the thinned training set
(``optimizers.thinning``, 250 rows) and with the exact GP on all rows; lower is better
(Hartmann is minimized; its optimum is -3.32).

    python benchmarks/large_history.py [--sizes 1000 10000] [--quality-seeds 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def history(problem, n: int, seed: int):
    import numpy as np
    import pandas as pd
    import torch

    space = problem.space
    counts = {"s050": int(round(0.90 * n)), "s075": int(round(0.07 * n))}
    counts["target"] = n - sum(counts.values())
    U = torch.quasirandom.SobolEngine(len(space.parameters), scramble=True, seed=seed).draw(n, dtype=torch.double)
    recipes = space.decode(space.from_unit(U))
    rng = np.random.default_rng(seed)
    rows, i = [], 0
    for fidelity, k in counts.items():
        for recipe in recipes[i:i + k]:
            value = problem.evaluate(recipe, fidelity) + 0.01 * rng.standard_normal()
            rows.append({**{p: float(q.magnitude) for p, q in recipe.items()}, "fidelity": fidelity,
                         "objective": value, "status": "completed"})
        i += k
    return pd.DataFrame(rows)


def one_case(n: int, seed: int, exact: bool, quality: bool) -> dict:
    import torch

    from optimizers import make_strategy
    from optimizers.bench_problems import hartmann

    torch.set_num_threads(2)
    problem = hartmann()
    hist = history(problem, n, seed)
    options = {"max_training_rows": 10**9} if exact else {}
    strategy = make_strategy("multi_fidelity", problem.space, seed=seed, initial_design={}, **options)
    out: dict = {"n": n, "seed": seed, "exact": exact}
    t = time.perf_counter()
    strategy.recommend(hist, q=1)
    out["first_s"] = time.perf_counter() - t
    if quality:
        rec = strategy.recommendation(hist)
        out["true_at_recommendation"] = problem.evaluate(rec.recipe, "target")
    else:
        t = time.perf_counter()
        strategy.recommend(hist, q=1)
        out["again_s"] = time.perf_counter() - t
        if n <= 1000:
            t = time.perf_counter()
            batch = strategy.recommend(hist, q=16)
            out["batch16_s"] = time.perf_counter() - t
            out["batch16_n"] = len(batch)
            fresh = make_strategy("multi_fidelity", problem.space, seed=seed, initial_design={}, **options)
            t = time.perf_counter()
            fresh.recommend(hist, q=16)
            out["batch16_fresh_s"] = time.perf_counter() - t
        # The first suggestion above also pays once-per-process costs (about a second: torch builds
        # its shape-broadcasting helpers on the first GP). A running controller has paid them; so,
        # as it would see them: new strategies on three other histories of the same size.
        new = []
        for other in (seed + 1, seed + 2, seed + 3):
            h_other = history(problem, n, other)
            fresh = make_strategy("multi_fidelity", problem.space, seed=other, initial_design={}, **options)
            t = time.perf_counter()
            fresh.recommend(h_other, q=1)
            new.append(time.perf_counter() - t)
        out["first_in_running_process_s"] = new
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def run_case(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--case", *args], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--quality-seeds", type=int, default=5)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--case", nargs=4, metavar=("N", "SEED", "EXACT", "QUALITY"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        n, seed, exact, quality = args.case
        print(json.dumps(one_case(int(n), int(seed), exact == "1", quality == "1")))
        return 0
    results: dict = {"latency": [], "quality": []}
    for n in args.sizes:
        r = run_case(str(n), "0", "0", "0")
        results["latency"].append(r)
        print(f"n = {n:>6}: first suggestion {r['first_s']:.2f} s in a new process, "
              f"{statistics.median(r['first_in_running_process_s']):.2f} s in a running one (median of "
              f"{', '.join(f'{x:.2f}' for x in r['first_in_running_process_s'])}), again {r['again_s']:.2f} s"
              + (f", batch of 16 {r['batch16_s']:.2f} s ({r['batch16_fresh_s']:.2f} s with its fit)"
                 if "batch16_s" in r else "")
              + f"; peak memory {r['peak_rss_mb']:.0f} MB", flush=True)
    for seed in range(args.quality_seeds):
        pair = {mode: run_case("1000", str(seed), "1" if mode == "exact" else "0", "1") for mode in ("thinned", "exact")}
        results["quality"].append(pair)
        print(f"quality seed {seed}: true value at the recommendation: thinned {pair['thinned']['true_at_recommendation']:.3f} "
              f"({pair['thinned']['first_s']:.1f} s), exact {pair['exact']['true_at_recommendation']:.3f} "
              f"({pair['exact']['first_s']:.1f} s)", flush=True)
    if results["quality"]:
        for mode in ("thinned", "exact"):
            vals = [p[mode]["true_at_recommendation"] for p in results["quality"]]
            secs = [p[mode]["first_s"] for p in results["quality"]]
            print(f"{mode:>8}: median true value {statistics.median(vals):.3f} (optimum -3.322), "
                  f"median first suggestion {statistics.median(secs):.1f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
