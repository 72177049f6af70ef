"""Robot plans on a bluesky-queueserver RE Manager.

Fast tests (no servers): the campaign file's executor keys, the line settings record, the
startup profile's plan and functions on a local RunEngine, the document feed's routing over
a real 0MQ proxy, and an unreachable RE Manager.

Slow tests (Redis + RE Manager on loopback, free ports; skipped with the reason when
``redis-server`` or ``start-re-manager`` is not installed): short campaigns whose robot
samples go through RE Manager's queue — completed samples with their process steps, lots,
documents and queue items, measured values equal to the local executor's, and a plan failure
recorded as a failed sample with the queue's error.
"""

import os
import shutil
import socket
import subprocess
import time
import tomllib
from pathlib import Path

import pytest

from controller.config.campaign import config_from_dict
from core import Q_, ConfigError, InputDataError

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "configs" / "thermoset_dryrun.toml"
DBP = "CCCCOC(=O)c1ccccc1C(=O)OCCCC"
FAST = 1e5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def recipe(**changes):
    out = {"additive": DBP, "additive_fraction": Q_(5.0, "percent"), "hardener_ratio": Q_(1.0, ""),
           "mixing_speed": Q_(1200.0, "rpm"), "mixing_time": Q_(5.0, "min"),
           "cure_temperature": Q_(140.0, "degC"), "cure_time": Q_(2.0, "h")}
    out.update(changes)
    return out


def campaign(name="qs", budget=83, robot=2, faults=(), retry=None, **devices):
    """A short dry run: ``robot`` robot runs of initial design (the first is dispatched first),
    and closed-form simulations with what the budget leaves (3 units by default) meanwhile."""
    raw = tomllib.loads(DEFAULT.read_text())
    raw.update(name=name, budget=budget)
    raw["optimizer"]["initial_design"] = {"robot": robot}
    raw["scheduler"]["simulation_workers"] = 1
    raw["devices"].update(devices)
    if faults:
        raw["devices"]["faults"] = list(faults)
    if retry is not None:
        raw["retry"] = retry
    return config_from_dict(raw)


# ------------------------------------------------------------------------------ campaign file
def test_executor_defaults_to_local():
    cfg = campaign()
    assert cfg.devices.executor == "local"
    assert cfg.devices.qserver_control == "tcp://127.0.0.1:60615"
    assert cfg.devices.qserver_data == "tcp://127.0.0.1:5568"


def test_bad_executor_settings_name_each_field():
    with pytest.raises(ConfigError) as info:
        campaign(executor="celery", qserver_control="localhost:60615", qserver_data="tcp://*:5568")
    fields = set(info.value.fields)
    assert {"devices.executor", "devices.qserver_control", "devices.qserver_data"} <= fields
    text = str(info.value)
    assert "local, queueserver" in text and "tcp://HOST:PORT" in text and "not '*'" in text


# ------------------------------------------------------------------------------ line settings
def test_line_settings_round_trip_to_a_line():
    from devices import FaultSpec
    from devices.qserver_profile import line_from_settings, line_settings_record, settings_key

    limits = {"oven.temperature": (Q_(60, "degC"), Q_(160, "degC"))}
    record = line_settings_record("thermoset_blend", 3, 5e4, limits, [FaultSpec("oven", "fail", 0.5)])
    line = line_from_settings(record)
    low, high = line.limits.bounds("oven.temperature")
    assert high.to("degC").magnitude == pytest.approx(160.0) and low.to("degC").magnitude == pytest.approx(60.0)
    assert line.time_scale == 5e4 and line.simulation.seed == 3
    assert [(s.device, s.kind, s.probability) for s in line.simulation.faults.specs] == [("oven", "fail", 0.5)]
    shuffled = dict(reversed(list(record.items())))
    assert settings_key(shuffled) == settings_key(record)
    assert settings_key({**record, "seed": 4}) != settings_key(record)
    assert settings_key({**record, "system": "systems.thermoset:system"}) != settings_key(record)


def test_line_settings_build_the_line_of_the_system_they_name():
    """The profile names no system: the record's reference picks whose twins it builds."""
    from devices.qserver_profile import line_from_settings, line_settings_record

    flow = line_from_settings(line_settings_record("systems.quantum_dots:system", 2, 5e4))
    assert "spectrometer" in flow.devices and flow.time_scale == 5e4
    with pytest.raises(ConfigError) as info:
        line_from_settings(line_settings_record(None, 2, 5e4))
    assert info.value.fields == ["line_settings.system"]


