"""Real campaigns (``[devices] dry_run = false``): the settings, the pre-flight against the caproto
IOC (which stands in for hardware), and a short real-mode campaign whose robot runs wait for an
operator and are never scored against a hidden truth."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from epics_helpers import running_ioc
from test_control import Operator

from controller.config.campaign import config_from_dict
from controller.execution.preflight import PreflightError, preflight, require_preflight
from controller.execution.robot import dry_run_truth
from controller.records.store import RecordStore
from controller.ui.cli import main as sdl
from core import ConfigError
from systems.thermoset.devices import STEP_NAMES

DEFAULT = Path(__file__).resolve().parents[2] / "configs" / "thermoset_dryrun.toml"


def real_raw(prefix: str = "SDLR:", name: str = "real", **devices) -> dict:
    raw = tomllib.loads(DEFAULT.read_text())
    raw.update(name=name, budget=46)
    raw["optimizer"]["initial_design"] = {"closed_form": 2, "robot": 2}
    raw["scheduler"] = {"simulation_workers": 1, "backend": "processes"}
    raw["devices"].update({"dry_run": False, "transport": "epics", "ioc_prefix": prefix,
                           "connection_timeout": "5 s", **devices})
    raw["devices"].pop("faults", None)
    return raw


def _toml(value) -> str:
    """A value as TOML (inline tables for tables): enough for a campaign file."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"


def write_config(tmp_path: Path, raw: dict) -> Path:
    """The campaign as a TOML file whose store is ``tmp_path/records.sqlite``."""
    raw = {**raw, "store": str(tmp_path / "records.sqlite")}
    path = tmp_path / "campaign.toml"
    path.write_text("\n".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in raw.items()) + "\n")
    assert tomllib.loads(path.read_text()) == raw
    return path


def test_dry_run_false_needs_a_real_transport():
    raw = real_raw(transport="sim")
    with pytest.raises(ConfigError) as caught:
        config_from_dict(raw)
    issues = [i for i in caught.value.issues if i.field == "devices.dry_run"]
    assert len(issues) == 1 and "transport" in issues[0].message and "dry_run = true" in issues[0].message
    with pytest.raises(ConfigError, match="devices.dry_run"):
        config_from_dict(real_raw(dry_run="no"))


def test_a_real_campaign_refuses_the_queue_server_with_one_line_naming_the_field(tmp_path, capsys):
    """The queue server's profile runs the simulated twins: a real campaign there would move
    nothing real, so it is refused before anything is written."""
    with pytest.raises(ConfigError) as caught:
        config_from_dict(real_raw(executor="queueserver"))
    assert caught.value.fields == ["devices.executor"], caught.value.issues
    message = caught.value.issues[0].message
    assert "real campaign" in message and 'executor = "local"' in message and "dry_run = true" in message
    path = write_config(tmp_path, real_raw(executor="queueserver"))
    for command in (["check", str(path)], ["run", str(path), "--quiet"]):
        assert sdl(command) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and "devices.executor" in lines[0] and "real campaign" in lines[0], lines
    assert not (tmp_path / "records.sqlite").exists(), "nothing is recorded for a refused campaign"
    dry = real_raw(executor="queueserver", dry_run=True, transport="sim")
    assert config_from_dict(dry).devices.executor == "queueserver", "dry runs keep the queue server"


def test_real_mode_waits_for_approval_by_default_and_has_no_truth():
    config = config_from_dict(real_raw())
    assert config.devices.dry_run is False
    assert config.control.needs_approval("robot") and not config.control.needs_approval("closed_form")
    assert dry_run_truth(config, {}) is None  # never touches the twins
    raw = real_raw()
    raw["control"] = {"approval": []}
    assert not config_from_dict(raw).control.needs_approval("robot")  # an explicit choice is kept
    dry = tomllib.loads(DEFAULT.read_text())
    assert config_from_dict(dry).control.approval == ()  # dry runs stay autonomous


