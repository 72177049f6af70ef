"""``[scheduler]``: where simulations run and how many at once."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from core import (
    ConfigError,
    FieldIssue,
)


@dataclass(frozen=True)
class SchedulerSettings:
    """Parallelism of the loop.

    Attributes:
        simulation_workers: simulations kept in flight alongside the robot; with the default
            local Dask cluster (or ``backend = "processes"``), also its number of worker processes.
        backend: where simulations run: ``"dask"`` (a ``dask.distributed`` cluster) or
            ``"processes"`` (a local process pool).
        dask_scheduler: address (``tcp://host:port``) of an existing Dask scheduler; None
            starts a LocalCluster on this machine.
        deterministic: exact replays. Each decision waits until everything dispatched before
            it has finished and is recorded in dispatch order, so two dry runs of one file
            record the same campaign. Costs throughput: simulations wait while the robot works.
    """

    simulation_workers: int = 2
    backend: str = "dask"
    dask_scheduler: str | None = None
    deterministic: bool = False

    @property
    def local_simulation_workers(self) -> int:
        """Simulation processes on this machine (none when an existing Dask scheduler runs them)."""
        return 0 if self.dask_scheduler else self.simulation_workers


def parse_scheduler(raw: Any) -> SchedulerSettings:
    if not isinstance(raw, dict):
        raise ConfigError(FieldIssue("scheduler", "must be a table"))
    allowed = ("simulation_workers", "backend", "dask_scheduler", "deterministic")
    extra = set(raw) - set(allowed)
    if extra:
        raise ConfigError([FieldIssue(f"scheduler.{k}", f"unknown field; allowed: {', '.join(allowed)}") for k in sorted(extra)])
    issues = []
    workers = raw.get("simulation_workers", 2)
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 64:
        issues.append(FieldIssue("scheduler.simulation_workers", f"{workers!r} must be an integer from 1 to 64"))
    backend = raw.get("backend", "dask")
    if backend not in ("dask", "processes"):
        issues.append(FieldIssue("scheduler.backend", f"{backend!r} is not a simulation backend; allowed: dask, processes"))
    address = raw.get("dask_scheduler")
    if address is not None:
        if not isinstance(address, str) or not _DASK_ADDRESS.fullmatch(address) or not 1 <= int(address.rsplit(":", 1)[1]) <= 65535:
            issues.append(FieldIssue("scheduler.dask_scheduler", f"{address!r} is not a Dask scheduler address; "
                                                                 "expected tcp://HOST:PORT (PORT from 1 to 65535), e.g. tcp://10.0.0.5:8786"))
        elif backend == "processes":
            issues.append(FieldIssue("scheduler.dask_scheduler", "is set but scheduler.backend is \"processes\"; "
                                                                 "remove one of them"))
    deterministic = raw.get("deterministic", False)
    if not isinstance(deterministic, bool):
        issues.append(FieldIssue("scheduler.deterministic", f"{deterministic!r} must be true or false"))
    if issues:
        raise ConfigError(issues)
    return SchedulerSettings(simulation_workers=workers, backend=backend, dask_scheduler=address,
                             deterministic=deterministic)


# tcp://HOST:PORT with a host name, an IPv4 address or a bracketed IPv6 address.
_DASK_ADDRESS = re.compile(r"tcp://(?:[A-Za-z0-9](?:[A-Za-z0-9.\-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}")
