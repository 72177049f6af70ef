"""The live stream: a dry run's Bluesky documents reach a standard ``RemoteDispatcher`` in another
process, its campaign events arrive as JSON in order, and the terminal monitor's state and view
follow them.

One short dry run (module fixture) feeds every test; the proxy binds free ports on 127.0.0.1.
"""

import io
import json
import math
import queue
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from waiting import wait_until
from controller.loop.runner import CampaignRunner
from controller.config.campaign import config_from_dict
from controller.ui.monitor import MonitorState, render, run_monitor, seed_from_store
from controller.records.store import RecordStore
from controller.execution.proxy import serialize_document
from controller.ui.stream import (
    DOCUMENT_PREFIX, CampaignStream, StreamSettings, decode_event, encode_event, subscribe_events,
)
from core import ConfigError

DEFAULT = Path(__file__).resolve().parents[2] / "configs" / "thermoset_dryrun.toml"
ANY_PORT = StreamSettings("tcp://127.0.0.1:0", "tcp://127.0.0.1:0")
PROBE = "stream-probe"

# A standard bluesky subscriber in its own process, subscribed exactly as README.md
# ("Watching a campaign") says: prints one JSON line per document (its readings, if any),
# ends when told which runs to expect and their stop documents have all arrived.
DISPATCHER = r"""
import json, sys, threading, time
from bluesky.callbacks.zmq import RemoteDispatcher
from controller.ui.stream import document_deserializer

d = RemoteDispatcher(sys.argv[1], prefix=b"sdl.documents", deserializer=document_deserializer)
stops, expected, deadline = set(), [None], [time.monotonic() + 300]

def out(obj):
    print(json.dumps(obj, default=str), flush=True)

def collect(name, doc):
    if doc.get("uid") == "PROBE":
        out({"probe": True})
        return
    data = doc.get("data")
    out({"name": name, "uid": doc.get("uid"), "run_start": doc.get("run_start"),
         "descriptor": doc.get("descriptor"), "stream": doc.get("name"), "sample_id": doc.get("sample_id"),
         "data": data})
    if name == "stop":
        stops.add(doc["run_start"])

def told(uids):
    expected[0] = set(uids)
    deadline[0] = time.monotonic() + 15

def check():
    if (expected[0] is not None and expected[0] <= stops) or time.monotonic() > deadline[0]:
        d._task.cancel()
        return
    d.loop.call_later(0.05, check)

threading.Thread(target=lambda: (lambda line: d.loop.call_soon_threadsafe(told, json.loads(line or "[]")))(
    sys.stdin.readline()), daemon=True).start()
d.subscribe(collect)
d.loop.call_later(0.05, check)
try:
    d.start()
except BaseException:
    pass
out({"done": True})
""".replace("PROBE", PROBE)


def tiny_config():
    raw = tomllib.loads(DEFAULT.read_text())
    raw.update(name="streamed", budget=60)
    raw["optimizer"]["initial_design"] = {"closed_form": 3, "kinetics_phase_field": 1, "robot": 1}
    raw["scheduler"]["simulation_workers"] = 1
    return config_from_dict(raw)


def _lines(proc) -> queue.Queue:
    lines: queue.Queue = queue.Queue()

    def pump():
        for line in proc.stdout:
            lines.put(json.loads(line))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


