"""The dashboard's HTTP API: read-only views, and every control action with its token checks.

A gated dry run (robot runs need approval) runs in a thread; the tests act on it through
the API exactly as the dashboard's buttons do.
"""

import threading
import time
import tomllib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from controller.loop.runner import CampaignRunner
from controller.config.campaign import config_from_dict
from controller.records.store import RecordStore
from controller.ui.web.app import create_app

DEFAULT = Path(__file__).resolve().parents[2] / "configs" / "thermoset_dryrun.toml"
TOKEN = "s3cret-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def config(name, budget=100, token=TOKEN, approval=("robot",)):
    raw = tomllib.loads(DEFAULT.read_text())
    raw.update(name=name, budget=budget)
    raw["optimizer"]["initial_design"] = {"closed_form": 4, "kinetics_phase_field": 1, "robot": 3}
    raw["scheduler"]["simulation_workers"] = 1
    raw["control"] = {"approval": list(approval), **({"token": token} if token else {})}
    return config_from_dict(raw)


def wait_for(predicate, timeout=60.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Campaign:
    def __init__(self, path, cfg):
        self.result = None
        self.thread = threading.Thread(target=self._run, args=(path, cfg), daemon=True)
        self.thread.start()

    def _run(self, path, cfg):
        self.result = CampaignRunner(cfg, store_path=path, speedup=1e5, show_progress=False).run()


@pytest.fixture(scope="module")
def gated(tmp_path_factory, monkeypatch_module):
    monkeypatch_module.delenv("SDL_CONTROL_TOKEN", raising=False)
    path = tmp_path_factory.mktemp("web") / "records.sqlite"
    RecordStore(path).close()
    campaign = Campaign(path, config("webgated"))
    client = TestClient(create_app(path), base_url="http://localhost")
    yield client, campaign, path


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def awaiting(client, name="webgated"):
    r = client.get(f"/api/campaigns/{name}")
    return r.json()["awaiting"] if r.status_code == 200 else []  # 404 until the campaign starts


def test_read_only_views_need_no_token(gated):
    client, _, _ = gated
    first = wait_for(lambda: awaiting(client), what="a robot run at the approval gate")[0]
    assert first["fidelity"] == "robot" and first["reason"] and "additive_fraction" in first["recipe"]
    campaigns = client.get("/api/campaigns").json()
    assert [c["name"] for c in campaigns] == ["webgated"] and campaigns[0]["awaiting_approval"] == 1
    summary = client.get("/api/campaigns/webgated").json()
    assert summary["control_enabled"] and summary["objective"]["unit"] == "degC"
    assert [f["approval"] for f in summary["fidelities"]] == [False, False, True]
    rows = client.get("/api/campaigns/webgated/samples", params={"fidelity": "closed_form"}).json()
    assert rows and {r["fidelity"] for r in rows} == {"closed_form"}
    detail = client.get(f"/api/samples/{rows[0]['id']}").json()
    assert detail["steps"] and detail["properties"]["glass_transition_temperature"]["unit"] == "degC"
    assert client.get("/").status_code == 200 and "sdl dashboard" in client.get("/").text
    assert client.get("/api/campaigns/nope").status_code == 404
    assert client.get("/api/samples/nope-0001").status_code == 404


def test_approval_needs_the_right_token(gated):
    client, _, _ = gated
    sample = wait_for(lambda: awaiting(client))[0]["sample"]
    url = f"/api/campaigns/webgated/approvals/{sample}"
    assert client.post(url, json={"decision": "approve", "operator": "Ada"}).status_code == 401
    r = client.post(url, json={"decision": "approve", "operator": "Ada"}, headers={"Authorization": "Bearer wrong-token"})
    assert r.status_code == 403 and "wrong" in r.json()["detail"]
    r = client.post(url, json={"decision": "maybe", "operator": "Ada"}, headers=AUTH)
    assert r.status_code == 422
    r = client.post(url, json={"decision": "approve", "operator": "  "}, headers=AUTH)
    assert r.status_code == 422 and "operator" in r.json()["detail"]
    assert awaiting(client)[0]["sample"] == sample, "a refused request decides nothing"


def test_approve_then_reject(gated):
    client, _, path = gated
    first = wait_for(lambda: awaiting(client))[0]["sample"]
    r = client.post(f"/api/campaigns/webgated/approvals/{first}", json={"decision": "approve", "operator": "Ada", "note": "looks safe"},
                    headers=AUTH)
    assert r.status_code == 200 and r.json()["decision"] == "approved"
    again = client.post(f"/api/campaigns/webgated/approvals/{first}", json={"decision": "reject", "operator": "Bob"}, headers=AUTH)
    assert again.status_code == 409 and "already approved by Ada" in again.json()["detail"]
    second = wait_for(lambda: [a for a in awaiting(client) if a["sample"] != first], what="the next robot run")[0]["sample"]
    r = client.post(f"/api/campaigns/webgated/approvals/{second}", json={"decision": "reject", "operator": "Bob", "note": "too hot"},
                    headers=AUTH)
    assert r.status_code == 200
    done = wait_for(lambda: {s["id"]: s for s in client.get("/api/campaigns/webgated/samples").json()
                             if s["id"] in (first, second) and s["status"] not in ("running", "awaiting_approval")}
                    .__len__() == 2 and True, what="both decisions carried out")
    assert done
    rows = {s["id"]: s for s in client.get("/api/campaigns/webgated/samples").json()}
    assert rows[first]["status"] == "completed" and rows[first]["approval"]["operator"] == "Ada"
    assert rows[second]["status"] == "rejected" and rows[second]["cost"] == 0
    assert client.get(f"/api/samples/{first}").json()["decision"]["note"] == "looks safe"
    devices = client.get("/api/campaigns/webgated/devices").json()
    assert devices["sample"] in (first, second) or devices["devices"]


def test_pause_resume_stop(gated):
    client, campaign, _ = gated
    url = "/api/campaigns/webgated/control"
    assert client.post(url, json={"action": "pause", "operator": "Ada"}).status_code == 401
    assert client.post(url, json={"action": "explode", "operator": "Ada"}, headers=AUTH).status_code == 422
    r = client.post(url, json={"action": "pause", "operator": "Ada"}, headers=AUTH)
    assert r.status_code == 202
    wait_for(lambda: client.get("/api/campaigns/webgated").json()["status"] == "paused", what="paused")
    assert client.post(url, json={"action": "resume", "operator": "Ada"}, headers=AUTH).status_code == 202
    wait_for(lambda: client.get("/api/campaigns/webgated").json()["status"] == "running", what="running again")
    assert client.post(url, json={"action": "stop", "operator": "Bob", "note": "end of test"}, headers=AUTH).status_code == 202
    campaign.thread.join(60)
    assert campaign.result.status == "stopped" and "Bob" in campaign.result.stop_reason
    controls = client.get("/api/campaigns/webgated/controls").json()
    assert [c["action"] for c in controls] == ["pause", "resume", "stop"] and all(c["handled"] for c in controls)
    r = client.post(url, json={"action": "pause", "operator": "Ada"}, headers=AUTH)
    assert r.status_code == 409 and "stopped" in r.json()["detail"]
    report = client.get("/api/campaigns/webgated/report")
    assert report.status_code == 200 and "<svg" in report.text and "webgated" in report.text


def test_control_is_disabled_without_a_token(tmp_path, monkeypatch):
    monkeypatch.delenv("SDL_CONTROL_TOKEN", raising=False)
    path = tmp_path / "s.sqlite"
    store = RecordStore(path)
    cfg = config("notoken", token=None)
    store.open_campaign(cfg.name, cfg.fingerprint, cfg.to_json(), cfg.budget)
    store.close()
    client = TestClient(create_app(path), base_url="http://localhost")
    r = client.post("/api/campaigns/notoken/control", json={"action": "pause", "operator": "Ada"}, headers=AUTH)
    assert r.status_code == 403 and "disabled" in r.json()["detail"]
    monkeypatch.setenv("SDL_CONTROL_TOKEN", TOKEN)  # the environment's token enables it
    r = client.post("/api/campaigns/notoken/control", json={"action": "pause", "operator": "Ada"}, headers=AUTH)
    assert r.status_code == 202


def test_event_stream_sends_store_events(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite"
    store = RecordStore(path)
    cfg = config("events")
    store.open_campaign(cfg.name, cfg.fingerprint, cfg.to_json(), cfg.budget)
    app = create_app(path)
    from controller.ui.web.app import BackgroundServer
    import httpx

    with BackgroundServer(path) as server:
        got = []

        def listen():
            with httpx.stream("GET", f"{server.url}/api/campaigns/events/events", timeout=10) as response:
                for line in response.iter_lines():
                    if line.startswith("data:"):
                        got.append(line)
                        return

        thread = threading.Thread(target=listen, daemon=True)
        thread.start()
        time.sleep(0.5)
        store.log_event("events", "campaign_paused", {"operator": "Ada"})
        thread.join(10)
    assert got and '"kind": "campaign_paused"' in got[0] and '"operator": "Ada"' in got[0]
    assert app is not None