def test_preflight_names_an_unreachable_line(tmp_path, monkeypatch):
    from epics_helpers import ca_environment, free_port

    for key, value in ca_environment(free_port()).items():
        monkeypatch.setenv(key, value)
    config = config_from_dict(real_raw(prefix="NOBODY:", connection_timeout="1 s"))
    report = preflight(config)
    assert not report.ok
    assert any("NOBODY:oven:Busy did not connect within 1 s" in p for p in report.problems)
    assert all("\n" not in p for p in report.problems)


@pytest.mark.slow
def test_preflight_passes_on_a_matching_ioc(tmp_path, capsys):
    with running_ioc("SDLP:", speedup=1e5):
        config = config_from_dict(real_raw(prefix="SDLP:"))
        report = require_preflight(config)
        assert report.ok and "SDLP:oven:temperature" in report.checked
        path = write_config(tmp_path, real_raw(prefix="SDLP:"))
        assert sdl(["check", "--preflight", str(path)]) == 0
    assert "pre-flight passed (real)" in capsys.readouterr().out
    assert not (tmp_path / "records.sqlite").exists()


@pytest.mark.slow
def test_preflight_refuses_a_wrong_unit_and_a_limit_mismatch(tmp_path, capsys):
    with running_ioc("SDLW:", "--egu", "oven.temperature=degF", "--egu", "mixer.speed=g",
                     "--drive-limits", "mixer.duration=0.5:10", speedup=1e5):
        path = write_config(tmp_path, real_raw(prefix="SDLW:"))
        assert sdl(["check", "--preflight", str(path)]) == 2
        assert sdl(["run", str(path), "--quiet"]) == 2, "sdl run runs the same pre-flight before anything moves"
        with pytest.raises(PreflightError) as caught:
            require_preflight(config_from_dict(real_raw(prefix="SDLW:")))
    err = capsys.readouterr().err
    problems = caught.value.problems
    assert len(problems) == 3, problems
    by_path = {p.split(":", 1)[0]: p for p in problems}
    assert "SDLW:oven:temperature has EGU 'degF'" in by_path["oven.temperature"]
    assert "expected 'degC'" in by_path["oven.temperature"]
    assert "another dimension" in by_path["mixer.speed"] and "expected 'rpm'" in by_path["mixer.speed"]
    assert "SDLW:mixer:duration drive limits (DRVL/DRVH) are 0.5 min to 10 min" in by_path["mixer.duration"]
    assert "0.5 min to 30 min" in by_path["mixer.duration"]
    for problem in problems:  # one line per problem, each printed (by check and by run)
        assert "\n" not in problem and err.count(problem) == 2
    assert not (tmp_path / "records.sqlite").exists()


@pytest.mark.slow
def test_a_real_campaign_waits_for_approval_and_records_no_truth(tmp_path):
    from controller.loop.runner import CampaignRunner

    store_path = tmp_path / "records.sqlite"
    with running_ioc("SDLA:", speedup=1e5, seed=5):
        config = config_from_dict(real_raw(prefix="SDLA:"))
        require_preflight(config)
        operator = Operator(store_path, "real", ["approved", "approved", "approved", "approved"], delay=0.1)
        operator.start()
        result = CampaignRunner(config, store_path=store_path, speedup=1e5, show_progress=False).run()
        operator.done.set()
        operator.join(5)
    assert result.status == "finished", result.stop_reason
    assert result.ground_truth is None
    store = RecordStore(store_path)
    robot = [s for s in store.samples("real") if s.fidelity == "robot"]
    assert robot and len(operator.seen_awaiting) >= len(robot)
    for sample in robot:
        assert sample.status == "completed", sample.error
        assert sample.suggestion["approval"]["decision"] == "approved"
        assert [step.name for step in sample.steps] == list(STEP_NAMES)
        names = [name for name, _ in store.documents(sample.run_uid)]
        assert names[0] == "start" and names[-1] == "stop" and "event" in names
    events = store.events("real")
    kinds = [e["kind"] for e in events]
    assert kinds.count("approval_requested") >= len(robot)
    assert "ground_truth_failed" not in kinds
    assert all(e["payload"].get("ground_truth") is None for e in events if e["kind"] == "recommendation")
