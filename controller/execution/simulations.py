"""Where simulations run: a Dask cluster (default) or a local process pool.

:func:`make_simulation_executor` turns the campaign's ``[scheduler]`` table into a
:class:`SimulationExecutor`, a :class:`concurrent.futures.Executor` whose futures are
plain ``concurrent.futures.Future`` objects, so the loop waits on them with
:func:`concurrent.futures.wait` whatever the backend::

    backend = "dask"        # default: a LocalCluster started here, `simulation_workers`
                            # worker processes with one thread each, on 127.0.0.1
    dask_scheduler = "tcp://host:8786"   # or: an existing Dask scheduler
    backend = "processes"   # a spawn-context ProcessPoolExecutor, as before Dask

A simulation is a pure function of (model, recipe, seed), so running it twice gives the
same record. Dask relies on that: when a worker process dies, the scheduler gives the tasks
it held to another worker (up to ``distributed.scheduler.allowed-failures`` times, 3 by
default, before the task fails with ``KilledWorker``); the controller only sees the one
future complete, and records the sample once.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any, Callable

from controller.execution.protocol import RunRequest
from controller.execution.simwork import run_simulation
from controller.records.samples import to_jsonable
from core import ConfigError, FieldIssue

log = logging.getLogger(__name__)

#: How long to try to reach an existing Dask scheduler, and to wait for its first worker.
CONNECT_TIMEOUT_S = 5.0

#: Dask settings for a LocalCluster started here. Dask's defaults suit a dashboard on a big
#: machine: each worker samples its threads 100 times a second for the profile page, its
#: system monitor polls every 0.5 s and each nanny checks memory every 0.1 s. With 32 idle
#: workers on 2 cores that took 1.4 CPU-seconds per second (measured), before a single
#: simulation ran; with these, 0.15. There is no dashboard here to show any of it, and the
#: memory limit is still enforced (checked every second).
LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.tick.interval": "200ms",
}

#: Simulation backends, as ``scheduler.backend``.
BACKENDS = ("dask", "processes")


def _ignore_sigint() -> None:
    """Simulator workers leave Ctrl-C to the controller, which records what they were doing."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def check_workers_import_project() -> str:
    """Run on a worker: import what :func:`controller.execution.simwork.run_simulation` needs.

    Returns:
        the worker's Python version, e.g. ``"3.11.9"``.
    """
    import platform

    import controller.execution.simwork  # noqa: F401 - the task function is pickled by reference to it
    import simulators  # noqa: F401

    return platform.python_version()


def warm_simulators(models: list[str]) -> int:
    """Run on a worker: build each simulator model once, so that its imports (and a pint registry)
    are loaded before the first sample rather than inside it. A model that fails to build is left
    to fail its first sample, with that sample's own error.

    Returns:
        how many of ``models`` built.
    """
    from controller.records.samples import from_jsonable
    from simulators import get_simulator

    from_jsonable({})
    built = 0
    for model in models:
        try:
            get_simulator(model)
            built += 1
        except Exception:  # noqa: BLE001 - reported by the first sample that uses it
            pass
    return built


class SimulationExecutor(Executor):
    """An executor for simulations; its futures are ``concurrent.futures.Future``.

    Attributes:
        backend: ``"dask"`` or ``"processes"``.
        address: the Dask scheduler's address (``tcp://host:port``), or None for processes.
        owns_cluster: True when the cluster was started here (and is shut down by :meth:`shutdown`).
    """

    backend: str = ""
    address: str | None = None
    owns_cluster: bool = True

    def close(self) -> None:
        """Cancel anything still queued and release the workers (and the cluster, if started here)."""
        self.shutdown(wait=False, cancel_futures=True)

    def worker_count(self) -> int:
        """Worker threads that can run a simulation now."""
        raise NotImplementedError

    def warm(self, models: list[str]) -> None:
        """Load the simulator ``models`` on the workers ahead of the first samples (a no-op by default:
        a process pool starts its workers with its first tasks)."""


