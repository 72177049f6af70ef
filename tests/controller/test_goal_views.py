"""Several objectives and outcome constraints in the records and views: `sdl samples`, `sdl export`,
`sdl explain`, the dashboard's API, the report and the end-of-run summaries on a small
two-objective store (tests/controller/goal_store.py, its front known), and a single-objective
campaign that shows exactly what it showed before."""

from __future__ import annotations

import functools
import json
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from rich.console import Console

from controller.records.samples import Sample
from controller.ui.cli import main
from core import Q_
from goal_store import FRONT, HYPERVOLUME, NAME, ROBOT, VIOLATING_ROBOT, build_goal_store

DEFAULT = Path(__file__).resolve().parents[2] / "configs" / "thermoset_dryrun.toml"
FAST = ["--sobol-points", "64"]  # the tests check the plumbing, not the estimates


# ---------------------------------------------------------------- a two-objective store
@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("goals") / "records.sqlite"
    config = build_goal_store(path)
    return SimpleNamespace(path=str(path), config=config)


def test_sdl_samples_marks_constraints_and_the_front(store, capsys):
    assert main(["samples", NAME, "--store", store.path]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip().startswith(NAME)}
    assert "constraints" in out and "front" in out
    assert [sid for sid, line in lines.items() if "*" in line.split()] == FRONT
    assert "violated: fracture_toughness" in lines[VIOLATING_ROBOT] and "met" in lines[ROBOT[2]].split()
    assert "Measured Pareto front at robot: 2 sample(s)" in out
    assert f"  {ROBOT[1]}: glass_transition_temperature 130 degC, fracture_toughness 1.3 MPa*m**0.5" in out
    assert f"Hypervolume at robot: {HYPERVOLUME:.4g} degC x MPa*m**0.5" in out
    assert "from thresholds" in out and "broke an outcome constraint (fracture_toughness >= 0.8 MPa*m**0.5)" in out


@pytest.mark.parametrize("fmt", ["csv", "parquet"], ids=["csv", "parquet"])
def test_export_has_every_objective_the_constraints_and_the_front(store, tmp_path, fmt, capsys):
    out = tmp_path / f"samples.{fmt}"
    assert main(["export", NAME, "--store", store.path, "--format", fmt, "--output", str(out)]) == 0
    table = pd.read_csv(out) if fmt == "csv" else pd.read_parquet(out)
    by_id = table.set_index("id")
    assert by_id.loc[ROBOT[0], "property.glass_transition_temperature [degC]"] == 150.0
    assert by_id.loc[ROBOT[1], "property.fracture_toughness [MPa*m**0.5]"] == 1.3
    assert sorted(table.loc[table["pareto_front"].astype(bool), "id"]) == sorted(FRONT)
    assert by_id.loc[VIOLATING_ROBOT, "constraints.violated"] == "fracture_toughness >= 0.8 MPa*m**0.5"
    assert not bool(by_id.loc[VIOLATING_ROBOT, "constraints.met"]) and bool(by_id.loc[ROBOT[0], "constraints.met"])
    assert pd.isna(by_id.loc[ROBOT[4], "constraints.met"])  # the failed run measured nothing
    columns = list(table.columns)
    assert columns.index("pareto_front") == columns.index("run_uid") - 1


def test_read_models_and_api(store):
    from controller.ui.web.app import create_app

    client = TestClient(create_app(store.path), base_url="http://localhost")
    summary = client.get(f"/api/campaigns/{NAME}").json()
    assert [o["property"] for o in summary["goals"]["objectives"]] == ["glass_transition_temperature", "fracture_toughness"]
    assert summary["goals"]["constraints"] == [{"text": "fracture_toughness >= 0.8 MPa*m**0.5",
                                                "property": "fracture_toughness", "unit": "MPa*m**0.5"}]
    goals = client.get(f"/api/campaigns/{NAME}/goals").json()
    assert goals["front"] == FRONT and goals["hypervolume_at_target"] == pytest.approx(HYPERVOLUME)
    assert VIOLATING_ROBOT in {v["sample"] for v in goals["violations"]}
    assert goals["predicted"], "the recommendation event's front"
    for p in goals["predicted"]:
        assert set(p["means"]) == {"glass_transition_temperature", "fracture_toughness"} and p["stds"]["fracture_toughness"] > 0
    assert goals["truth"]["hypervolume"] is not None and len(goals["truth"]["front"]) == len(goals["predicted"])
    rows = {r["id"]: r for r in client.get(f"/api/campaigns/{NAME}/samples").json()}
    assert rows[ROBOT[1]]["outcomes"] == {"glass_transition_temperature": 130.0, "fracture_toughness": 1.3}
    assert rows[ROBOT[1]]["on_front"] and rows[ROBOT[1]]["met"] is True
    assert rows[VIOLATING_ROBOT]["violated"] == ["fracture_toughness >= 0.8 MPa*m**0.5"]


