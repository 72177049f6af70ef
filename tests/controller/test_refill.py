"""A simulation worker that finished a long run is refilled while the batch is chosen, before its
result is recorded; a short run, a failed one, or any run in an exact replay waits to be recorded."""

from __future__ import annotations

import time
import tomllib
from concurrent.futures import Future
from pathlib import Path

import pytest

from controller.config.campaign import config_from_dict
from controller.execution.protocol import SimulationOutcome
from controller.loop import runner as runner_module
from controller.loop.dispatch import Dispatch
from controller.loop.runner import REFILL_FIRST_S, CampaignRunner, LoopState
from controller.records.store import RecordStore
from core import SimulationError

DEFAULT = Path(__file__).resolve().parents[2] / "configs" / "thermoset_dryrun.toml"


def _config(deterministic: bool = False, workers: int = 2, **extra):
    raw = tomllib.loads(DEFAULT.read_text())
    raw.update(extra)
    raw["scheduler"] = {"simulation_workers": workers, "backend": "processes", "deterministic": deterministic}
    return config_from_dict(raw)


def _finished(ran_s: float) -> Future:
    fut: Future = Future()
    now = time.time()
    fut.set_result(SimulationOutcome(model="m", model_version="1", steps=[], structure={}, properties={},
                                     start_time=now - ran_s, end_time=now))
    return fut


def _failed() -> Future:
    fut: Future = Future()
    fut.set_exception(SimulationError("the solver diverged"))
    return fut


def _loop(inflight: dict[Future, str]) -> LoopState:
    loop = LoopState(store=None, strategy=None, executors={}, samples=[], committed=0.0, seq=len(inflight) + 1,
                     resumed=False)
    for i, (fut, fidelity) in enumerate(inflight.items(), start=1):
        loop.inflight[fut] = Dispatch(f"c-{i:04d}", i, fidelity, {}, {}, time.time())
    return loop


@pytest.mark.parametrize("deterministic", [False, True])
def test_a_long_finished_simulation_frees_its_worker_before_it_is_recorded(tmp_path, deterministic):
    runner = CampaignRunner(_config(deterministic), store_path=tmp_path / "r.sqlite", show_progress=False)
    running, long_done = Future(), _finished(REFILL_FIRST_S + 1.0)
    loop = _loop({running: "closed_form", long_done: "kinetics_phase_field"})
    _, sim_free = runner._allowed_fidelities(loop)
    assert sim_free is (not deterministic)  # an exact replay's decisions see every result first
    assert runner._sim_slot_free(running) is False


@pytest.mark.parametrize("make", [lambda: _finished(REFILL_FIRST_S / 100), _failed], ids=["short", "failed"])
def test_a_short_or_failed_simulation_waits_to_be_recorded(tmp_path, make):
    runner = CampaignRunner(_config(), store_path=tmp_path / "r.sqlite", show_progress=False)
    loop = _loop({Future(): "closed_form", make(): "closed_form"})
    _, sim_free = runner._allowed_fidelities(loop)
    assert sim_free is False


@pytest.mark.slow
def test_refilling_before_recording_keeps_every_sample_once(tmp_path, monkeypatch):
    """With every finished simulation refilled first (threshold 0), batches run ahead of the
    records; the campaign still records each dispatched sample exactly once, within the budget."""
    monkeypatch.setattr(runner_module, "REFILL_FIRST_S", 0.0)
    freed = []
    slot_free = CampaignRunner._sim_slot_free

    def spy(self, fut):
        free = slot_free(self, fut)
        freed.append(free)
        return free

    monkeypatch.setattr(CampaignRunner, "_sim_slot_free", spy)
    cfg = _config(name="refill", budget=60, workers=3)
    store = tmp_path / "r.sqlite"
    result = CampaignRunner(cfg, store_path=store, show_progress=False).run()
    assert result.status == "finished", result.stop_reason
    s = RecordStore(store)
    samples = s.samples("refill")
    spent = s.spent("refill")
    s.close()
    seqs = sorted(x.seq for x in samples)
    assert seqs == list(range(1, len(seqs) + 1)), "a dispatched sample was lost or recorded twice"
    assert all(x.status != "running" for x in samples)
    assert spent <= 60 + 1e-9
    assert any(freed), "no finished simulation was refilled before its record: the test shows nothing"
    assert sum(x.suggestion.get("model_id") not in (None, "space-filling") for x in samples) >= 3