def test_bad_line_settings_name_each_field():
    from devices.qserver_profile import validate_settings

    with pytest.raises(ConfigError) as info:
        validate_settings({"system": "thermoset_blend", "seed": "x", "speedup": -1, "limits": {"oven.colour": []},
                           "faults": [{"device": "toaster", "kind": "fail", "probability": 1}], "extra": 1})
    assert {"line_settings.seed", "line_settings.speedup", "line_settings.limits.oven.colour",
            "line_settings.faults[0].device", "line_settings.extra"} <= set(info.value.fields)
    with pytest.raises(ConfigError) as info:
        validate_settings({"system": "no_such_system", "faults": [{"device": "oven"}]})
    assert info.value.fields == ["line_settings.system"] and "no_such_system" in str(info.value)
    with pytest.raises(ConfigError) as info:
        validate_settings({"limits": {"oven.temperature": []}, "faults": [{"device": "oven"}]})
    assert info.value.fields == ["line_settings.limits", "line_settings.faults"]


# ------------------------------------------------------------------------------ the startup profile
@pytest.fixture(scope="module")
def profile():
    """The startup module, imported as RE Manager's worker imports it (its Publisher connects
    to a free port where nothing listens: 0MQ queues and drops, nothing blocks)."""
    import importlib
    import os

    os.environ["SDL_QSERVER_PUBLISH"] = f"tcp://127.0.0.1:{free_port()}"
    try:
        module = importlib.import_module("devices.qserver_profile.startup")
    finally:
        os.environ.pop("SDL_QSERVER_PUBLISH", None)
    return module


def test_profile_exposes_the_plan_functions_and_the_configured_lines_devices(profile):
    import inspect

    from devices.qserver_profile import line_settings_record

    def public():
        return {name for name in vars(profile) if not name.startswith("_")}

    plans = {name for name in public() if inspect.isgeneratorfunction(getattr(profile, name))}
    assert plans == {"make_and_characterize"}
    profile.configure_sim_line(line_settings_record("systems.quantum_dots:system", 1, FAST))
    assert {"configure_sim_line", "line_status", "RE", "line", "reactor", "spectrometer", "collector"} <= public()
    profile.configure_sim_line(line_settings_record("thermoset_blend", 1, FAST))
    assert {"line", "oven", "mixer", "tracker"} <= public() and "spectrometer" not in public()


def test_profile_publishes_documents_as_json_never_pickle(profile):
    import numpy as np

    from controller.execution.proxy import deserialize_document

    assert profile._publisher._serializer is profile._serialize_document
    body = profile._serialize_document({"uid": "u", "data": {"a": np.float64(2.5), "b": np.arange(2)}})
    assert deserialize_document(body) == {"uid": "u", "data": {"a": 2.5, "b": [0, 1]}}
    with pytest.raises(TypeError, match="not JSON serializable"):
        profile._serialize_document({"bad": object()})


def test_profile_plan_runs_from_json_records_and_checks_the_settings_key(profile):
    from controller.records.samples import to_jsonable
    from devices import steps_from_documents
    from devices.qserver_profile import line_settings_record

    settings = line_settings_record("thermoset_blend", 11, FAST)
    first = profile.configure_sim_line(settings)
    assert first["rebuilt"] is True
    assert profile.configure_sim_line(settings) == {"key": first["key"], "rebuilt": False}
    assert profile.configure_sim_line(settings, rebuild=True)["rebuilt"] is True
    docs = []
    token = profile.RE.subscribe(lambda name, doc: docs.append((name, doc)))
    try:
        profile.RE(profile.make_and_characterize(to_jsonable(recipe()), "p-1", md={"campaign": "x"},
                                                 batch_mass={"value": 8.0, "unit": "g"}, line_settings=first["key"]))
        with pytest.raises(InputDataError, match="configure_sim_line"):
            profile.RE(profile.make_and_characterize(to_jsonable(recipe()), "p-2", line_settings="0000"))
    finally:
        profile.RE.unsubscribe(token)
    record = steps_from_documents(docs)
    assert record.exit_status == "success" and record.sample_id == "p-1"
    assert [s["name"] for s in record.steps] == ["tracker", "dispense", "mix", "cure", "characterize"]
    assert record.metadata["batch_mass"] == {"value": 8.0, "unit": "g"}
    assert profile.line_status()["samples"] == 1


