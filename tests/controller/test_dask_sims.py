"""Simulations on Dask: a LocalCluster started by the controller (the default), an existing
scheduler given by address, a worker killed mid-simulation, and bad or unreachable addresses."""

import os
import signal
import socket
import sys
import time
import tomllib
from concurrent.futures import wait
from pathlib import Path

import cloudpickle
import distributed
import pytest

import controller.loop.runner as campaign_module
import controller.execution.simulations as simexec
from controller.loop.runner import CampaignRunner
from controller.ui.cli import main
from controller.config.scheduler import SchedulerSettings
from controller.config.campaign import config_from_dict
from controller.execution.simulations import DaskSimulations, make_simulation_executor
from controller.records.store import RecordStore
from core import ConfigError

DEFAULT = Path(__file__).resolve().parents[2] / "configs" / "thermoset_dryrun.toml"


def simulator_campaign(name: str, initial: dict[str, int], scheduler: dict | None = None, budget: float | None = None) -> dict:
    """The default campaign without its robot: the kinetics+phase-field simulator is the target."""
    raw = tomllib.loads(DEFAULT.read_text())
    raw["name"] = name
    del raw["fidelities"]["robot"]
    raw["fidelities"]["kinetics_phase_field"]["target"] = True
    raw["optimizer"]["initial_design"] = initial
    costs = {"closed_form": 1, "kinetics_phase_field": 5}
    raw["budget"] = budget if budget is not None else sum(costs[f] * n for f, n in initial.items())
    raw["scheduler"] = {"simulation_workers": 2, **(scheduler or {})}
    return raw


def run_campaign(raw: dict, store: Path):
    """Runs the campaign; returns its result and the ids of its sample_dispatched/sample_recorded events."""
    runner = CampaignRunner(config_from_dict(raw), store_path=store, show_progress=False)
    events: dict[str, list[str]] = {"sample_dispatched": [], "sample_recorded": []}
    runner.add_listener(lambda kind, payload: events[kind].append(payload["sample"]) if kind in events else None)
    return runner.run(), events


def check_every_sample_once(store_path: Path, name: str, budget: float, events: dict[str, list[str]]) -> list:
    """Every dispatched sample is recorded exactly once, completed, and the budget adds up."""
    store = RecordStore(store_path)
    try:
        samples = store.samples(name)
        ids = sorted(s.id for s in samples)
        assert sorted(events["sample_dispatched"]) == sorted(events["sample_recorded"]) == ids, events
        assert [s.seq for s in sorted(samples, key=lambda s: s.seq)] == list(range(1, len(samples) + 1)), \
            "a seq is missing or repeated"
        assert len({s.id for s in samples}) == len(samples)
        assert all(s.status == "completed" for s in samples), [(s.id, s.status, s.error) for s in samples]
        assert all(s.properties.get("glass_transition_temperature") is not None for s in samples)
        assert store.inflight(name) == []
        assert store.spent(name) == pytest.approx(sum(s.cost for s in samples)) == pytest.approx(budget)
        return samples
    finally:
        store.close()


class ExecutorSpy:
    """Wraps make_simulation_executor: keeps the executor, counts submissions, notes its worker pids."""

    def __init__(self):
        self.executors = []
        self.submitted = 0
        self.worker_pids: list[int] = []
        self.sigint_ignored: list[bool] = []

    def __call__(self, settings):
        executor = make_simulation_executor(settings)
        self.executors.append(executor)
        if executor.backend == "dask":
            self.worker_pids = list(executor.client.run(os.getpid).values())
            self.sigint_ignored = list(executor.client.run(
                lambda: signal.getsignal(signal.SIGINT) == signal.SIG_IGN).values())
        submit = executor.submit

        def counting_submit(fn, *args, **kwargs):
            self.submitted += 1
            return submit(fn, *args, **kwargs)

        executor.submit = counting_submit
        return executor


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def by_id(samples) -> dict:
    return {s.id: (s.fidelity, repr(sorted(s.recipe.items())), repr(sorted(s.properties.items()))) for s in samples}


