"""One offline closed-loop dry run with a small budget; the records must be complete."""

import json
import math
import tomllib
from pathlib import Path

import pandas as pd
import pint
import pytest
from event_model import DocumentNames, schema_validators

from controller.loop.runner import CampaignRunner
from controller.ui.cli import main
from controller.config.campaign import config_from_dict
from controller.records.store import RecordStore

DEFAULT = Path(__file__).resolve().parents[1] / "configs" / "thermoset_dryrun.toml"


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    raw = tomllib.loads(DEFAULT.read_text())
    raw["name"] = "e2e"
    raw["budget"] = 90  # the initial design (55) and 35 more: enough model-made samples, fewer fits
    raw["optimizer"]["initial_design"] = {"closed_form": 5, "kinetics_phase_field": 2, "robot": 1}
    raw["scheduler"]["simulation_workers"] = 1
    store = tmp_path_factory.mktemp("e2e") / "records.sqlite"
    config = config_from_dict(raw)
    result = CampaignRunner(config, store_path=store, speedup=1e5, show_progress=False).run()
    return config, result, store


def test_campaign_stops_at_the_budget(dry_run):
    config, result, store = dry_run
    assert result.status == "finished"
    assert "budget exhausted" in result.stop_reason
    assert result.spent <= config.budget
    assert config.budget - result.spent < max(f.cost for f in config.fidelities)
    assert result.samples_by_fidelity["robot"] >= 1
    assert result.samples_by_fidelity["closed_form"] >= 5
    s = RecordStore(store)
    assert s.campaign("e2e")["stop_reason"] == result.stop_reason
    assert any(e["kind"] == "campaign_finished" for e in s.events("e2e"))


def test_every_sample_is_complete(dry_run):
    config, result, store = dry_run
    samples = RecordStore(store).samples("e2e")
    assert len(samples) == sum(result.samples_by_fidelity.values())
    assert [s.seq for s in samples] == list(range(1, len(samples) + 1))
    for s in samples:
        assert s.status == "completed", s.error
        assert s.fidelity in {f.name for f in config.fidelities}
        assert s.steps and all(step.name and step.device for step in s.steps)
        assert set(s.recipe) == {p.name for p in config.parameters}
        assert "degree_of_cure" in s.structure
        tg = s.properties["glass_transition_temperature"]
        assert isinstance(tg, pint.Quantity) and -60 < tg.to("degC").magnitude < 250
        assert s.suggestion.get("strategy") and s.suggestion.get("fidelity") == s.fidelity
        assert s.cost == config.fidelity(s.fidelity).cost


def test_robot_samples_have_valid_documents_and_full_history(dry_run):
    config, result, store = dry_run
    records = RecordStore(store)
    robots = [s for s in records.samples("e2e") if s.fidelity == "robot"]
    assert robots
    for s in robots:
        assert s.run_uid
        docs = records.documents(s.run_uid)
        names = [n for n, _ in docs]
        assert names[0] == "start" and names[-1] == "stop"
        for name, doc in docs:
            schema_validators[DocumentNames(name)].validate(doc)
        assert docs[0][1]["uid"] == s.run_uid
        steps = {step.name: step for step in s.steps}
        assert {"dispense", "mix", "cure", "characterize"} <= set(steps)
        assert steps["dispense"].lots, "reagent lots must be recorded"
        assert any(isinstance(v, pint.Quantity) for v in steps["cure"].actuals.values())
        assert steps["cure"].start_time and steps["cure"].end_time >= steps["cure"].start_time


def test_recommendation_at_the_target(dry_run):
    config, result, store = dry_run
    rec = result.recommendation
    assert rec["fidelity"] == "robot"
    assert math.isfinite(rec["mean"]) and rec["std"] is not None and rec["std"] >= 0
    assert set(rec["recipe"]) == {p.name for p in config.parameters}
    assert result.ground_truth is not None and math.isfinite(result.ground_truth["value"])


