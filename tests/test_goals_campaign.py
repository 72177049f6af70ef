"""A dry run of the reference film with two objectives, an outcome constraint and a linear constraint
(configs/thermoset_two_objectives.toml, shortened): it completes, keeps every objective per sample, never
runs a recipe that breaks the linear constraint, and recommends the Pareto set at the robot."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest

from controller.config.campaign import config_from_dict
from controller.loop.runner import CampaignRunner
from controller.records.history import history_frame
from controller.records.store import RecordStore
from core.constraints import check_recipe

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "thermoset_two_objectives.toml"


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    raw = tomllib.loads(CONFIG.read_text())
    raw["name"] = "goals"
    raw["budget"] = 104  # the initial design (6 + 2 x 5 + 2 x 40 = 96) and a few model-made samples
    raw["optimizer"]["initial_design"] = {"closed_form": 6, "kinetics_phase_field": 2, "robot": 2}
    raw["scheduler"]["simulation_workers"] = 1
    store = tmp_path_factory.mktemp("goals") / "records.sqlite"
    config = config_from_dict(raw)
    result = CampaignRunner(config, store_path=store, speedup=1e5, show_progress=False).run()
    return config, result, store


def test_the_campaign_finishes_with_model_made_samples(campaign):
    config, result, store = campaign
    assert result.status == "finished" and "budget exhausted" in result.stop_reason
    samples = RecordStore(store).samples("goals")
    model_made = [s for s in samples if s.suggestion.get("model_id") not in (None, "", "space-filling")]
    assert model_made, "the model never chose a sample"
    for s in model_made:
        assert "log NEHVI" in s.suggestion["reason"]
        assert set(s.suggestion["predicted_outcomes"]) == {"glass_transition_temperature", "fracture_toughness"}


def test_every_sample_keeps_every_objective_and_meets_the_linear_constraint(campaign):
    config, result, store = campaign
    samples = RecordStore(store).samples("goals")
    units = {p.name: p.unit for p in config.parameters if hasattr(p, "unit")}
    for s in samples:
        assert s.status == "completed", s.error
        assert {"glass_transition_temperature", "fracture_toughness"} <= set(s.properties)
        check_recipe(config.linear_constraints, s.recipe, units)
    history = history_frame(config, samples)
    assert "outcome.fracture_toughness" in history.columns
    assert history["outcome.fracture_toughness"].notna().all()


def test_the_recommendation_is_the_pareto_set_at_the_robot(campaign):
    config, result, store = campaign
    rec = result.recommendation
    assert rec["fidelity"] == "robot" and rec["front"]
    assert [o["property"] for o in rec["objectives"]] == ["glass_transition_temperature", "fracture_toughness"]
    for point in rec["front"]:
        assert set(point["means"]) == {"glass_transition_temperature", "fracture_toughness"}
        assert all(math.isfinite(v) for v in point["means"].values())
        assert 0.0 <= point["feasible"] <= 1.0
    truth = result.ground_truth
    assert truth is not None and len(truth["front"]) == min(len(rec["front"]), 12)
    assert truth["hypervolume"] >= 0.0
    events = [e for e in RecordStore(store).events("goals") if e["kind"] == "recommendation"]
    assert events and events[-1]["payload"]["recommendation"]["front"] == rec["front"]
