"""Soak test (not in CI): a long dry run with device faults switched on.

    python benchmarks/soak.py [--budget 3000] [--speedup 20000] [--store PATH]

Runs ``configs/thermoset_faults.toml`` with a large budget, then prints samples done,
failed and retried by fidelity and fault kind, and checks the store for completeness:
no sample left running, sequence numbers contiguous, the spent budget equal to the sum
of sample costs, every robot attempt's documents present and valid under event_model's
schemas, every failed sample carrying its fault and step. Exits 1 if a check fails.
"""

from __future__ import annotations

import argparse
import collections
import resource
import sys
import time
import tomllib
from pathlib import Path

from event_model import DocumentNames, schema_validators

from controller.loop.runner import CampaignRunner
from controller.config.campaign import config_from_dict
from controller.records.store import RecordStore

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=3000.0)
    parser.add_argument("--speedup", type=float, default=20000.0)
    parser.add_argument("--store", default="runs/soak.sqlite")
    parser.add_argument("--config", default=str(ROOT / "configs" / "thermoset_faults.toml"))
    args = parser.parse_args()

    raw = tomllib.loads(Path(args.config).read_text())
    raw["name"] = f"soak-{int(time.time())}"
    raw["budget"] = args.budget
    config = config_from_dict(raw, source=args.config)
    started = time.time()
    result = CampaignRunner(config, store_path=args.store, speedup=args.speedup, show_progress=False).run()
    wall = time.time() - started

    store = RecordStore(args.store)
    samples = store.samples(config.name, include_running=True)
    problems: list[str] = []
    if [s.seq for s in samples] != list(range(1, len(samples) + 1)):
        problems.append("sequence numbers are not contiguous")
    if any(s.status == "running" for s in samples):
        problems.append("samples left running")
    if abs(store.spent(config.name) - sum(s.cost for s in samples)) > 1e-9:
        problems.append("spent budget differs from the sum of sample costs")
    by_status = collections.Counter((s.fidelity, s.status) for s in samples)
    faults = collections.Counter()
    retried = attempts = n_docs = 0
    for s in samples:
        if s.fidelity != "robot":
            continue
        attempts += len(s.attempts)
        retried += len(s.attempts) > 1
        for a in s.attempts:
            if a["fault"]:
                faults[(a["fault"]["device"], a["fault"]["kind"])] += 1
            if a["run_uid"] is None:
                continue
            docs = store.documents(a["run_uid"])
            n_docs += len(docs)
            if not docs or docs[0][0] != "start" or docs[-1][0] != "stop":
                problems.append(f"{s.id}: run {a['run_uid']} lacks its start or stop document")
            for name, doc in docs:
                schema_validators[DocumentNames(name)].validate(doc)
        if s.status == "failed" and not (s.fault and s.fault.get("kind") and s.error):
            problems.append(f"{s.id}: failed without a recorded fault")
    store.close()

    print(f"soak: {len(samples)} samples in {wall:.0f} s wall ({result.status}: {result.stop_reason})")
    for (fid, status), n in sorted(by_status.items()):
        print(f"  {fid:<22} {status:<12} {n}")
    print(f"  robot attempts {attempts}, samples retried {retried}, documents {n_docs}")
    for (device, kind), n in sorted(faults.items()):
        print(f"  fault {device}/{kind}: {n}")
    print(f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if problems:
        print("STORE CHECK FAILED:\n  " + "\n  ".join(problems))
        return 1
    print("store check: complete, no duplicates, budget consistent, documents valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
