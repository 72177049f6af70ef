"""Benchmark (not a test): are several robot stations kept busy?

    python benchmarks/stations.py [--stations 1 2] [--budget 400] [--strategy single_fidelity] [--json out.json]

The default dry run of the film (``configs/thermoset_dryrun.toml``, twins at the file's speedup),
with ``stations = N`` on the robot fidelity. With ``--strategy single_fidelity`` every sample is
a robot run (a robot-heavy campaign: the stations wait only on the optimizer); with
``multi_fidelity`` the optimizer buys robot runs only when they are worth their cost.

Per station count it prints, from the records (each robot attempt's station, start and end):

- each station's busy fraction of the robot span (first robot start to last robot end);
- how many robot samples each station made;
- the robot span and the whole campaign's wall time.

Figures depend on the machine's load: the JSON notes it before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import tomllib
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def campaign(stations: int, budget: float, strategy: str, workdir: Path) -> dict:
    from controller.config.campaign import config_from_dict
    from controller.loop.runner import CampaignRunner
    from controller.records.store import RecordStore

    raw = tomllib.loads((ROOT / "configs" / "thermoset_dryrun.toml").read_text())
    raw["name"] = f"stations-{stations}-{strategy}"
    raw["budget"] = budget
    raw["fidelities"]["robot"]["stations"] = stations
    raw["optimizer"] = {"strategy": strategy}
    store_path = workdir / f"{raw['name']}.sqlite"
    started = time.time()
    result = CampaignRunner(config_from_dict(raw), store_path=store_path, show_progress=False).run()
    wall = time.time() - started
    store = RecordStore(store_path)
    samples = store.samples(raw["name"])
    store.close()
    assert result.status == "finished", result.stop_reason
    busy: dict[str, float] = defaultdict(float)
    made: dict[str, int] = defaultdict(int)
    spans = []
    for s in samples:
        if s.fidelity != "robot" or not s.steps:
            continue
        station = (s.attempts[-1].get("station") if s.attempts else None) or "station-1"
        a, b = s.steps[0].start_time, s.steps[-1].end_time
        busy[station] += b - a
        made[station] += 1
        spans.append((a, b))
    first, last = min(a for a, _ in spans), max(b for _, b in spans)
    span = last - first
    return {
        "stations": stations, "strategy": strategy, "robot_samples": len(spans),
        "made_per_station": dict(sorted(made.items())),
        "busy_fraction": {k: v / span for k, v in sorted(busy.items())},
        "robot_span_s": span, "wall_s": wall,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stations", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--budget", type=float, default=400.0)
    ap.add_argument("--strategy", default="single_fidelity")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    out = {"loadavg_before": os.getloadavg(), "cpus": os.cpu_count(), "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.stations:
            r = campaign(n, args.budget, args.strategy, Path(tmp))
            out["runs"].append(r)
            busy = ", ".join(f"{k} {100 * v:.0f} %" for k, v in r["busy_fraction"].items())
            made = ", ".join(f"{k} {v}" for k, v in r["made_per_station"].items())
            print(f"{n} station(s), {args.strategy}: {r['robot_samples']} robot samples ({made}); busy {busy} "
                  f"of a {r['robot_span_s']:.0f} s robot span; campaign {r['wall_s']:.0f} s", flush=True)
    out["loadavg_after"] = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
