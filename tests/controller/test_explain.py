"""`sdl explain` on a tiny recorded campaign (simulator fidelities only, written to the store directly)."""

from __future__ import annotations

import json
import pathlib
import tomllib

import pytest
import torch

from controller.loop.runner import suggestion_record
from controller.ui.cli import main
from controller.config.campaign import config_from_dict
from controller.records.history import history_frame
from controller.records.samples import ProcessStep, Sample
from controller.records.store import RecordStore
from optimizers import SearchSpace, make_strategy
from simulators.registry import get_simulator

DEFAULT = pathlib.Path(__file__).resolve().parents[2] / "configs" / "thermoset_dryrun.toml"
NAME = "explain-tiny"
PHYSICS = "explain-physics"
N_CHEAP, N_TARGET = 16, 8
FAST = ["--sobol-points", "128"]  # the default 1024 is for people; the tests check the plumbing


def tiny_config(name=NAME, **optimizer):
    raw = tomllib.loads(DEFAULT.read_text())
    raw["name"] = name
    raw["optimizer"].update(optimizer)
    del raw["fidelities"]["robot"]
    raw["fidelities"]["kinetics_phase_field"]["target"] = True
    raw["optimizer"]["initial_design"] = {"closed_form": N_CHEAP, "kinetics_phase_field": N_TARGET}
    raw["budget"] = 200
    return config_from_dict(raw)