def test_best_so_far_counts_only_samples_that_meet_the_outcome_constraints(store):
    """ROBOT[3] has the highest Tg (170 degC) but breaks toughness >= 0.8: the best at the robot is 150."""
    from controller.analysis.readmodels import progress_series
    from controller.loop.progress import ProgressView
    from controller.records.store import RecordStore

    records = RecordStore(store.path)
    series = progress_series(records, NAME)["best"]["robot"]
    assert max(p["best"] for p in series) == pytest.approx(150.0)
    assert ProgressView(store.config, enabled=False).best(records.samples(NAME)) == pytest.approx(150.0)


def test_progress_lines_show_every_objective_and_the_measured_front(store):
    """With several objectives a sample's line shows each objective, and the tail counts the measured
    front at the target (the first objective's best alone would hide the trade-off)."""
    from controller.loop.progress import ProgressView
    from controller.records.store import RecordStore

    samples = sorted(RecordStore(store.path).samples(NAME), key=lambda s: s.seq)
    console = Console(record=True, width=400)
    view = ProgressView(store.config, console=console)
    view.start([], 0.0, resumed=False)
    robot = next(s for s in samples if s.id == ROBOT[1])
    view.sample_recorded(robot, 10.0, samples)
    view.stop()
    text = console.export_text()
    assert "glass_transition_temperature 130 degC, fracture_toughness 1.3 MPa*m**0.5" in text
    assert f"measured front at robot: {len(FRONT)} samples" in text
    assert view.front_size(samples) == len(FRONT)


