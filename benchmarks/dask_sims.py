"""Benchmark (not a test): simulations on Dask.

    python benchmarks/dask_sims.py [--quick] [--output benchmarks/results/dask_sims.json]

1. Throughput: simulations per minute of each thermoset simulator with 1 and 2 local
   Dask workers (a LocalCluster as the controller starts it), beside the process pool for
   comparison. The simulations are queued all at once; the figure counts from the first
   submission to the last result, after two warm-up simulations per worker (imports);
   start-up (executor start plus warm-up) is reported apart.
2. The controller's overhead per simulated sample: a simulator-only campaign (closed-form
   model only, ``random`` strategy so that no model fit is counted, one worker so samples
   run one after another), per sample:
   ``wall time per sample - the simulation's own compute time`` (from the record's
   start/end times), and how much of it is the executor's round trip (dispatch to record,
   less compute). The same with the default ``multi_fidelity`` strategy shows what the
   optimizer adds. Start-up (cluster, store) is reported apart.

Figures depend on the machine and on what else runs on it; the JSON notes the CPU count
and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import tomllib
from concurrent.futures import wait
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from controller.loop.runner import CampaignRunner  # noqa: E402
from controller.config.campaign import config_from_dict  # noqa: E402
from controller.records.samples import to_jsonable  # noqa: E402
from controller.execution.simulations import DaskSimulations, ProcessSimulations  # noqa: E402
from controller.execution.simwork import run_simulation  # noqa: E402
from controller.records.store import RecordStore  # noqa: E402

MODELS = ("thermoset.closed_form", "thermoset.kinetics_phase_field")


def recipes(n: int, seed: int = 0) -> list[dict]:
    """``n`` recipes drawn uniformly from the default campaign's space (JSON-able)."""
    from optimizers import SearchSpace, make_strategy

    config = config_from_dict(tomllib.loads((ROOT / "configs" / "thermoset_dryrun.toml").read_text()))
    space = SearchSpace(config.parameters, config.fidelities, config.objective)
    strategy = make_strategy("random", space, seed=seed)
    import pandas as pd

    out = []
    empty = pd.DataFrame(columns=[p.name for p in config.parameters] + ["fidelity"])
    while len(out) < n:
        for s in strategy.recommend(empty, pending=empty, budget_left=1e9, q=1, allowed_fidelities=[config.target.name]):
            out.append(to_jsonable(dict(s.recipe)))
    return out[:n]


def throughput(backend: str, workers: int, model: str, count: int, batch: list[dict]) -> dict:
    started = time.perf_counter()
    executor = DaskSimulations(workers) if backend == "dask" else ProcessSimulations(workers)
    try:
        # Warm-up: every worker imports the simulators and builds its caches once. The process
        # pool starts its processes here (lazily), so start-up counts up to the end of it.
        wait([executor.submit(run_simulation, model, batch[i % len(batch)], 10_000 + i) for i in range(2 * workers)])
        startup = time.perf_counter() - started
        t0 = time.perf_counter()
        futures = [executor.submit(run_simulation, model, batch[i % len(batch)], i) for i in range(count)]
        done, _ = wait(futures)
        elapsed = time.perf_counter() - t0
        results = [f.result() for f in futures]
    finally:
        executor.close()
    compute = [r.end_time - r.start_time for r in results]
    return {
        "backend": backend, "workers": workers, "model": model, "simulations": count,
        "elapsed_s": elapsed, "per_minute": 60.0 * count / elapsed,
        "mean_compute_s": statistics.fmean(compute),
        # what a worker spends per task beyond the simulation itself (scheduling, (de)serialisation)
        "per_task_overhead_ms": 1000.0 * (elapsed * workers / count - statistics.fmean(compute)),
        "startup_s": startup,  # executor start and warm-up
    }