def _sample(config, seq, fidelity, recipe, suggestion, t):
    fid = config.fidelity(fidelity)
    res = get_simulator(fid.model).run(recipe, seed=seq)
    return Sample(
        id=f"{config.name}-{seq:04d}", campaign=config.name, seq=seq, fidelity=fidelity, status="completed", cost=fid.cost,
        recipe=recipe, steps=[ProcessStep(name="simulate", device=f"simulator:{fid.model}")],
        structure=dict(res.structure), properties=dict(res.properties), suggestion=suggestion,
        created=t, completed=t + 0.5,
    )


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    """16 closed-form and 8 kinetics samples on a nested Sobol design, then one model-made suggestion."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small fits: extra threads only slow a shared machine down
    config = tiny_config()
    path = tmp_path_factory.mktemp("explain") / "records.sqlite"
    store = RecordStore(path)
    store.open_campaign(NAME, config.fingerprint, config.to_json(), config.budget)
    space = SearchSpace(config.parameters, config.fidelities, config.objective)
    U = torch.quasirandom.SobolEngine(len(space.parameters), scramble=True, seed=3).draw(N_CHEAP, dtype=torch.double)
    recipes = space.decode(space.from_unit(U))
    seq = 0
    design = [("closed_form", r) for r in recipes] + [("kinetics_phase_field", r) for r in recipes[:N_TARGET]]
    for fidelity, recipe in design:
        seq += 1
        sug = {"fidelity": fidelity, "model_id": "space-filling", "strategy": "multi_fidelity",
               "reason": f"space-filling initial design at {fidelity}", "acquisition_by_fidelity": {},
               "objective_unit": config.objective.unit, "time": float(seq)}
        store.add_sample(_sample(config, seq, fidelity, recipe, sug, float(seq)))
    strategy = make_strategy("multi_fidelity", space, seed=config.seed, initial_design=config.optimizer.initial_design,
                             raw_samples=64, num_restarts=2)
    (suggestion,) = strategy.recommend(history_frame(config, store.samples(NAME)), budget_left=100.0)
    record = suggestion_record(suggestion, config.objective.unit)
    record["time"] = float(seq + 1)
    seq += 1
    store.add_sample(_sample(config, seq, suggestion.fidelity, suggestion.recipe, record, float(seq)))
    store.open_campaign("other", "fp", "{}", 10.0)
    # the same samples in a campaign whose model takes two closed-form structure features as inputs
    physics = tiny_config(PHYSICS, physics="features", physics_features=["degree_of_cure", "free_volume_fraction"])
    store.open_campaign(PHYSICS, physics.fingerprint, physics.to_json(), physics.budget)
    for s in store.samples(NAME):
        s.id, s.campaign = s.id.replace(NAME, PHYSICS), PHYSICS
        store.add_sample(s)
    store.close()
    torch.set_num_threads(threads)
    return str(path)


@pytest.fixture(scope="module")
def explained(store_path):
    from controller.analysis.explain import explain_campaign

    return explain_campaign(store_path, NAME, sample_id=f"{NAME}-{N_CHEAP + N_TARGET + 1:04d}", n_sobol=256)


def test_sdl_explain_json(store_path, capsys):
    assert main(["explain", NAME, "--store", store_path, "--json", *FAST]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["campaign"]["name"] == NAME and out["campaign"]["target_fidelity"] == "kinetics_phase_field"
    assert out["model"]["n_train"] == N_CHEAP + N_TARGET + 1
    params = out["importance"]["parameters"]
    assert sorted(e["name"] for e in params) == sorted(
        ["additive", "additive_fraction", "hardener_ratio", "mixing_speed", "mixing_time", "cure_temperature", "cure_time"])
    assert [e["rank_sobol"] for e in params] == list(range(1, 8))
    # estimator error with a small sample: the total index is >= 0 by construction, its interval reaches below 1
    assert all(e["sobol_total"] >= 0 and e["sobol_total_ci"][0] <= 1.0 for e in params)
    additive = next(e for e in params if e["name"] == "additive")
    assert len(additive["columns"]) > 1 and all(c["column"].startswith("additive:") for c in additive["columns"])
    (corr,) = out["fidelity_correlation"]
    assert corr["fidelity"] == "closed_form" and corr["observed_pairs"] >= N_TARGET
    assert -1 <= corr["posterior_correlation"]["mean"] <= 1
    structure = out["structure"]
    assert structure["primary"] == "kinetics_phase_field"
    assert set(structure["by_fidelity"]) == {"closed_form", "kinetics_phase_field"}
    assert structure["by_fidelity"]["closed_form"]["n"] >= N_CHEAP
    assert len(out["suggestions"]) == N_CHEAP + N_TARGET + 1
    assert "suggestion" not in out


def test_sdl_explain_sample_says_why(explained, store_path, capsys):
    sug = explained["suggestion"]
    assert sug["kind"] == "model" and sug["sample"].endswith(f"{N_CHEAP + N_TARGET + 1:04d}")
    considered = {c["fidelity"]: c for c in sug["considered"]}
    assert set(considered) == {"closed_form", "kinetics_phase_field"}
    assert all(c["considered"] and c["acquisition"] is not None for c in considered.values())
    assert considered[sug["fidelity"]]["chosen"]
    assert sug["measured"] is not None
    assert sug["best_before"] is not None  # the target values recorded before it
    sid = sug["sample"]
    assert main(["explain", NAME, "--store", store_path, "--sample", sid, *FAST]) == 0
    text = capsys.readouterr().out
    assert "Parameter importance" in text and "How each fidelity tracks kinetics_phase_field" in text
    assert f"Why {sid} was suggested" in text and "cost 5" in text and "<- chosen" in text
    first = f"{NAME}-0001"
    assert main(["explain", NAME, "--store", store_path, "--sample", first, "--json", *FAST]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["suggestion"]["kind"] == "space-filling"


@pytest.mark.parametrize("argv, message", [
    (["explain", "no-such-campaign"], "no campaign 'no-such-campaign'"),
    (["explain", NAME, "--sample", "no-such-sample"], "no sample 'no-such-sample'"),
    (["explain", "other", "--sample", f"{NAME}-0001"], "belongs to campaign"),
], ids=["unknown-campaign", "unknown-sample", "sample-of-another-campaign"])
def test_sdl_explain_errors(store_path, capsys, argv, message):
    assert main([*argv, "--store", store_path]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sdl explain: error:") and message in err


def test_sdl_explain_without_a_store(tmp_path, capsys):
    assert main(["explain", NAME, "--store", str(tmp_path / "absent.sqlite")]) == 2
    assert "no record store" in capsys.readouterr().err


def test_physics_features_are_explained_as_model_inputs(store_path):
    from controller.analysis.explain import explain_campaign
    from controller.ui.explain_view import render
    from rich.console import Console

    out = explain_campaign(store_path, PHYSICS, n_sobol=128, n_correlation=32)
    assert out["model"]["physics"] and out["campaign"]["physics"] == "features"
    assert "feature:degree_of_cure" in out["model"]["inputs"]
    features = out["importance"]["features"]
    assert sorted(e["name"] for e in features) == ["feature:degree_of_cure", "feature:free_volume_fraction"]
    assert all(e["lengthscale"] is not None and e["sobol_total"] is not None for e in features)
    assert out["structure"]["source"] == "model inputs"
    assert len(out["importance"]["parameters"]) == 7
    console = Console(record=True, width=160)
    render(out, console=console)
    text = console.export_text()
    assert "with physics (features from thermoset.closed_form)" in text and "feature:free_volume_fraction" in text


def test_export_writes_the_explanation(store_path, tmp_path, capsys):
    out = tmp_path / "explain.json"
    assert main(["export", NAME, "--store", store_path, "--explain", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["campaign"]["name"] == NAME and data["importance"]["parameters"]
    assert "wrote the explanation" in capsys.readouterr().out


def test_sdl_explain_takes_a_postgresql_store_like_every_command(store_path, postgres_url, capsys):
    """`sdl explain` opened stores with Path(store).exists(), false for a database URL."""
    config = tiny_config()
    source, target = RecordStore(store_path), RecordStore(postgres_url)
    try:
        target.open_campaign(NAME, config.fingerprint, config.to_json(), config.budget)
        for sample in source.samples(NAME):
            target.add_sample(sample)
    finally:
        source.close()
        target.close()
    assert main(["explain", NAME, "--store", postgres_url, "--json", *FAST]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["campaign"]["samples"] == N_CHEAP + N_TARGET + 1
    assert result["importance"]["parameters"], "a model was fitted on the PostgreSQL store's samples"
