"""Benchmark (not a test): does the loop keep many simulation workers busy?

    python benchmarks/throughput.py [--workers 1 8 32] [--seconds 5] [--rounds 8] [--json out.json]

A simulator-only campaign of the reference film (the closed-form model as the cheap
fidelity, cost 1; kinetics/phase-field as the target, cost 5), multi-fidelity strategy, on a
local Dask cluster of N worker processes. Each simulation sleeps a fixed ``--seconds`` before
it computes (a stand-in for a slow solver: sleeping, so 2 cores serve 32 workers), so the
workers can only be as busy as the controller keeps them fed. The budget buys about
``--rounds`` simulations per worker.

Per worker count it prints:

- ``utilization``: the workers' busy time (each simulation's start to end, from its record)
  over ``N x`` the span from the first simulation's start to the last dispatch (the wind-down,
  when the budget is spent and nothing new may start, is left out; ``utilization_all`` counts
  it too);
- ``fits per model-made sample``: distinct model fits over the samples the model chose (1.0:
  a fit per sample; a batch from one fit shares its model id);
- the median gap between a worker finishing and its next simulation starting.

The cluster's start (tens of seconds for 32 processes) is not counted. Figures depend on the
machine's load: the JSON notes it before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
SLEEP_ENV = "SDL_BENCH_SLEEP_S"


class _Sleepy:
    """A reference simulator that first sleeps ``$SDL_BENCH_SLEEP_S`` seconds (worker processes
    inherit the variable)."""

    wrapped = ""

    def __init__(self):
        from simulators import get_simulator

        self._sim = get_simulator(self.wrapped)
        self.name = f"bench.sleepy.{self.wrapped}"
        self.version = getattr(self._sim, "version", "1")

    def run(self, recipe, seed=None):
        time.sleep(float(os.environ.get(SLEEP_ENV, "5")))
        return self._sim.run(recipe, seed=seed)


class SleepyClosedForm(_Sleepy):
    wrapped = "thermoset.closed_form"


class SleepyKinetics(_Sleepy):
    wrapped = "thermoset.kinetics_phase_field"


def campaign(workers: int, rounds: int, workdir: Path) -> dict:
    from controller.config.campaign import config_from_dict
    from controller.loop.runner import CampaignRunner
    from controller.records.store import RecordStore

    raw = tomllib.loads((ROOT / "configs" / "thermoset_dryrun.toml").read_text())
    raw["name"] = f"throughput-{workers}"
    raw["budget"] = max(40, rounds * workers)
    raw["fidelities"] = {
        "closed_form": {"kind": "simulator", "model": "throughput:SleepyClosedForm", "cost": 1},
        "kinetics_phase_field": {"kind": "simulator", "model": "throughput:SleepyKinetics", "cost": 5, "target": True},
    }
    raw["optimizer"] = {"strategy": "multi_fidelity"}
    raw.pop("devices", None)
    raw["scheduler"] = {"simulation_workers": workers, "backend": "dask"}
    store_path = workdir / f"{raw['name']}.sqlite"
    started = time.time()
    result = CampaignRunner(config_from_dict(raw), store_path=store_path, show_progress=False).run()
    wall = time.time() - started
    store = RecordStore(store_path)
    samples = sorted(store.samples(raw["name"]), key=lambda s: s.seq)
    store.close()
    assert result.status == "finished", result.stop_reason
    busy = [(s.steps[0].start_time, s.steps[-1].end_time) for s in samples if s.steps]
    # a simulation's steps carry its own start and end; its dispatch is the record's creation
    first = min(a for a, _ in busy)
    last_dispatch = max(s.created for s in samples)
    last_end = max(b for _, b in busy)

    def utilization(until: float) -> float:
        inside = sum(max(0.0, min(b, until) - max(a, first)) for a, b in busy)
        return inside / (workers * (until - first))

    made = [s for s in samples if s.suggestion.get("model_id") not in (None, "space-filling")]
    fits = len({s.suggestion["model_id"] for s in made})
    # idle gaps: for each simulation, the time from the previous end on "its" worker slot is not
    # recorded, so the gap is measured as dispatch delay: a slot frees at some end, and the next
    # dispatch after it takes it.
    ends = sorted(b for _, b in busy)
    starts = sorted(a for a, _ in busy)[workers:]
    gaps = [max(0.0, s - e) for s, e in zip(starts, ends)]
    return {
        "workers": workers, "samples": len(samples), "model_made": len(made), "fits": fits,
        "fits_per_model_sample": fits / len(made) if made else None,
        "utilization": utilization(last_dispatch), "utilization_all": utilization(last_end),
        "median_refill_gap_s": statistics.median(gaps) if gaps else None,
        "loop_s": last_end - first, "wall_s": wall,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--seconds", type=float, default=5.0, help="each simulation's sleep (default 5)")
    ap.add_argument("--rounds", type=int, default=8, help="about this many simulations per worker")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    os.environ[SLEEP_ENV] = str(args.seconds)
    # Dask's worker processes import the simulators by reference ("throughput:SleepyClosedForm").
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), str(ROOT), os.environ.get("PYTHONPATH")]))
    sys.path[:0] = [str(HERE), str(ROOT)]
    results = {"loadavg_before": os.getloadavg(), "cpus": os.cpu_count(), "seconds": args.seconds, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.workers:
            r = campaign(n, args.rounds, Path(tmp))
            results["runs"].append(r)
            print(f"{n:3d} workers: utilization {100 * r['utilization']:5.1f} % while dispatching "
                  f"({100 * r['utilization_all']:5.1f} % to the last result); {r['samples']} samples, "
                  f"{r['fits']} fits for {r['model_made']} model-made samples "
                  f"({r['fits_per_model_sample'] or 0:.2f} per sample); median refill gap "
                  f"{r['median_refill_gap_s'] or 0:.2f} s; loop {r['loop_s']:.0f} s", flush=True)
    results["loadavg_after"] = os.getloadavg()
    print(f"load average before {results['loadavg_before']}, after {results['loadavg_after']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
