"""One model fit answers every free slot: the loop fills all free simulation workers (and the
robot) from one fit before it records anything, so the model is not refitted per sample."""

from __future__ import annotations

import tomllib
from collections import Counter
from pathlib import Path

import pytest

from controller.config.campaign import config_from_dict
from controller.loop.runner import CampaignRunner
from controller.records.store import RecordStore

DEFAULT = Path(__file__).resolve().parents[2] / "configs" / "thermoset_dryrun.toml"

pytestmark = pytest.mark.slow


def test_free_workers_are_filled_from_one_fit(tmp_path):
    raw = tomllib.loads(DEFAULT.read_text())
    raw.update(name="batches", budget=70)  # the design (54 cost units), then 16 of model-made simulations
    raw["optimizer"]["initial_design"] = {"closed_form": 4, "kinetics_phase_field": 2, "robot": 1}
    raw["scheduler"] = {"simulation_workers": 4, "backend": "processes"}
    store = tmp_path / "records.sqlite"
    result = CampaignRunner(config_from_dict(raw), store_path=store, show_progress=False).run()
    assert result.status == "finished", result.stop_reason
    s = RecordStore(store)
    made = [x for x in s.samples("batches") if x.suggestion.get("model_id") not in (None, "space-filling")]
    s.close()
    assert len(made) >= 6, "too few model-made samples to show anything"
    per_fit = Counter(x.suggestion["model_id"] for x in made)
    # A model id names the training data it was fitted to: samples that share one were chosen
    # from one fit. Refitting per sample would give every sample its own.
    assert max(per_fit.values()) >= 3, f"no batch was chosen from one fit: {per_fit}"
    assert len(per_fit) <= len(made) / 2, f"{len(per_fit)} fits for {len(made)} samples: {per_fit}"
    batch = [x for x in made if x.suggestion["model_id"] == per_fit.most_common(1)[0][0]]
    recipes = {tuple(sorted((k, str(v)) for k, v in x.recipe.items())) for x in batch}
    assert len(recipes) == len(batch), "a batch suggested the same recipe twice"
