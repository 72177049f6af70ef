"""The operator's stop reaches a running robot plan within a second: on the simulated twins of a
slow dry run, and in a real campaign on the line over EPICS (the caproto IOC stands in for the
hardware). The stop goes in as the dashboard sends it; the plan's end is read from its stop
document, whose time the RunEngine stamps."""

from __future__ import annotations

import threading
import time
import tomllib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from waiting import wait_until

from controller.config.campaign import config_from_dict
from controller.loop.runner import CampaignRunner
from controller.records.store import RecordStore
from controller.ui.web.app import create_app

DEFAULT = Path(__file__).resolve().parents[2] / "configs" / "thermoset_dryrun.toml"
TOKEN = "stop-token-for-the-tests"
#: The bound on the time from the operator's request to the plan's stop document.
STOP_WITHIN_S = 1.0


class Campaign(threading.Thread):
    def __init__(self, config, path, speedup=None):
        super().__init__(daemon=True)
        self.runner = CampaignRunner(config, store_path=path, speedup=speedup, show_progress=False)
        self.result = None

    def run(self):
        self.result = self.runner.run()


def robot_run_underway(store: RecordStore, name: str, events: int) -> tuple[str, str] | None:
    """(sample id, run uid) of the running robot sample once its run has saved ``events`` events."""
    for sample in store.samples(name, include_running=True):
        uid = store.run_uid_of(sample.id) if sample.fidelity == "robot" and sample.status == "running" else None
        if uid and sum(n == "event" for n, _ in store.documents(uid)) >= events:
            return sample.id, uid
    return None


def stop_while_running(path: Path, name: str, events: int) -> tuple[float, str, str]:
    """Wait for the robot's plan to be in a long step, ask the campaign to stop through the
    dashboard's API, and return the seconds from the request to the run's stop document."""
    store = RecordStore(path)
    try:
        found: list = []
        wait_until(lambda: found.append(robot_run_underway(store, name, events)) or found[-1], 120,
                   "the robot's plan to be running")
        sample_id, uid = found[-1]
        assert [n for n, _ in store.documents(uid)][-1] != "stop", "the plan had already ended"
        client = TestClient(create_app(path), base_url="http://localhost")
        assert client.get(f"/api/campaigns/{name}").status_code == 200  # the dashboard is up, as an operator's is
        asked = time.time()
        response = client.post(f"/api/campaigns/{name}/control", json={"action": "stop", "operator": "Ada"},
                               headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 202, response.text
        stop_docs: list = []
        try:
            wait_until(lambda: stop_docs.extend(d for n, d in store.documents(uid) if n == "stop") or stop_docs, 10,
                       "the plan's stop document")
        except AssertionError:
            raise AssertionError("the robot's plan was still running 10 s after the operator's stop") from None
        assert stop_docs[0]["exit_status"] == "abort", stop_docs[0]
        print(f"stop: request recorded {response.json()['time'] - asked:.3f} s after it was sent, "
              f"the plan's stop document {stop_docs[0]['time'] - asked:.3f} s after")
        return stop_docs[0]["time"] - asked, sample_id, uid
    finally:
        store.close()


def check_stopped(campaign: Campaign, path: Path, name: str, sample_id: str) -> None:
    campaign.join(120)
    assert not campaign.is_alive(), "the campaign did not end after the stop"
    result = campaign.result
    assert result.status == "stopped" and "stopped by operator Ada" in result.stop_reason, result.stop_reason
    store = RecordStore(path)
    sample = store.sample(sample_id)
    assert sample.status == "interrupted" and "stopped by the operator" in sample.error, sample.error
    assert sample.steps, "the interrupted run keeps the steps it completed"
    assert store.inflight(name) == []
    outcome = [c["outcome"] for c in store.controls(name) if c["action"] == "stop"]
    assert outcome and "robot plan is stopped" in outcome[0]
    store.close()


def test_the_stop_watch_calls_back_once_for_its_campaigns_unhandled_stop(store_url):
    """The watch reads the store on a connection of its own, on either backend: it ignores other
    campaigns, other actions and handled requests, and calls back once, soon after the request."""
    store = RecordStore(store_url)
    for name in ("watched", "other"):
        store.open_campaign(name, "fp", "{}", 10.0)
    handled = store.request_control("watched", "stop", "Bob")
    store.control_handled(handled, "stopping")  # an earlier stop, already carried out
    seen, called = [], threading.Event()
    watch = store.watch_stop("watched", lambda request: (seen.append((request, time.time())), called.set()))
    try:
        store.request_control("watched", "pause", "Ada")
        store.request_control("other", "stop", "Ada")
        assert not called.wait(0.5), f"called back for {seen}"
        asked = time.time()
        store.request_control("watched", "stop", "Ada", note="end of shift")
        assert called.wait(5), "no call back within 5 s"
        request, when = seen[0]
        assert request["operator"] == "Ada" and request["note"] == "end of shift" and watch.fired == request
        assert when - asked < 0.5, f"the watch saw the request {when - asked:.2f} s after it was made"
        store.request_control("watched", "stop", "Cy")
        time.sleep(0.3)
        assert len(seen) == 1, "it calls back once"
    finally:
        watch.close()
        store.close()


@pytest.mark.slow
def test_the_operators_stop_reaches_a_running_plan_on_the_twins(tmp_path):
    raw = tomllib.loads(DEFAULT.read_text())
    raw.update(name="stop-twins", budget=60)
    raw["optimizer"]["initial_design"] = {"closed_form": 2, "kinetics_phase_field": 0, "robot": 1}
    raw["scheduler"] = {"simulation_workers": 1, "backend": "processes"}
    raw["control"] = {"token": TOKEN}
    # a slow line: one run takes hours of lab time, several minutes of wall time at this speed-up
    raw["devices"]["speedup"] = 30
    path = tmp_path / "records.sqlite"
    campaign = Campaign(config_from_dict(raw), path)
    campaign.start()
    latency, sample_id, _ = stop_while_running(path, "stop-twins", events=3)
    print(f"stop reached the plan on the twins in {latency:.3f} s")
    assert latency < STOP_WITHIN_S, f"the plan ended {latency:.2f} s after the operator's stop"
    check_stopped(campaign, path, "stop-twins", sample_id)


@pytest.mark.slow
def test_the_operators_stop_reaches_a_running_plan_in_a_real_campaign(tmp_path):
    from epics_helpers import running_ioc
    from test_real_mode import real_raw

    raw = real_raw(prefix="SDLS:", name="stop-real")
    raw["optimizer"]["initial_design"] = {"closed_form": 1, "robot": 1}
    raw["control"] = {"approval": [], "token": TOKEN}
    path = tmp_path / "records.sqlite"
    with running_ioc("SDLS:", speedup=30):  # the IOC's line runs hours of lab time in minutes
        campaign = Campaign(config_from_dict(raw), path)
        campaign.start()
        latency, sample_id, _ = stop_while_running(path, "stop-real", events=3)
        print(f"stop reached the plan over EPICS in {latency:.3f} s")
        assert latency < STOP_WITHIN_S, f"the plan ended {latency:.2f} s after the operator's stop"
        check_stopped(campaign, path, "stop-real", sample_id)