@pytest.fixture(scope="module")
def streamed_run(tmp_path_factory):
    from bluesky.callbacks.zmq import Publisher

    store_path = tmp_path_factory.mktemp("stream") / "records.sqlite"
    stream = CampaignStream(ANY_PORT)
    proc = subprocess.Popen([sys.executable, "-c", DISPATCHER, stream.proxy_out],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    events = subscribe_events(stream.proxy_out)
    probe = Publisher(stream.proxy_in, prefix=DOCUMENT_PREFIX, serializer=serialize_document)
    try:
        lines = _lines(proc)
        # 0MQ subscriptions take a moment to reach the proxy: probe until both readers hear us.
        received: list[dict] = []
        ready = {"dispatcher": False, "events": False}

        def poke():
            probe("start", {"uid": PROBE, "time": time.time()})
            stream.event("stream_probe", {"campaign": PROBE})
            while not lines.empty():
                ready["dispatcher"] |= bool((lines.get() or {}).get("probe"))
            ready["events"] |= events.receive(0) is not None

        wait_until(lambda: all(ready.values()), 60, "the subscribers to connect", poke)
        while events.receive(0.2) is not None:  # drop the probes' echo
            pass

        runner = CampaignRunner(tiny_config(), store_path=store_path, speedup=1e5, show_progress=False)
        stream.attach(runner)
        result = runner.run()
        store = RecordStore(store_path)
        run_uids = sorted({doc["uid"] for name, doc in store.campaign_documents("streamed") if name == "start"})

        received = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (received and received[-1]["kind"] == "recommendation"):
            event = events.receive(0.5)
            if event is not None and event["campaign"] == "streamed":
                received.append(event)
        proc.stdin.write(json.dumps(run_uids) + "\n")
        proc.stdin.flush()
        documents = []
        while (line := lines.get(timeout=30)) is not None and not line.get("done"):
            if not line.get("probe"):
                documents.append(line)
        assert proc.wait(timeout=10) == 0
        yield SimpleNamespace(result=result, store=store, run_uids=run_uids, events=received,
                              documents=documents, stream=stream)
        store.close()
    finally:
        probe.close()
        events.close()
        stream.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------------- documents
def test_remote_dispatcher_receives_every_document_of_the_dry_run(streamed_run):
    run = streamed_run
    assert run.result.status == "finished" and run.run_uids, "the dry run must make at least one robot run"
    robot = [s for s in run.store.samples("streamed") if s.fidelity == "robot"]
    assert {s.run_uid for s in robot} <= set(run.run_uids)
    starts = [d for d in run.documents if d["name"] == "start"]
    assert sorted(d["uid"] for d in starts) == run.run_uids
    assert {d["sample_id"] for d in starts} == {s.id for s in robot}

    descriptor_run = {d["uid"]: d["run_start"] for d in run.documents if d["name"] == "descriptor"}

    def run_of(doc):
        return {"start": doc["uid"], "descriptor": doc["run_start"], "stop": doc["run_start"],
                "event": descriptor_run.get(doc["descriptor"])}.get(doc["name"])

    for uid in run.run_uids:
        got = [d["name"] for d in run.documents if run_of(d) == uid]
        stored = [name for name, _ in run.store.documents(uid)]
        assert got == stored, f"run {uid}: the subscriber saw {got}, the store holds {stored}"
        assert got[0] == "start" and got[-1] == "stop" and "descriptor" in got and "event" in got
        # The readings themselves cross the wire unchanged (as JSON: nothing is pickled).
        got_data = [d["data"] for d in run.documents if run_of(d) == uid and d["name"] == "event"]
        assert got_data == [doc["data"] for name, doc in run.store.documents(uid) if name == "event"]
    streams = {d["stream"] for d in run.documents if d["name"] == "descriptor"}
    assert {"dispense", "cure", "characterize"} <= streams


# ---------------------------------------------------------------------- events
def test_campaign_events_arrive_as_json_in_order(streamed_run):
    run = streamed_run
    kinds = [e["kind"] for e in run.events]
    assert kinds[0] == "campaign_started" and kinds[-2:] == ["campaign_finished", "recommendation"]
    assert all(e["campaign"] == "streamed" and isinstance(e["time"], float) for e in run.events)

    samples = run.store.samples("streamed")
    dispatched = [e["sample"] for e in run.events if e["kind"] == "sample_dispatched"]
    recorded = [e["sample"] for e in run.events if e["kind"] == "sample_recorded"]
    assert sorted(dispatched) == sorted(recorded) == sorted(s.id for s in samples)
    position = {(e["kind"], e.get("sample")): i for i, e in enumerate(run.events)}
    for sample in recorded:
        assert position[("sample_dispatched", sample)] < position[("sample_recorded", sample)]
    last = [e for e in run.events if e["kind"] == "sample_recorded"][-1]
    assert last["spent"] == pytest.approx(run.store.spent("streamed")) and last["budget"] == 60
    assert run.events[-1]["recommendation"]["fidelity"] == "robot"
    # What the robot does, step by step, derived from its documents.
    steps = [e for e in run.events if e["kind"] == "run_step"]
    assert "cure" in [e["stream"] for e in steps]
    cure = next(e for e in steps if e["stream"] == "cure")
    assert cure["devices"] == ["oven"] and cure["sample"] in recorded and cure["run_uid"] in run.run_uids


def test_event_wire_format_is_strict_json():
    message = encode_event("sample_recorded", {"campaign": "c", "objective": math.nan, "cost": 1})
    topic, kind, body = message.split(b" ", 2)
    assert (topic, kind) == (b"sdl.events", b"sample_recorded")
    assert json.loads(body) == {"kind": "sample_recorded", "campaign": "c", "objective": None, "cost": 1}
    assert decode_event(message)["objective"] is None
    assert decode_event(b"sdl.documents start \x80\x04") is None
    with pytest.raises(ValueError, match="without spaces"):
        encode_event("two words", {})


def test_publishing_never_raises_into_the_campaign(caplog):
    with CampaignStream(ANY_PORT, campaign="c") as stream:
        stream.document("start", {"uid": "u", "bad": threading.Lock()})  # not JSON: dropped, not sent as text
        stream.event("sample_recorded", {"bad": object()})  # not JSON: sent as its str
        assert stream.dropped == 1
    stream.document("start", {"uid": "after-close"})  # closed: ignored
    stream.event("campaign_stopped", {})
    assert "not published" in caplog.text


def test_second_controller_reuses_the_running_proxy():
    with CampaignStream(ANY_PORT, campaign="first") as first:
        settings = StreamSettings(first.proxy_in, first.proxy_out)
        with CampaignStream(settings, campaign="second") as second, subscribe_events(first.proxy_out) as events:
            assert second.proxy is None and second.proxy_out == first.proxy_out
            got: list[dict] = []

            def poke():
                second.event("campaign_started", {})
                event = events.receive(0.05)
                if event is not None:
                    got.append(event)

            wait_until(lambda: bool(got), 10, "the second controller's event", poke)
            assert got[0]["campaign"] == "second"


@pytest.mark.parametrize("kwargs, field", [
    pytest.param({"proxy_in": "127.0.0.1:5577"}, "stream.proxy_in", id="no-scheme"),
    pytest.param({"proxy_out": "tcp://127.0.0.1:99999"}, "stream.proxy_out", id="port-too-big"),
    pytest.param({"proxy_in": "tcp://127.0.0.1:0", "start_proxy": False}, "stream.proxy_in", id="port-0-without-proxy"),
    pytest.param({"proxy_in": "tcp://127.0.0.1:6000", "proxy_out": "tcp://127.0.0.1:6000"}, "stream.proxy_out",
                 id="same-port"),
])
def test_bad_addresses_name_the_field(kwargs, field):
    with pytest.raises(ConfigError) as info:
        StreamSettings(**kwargs)
    assert info.value.issues[0].field.startswith(field)


def test_addresses_come_from_the_environment(monkeypatch):
    assert StreamSettings().proxy_in == "tcp://127.0.0.1:5577"
    monkeypatch.setenv("SDL_ZMQ_IN", "tcp://127.0.0.1:6001")
    monkeypatch.setenv("SDL_ZMQ_OUT", "tcp://127.0.0.1:6002")
    assert (StreamSettings().proxy_in, StreamSettings().proxy_out) == ("tcp://127.0.0.1:6001", "tcp://127.0.0.1:6002")
    monkeypatch.setenv("SDL_ZMQ_OUT", "nonsense")
    with pytest.raises(ConfigError, match=r"SDL_ZMQ_OUT"):
        StreamSettings()


# ---------------------------------------------------------------------- monitor
def _view(state) -> str:
    console = Console(record=True, width=160, file=io.StringIO())
    console.print(render(state))
    return console.export_text()


def _best_at_target(store) -> float:
    return max(s.properties["glass_transition_temperature"].to("degC").magnitude
               for s in store.samples("streamed") if s.fidelity == "robot" and s.status == "completed")


def test_monitor_state_follows_the_stream(streamed_run):
    run = streamed_run
    state = MonitorState(campaign="streamed")
    assert all(state.apply(e["kind"], e) for e in run.events)
    assert not state.apply("sample_recorded", {"campaign": "another", "sample": "x", "objective": 1e9})
    assert state.status == "finished" and state.best == pytest.approx(_best_at_target(run.store))
    assert state.committed == pytest.approx(run.store.spent("streamed"))
    by_fidelity = state.by_fidelity()
    assert by_fidelity["robot"]["cost"] == 40 * by_fidelity["robot"]["done"]
    assert sum(e["cost"] for e in by_fidelity.values()) == pytest.approx(run.store.spent("streamed"))
    assert not any(e["running"] for e in by_fidelity.values())

    view = _view(state)
    assert f"{state.best:.2f}" in view and "finished" in view
    assert f"{state.committed:g} / 60 cost units" in view
    assert "budget by fidelity" in view and "recommendation at robot" in view
    last = list(state.samples)[-1]
    assert last in view

    # Seeding from the store gives the same numbers as following the stream.
    seeded = MonitorState(campaign="streamed")
    assert seed_from_store(seeded, run.store.path)
    assert seeded.best == pytest.approx(state.best) and seeded.committed == pytest.approx(state.committed)
    assert seeded.by_fidelity() == by_fidelity


def test_monitor_state_shows_the_robot_step_and_in_flight_budget():
    state = MonitorState()  # follows the first campaign heard of
    state.apply("campaign_started", {"campaign": "a", "budget": 100, "spent": 0})
    state.apply("sample_dispatched", {"campaign": "a", "sample": "a-0001", "fidelity": "robot", "committed": 40,
                                      "budget_left": 60, "suggestion": {"reason": "space-filling design"}})
    state.apply("run_started", {"campaign": "a", "sample": "a-0001", "attempt": 1,
                                "streams": ["ambient", "tracker", "dispense", "mix", "cure", "characterize"]})
    state.apply("run_step", {"campaign": "a", "sample": "a-0001", "stream": "cure", "devices": ["oven"]})
    view = _view(state)
    assert "a-0001 (attempt 1): cure done (oven); now characterize" in state.robot
    assert "a-0001 dispatched to robot: space-filling design" in view
    assert state.by_fidelity() == {"robot": {"done": 0, "running": 1, "cost": 40}}
    assert "40 / 100 cost units (40%)" in view
    # Following: another campaign's events are ignored until it starts, then the view switches to it.
    assert not state.apply("sample_recorded", {"campaign": "b", "sample": "b-0001"})
    assert state.apply("campaign_resumed", {"campaign": "b", "budget": 10, "spent": 5, "samples": 3})
    assert (state.campaign, state.committed, state.samples) == ("b", 5, {})
    pinned = MonitorState(campaign="a")
    assert not pinned.apply("campaign_started", {"campaign": "b"}) and pinned.campaign == "a"


def test_run_monitor_draws_the_live_events(streamed_run):
    run = streamed_run
    with CampaignStream(ANY_PORT, campaign="streamed") as stream:
        out = io.StringIO()
        console = Console(file=out, width=160, force_terminal=False)
        settings = StreamSettings(stream.proxy_in, stream.proxy_out, start_proxy=False)
        status = []
        monitor = threading.Thread(target=lambda: status.append(
            run_monitor("streamed", settings, None, console=console, duration_s=2.0)))
        monitor.start()
        # Replay the campaign until the monitor's subscription is surely up (it ignores repeats' order).
        while monitor.is_alive():
            for event in run.events:
                stream.event(event["kind"], event)
            time.sleep(0.1)
        monitor.join()
    assert status == [0]
    text = out.getvalue()
    assert f"{_best_at_target(run.store):.2f}" in text and "budget by fidelity" in text