@pytest.mark.slow
def test_campaign_on_a_local_cluster_matches_the_process_pool(tmp_path, monkeypatch):
    """The default backend starts a LocalCluster, records every sample once, shuts the cluster
    down, and gives the same records as the process pool (simulations are pure and seeded)."""
    spy = ExecutorSpy()
    monkeypatch.setattr(campaign_module, "make_simulation_executor", spy)
    initial = {"closed_form": 4, "kinetics_phase_field": 2}
    raw = simulator_campaign("dask-local", initial)
    result, events = run_campaign(raw, tmp_path / "dask.sqlite")
    assert result.status == "finished", result.stop_reason
    (executor,) = spy.executors
    assert executor.backend == "dask" and executor.owns_cluster
    assert executor.address.startswith("tcp://127.0.0.1:")
    assert len(spy.worker_pids) == 2 and all(spy.sigint_ignored), "two local workers that leave Ctrl-C to the controller"
    on_dask = check_every_sample_once(tmp_path / "dask.sqlite", "dask-local", raw["budget"], events)
    assert spy.submitted == len(on_dask) == 6
    assert executor.client is None, "the client is closed when the campaign ends"
    deadline = time.time() + 10
    while any(alive(pid) for pid in spy.worker_pids) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in spy.worker_pids), "the local workers end with the campaign"

    raw = simulator_campaign("dask-local", initial, {"backend": "processes"})
    result, events = run_campaign(raw, tmp_path / "pool.sqlite")
    assert result.status == "finished", result.stop_reason
    in_pool = check_every_sample_once(tmp_path / "pool.sqlite", "dask-local", raw["budget"], events)
    assert spy.executors[1].backend == "processes"
    assert by_id(on_dask) == by_id(in_pool)


@pytest.fixture
def cluster():
    """An existing Dask cluster on loopback, as a lab would run (two one-thread worker processes)."""
    import logging

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  scheduler_port=0, dashboard_address="127.0.0.1:0",
                                  silence_logs=logging.ERROR) as local:
        with distributed.Client(local, set_as_default=False) as client:
            yield local, client


def test_existing_scheduler_by_address_runs_there_and_is_left_running(cluster):
    local, client = cluster
    settings = config_from_dict(simulator_campaign("by-address", {"closed_form": 1},
                                                   {"dask_scheduler": local.scheduler_address})).scheduler
    assert settings.backend == "dask" and settings.local_simulation_workers == 0
    executor = make_simulation_executor(settings)
    try:
        assert executor.address == local.scheduler_address and not executor.owns_cluster
        assert executor.worker_count() == 2
        futures = [executor.submit(os.getpid) for _ in range(4)]
        done, not_done = wait(futures, timeout=30)
        assert not not_done
        assert {f.result() for f in futures} <= set(client.run(os.getpid).values())
        # the campaign's simulators are built on every worker before the first sample; one that does not
        # build is left to fail its first sample with its own error, not the campaign's start
        executor.warm(["thermoset.closed_form", "no.such.module:Model"])
        assert set(client.run(simexec.warm_simulators, ["thermoset.closed_form", "no.such.module:Model"]).values()) == {1}
    finally:
        executor.close()
    assert executor.client is None
    assert len(client.scheduler_info()["workers"]) == 2, "closing the controller's client leaves the lab's cluster up"
    assert client.submit(sum, [1, 2]).result(timeout=30) == 3


