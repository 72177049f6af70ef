"""Operator control through the store: the approval gate, pause/resume and stop.

An operator (here a thread standing in for `sdl serve`) writes decisions to the store;
the running campaign picks them up, records who decided and when, and never runs a
gated sample before it is approved.
"""

import threading
import time
import tomllib
from pathlib import Path

import pytest

from controller.loop.runner import CampaignRunner
from controller.config.campaign import config_from_dict
from controller.records.store import RecordStore
from core import ConfigError, StoreError

DEFAULT = Path(__file__).resolve().parents[2] / "configs" / "thermoset_dryrun.toml"


def gated_config(name="gated", budget=100, **control):
    raw = tomllib.loads(DEFAULT.read_text())
    raw.update(name=name, budget=budget)
    raw["optimizer"]["initial_design"] = {"closed_form": 4, "kinetics_phase_field": 1, "robot": 3}
    raw["scheduler"]["simulation_workers"] = 1
    raw["control"] = {"approval": ["robot"], **control}
    return config_from_dict(raw)


class Operator(threading.Thread):
    """Decides on every sample at the gate, in order, from a list of decisions."""

    def __init__(self, path, campaign, decisions, delay=0.3):
        super().__init__(daemon=True)
        self.path, self.campaign, self.decisions, self.delay = path, campaign, list(decisions), delay
        self.seen_awaiting: list[str] = []
        self.done = threading.Event()

    def run(self):
        store = None
        while not self.done.is_set() and self.decisions:
            if store is None and Path(self.path).exists():
                store = RecordStore(self.path)
            if store is not None:
                try:
                    waiting = store.awaiting(self.campaign)
                except StoreError:
                    waiting = []
                for sample in waiting:
                    if sample.id in self.seen_awaiting:
                        continue
                    self.seen_awaiting.append(sample.id)
                    time.sleep(self.delay)  # an operator reads the suggestion first
                    decision = self.decisions.pop(0)
                    store.decide(sample.id, decision, "Ada", note=f"{decision} in test")
                    if not self.decisions:
                        break
            time.sleep(0.05)
        if store is not None:
            store.close()


@pytest.fixture(scope="module")
def gated_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("gate") / "records.sqlite"
    operator = Operator(path, "gated", ["approved", "rejected", "approved"])
    operator.start()
    result = CampaignRunner(gated_config(), store_path=path, speedup=1e5, show_progress=False).run()
    operator.done.set()
    operator.join(5)
    return result, RecordStore(path), operator


def test_robot_runs_wait_for_an_operator_and_record_the_decision(gated_run):
    result, store, operator = gated_run
    assert result.status == "finished", result.stop_reason
    robot = [s for s in store.samples("gated") if s.fidelity == "robot"]
    assert [s.id for s in robot][:3] == operator.seen_awaiting[:3]
    approved = [s for s in robot if s.suggestion.get("approval", {}).get("decision") == "approved"]
    rejected = [s for s in robot if s.status == "rejected"]
    assert len(approved) >= 2 and len(rejected) == 1
    for s in approved:
        assert s.status == "completed" and s.steps, s.error
        assert s.suggestion["approval"]["operator"] == "Ada"
        # nothing ran before the decision: the first process step starts after it
        assert min(step.start_time for step in s.steps if step.start_time) >= s.suggestion["approval"]["time"]
    r = rejected[0]
    assert r.cost == 0 and not r.steps and "rejected by operator Ada" in r.error
    assert store.decision(r.id)["decision"] == "rejected"
    kinds = [e["kind"] for e in store.events("gated")]
    assert kinds.count("approval_requested") >= 3 and "sample_approved" in kinds and "sample_rejected" in kinds
    # the rejected run's reserved cost went back to the budget
    assert store.spent("gated") == pytest.approx(sum(s.cost for s in store.samples("gated")))


def test_a_decision_is_never_changed(gated_run):
    _, store, _ = gated_run
    robot = [s for s in store.samples("gated") if s.fidelity == "robot" and s.status == "completed"]
    with pytest.raises(StoreError, match="already approved by Ada"):
        store.decide(robot[0].id, "rejected", "Bob")
    sim = next(s for s in store.samples("gated") if s.fidelity == "closed_form")
    with pytest.raises(StoreError, match="not awaiting approval"):
        store.decide(sim.id, "approved", "Bob")
    with pytest.raises(StoreError, match="decision"):
        store.decide(sim.id, "maybe", "Bob")


def test_pause_resume_and_stop(tmp_path):
    path = tmp_path / "records.sqlite"
    config = gated_config(name="paused", budget=400)
    log: list[tuple[str, float]] = []

    def operator():
        while not path.exists():
            time.sleep(0.02)
        store = RecordStore(path)
        while len(store.samples("paused")) < 3:
            time.sleep(0.05)
        store.request_control("paused", "pause", "Ada", note="checking the oven")
        while store.campaign("paused")["status"] != "paused":
            time.sleep(0.05)
        log.append(("paused", len(store.samples("paused", include_running=True))))
        time.sleep(1.0)
        log.append(("still paused", len(store.samples("paused", include_running=True))))
        store.request_control("paused", "resume", "Ada")
        while len(store.samples("paused", include_running=True)) <= log[1][1]:
            time.sleep(0.05)  # something new starts (or waits at the gate) once resumed
        log.append(("resumed", len(store.samples("paused", include_running=True))))
        store.request_control("paused", "stop", "Bob", note="end of shift")
        store.close()

    thread = threading.Thread(target=operator, daemon=True)
    thread.start()
    result = CampaignRunner(config, store_path=path, speedup=1e5, show_progress=False).run()
    thread.join(5)
    assert result.status == "stopped"
    assert "stopped by operator Bob (end of shift)" in result.stop_reason
    assert log[0][1] == log[1][1], "nothing new was dispatched while paused"
    store = RecordStore(path)
    kinds = [e["kind"] for e in store.events("paused")]
    assert kinds.index("campaign_paused") < kinds.index("campaign_resumed") < kinds.index("campaign_stopping")
    assert [c["action"] for c in store.controls("paused")] == ["pause", "resume", "stop"]
    assert all(c["handled"] for c in store.controls("paused"))
    # a robot run held at the gate when the campaign stopped is cancelled, not charged
    for s in store.samples("paused"):
        assert s.status in ("completed", "cancelled"), (s.id, s.status, s.error)
        if s.status == "cancelled":
            assert s.cost == 0 and s.fidelity == "robot"
    assert store.campaign("paused")["status"] == "stopped"


def test_control_settings_are_validated():
    with pytest.raises(ConfigError) as info:
        gated_config(approval=["robots"], token="short", colour="red")
    fields = {i.field for i in info.value.issues}
    assert {"control.approval", "control.token", "control.colour"} <= fields
    assert "allowed: ['closed_form', 'kinetics_phase_field', 'robot']" in str(info.value)


def test_control_requests_are_validated(tmp_path):
    store = RecordStore(tmp_path / "s.sqlite")
    with pytest.raises(StoreError, match="no campaign"):
        store.request_control("nope", "pause", "Ada")
    with pytest.raises(StoreError, match="allowed"):
        store.request_control("nope", "explode", "Ada")