class ProcessSimulations(SimulationExecutor):
    """Simulations in a local spawn-context process pool (``backend = "processes"``)."""

    backend = "processes"

    def __init__(self, workers: int):
        self._workers = workers
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_ignore_sigint)

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)

    def worker_count(self) -> int:
        return self._workers


def _sigint_plugin():
    """A worker plugin: a Ctrl-C in the terminal reaches the whole process group; the local
    workers leave it to the controller, as the process pool's initializer does. (Built here
    so that importing this module does not import distributed.)"""
    from distributed import WorkerPlugin

    class IgnoreSigint(WorkerPlugin):
        name = "sdl-ignore-sigint"

        def setup(self, worker) -> None:  # runs on the worker's event loop, in its main thread
            _ignore_sigint()

    return IgnoreSigint()


class DaskSimulations(SimulationExecutor):
    """Simulations on a ``dask.distributed`` cluster (``backend = "dask"``).

    Args:
        workers: worker processes of the LocalCluster started here (one thread each);
            ignored when ``address`` is given.
        address: an existing scheduler, ``tcp://host:port``; None starts a LocalCluster.
        connect_timeout_s: how long to try to reach ``address`` and to wait for a worker
            (default :data:`CONNECT_TIMEOUT_S`).

    Raises:
        ConfigError: on ``scheduler.dask_scheduler`` when the scheduler cannot be reached
            in time, has no worker, or its workers cannot import this project.
    """

    backend = "dask"

    def __init__(self, workers: int, address: str | None = None, connect_timeout_s: float | None = None):
        import dask
        from distributed import Client, LocalCluster

        if connect_timeout_s is None:
            connect_timeout_s = CONNECT_TIMEOUT_S

        self._cluster = None
        self._client = None
        self.owns_cluster = address is None
        try:
            if address is None:
                # Loopback only, on free ports, no dashboard (the scheduler's small HTTP server for
                # health checks stays on; at its default 8787 it would clash with any other cluster).
                # One thread per worker process: simulations hold the GIL, and torch shares the cores.
                # Quiet bookkeeping (LOCAL_CLUSTER_CONFIG): the nannies' spawned workers take this config.
                with dask.config.set(LOCAL_CLUSTER_CONFIG):
                    self._cluster = LocalCluster(
                        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                        scheduler_port=0, dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR,
                        scheduler_kwargs={"dashboard": False},
                    )
                self._client = Client(self._cluster, set_as_default=False)
                self._client.register_plugin(_sigint_plugin())
            else:
                self._client = self._connect(address, connect_timeout_s)
            self.address = self._client.scheduler.address
            self._check_workers(address, connect_timeout_s)
        except BaseException:
            self._close_client_and_cluster()
            raise
        # pure=False: each dispatch is its own sample, even if a recipe and seed repeat.
        self._executor = self._client.get_executor(pure=False)

    @staticmethod
    def _connect(address: str, timeout_s: float):
        from distributed import Client

        try:
            return Client(address, timeout=timeout_s, set_as_default=False)
        except (OSError, TimeoutError) as err:
            raise ConfigError(FieldIssue(
                "scheduler.dask_scheduler",
                f"cannot reach the Dask scheduler at {address} within {timeout_s:g} s ({type(err).__name__}: {err}); "
                "start it (`dask scheduler --host HOST --port PORT` and `dask worker ADDRESS` on the worker "
                "machines), fix the address, or remove dask_scheduler to use a local cluster",
            )) from err

    def _check_workers(self, address: str | None, timeout_s: float) -> None:
        where = f"the Dask workers of {address}" if address else "the local Dask workers"
        field = "scheduler.dask_scheduler" if address else "scheduler.backend"
        try:
            self._client.wait_for_workers(1, timeout=timeout_s)
        except (OSError, TimeoutError) as err:
            raise ConfigError(FieldIssue(field, f"{where}: no worker joined within {timeout_s:g} s; "
                                                "start at least one (`dask worker ADDRESS`)")) from err
        try:
            self._client.run(check_workers_import_project)
        except Exception as err:  # noqa: BLE001 - whatever a worker raised, the fix is the same
            raise ConfigError(FieldIssue(
                field, f"{where} cannot import this project's simulators ({type(err).__name__}: {err}); "
                       "install the project in the workers' environment (`pip install -e .` from the "
                       "repository, same Python and package versions as the controller)",
            )) from err

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        return self._executor.submit(fn, *args, **kwargs)

    def warm(self, models: list[str]) -> None:
        """Build each model once on every worker now. Started together, 32 local workers importing a
        system's simulators on two cores took seconds, during which the first samples waited; that
        now belongs to the cluster's start. A failure here is only logged: the first sample reports it."""
        if not models:
            return
        try:
            self._client.run(warm_simulators, list(models))
        except Exception as err:  # noqa: BLE001 - the samples will say what is wrong
            log.warning("loading the simulators on the Dask workers ahead of time failed (%s)", err)

    def worker_count(self) -> int:
        return sum(w["nthreads"] for w in self._client.scheduler_info()["workers"].values())

    @property
    def client(self):
        """The ``distributed.Client`` (for inspection; submit through :meth:`submit`)."""
        return self._client

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Release the client; a LocalCluster started here is closed and its worker processes end.
        An existing cluster given by address is left running (only this client's tasks are cancelled)."""
        if self._client is None:
            return
        executor = getattr(self, "_executor", None)
        if executor is not None:
            # ClientExecutor.shutdown(wait=False) cancels what is outstanding; wait=True waits for it.
            try:
                executor.shutdown(wait=wait and not cancel_futures)
            except Exception as err:  # noqa: BLE001 - e.g. the client already lost its scheduler
                log.warning("cancelling the outstanding simulations failed (%s); closing the client", err)
        self._close_client_and_cluster()

    def _close_client_and_cluster(self) -> None:
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        for closable in (client, cluster):
            if closable is None:
                continue
            try:
                closable.close()
            except Exception as err:  # noqa: BLE001 - shutting down; nothing left to protect
                log.warning("closing %r failed: %s", closable, err)


def make_simulation_executor(settings) -> SimulationExecutor:
    """The executor the campaign's ``[scheduler]`` table asks for.

    Args:
        settings: :class:`controller.config.campaign.SchedulerSettings` (``backend``,
            ``simulation_workers``, ``dask_scheduler``).

    Raises:
        ConfigError: an unknown backend, or a Dask scheduler that cannot be reached or used.
    """
    if settings.backend == "processes":
        return ProcessSimulations(settings.simulation_workers)
    if settings.backend == "dask":
        return DaskSimulations(settings.simulation_workers, address=settings.dask_scheduler)
    raise ConfigError(FieldIssue("scheduler.backend", f"{settings.backend!r} is not a simulation backend; "
                                                      f"allowed: {', '.join(BACKENDS)}"))


class Simulations:
    """The simulator fidelities' :class:`~controller.execution.protocol.Executor`, over a worker pool.

    Args:
        pool: where simulations run (:func:`make_simulation_executor`).
    """

    def __init__(self, pool: SimulationExecutor):
        self.pool = pool

    def check(self, recipe: dict[str, Any]) -> None:
        """Nothing to refuse up front: a simulator that rejects a recipe fails that sample."""

    def warm(self, models: list[str]) -> None:
        """Load the simulator ``models`` on the pool's workers ahead of the first samples."""
        self.pool.warm(models)

    def submit(self, request: RunRequest) -> Future:
        """Run ``request.model`` on the recipe with ``request.seed``; the future gives a
        :class:`~controller.execution.protocol.SimulationOutcome`."""
        return self.pool.submit(run_simulation, request.model, to_jsonable(request.recipe), request.seed)

    def request_stop(self) -> None:
        """Simulations are short and pure: what runs finishes and is recorded."""

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