class KillFirstSimulation(distributed.WorkerPlugin):
    """Worker plugin: the first worker to start executing a simulation writes the task's key
    to ``marker`` (created exclusively, so exactly one worker wins) and SIGKILLs itself.
    Deterministic, unlike watching from outside for a simulation that may take only 20 ms."""

    def __init__(self, marker: str):
        self.marker = marker

    def transition(self, key, start, finish, **kwargs):
        if finish != "executing" or not str(key).startswith("run_simulation"):
            return
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(fd, f"{key}\n{os.getpid()}".encode())
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.slow
def test_a_killed_worker_loses_no_sample(cluster, tmp_path):
    local, client = cluster
    initial = {"closed_form": 1, "kinetics_phase_field": 4}
    raw = simulator_campaign("killed-worker", initial, {"dask_scheduler": local.scheduler_address})
    marker = tmp_path / "killed"
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the plugin class travels by value
    client.register_plugin(KillFirstSimulation(str(marker)), name="kill-first-simulation")
    try:
        result, events = run_campaign(raw, tmp_path / "records.sqlite")
    finally:
        client.unregister_worker_plugin("kill-first-simulation")
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert marker.exists(), "no worker started a simulation, so none was killed"
    key, pid = marker.read_text().split("\n")
    assert result.status == "finished" and result.failed == 0, result.stop_reason
    samples = check_every_sample_once(tmp_path / "records.sqlite", "killed-worker", raw["budget"], events)
    assert len(samples) == 5
    # The scheduler's own story of the killed simulation: sent to a second worker after the first died.
    starts = [t for t in local.scheduler.story(key) if t[2] == "processing"]
    assert len(starts) >= 2, local.scheduler.story(key)
    deadline = time.time() + 20
    while int(pid) in client.run(os.getpid).values() and time.time() < deadline:
        time.sleep(0.1)
    assert int(pid) not in client.run(os.getpid).values(), "the killed worker really left the cluster"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_is_a_clear_error_before_the_store_is_touched(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(simexec, "CONNECT_TIMEOUT_S", 1.0)
    address = f"tcp://127.0.0.1:{free_port()}"
    raw = simulator_campaign("unreachable", {"closed_form": 2}, {"dask_scheduler": address})
    store = tmp_path / "records.sqlite"
    started = time.time()
    with pytest.raises(ConfigError) as err:
        run_campaign(raw, store)
    assert time.time() - started < 15
    assert err.value.fields == ["scheduler.dask_scheduler"]
    assert address in str(err.value) and "cannot reach" in str(err.value)
    assert not store.exists(), "nothing is written when the simulations have nowhere to run"

    config = tmp_path / "unreachable.toml"
    config.write_text(DEFAULT.read_text().replace("simulation_workers = 2",
                                                  f'simulation_workers = 2\ndask_scheduler = "{address}"'))
    assert main(["run", str(config), "--quiet", "--store", str(store)]) == 2
    out = capsys.readouterr()
    text = out.out + out.err
    assert "scheduler.dask_scheduler" in text and "cannot reach" in text
    assert not store.exists()


def test_a_scheduler_without_workers_is_refused():
    import logging

    with distributed.LocalCluster(n_workers=0, processes=True, host="127.0.0.1", scheduler_port=0,
                                  dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR) as empty:
        with pytest.raises(ConfigError) as err:
            DaskSimulations(1, address=empty.scheduler_address, connect_timeout_s=1.0)
    assert err.value.fields == ["scheduler.dask_scheduler"] and "no worker" in str(err.value)


@pytest.mark.parametrize("scheduler, field, allowed", [
    pytest.param({"dask_scheduler": "localhost:8786"}, "scheduler.dask_scheduler", "tcp://HOST:PORT", id="no-scheme"),
    pytest.param({"dask_scheduler": "tcp://localhost"}, "scheduler.dask_scheduler", "tcp://HOST:PORT", id="no-port"),
    pytest.param({"dask_scheduler": "tcp://localhost:70000"}, "scheduler.dask_scheduler", "1 to 65535", id="port-range"),
    pytest.param({"dask_scheduler": "tcp://bad host:8786"}, "scheduler.dask_scheduler", "tcp://HOST:PORT", id="space"),
    pytest.param({"dask_scheduler": 8786}, "scheduler.dask_scheduler", "tcp://HOST:PORT", id="not-a-string"),
    pytest.param({"backend": "ray"}, "scheduler.backend", "dask, processes", id="unknown-backend"),
    pytest.param({"backend": "processes", "dask_scheduler": "tcp://10.0.0.5:8786"}, "scheduler.dask_scheduler",
                 "remove one", id="processes-with-address"),
])
def test_bad_scheduler_settings_name_the_field(scheduler, field, allowed):
    with pytest.raises(ConfigError) as err:
        config_from_dict(simulator_campaign("bad", {"closed_form": 1}, scheduler))
    assert err.value.fields == [field]
    assert allowed in str(err.value)


@pytest.mark.parametrize("scheduler, expected", [
    pytest.param({}, SchedulerSettings(2, "dask", None), id="default-dask-local"),
    pytest.param({"backend": "processes"}, SchedulerSettings(2, "processes", None), id="processes"),
    pytest.param({"dask_scheduler": "tcp://[::1]:8786"}, SchedulerSettings(2, "dask", "tcp://[::1]:8786"), id="ipv6"),
    pytest.param({"dask_scheduler": "tcp://sched.lab.example:8786"}, SchedulerSettings(2, "dask", "tcp://sched.lab.example:8786"),
                 id="hostname"),
])
def test_scheduler_settings(scheduler, expected):
    assert config_from_dict(simulator_campaign("ok", {"closed_form": 1}, scheduler)).scheduler == expected


@pytest.mark.slow
def test_a_task_that_kills_every_worker_fails_with_killed_worker():
    """Rescheduling is bounded: past distributed.scheduler.allowed-failures the future fails
    (and the campaign records the sample as failed) instead of killing workers forever."""
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        executor = DaskSimulations(1)
    try:
        future = executor.submit(os._exit, 3)
        error = future.exception(timeout=60)
        assert type(error).__name__ == "KilledWorker", repr(error)
        assert executor.submit(os.getpid).result(timeout=60) != os.getpid(), "the cluster still runs simulations"
    finally:
        executor.close()


def test_process_pool_backend_runs_simulations():
    executor = make_simulation_executor(SchedulerSettings(simulation_workers=1, backend="processes"))
    try:
        assert executor.backend == "processes" and executor.worker_count() == 1
        future = executor.submit(os.getpid)
        assert future.result(timeout=60) != os.getpid()
    finally:
        executor.close()