def campaign_overhead(backend: str, strategy: str, budget: int, workdir: Path) -> dict:
    raw = tomllib.loads((ROOT / "configs" / "thermoset_dryrun.toml").read_text())
    raw["name"] = f"overhead-{backend}-{strategy}"
    raw["budget"] = budget
    if strategy == "random":
        raw["fidelities"] = {"closed_form": {**raw["fidelities"]["closed_form"], "target": True}}
        raw["optimizer"] = {"strategy": "random"}
    else:
        del raw["fidelities"]["robot"]
        raw["fidelities"]["kinetics_phase_field"]["target"] = True
        raw["optimizer"]["initial_design"] = {"closed_form": 6, "kinetics_phase_field": 2}
    raw.pop("devices", None)
    raw["scheduler"] = {"simulation_workers": 1, "backend": backend}
    store_path = workdir / f"{raw['name']}.sqlite"
    started = time.time()
    result = CampaignRunner(config_from_dict(raw), store_path=store_path, show_progress=False).run()
    wall = time.time() - started
    store = RecordStore(store_path)
    samples = sorted(store.samples(raw["name"]), key=lambda s: s.seq)
    store.close()
    assert result.status == "finished" and all(s.status == "completed" for s in samples), result.stop_reason
    compute = [s.steps[0].end_time - s.steps[0].start_time for s in samples]
    roundtrip = [(s.completed - s.created) - c for s, c in zip(samples, compute)]
    loop = samples[-1].completed - samples[0].created
    n = len(samples)
    return {
        "backend": backend, "strategy": strategy, "samples": n, "wall_s": wall,
        "loop_s": loop, "outside_loop_s": wall - loop,
        "wall_per_sample_ms": 1000.0 * loop / n,
        "compute_per_sample_ms": 1000.0 * statistics.fmean(compute),
        "controller_overhead_per_sample_ms": 1000.0 * (loop - sum(compute)) / n,
        "executor_roundtrip_per_sample_ms": 1000.0 * statistics.fmean(roundtrip),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer simulations (a smoke run)")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "dask_sims.json"))
    args = parser.parse_args()
    counts = {"thermoset.closed_form": 60 if args.quick else 600,
              "thermoset.kinetics_phase_field": 4 if args.quick else 40}
    batch = recipes(32)
    load_before = os.getloadavg()
    rows = []
    for model in MODELS:
        for backend in ("dask", "processes"):
            for workers in (1, 2):
                row = throughput(backend, workers, model, counts[model], batch)
                rows.append(row)
                print(f"{model:32s} {backend:9s} workers={workers}: {row['per_minute']:8.0f} simulations/min "
                      f"(compute {1000 * row['mean_compute_s']:7.1f} ms, overhead {row['per_task_overhead_ms']:6.1f} "
                      f"ms/task, start-up {row['startup_s']:.2f} s)", flush=True)
    overhead = []
    with tempfile.TemporaryDirectory() as tmp:
        for strategy, budget in (("random", 40 if args.quick else 200), ("multi_fidelity", 26 if args.quick else 40)):
            for backend in ("dask", "processes"):
                row = campaign_overhead(backend, strategy, budget, Path(tmp))
                overhead.append(row)
                print(f"campaign {strategy:15s} {backend:9s}: {row['samples']:4d} samples, "
                      f"{row['wall_per_sample_ms']:8.1f} ms/sample wall, {row['compute_per_sample_ms']:7.1f} ms compute, "
                      f"controller overhead {row['controller_overhead_per_sample_ms']:8.1f} ms/sample "
                      f"(executor round trip {row['executor_roundtrip_per_sample_ms']:6.1f} ms); "
                      f"{row['outside_loop_s']:.1f} s start-up and wrap-up", flush=True)
    import dask
    import distributed

    summary = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "dask": dask.__version__,
                    "distributed": distributed.__version__, "loadavg_before": load_before,
                    "loadavg_after": os.getloadavg()},
        "quick": args.quick, "throughput": rows, "campaign_overhead": overhead,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
