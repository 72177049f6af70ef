"""Wall time of one robot sample through RE Manager's queue vs. a local RunEngine (same line, same recipe).

Needs Redis (``redis-server --port 6379 --daemonize yes``); starts its own 0MQ proxy and RE
Manager on free loopback ports and stops them at the end::

    python scripts/qserver_overhead.py --samples 5 [--redis 127.0.0.1:6379] [--speedup 100000]

At a high speedup the plan's own time is small, so the difference is the queue server's
overhead per sample (item add, queue start, status polling, history, documents over 0MQ).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import time
import tomllib
from pathlib import Path

from controller.execution.protocol import RunRequest
from core import Q_

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _time_samples(cell, n: int, tag: str) -> list[float]:
    recipe = {"additive": "CCCCOC(=O)c1ccccc1C(=O)OCCCC", "additive_fraction": Q_(5.0, "percent"),
              "hardener_ratio": Q_(1.0, ""), "mixing_speed": Q_(1200.0, "rpm"), "mixing_time": Q_(5.0, "min"),
              "cure_temperature": Q_(140.0, "degC"), "cure_time": Q_(2.0, "h")}
    times = []
    for i in range(n + 1):  # the first sample warms up (environment, line configuration): not counted
        started = time.perf_counter()
        cell.submit(RunRequest(sample_id=f"{tag}-{i}", recipe=recipe, md={"campaign": "overhead"})).result(timeout=300)
        if i:
            times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--redis", default="127.0.0.1:6379")
    parser.add_argument("--speedup", type=float, default=1e5)
    args = parser.parse_args()

    from controller.config.campaign import config_from_dict
    from controller.execution.queueserver.client import QueueServerStation
    from controller.execution.queueserver.manager import LocalQueueServer
    from controller.execution.robot import LocalStation, RobotExecutor

    raw = tomllib.loads((ROOT / "configs" / "thermoset_dryrun.toml").read_text())
    config = config_from_dict(raw)
    local = RobotExecutor(config, LocalStation(config, speedup=args.speedup))
    try:
        local_times = _time_samples(local, args.samples, "local")
    finally:
        local.close()
    with tempfile.TemporaryDirectory() as lists, LocalQueueServer(
            control=f"tcp://127.0.0.1:{_free_port()}", info=f"tcp://127.0.0.1:{_free_port()}",
            data_in="tcp://127.0.0.1:0", data_out="tcp://127.0.0.1:0", redis=args.redis, lists_dir=lists) as server:
        remote = RobotExecutor(config, QueueServerStation(config, speedup=args.speedup, control=server.control,
                                                          data=server.data_out))
        try:
            remote_times = _time_samples(remote, args.samples, "qserver")
        finally:
            remote.close()
    for name, times in (("local RunEngine", local_times), ("RE Manager queue", remote_times)):
        print(f"{name:18s} median {statistics.median(times):.2f} s per sample "
              f"(min {min(times):.2f}, max {max(times):.2f}, n={len(times)}, speedup {args.speedup:g})")
    print(f"queue server overhead: {statistics.median(remote_times) - statistics.median(local_times):.2f} s per sample")


if __name__ == "__main__":
    main()