# ------------------------------------------------------------------------------ the document feed
def test_document_feed_routes_only_the_requested_runs():
    from bluesky.callbacks.zmq import Publisher

    from controller.execution.proxy import serialize_document
    from controller.execution.queueserver.feed import DOCUMENT_PREFIX, REQUEST_KEY, DocumentFeed
    from controller.ui.stream import StreamProxy

    proxy = StreamProxy("tcp://127.0.0.1:0", "tcp://127.0.0.1:0")
    feed = DocumentFeed(proxy.proxy_out)
    publisher = Publisher(proxy.proxy_in, prefix=DOCUMENT_PREFIX, serializer=serialize_document)
    try:
        inbox = feed.expect("mine")
        probe = {"uid": "probe", REQUEST_KEY: "nobody", "time": 0}
        deadline = time.monotonic() + 10
        while feed.received == 0 and time.monotonic() < deadline:  # until the subscription is live
            publisher("start", probe)
            time.sleep(0.05)
        run = [("start", {"uid": "r1", "time": 1, REQUEST_KEY: "mine"}),
               ("descriptor", {"uid": "d1", "run_start": "r1", "name": "cure"}),
               ("event", {"uid": "e1", "descriptor": "d1", "seq_num": 1}),
               ("event", {"uid": "e1", "descriptor": "d1", "seq_num": 1}),  # the same document twice
               ("stop", {"uid": "s1", "run_start": "r1", "exit_status": "success"})]
        other = [("start", {"uid": "r2", "time": 1, REQUEST_KEY: "theirs"}),
                 ("descriptor", {"uid": "d2", "run_start": "r2"}),
                 ("event", {"uid": "e2", "descriptor": "d2"}),
                 ("stop", {"uid": "s2", "run_start": "r2"})]
        for (name, doc), (other_name, other_doc) in zip(run, other + [other[-1]]):
            publisher(name, doc)
            publisher(other_name, other_doc)
        got = []
        deadline = time.monotonic() + 10
        while len(got) < 4 and time.monotonic() < deadline:
            try:
                got.append(inbox.get(timeout=0.2))
            except Exception:  # noqa: BLE001 - queue.Empty: keep waiting
                pass
        time.sleep(0.2)
        while not inbox.empty():
            got.append(inbox.get_nowait())
        assert [(name, doc["uid"]) for name, doc in got] == [("start", "r1"), ("descriptor", "d1"),
                                                             ("event", "e1"), ("stop", "s1")]
    finally:
        publisher.close()
        feed.close()
        proxy.close()


# ------------------------------------------------------------------------------ no RE Manager
def test_an_unreachable_re_manager_refuses_the_sample_naming_the_address():
    from controller.execution.queueserver.client import QueueServerStation, QueueServerUnavailable
    from controller.execution.robot import RobotExecutor

    address = f"tcp://127.0.0.1:{free_port()}"
    cfg = campaign(executor="queueserver")
    robot = RobotExecutor(cfg, QueueServerStation(cfg, speedup=FAST, control=address,
                                                  data=f"tcp://127.0.0.1:{free_port()}"))
    try:
        started = time.monotonic()
        with pytest.raises(QueueServerUnavailable, match=address):
            robot.check(recipe())
        assert time.monotonic() - started < 10
        with pytest.raises(Exception, match="oven.temperature"):  # limits are checked first, with no server
            robot.check(recipe(cure_temperature=Q_(900, "degC")))
    finally:
        robot.close()


# ------------------------------------------------------------------------------ Redis + RE Manager
def _missing_servers() -> str | None:
    if shutil.which("redis-server") is None:
        return "redis-server is not installed (Debian package redis-server; .ci/run installs it)"
    from controller.execution.queueserver.manager import re_manager_command

    try:
        re_manager_command()
    except Exception as err:  # noqa: BLE001 - any reason is a reason to skip
        return str(err)
    return None


