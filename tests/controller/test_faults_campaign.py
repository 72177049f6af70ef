"""A dry run with device faults switched on: faults are retried per policy, failed samples keep
their fault, step and partial history, and the campaign carries on to its budget."""

import tomllib
from pathlib import Path

import pytest

from controller.loop.runner import CampaignRunner
from controller.config.campaign import config_from_dict
from controller.records.store import RecordStore
from core import ConfigError

DEFAULT = Path(__file__).resolve().parents[2] / "configs" / "thermoset_dryrun.toml"


def faulty_config(**retry):
    raw = tomllib.loads(DEFAULT.read_text())
    raw.update(name="faulty", budget=225)  # the initial design (208) and a few model-made samples
    raw["optimizer"]["initial_design"] = {"closed_form": 3, "kinetics_phase_field": 1, "robot": 5}
    raw["scheduler"]["simulation_workers"] = 1
    raw["devices"]["faults"] = [
        {"device": "oven", "kind": "timeout", "probability": 0.35},
        {"device": "characterizer", "kind": "out_of_range", "probability": 0.25},
    ]
    raw["retry"] = {"retries": 1, "backoff": "10 s", "retryable": ["timeout", "watchdog"], **retry}
    return config_from_dict(raw)


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory):
    store = tmp_path_factory.mktemp("faults") / "records.sqlite"
    result = CampaignRunner(faulty_config(), store_path=store, speedup=1e5, show_progress=False).run()
    return result, RecordStore(store)


def test_campaign_continues_to_the_budget(faulty_run):
    result, store = faulty_run
    assert result.status == "finished" and "budget exhausted" in result.stop_reason
    samples = store.samples("faulty")
    assert [s.seq for s in samples] == list(range(1, len(samples) + 1))
    assert store.spent("faulty") == pytest.approx(sum(s.cost for s in samples))


def test_failed_samples_keep_fault_step_and_partial_history(faulty_run):
    _, store = faulty_run
    failed = [s for s in store.samples("faulty") if s.status == "failed"]
    assert failed, "with these fault rates some robot samples must fail"
    for s in failed:
        assert s.fidelity == "robot"
        assert s.fault["kind"] in ("watchdog", "out_of_range") and s.fault["device"] in ("oven", "characterizer")
        assert s.fault["step"] in ("cure", "characterize")
        done = [step.name for step in s.steps]
        assert "dispense" in done and s.fault["step"] not in done, done
        assert s.error and s.fault["kind"] in s.error
        assert s.attempts and s.attempts[-1]["fault"] == s.fault


def test_retryable_faults_are_retried_and_others_not(faulty_run):
    _, store = faulty_run
    robot = [s for s in store.samples("faulty") if s.fidelity == "robot"]
    retried = [s for s in robot if len(s.attempts) > 1]
    assert retried, "an oven timeout (watchdog) is retryable under this policy"
    for s in retried:
        assert s.attempts[0]["fault"]["kind"] == "watchdog"
        assert len(s.attempts) <= 2  # retries = 1
        assert len({a["run_uid"] for a in s.attempts}) == len(s.attempts)
    for s in robot:
        for a in s.attempts[:-1]:
            assert a["fault"]["kind"] != "out_of_range", "out_of_range is not in the retryable list"
    events = [e for e in store.events("faulty") if e["kind"] == "sample_retried"]
    assert len(events) == sum(len(s.attempts) - 1 for s in robot)
    # Every attempt's documents are kept and exported.
    exported_runs = {doc["uid"] for name, doc in store.campaign_documents("faulty") if name == "start"}
    assert {a["run_uid"] for s in robot for a in s.attempts} <= exported_runs


def test_fault_config_errors_name_the_field():
    with pytest.raises(ConfigError) as info:
        faulty_config(retryable=["timeout", "gremlins"])
    assert "retry.retryable" in info.value.fields
    raw = tomllib.loads(DEFAULT.read_text())
    raw["devices"]["faults"] = [{"device": "toaster", "kind": "timeout", "probability": 2}]
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw)
    assert {"devices.faults[0].device", "devices.faults[0].probability"} <= set(info.value.fields)
