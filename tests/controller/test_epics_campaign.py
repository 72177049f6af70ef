"""A short dry-run campaign whose robot goes through Channel Access: ``[devices] transport = "epics"``
against the caproto IOC of the simulated line, started in a subprocess on loopback."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pint
import pytest
from epics_helpers import running_ioc

from controller.config.campaign import config_from_dict
from controller.loop.runner import CampaignRunner
from controller.records.store import RecordStore
from core import ConfigError, unit_text
from systems.thermoset.devices import STEP_NAMES

DEFAULT = Path(__file__).resolve().parents[2] / "configs" / "thermoset_dryrun.toml"
PREFIX = "SDLC:"


def epics_config(**devices):
    raw = tomllib.loads(DEFAULT.read_text())
    raw.update(name="epics", budget=46)
    raw["optimizer"]["initial_design"] = {"closed_form": 3, "robot": 1}
    raw["scheduler"] = {"simulation_workers": 1, "backend": "processes"}
    raw["devices"].update({"transport": "epics", "ioc_prefix": PREFIX, "connection_timeout": "20 s", **devices})
    return config_from_dict(raw)


def test_transport_settings_are_read_and_checked():
    config = epics_config(ca_addr_list="127.0.0.1 10.0.0.7:5070", ca_server_port=5080)
    assert (config.devices.transport, config.devices.ioc_prefix) == ("epics", PREFIX)
    assert (config.devices.ca_addr_list, config.devices.ca_server_port) == ("127.0.0.1 10.0.0.7:5070", 5080)
    assert config.devices.connection_timeout.to("s").magnitude == 20
    with pytest.raises(ConfigError) as caught:
        epics_config(transport="pva", ioc_prefix="S DL:", ca_server_port=70000, ca_addr_list="10.0.0.1:x",
                     connection_timeout="3 kg")
    fields = {issue.field for issue in caught.value.issues}
    assert {"devices.transport", "devices.ioc_prefix", "devices.ca_server_port", "devices.ca_addr_list",
            "devices.connection_timeout"} <= fields
    with pytest.raises(ConfigError, match="devices.faults"):
        epics_config(faults=[{"device": "oven", "kind": "timeout", "probability": 0.1}])
    assert config_from_dict(tomllib.loads(DEFAULT.read_text())).devices.transport == "sim"


@pytest.fixture(scope="module")
def epics_run(tmp_path_factory):
    store = tmp_path_factory.mktemp("epics") / "records.sqlite"
    with running_ioc(PREFIX, speedup=1e5, seed=11):
        result = CampaignRunner(epics_config(), store_path=store, show_progress=False).run()
    return result, RecordStore(store)


@pytest.mark.slow
def test_a_campaign_runs_its_robot_samples_over_channel_access(epics_run):
    result, store = epics_run
    assert result.status == "finished" and "budget exhausted" in result.stop_reason
    samples = store.samples("epics")
    robot = [s for s in samples if s.fidelity == "robot"]
    assert robot and result.samples_by_fidelity["closed_form"] >= 3
    for sample in robot:
        assert sample.status == "completed", sample.error
        steps = {step.name: step for step in sample.steps}
        assert list(steps) == list(STEP_NAMES)
        assert set(steps["dispense"].lots) == {"DGEBA", "IPDA", sample.recipe["additive"]}
        for step in sample.steps:
            assert step.device and step.start_time and step.end_time >= step.start_time
            assert step.setpoints and step.ambient
            assert all(isinstance(v, pint.Quantity) for k, v in step.setpoints.items() if k != "tracker.sample_id")
        assert unit_text(steps["cure"].setpoints["oven.temperature"].units) == "degC"
        assert isinstance(sample.properties["glass_transition_temperature"], pint.Quantity)
        assert "degree_of_cure" in sample.structure
        sources = {key["source"] for name, doc in store.documents(sample.run_uid) if name == "descriptor"
                   for key in doc["data_keys"].values()}
        assert f"PV:{PREFIX}oven:temperature" in sources  # the run really went through the IOC