@pytest.fixture(scope="module")
def re_manager(tmp_path_factory):
    """Redis and RE Manager with the project's profile, on free loopback ports; always stopped."""
    reason = _missing_servers()
    if reason and os.environ.get("SDL_REQUIRE_REDIS"):
        pytest.fail(f"$SDL_REQUIRE_REDIS is set (CI) but: {reason}")
    if reason:
        pytest.skip(reason)
    from controller.execution.queueserver.manager import LocalQueueServer

    tmp = tmp_path_factory.mktemp("qserver")
    redis_port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--dir", str(tmp)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = LocalQueueServer(control=f"tcp://127.0.0.1:{free_port()}", info=f"tcp://127.0.0.1:{free_port()}",
                              data_in="tcp://127.0.0.1:0", data_out="tcp://127.0.0.1:0",
                              redis=f"127.0.0.1:{redis_port}", lists_dir=tmp / "lists")
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", redis_port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline or redis.poll() is not None:
                    raise
                time.sleep(0.1)
        server.start(timeout_s=60, open_environment=True)
        yield server
    finally:
        server.close()
        redis.terminate()
        redis.wait(timeout=10)


def _run(config, store_path):
    from controller.loop.runner import CampaignRunner
    from controller.records.store import RecordStore

    result = CampaignRunner(config, store_path=store_path, speedup=FAST, show_progress=False).run()
    return result, RecordStore(store_path)


@pytest.mark.slow
def test_robot_samples_run_on_re_manager_with_their_whole_history(re_manager, tmp_path):
    from controller.execution.protocol import RunRequest
    from controller.execution.robot import LocalStation, RobotExecutor
    from controller.records.samples import from_jsonable

    cfg = campaign(name="qs-ok", executor="queueserver", qserver_control=re_manager.control,
                   qserver_data=re_manager.data_out)
    result, store = _run(cfg, tmp_path / "records.sqlite")
    assert result.status == "finished", result.stop_reason
    robot = [s for s in store.samples("qs-ok") if s.fidelity == "robot"]
    # Two robot runs, unless more than 3 simulations during the first one took the second's budget.
    assert 1 <= len(robot) <= 2 and all(s.status == "completed" for s in robot), [(s.id, s.error) for s in robot]
    assert result.samples_by_fidelity["closed_form"] >= 1
    for s in robot:
        assert [step.name for step in s.steps] == ["tracker", "dispense", "mix", "cure", "characterize"]
        assert {"DGEBA", "IPDA"} <= set(s.steps[1].lots)
        assert "glass_transition_temperature" in s.properties
        (attempt,) = s.attempts
        item = attempt["queue_item"]
        assert item["exit_status"] == "completed" and item["item_uid"] and item["run_uids"] == [s.run_uid]
        names = [name for name, _ in store.documents(s.run_uid)]
        assert names[0] == "start" and names[-1] == "stop" and names.count("event") == 6
    kinds = [e["kind"] for e in store.events("qs-ok")]
    assert kinds.count("qserver_item_added") == len(robot) == kinds.count("qserver_item_finished")
    assert "qserver_line_configured" in kinds
    (history,) = [e for e in store.events("qs-ok") if e["kind"] == "qserver_history"]
    payload = history.get("payload", history)
    assert [h["item_uid"] for h in payload["items"]] == [s.attempts[0]["queue_item"]["item_uid"] for s in robot]

    # The same seed and recipe on a local RunEngine measure the same film: same line, same physics.
    first = robot[0]
    local = RobotExecutor(cfg, LocalStation(cfg, speedup=FAST))
    try:
        outcome = local.submit(RunRequest(first.id, from_jsonable(first.recipe) if isinstance(first.recipe, dict)
                                          else first.recipe, md={"campaign": "local"})).result(timeout=60)
    finally:
        local.close()
    remote_tg = first.properties["glass_transition_temperature"]
    local_tg = outcome.record.properties["glass_transition_temperature"]
    assert remote_tg.to("degC").magnitude == pytest.approx(local_tg.to("degC").magnitude, rel=1e-9)