def test_cli_reads_the_records(dry_run, tmp_path, capsys):
    config, result, store = dry_run
    assert main(["samples", "e2e", "--store", str(store)]) == 0
    assert "e2e-0001" in capsys.readouterr().out
    assert main(["history", "e2e-0001", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    for word in ("Recipe", "Process", "Structure", "Properties", "Decision"):
        assert word in out
    csv = tmp_path / "samples.csv"
    assert main(["export", "e2e", "--format", "csv", "--output", str(csv), "--store", str(store)]) == 0
    table = pd.read_csv(csv)
    assert len(table) == sum(result.samples_by_fidelity.values())
    for column in ("id", "fidelity", "cost", "status", "cure_temperature [degC]", "mixing_speed [rpm]",
                   "property.glass_transition_temperature [degC]", "run_uid"):
        assert column in table.columns
    parquet = tmp_path / "samples.parquet"
    assert main(["export", "e2e", "--format", "parquet", "--output", str(parquet), "--store", str(store)]) == 0
    assert len(pd.read_parquet(parquet)) == len(table)
    jsonl = tmp_path / "docs.jsonl"
    assert main(["export", "e2e", "--documents", str(jsonl), "--store", str(store)]) == 0
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert lines and {"name", "doc"} == set(lines[0]) and lines[0]["name"] == "start"


def test_cli_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(DEFAULT.read_text().replace('high = "180 degC"', 'high = "5 kg"'))
    assert main(["run", str(bad), "--store", str(tmp_path / "x.sqlite")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "parameters.cure_temperature.high" in err
    assert not (tmp_path / "x.sqlite").exists()
    assert main(["history", "nope-0001", "--store", str(tmp_path / "missing.sqlite")]) == 2


@pytest.mark.parametrize("strategy", ["single_fidelity", "random"], ids=["single-fidelity", "random"])
def test_target_only_strategies_run_the_robot_only(tmp_path, strategy):
    raw = tomllib.loads(DEFAULT.read_text())
    raw.update(name=f"sf-{strategy}", budget=130)
    raw["optimizer"] = {"strategy": strategy, "initial_design": {"robot": 2}}
    config = config_from_dict(raw)
    result = CampaignRunner(config, store_path=tmp_path / "r.sqlite", speedup=1e5, show_progress=False).run()
    assert result.status == "finished"
    assert result.samples_by_fidelity == {"closed_form": 0, "kinetics_phase_field": 0, "robot": 3}
    assert result.spent == 120 and "budget" in result.stop_reason
    assert result.recommendation["fidelity"] == "robot"


def test_a_campaign_whose_robot_runs_are_all_refused_stops(tmp_path, monkeypatch):
    from controller.execution.robot import LocalStation
    from core import LimitError

    def refuse(self, recipe):
        raise LimitError("oven.temperature: refused for the test")

    monkeypatch.setattr(LocalStation, "check", refuse)
    raw = tomllib.loads(DEFAULT.read_text())
    raw.update(name="refused", budget=200)
    raw["optimizer"] = {"strategy": "sobol"}
    config = config_from_dict(raw)
    result = CampaignRunner(config, store_path=tmp_path / "r.sqlite", speedup=1e5, show_progress=False).run()
    assert result.status == "failed" and "refused" in result.stop_reason
    assert result.spent == 0 and result.failed == 3


@pytest.mark.slow
def test_a_dry_run_on_postgresql(postgres_url, tmp_path, capsys, monkeypatch):
    """The same loop with its records on PostgreSQL, the store named by the campaign file."""
    raw = tomllib.loads(DEFAULT.read_text())
    raw.update(name="e2e-pg", budget=60, store=postgres_url)
    raw["optimizer"]["initial_design"] = {"closed_form": 3, "kinetics_phase_field": 1, "robot": 1}
    raw["scheduler"]["simulation_workers"] = 1
    config = config_from_dict(raw)
    result = CampaignRunner(config, speedup=1e5, show_progress=False).run()
    assert result.status == "finished" and "budget exhausted" in result.stop_reason
    assert result.samples_by_fidelity["robot"] == 1 and result.spent <= 60
    password = postgres_url.split("://", 1)[1].split("@", 1)[0].partition(":")[2]
    assert password not in result.store

    records = RecordStore(postgres_url)
    samples = records.samples("e2e-pg")
    assert [s.seq for s in samples] == list(range(1, len(samples) + 1))
    assert all(s.status == "completed" and s.properties for s in samples)
    assert records.spent("e2e-pg") == pytest.approx(sum(s.cost for s in samples)) == pytest.approx(result.spent)
    assert password not in records.campaign("e2e-pg")["config_json"]
    robot = next(s for s in samples if s.fidelity == "robot")
    docs = records.documents(robot.run_uid)
    assert [n for n, _ in docs][0] == "start" and docs[-1][0] == "stop"
    for name, doc in docs:
        schema_validators[DocumentNames(name)].validate(doc)
    assert any(e["kind"] == "campaign_finished" for e in records.events("e2e-pg"))
    records.close()

    monkeypatch.setenv("SDL_STORE", postgres_url)  # the reading commands take the URL from the environment
    assert main(["samples", "e2e-pg"]) == 0
    assert "e2e-pg-0001" in capsys.readouterr().out
    csv = tmp_path / "samples.csv"
    assert main(["export", "e2e-pg", "--format", "csv", "--output", str(csv), "--store", postgres_url]) == 0
    assert len(pd.read_csv(csv)) == len(samples)
    # Running it again continues the campaign: its budget is already spent, nothing is added.
    assert main(["resume", "e2e-pg", "--quiet"]) == 0
    assert password not in capsys.readouterr().out
    assert len(RecordStore(postgres_url).samples("e2e-pg")) == len(samples)