def test_explain_gives_importance_per_objective(store, capsys):
    assert main(["explain", NAME, "--store", store.path, "--json", *FAST]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [o["property"] for o in out["outcomes"]] == ["glass_transition_temperature", "fracture_toughness"]
    assert all(o["objective"] and o["direction"] == "maximize" for o in out["outcomes"])
    ids = [o["model"]["model_id"] for o in out["outcomes"]]
    assert len(set(ids)) == 2, "each objective is explained by its own GP"
    assert out["model"]["model_id"] == ids[0] and out["importance"] == out["outcomes"][0]["importance"]
    for o in out["outcomes"]:
        assert sorted(e["name"] for e in o["importance"]["parameters"]) == sorted(
            ["additive", "additive_fraction", "hardener_ratio", "mixing_speed", "mixing_time", "cure_temperature", "cure_time"])
        assert {f["fidelity"] for f in o["fidelity_correlation"]} == {"closed_form", "kinetics_phase_field"}
    assert out["campaign"]["outcome_constraints"] == ["fracture_toughness >= 0.8 MPa*m**0.5"]
    assert main(["explain", NAME, "--store", store.path, "--sample", ROBOT[0], *FAST]) == 0
    text = capsys.readouterr().out
    assert "Parameter importance for glass_transition_temperature" in text
    assert "Parameter importance for fracture_toughness" in text
    assert "How each fidelity tracks robot (fracture_toughness, model)" in text


def test_report_shows_the_front_the_hypervolume_and_the_violations(store, tmp_path, monkeypatch):
    from controller.analysis import explain

    # the report's explanation with small Sobol and correlation samples (the default is for people)
    monkeypatch.setattr(explain, "explain_campaign", functools.partial(explain.explain_campaign, n_sobol=64,
                                                                       n_correlation=32))
    out = tmp_path / "report.html"
    assert main(["report", NAME, "--store", store.path, "--output", str(out)]) == 0
    html = out.read_text()
    assert "<h2>Pareto front at robot</h2>" in html
    # matplotlib's SVG keeps each title as a comment (the text itself is drawn as paths)
    assert "<!-- Pareto front at robot -->" in html and "<!-- Hypervolume vs cumulative cost -->" in html
    front = html[html.index("id='measured-front'"):]
    front = front[: front.index("</table>")]
    assert all(sid in front for sid in FRONT) and VIOLATING_ROBOT not in front
    assert "id='predicted-front'" in html and "P(constraints hold)" in html and "hidden truth" in html
    assert f"<b>{HYPERVOLUME:.4g}</b>" in html
    violations = html[html.index("id='violations'"):]
    assert VIOLATING_ROBOT in violations[: violations.index("</table>")]
    assert "<th>glass_transition_temperature (degC)</th><th>fracture_toughness (MPa*m**0.5)</th><th>constraints</th><th>front</th>" in html
    assert html.count("<h3>") >= 4  # the front tables and one explanation per objective


def test_end_of_run_summary_and_monitor_print_the_front(store):
    from controller.loop.outcome import CampaignResult
    from controller.records.store import RecordStore
    from controller.ui.console import print_result
    from controller.ui.monitor import MonitorState, render

    records = RecordStore(store.path)
    (event,) = [e for e in records.events(NAME) if e["kind"] == "recommendation"]
    records.close()
    rec, truth = event["payload"]["recommendation"], event["payload"]["ground_truth"]
    result = CampaignResult(NAME, store.path, "finished", "budget exhausted", 400, 232, {"robot": 5}, 1, rec, 1.0, truth)
    console = Console(record=True, width=200)
    print_result(store.config, result, console=console)
    text = console.export_text()
    n = len(rec["front"])
    assert f"Recommended Pareto set at robot: {n} recipe(s)" in text
    first = rec["front"][0]
    mean, std = first["means"]["glass_transition_temperature"], first["stds"]["glass_transition_temperature"]
    assert f"  1. glass_transition_temperature {mean:.4g} +/- {std:.2g} degC, fracture_toughness" in text
    assert f"hidden-truth hypervolume of the recommended set (the first {n} recipe(s), above the thresholds): " \
           f"{truth['hypervolume']:.4g} degC x MPa*m**0.5" in text
    assert "Compromise recipe of the set" in text and "simulated ground truth of the dry-run line: glass_transition" in text

    state = MonitorState(campaign=NAME)
    state.apply("recommendation", {"campaign": NAME, "recommendation": rec})
    console = Console(record=True, width=200)
    console.print(render(state))
    text = console.export_text()
    assert "Recommended Pareto set at robot" in text and "1. glass_transition_temperature" in text


# ---------------------------------------------------------------- single-objective campaigns look as before
@pytest.fixture(scope="module")
def single(tmp_path_factory):
    from controller.config.campaign import config_from_dict
    from controller.records.store import RecordStore

    raw = tomllib.loads(DEFAULT.read_text())
    raw["name"] = "one-goal"
    config = config_from_dict(raw)
    path = tmp_path_factory.mktemp("single") / "records.sqlite"
    records = RecordStore(path)
    records.open_campaign(config.name, config.fingerprint, config.to_json(), config.budget)
    for seq, tg in ((1, 120.0), (2, 140.0)):
        records.add_sample(Sample(id=f"one-goal-{seq:04d}", campaign="one-goal", seq=seq, fidelity="robot",
                                  status="completed", cost=40.0, recipe={},
                                  properties={"glass_transition_temperature": Q_(tg, "degC")},
                                  created=float(seq), completed=seq + 0.5))
    records.close()
    return str(path)


def test_single_objective_views_are_unchanged(single, tmp_path, capsys):
    from controller.ui.web.app import create_app

    client = TestClient(create_app(single), base_url="http://localhost")
    assert "goals" not in client.get("/api/campaigns/one-goal").json()
    assert client.get("/api/campaigns/one-goal/goals").json() is None
    (row, _) = client.get("/api/campaigns/one-goal/samples").json()
    assert not {"outcomes", "met", "violated", "on_front"} & set(row)
    out = tmp_path / "one.csv"
    assert main(["export", "one-goal", "--store", single, "--format", "csv", "--output", str(out)]) == 0
    columns = list(pd.read_csv(out).columns)
    assert not [c for c in columns if c.startswith("constraints") or c == "pareto_front"]
    capsys.readouterr()
    assert main(["samples", "one-goal", "--store", single]) == 0
    text = capsys.readouterr().out
    assert "front" not in text and "constraints" not in text and "Pareto" not in text