@pytest.mark.slow
def test_a_failing_plan_is_recorded_with_the_queue_error_and_leaves_no_item_queued(re_manager, tmp_path):
    from bluesky_queueserver_api.zmq import REManagerAPI

    cfg = campaign(name="qs-fail", budget=40, robot=1, executor="queueserver", qserver_control=re_manager.control,
                   qserver_data=re_manager.data_out, faults=[{"device": "oven", "kind": "fail", "probability": 1.0}],
                   retry={"retries": 1, "backoff": "1 s"})
    result, store = _run(cfg, tmp_path / "records.sqlite")
    assert result.status == "finished", result.stop_reason
    robot = [s for s in store.samples("qs-fail") if s.fidelity == "robot"]
    assert robot and all(s.status == "failed" for s in robot)
    for s in robot:
        assert s.fault == {"device": "oven", "kind": "fail", "step": "cure",
                           "detail": "the action finished with failure (simulated fault)"}
        assert len(s.attempts) == 2  # retries = 1, and "fail" is retryable
        for attempt in s.attempts:
            item = attempt["queue_item"]
            assert item["exit_status"] == "failed" and "oven (cure): fail" in item["msg"]
            assert "DeviceFault" in item["traceback"]
        assert [step.name for step in s.steps] == ["tracker", "dispense", "mix"]  # completed before the fault
    api = REManagerAPI(zmq_control_addr=re_manager.control)
    try:
        # RE Manager puts a failed item back at the queue's front; the controller takes it off.
        assert api.queue_get()["items"] == []
        history = {item["item_uid"]: item["result"]["exit_status"] for item in api.history_get()["items"]}
        assert all(history[a["queue_item"]["item_uid"]] == "failed" for s in robot for a in s.attempts)
    finally:
        api.close()


@pytest.mark.slow
def test_a_stop_request_stops_the_running_item_and_clears_the_queue(re_manager):
    from controller.execution.protocol import RobotRunFailed, RunRequest
    from controller.execution.queueserver.client import QueueServerStation
    from controller.execution.robot import RobotExecutor

    events = []
    cfg = campaign(name="qs-stop", executor="queueserver")
    # 1000x: the 2 h cure takes seconds, long enough to stop it halfway.
    station = QueueServerStation(cfg, speedup=1000, control=re_manager.control, data=re_manager.data_out,
                                 event_log=lambda kind, payload: events.append(kind))
    robot = RobotExecutor(cfg, station)
    docs = []
    try:
        future = robot.submit(RunRequest("stop-1", recipe(), md={"campaign": "qs-stop"},
                                         on_document=lambda n, d: docs.append(n)))
        deadline = time.monotonic() + 30
        while docs.count("event") < 3 and time.monotonic() < deadline:  # ambient, tracker, dispense done
            time.sleep(0.05)
        assert docs.count("event") >= 3, docs
        robot.request_stop()
        with pytest.raises(RobotRunFailed, match="stopped by the operator") as info:
            future.result(timeout=60)
        assert docs[-1] == "stop" and docs.count("event") < 6  # the run ended early, and its stop came back
        (attempt,) = info.value.attempts
        assert attempt["queue_item"]["exit_status"] in ("failed", "stopped", "aborted")
        assert station.status()["manager_state"] == "idle"
        assert station._queue_items() == []
    finally:
        robot.close()
    assert events[-1] == "qserver_history"


@pytest.mark.slow
def test_a_robot_only_campaign_without_its_re_manager_stops_after_three_free_refusals(tmp_path):
    from controller.loop.runner import CampaignRunner
    from controller.records.store import RecordStore

    raw = tomllib.loads(DEFAULT.read_text())
    raw.update(name="qs-none", budget=120)
    raw["fidelities"] = {"robot": raw["fidelities"]["robot"]}
    raw["optimizer"] = {"strategy": "sobol"}
    raw["devices"].update(executor="queueserver", qserver_control=f"tcp://127.0.0.1:{free_port()}",
                          qserver_data=f"tcp://127.0.0.1:{free_port()}")
    cfg = config_from_dict(raw)
    result = CampaignRunner(cfg, store_path=tmp_path / "records.sqlite", speedup=FAST, show_progress=False).run()
    assert result.status == "failed" and "refused" in result.stop_reason
    samples = RecordStore(tmp_path / "records.sqlite").samples("qs-none")
    assert len(samples) == 3 and all(s.status == "failed" and s.cost == 0 for s in samples)
    assert all("RE Manager does not answer at " + cfg.devices.qserver_control in s.error for s in samples)
