"""Backtests on recorded data: the shipped thermoset tables (one and two objectives), both modes, bad tables, the CLI."""

from __future__ import annotations

import copy
import json
import math
import re
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from controller.analysis.backtest import (
    TableSource,
    _cost_to_reach,
    judge_recommendation,
    run_backtest,
    run_method,
    run_one,
)
from controller.ui.cli import main
from controller.config.campaign import config_from_dict, load_config
from core import ConfigError, Q_

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs" / "thermoset_backtest.toml"
TABLE = ROOT / "configs" / "thermoset_table.csv"
TARGET_COL = "tg_kinetics_phase_field [degC]"


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)  # small GP fits on two shared cores


def raw_config() -> dict:
    return tomllib.loads(CONFIG.read_text(encoding="utf-8"))


def config_with(table: Path | None = None, **backtest) -> object:
    raw = copy.deepcopy(raw_config())
    if table is not None:
        raw["backtest"]["table"] = str(table)
    raw["backtest"].update(backtest)
    return config_from_dict(raw, source=str(CONFIG))


def test_shipped_table_is_small_and_fits_its_campaign():
    assert TABLE.stat().st_size < 300_000
    config = load_config(CONFIG)
    assert config.backtest.mode == "discrete" and {f.kind for f in config.fidelities} == {"table"}
    source = TableSource(config)
    frame = pd.read_csv(TABLE)
    assert len(source.table.recipes) == len(frame) >= 200 and source.table.dropped == 0
    # the table's additive fraction is in % in the header; the campaign works in the parameter's unit
    p = config.parameter("additive_fraction")
    got = Q_(source.table.recipes["additive_fraction"].iloc[0], p.unit).to("%").magnitude
    assert got == pytest.approx(frame["additive_fraction [%]"].iloc[0])
    top1, top5 = source.thresholds[0.01], source.thresholds[0.05]
    assert top1 > top5
    assert (frame[TARGET_COL] >= top1).sum() == math.ceil(0.01 * len(frame))


def test_discrete_backtest_measures_table_rows_once_per_fidelity():
    config = load_config(CONFIG)
    source = TableSource(config)
    trace = run_method(config, source, "multi_fidelity", seed=0, budget=40.0)
    assert trace["cumulative_cost"].iloc[-1] <= 40.0
    assert not trace.duplicated(["row", "fidelity"]).any()
    assert (trace["row"] >= 0).all()
    for _, r in trace.iterrows():  # every value is the recorded one
        col = "tg_closed_form [degC]" if r["fidelity"] == "closed_form" else TARGET_COL
        assert r["value"] == pytest.approx(pd.read_csv(TABLE)[col].iloc[int(r["row"])])
    at_target = trace[trace["fidelity"] == "kinetics_phase_field"]
    assert trace["best_target"].iloc[-1] == pytest.approx(at_target["value"].max())
    best = trace["best_target"].dropna().to_numpy()
    assert (np.diff(best) >= 0).all()
    assert set(trace["fidelity"]) == {"closed_form", "kinetics_phase_field"}  # the design is nested


def test_continuous_backtest_answers_with_a_gp_fitted_to_the_table():
    config = config_with(mode="continuous", noise=True)
    source = TableSource(config)
    assert source.candidates() is None
    assert min(source.emulator.r2.values()) > 0.9  # leave-one-out on the shipped table
    frame = source.table
    recipe = {p.name: (Q_(frame.recipes[p.name].iloc[7], p.unit) if p.kind == "continuous" else frame.recipes[p.name].iloc[7])
              for p in config.parameters}
    clean = source.emulator.answer(recipe, "kinetics_phase_field")
    assert clean == pytest.approx(frame.values["kinetics_phase_field"].iloc[7], abs=5.0)
    noisy = [source.measure(recipe, "kinetics_phase_field", np.random.default_rng(s))[0] for s in (1, 1, 2)]
    assert noisy[0] == noisy[1] != noisy[2]
    trace = run_method(config, source, "random", seed=0, budget=15.0)
    assert len(trace) == 3 and (trace["row"] == -1).all()


def write_table(tmp_path: Path, frame: pd.DataFrame, name: str = "t.csv") -> Path:
    path = tmp_path / name
    if name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("edit", "fields", "message"),
    [
        pytest.param(lambda f: f.rename(columns={"tg_closed_form [degC]": "tg_closed_form [kg]"}),
                     ["backtest.columns.closed_form"], "'kg' does not fit", id="wrong-unit"),
        pytest.param(lambda f: f.drop(columns=[TARGET_COL]),
                     ["backtest.columns.kinetics_phase_field"], "no property", id="missing-property-column"),
        pytest.param(lambda f: f.rename(columns={"cure_temperature [degC]": "cure_temperature"}),
                     ["backtest.parameters.cure_temperature"], "has no unit", id="no-unit"),
        pytest.param(lambda f: f.rename(columns={"cure_time [h]": "cure_time [blorf]"}),
                     ["backtest.parameters.cure_time"], "unknown unit", id="unknown-unit"),
        pytest.param(lambda f: f.drop(columns=["mixing_speed [rpm]"]),
                     ["backtest.parameters.mixing_speed"], "no parameter column", id="missing-parameter"),
        pytest.param(lambda f: f.assign(**{"hardener_ratio": ["x"] + list(f["hardener_ratio"].iloc[1:])}),
                     ["backtest.parameters.hardener_ratio"], "row 2", id="not-a-number"),
        pytest.param(lambda f: f.assign(additive=["C1CC(("] + list(f["additive"].iloc[1:])),
                     ["backtest.parameters.additive"], "not a valid SMILES", id="bad-smiles"),
    ],
)
def test_bad_tables_are_refused_naming_the_column(tmp_path, edit, fields, message):
    path = write_table(tmp_path, edit(pd.read_csv(TABLE)))
    with pytest.raises(ConfigError, match=message) as info:
        config_with(table=path)
    assert info.value.fields == fields


def test_units_from_the_config_convert_columns_and_rows_outside_the_space_are_left_out(tmp_path):
    frame = pd.read_csv(TABLE).head(40)
    frame = frame.rename(columns={"cure_temperature [degC]": "cure_temperature"})
    frame["cure_temperature"] = Q_(frame["cure_temperature"].to_numpy(), "degC").to("degF").magnitude
    frame.loc[0, "cure_temperature"] = 500.0  # 260 degC: outside the campaign's 60-180 degC
    path = write_table(tmp_path, frame, "t.parquet")
    config = config_with(table=path, units={"cure_temperature": "degF"})
    source = TableSource(config)
    assert source.table.dropped == 1 and len(source.table.recipes) == 39
    assert source.table.recipes["cure_temperature"].iloc[0] == pytest.approx(pd.read_csv(TABLE)["cure_temperature [degC]"].iloc[1], abs=1e-6)
    with pytest.raises(ConfigError, match="'blorf'"):
        config_with(table=path, units={"cure_temperature": "blorf"})


def test_cost_columns_are_charged_and_checked(tmp_path):
    frame = pd.read_csv(TABLE)
    frame["robot_cost"] = 5.0 + (np.arange(len(frame)) % 3)
    path = write_table(tmp_path, frame)
    config = config_with(table=path, cost_columns={"kinetics_phase_field": "robot_cost"})
    trace = run_method(config, TableSource(config), "random", seed=1, budget=30.0)
    assert trace["cost"].tolist() == [5.0 + (int(r) % 3) for r in trace["row"]]
    frame.loc[3, "robot_cost"] = -1.0
    with pytest.raises(ConfigError, match="row 5.*not a positive cost") as info:
        config_with(table=write_table(tmp_path, frame, "bad.csv"), cost_columns={"kinetics_phase_field": "robot_cost"})
    assert info.value.fields == ["backtest.cost_columns.kinetics_phase_field"]


def test_backtest_section_is_validated():
    with pytest.raises(ConfigError) as info:
        config_with(mode="sideways", columns={"closed_form": "tg_closed_form [degC]", "oven": "x"}, noise="yes")
    assert set(info.value.fields) == {"backtest.mode", "backtest.columns.oven", "backtest.columns.kinetics_phase_field",
                                      "backtest.noise"}
    raw = raw_config()
    del raw["backtest"]
    with pytest.raises(ConfigError, match="need a \\[backtest\\] table"):
        config_from_dict(raw)


def test_generic_system_backtests_any_table(tmp_path):
    xs = np.linspace(0.0, 1.0, 30)
    frame = pd.DataFrame({"x [mm]": xs * 10, "y_low": np.sin(4 * xs) + 0.1, "y_high": np.sin(4 * xs)})
    path = write_table(tmp_path, frame)
    raw = {
        "name": "toy", "system": "generic", "budget": 12,
        "objective": {"property": "y", "unit": "dimensionless"},
        "parameters": {"x": {"low": "0 mm", "high": "10 mm"}},
        "fidelities": {"low": {"kind": "table", "cost": 1}, "high": {"kind": "table", "cost": 3, "target": True}},
        "backtest": {"table": str(path), "columns": {"low": "y_low", "high": "y_high"}},
    }
    config = config_from_dict(raw)
    result = run_backtest(config, seeds=2, methods=["single_fidelity", "random"])
    assert set(result.runs["method"]) == {"single_fidelity", "random"} and len(result.runs) == 4
    assert (result.runs["final_best"] <= frame["y_high"].max() + 1e-12).all()
    with pytest.raises(ConfigError, match="add a \\[backtest\\] table"):
        config_from_dict({k: v for k, v in raw.items() if k != "backtest"} | {"fidelities": {"high": {"kind": "simulator", "cost": 1, "target": True, "model": "thermoset.closed_form"}}})


def test_cost_to_reach_counts_the_first_time_the_best_gets_there():
    trace = pd.DataFrame({"best_target": [math.nan, 1.0, 3.0, 3.0], "cumulative_cost": [1.0, 6.0, 7.0, 12.0]})
    assert _cost_to_reach(trace, 2.0, +1.0) == 7.0
    assert math.isnan(_cost_to_reach(trace, 4.0, +1.0))
    assert _cost_to_reach(trace.assign(best_target=[math.nan, 5.0, 2.0, 2.0]), 3.0, -1.0) == 7.0


def test_cli_writes_traces_summary_and_plot(tmp_path, capsys):
    out = tmp_path / "bt"
    rc = main(["backtest", str(CONFIG), "--seeds", "2", "--budget", "16", "--output-dir", str(out), "--quiet"])
    assert rc == 0
    traces = pd.read_csv(out / "backtest_traces.csv")
    assert set(traces["method"]) == {"multi_fidelity", "multi_fidelity+physics", "single_fidelity", "random"}
    assert sorted(traces["seed"].unique()) == [3, 4]
    assert (out / "backtest_best_vs_cost.png").read_bytes()[:4] == b"\x89PNG"
    summary = pd.read_csv(out / "backtest_summary.csv")
    assert {"final_best_median", "cost_to_top1_median", "cost_to_top5_reached"} <= set(summary.columns)
    printed = capsys.readouterr().out
    assert "cost to top 1 %" in printed and "single_fidelity" in printed


def test_cli_errors_exit_2(tmp_path, capsys):
    assert main(["backtest", str(CONFIG), "--seeds", "0"]) == 2
    assert "seeds" in capsys.readouterr().err
    assert main(["backtest", str(CONFIG), "--methods", "annealing"]) == 2
    assert main(["run", str(CONFIG), "--store", str(tmp_path / "s.sqlite"), "--quiet"]) == 2
    assert "sdl backtest" in capsys.readouterr().err


def test_physics_methods_need_a_physics_model_and_a_model_strategy():
    raw = tomllib.loads(CONFIG.read_text())
    raw["backtest"]["table"] = str(CONFIG.parent / raw["backtest"]["table"])
    plain = copy.deepcopy(raw)
    for key in ("physics", "physics_model"):
        plain["optimizer"].pop(key)
    plain["backtest"]["methods"] = ["multi_fidelity"]
    with pytest.raises(ConfigError) as err:
        run_backtest(config_from_dict(plain), seeds=1, methods=["multi_fidelity+physics"])
    assert err.value.fields == ["methods"] and "[optimizer] physics" in str(err.value)
    with pytest.raises(ConfigError) as err:
        run_backtest(config_from_dict(raw), seeds=1, methods=["random+physics", "bogus"])
    assert err.value.fields == ["methods", "methods"]
    bad = copy.deepcopy(raw)
    bad["backtest"]["methods"] = ["multi_fidelity+magic"]
    with pytest.raises(ConfigError) as err:
        config_from_dict(bad)
    assert "backtest.methods" in err.value.fields


# ---------------------------------------------------------------------- several objectives and constraints
MO_CONFIG = ROOT / "configs" / "thermoset_backtest_two_objectives.toml"
MO_TABLE = ROOT / "configs" / "thermoset_table_two_objectives.csv"
KIC_TARGET = "toughness_kinetics_phase_field [MPa*m**0.5]"


def mo_raw() -> dict:
    raw = tomllib.loads(MO_CONFIG.read_text(encoding="utf-8"))
    raw["backtest"]["table"] = str(MO_TABLE)
    return raw


def write_toml(path: Path, raw: dict) -> Path:
    """A campaign file for the CLI (flat enough for this helper: tables of scalars, lists and inline tables)."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f'"{k}" = {value(x)}' for k, x in v.items()) + " }"
        return repr(v)

    lines = [f"{k} = {value(v)}" for k, v in raw.items() if not isinstance(v, (dict, list)) or
             (isinstance(v, list) and not any(isinstance(x, dict) for x in v))]
    for k, v in raw.items():
        if isinstance(v, list) and any(isinstance(x, dict) for x in v):
            for x in v:
                lines += [f"[[{k}]]", *(f"{kk} = {value(vv)}" for kk, vv in x.items())]
        elif isinstance(v, dict):
            lines.append(f"[{k}]")
            lines += [f'"{kk}" = {value(vv)}' for kk, vv in v.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def signed_front_hv(tk: np.ndarray, ref: tuple[float, float]) -> float:
    """Hypervolume of 2-D points (both maximized) above ``ref``, by a sweep (independent of botorch)."""
    pts = sorted((p for p in tk if p[0] > ref[0] and p[1] > ref[1]), key=lambda p: -p[0])
    hv, best_k = 0.0, ref[1]
    for t, k in pts:
        if k > best_k:
            hv += (t - ref[0]) * (k - best_k)
            best_k = k
    return hv


def test_two_objective_table_is_small_and_its_best_hypervolume_is_the_feasible_target_rows():
    assert MO_TABLE.stat().st_size < 300_000
    config = load_config(MO_CONFIG)
    source = TableSource(config)
    assert source.goal == "multi" and len(source.table.recipes) == 300
    frame = pd.read_csv(MO_TABLE)
    # the same recipes as the single-objective table, and the same cheap Tg
    old = pd.read_csv(TABLE)
    pd.testing.assert_frame_equal(frame[old.columns[:8]], old[old.columns[:8]])
    tg, kic = frame[TARGET_COL].to_numpy(), frame[KIC_TARGET].to_numpy()
    feasible = kic >= 0.8
    assert source.table.feasible("kinetics_phase_field").tolist() == feasible.tolist()
    assert source.reference.tolist() == [100.0, 0.6]  # the thresholds
    want = signed_front_hv(np.c_[tg, kic][feasible], (100.0, 0.6))
    assert source.best_hypervolume == pytest.approx(want, rel=1e-9)
    assert source.thresholds == {0.9: pytest.approx(0.9 * want)}
    # without thresholds: the feasible target rows' worst value less 10 % of their range
    raw = mo_raw()
    for o in raw["objectives"]:
        del o["threshold"]
    nadir = TableSource(config_from_dict(raw, source=str(MO_CONFIG)))
    lo_t, lo_k = tg[feasible].min(), kic[feasible].min()
    assert nadir.reference == pytest.approx([lo_t - 0.1 * (tg[feasible].max() - lo_t), lo_k - 0.1 * (kic[feasible].max() - lo_k)])


def test_two_objective_backtest_end_to_end_through_the_cli(tmp_path, capsys):
    raw = mo_raw()
    raw["optimizer"]["initial_design"] = {"closed_form": 4, "kinetics_phase_field": 2}
    path = write_toml(tmp_path / "mo.toml", raw)
    out = tmp_path / "bt"
    rc = main(["backtest", str(path), "--seeds", "2", "--budget", "18", "--methods", "multi_fidelity", "random",
               "--output-dir", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    traces = pd.read_csv(out / "backtest_traces.csv")
    assert set(traces["method"]) == {"multi_fidelity", "random"} and sorted(traces["seed"].unique()) == [3, 4]
    assert {"value", "outcome.fracture_toughness", "feasible", "hypervolume"} <= set(traces.columns)
    assert "best_target" not in traces.columns
    table = pd.read_csv(MO_TABLE)
    for (method, seed), t in traces.groupby(["method", "seed"]):
        assert not t.duplicated(["row", "fidelity"]).any() and t["cumulative_cost"].iloc[-1] <= 18
        for _, r in t.iterrows():  # every outcome is the recorded one
            fid = "closed_form" if r["fidelity"] == "closed_form" else "kinetics_phase_field"
            assert r["value"] == pytest.approx(table[f"tg_{fid} [degC]"].iloc[int(r["row"])])
            assert r["outcome.fracture_toughness"] == pytest.approx(table[f"toughness_{fid} [MPa*m**0.5]"].iloc[int(r["row"])])
            assert bool(r["feasible"]) == (r["outcome.fracture_toughness"] >= 0.8)
        at = t[(t["fidelity"] == "kinetics_phase_field") & t["feasible"]]
        assert t["hypervolume"].iloc[-1] == pytest.approx(signed_front_hv(at[["value", "outcome.fracture_toughness"]].to_numpy(),
                                                                            (100.0, 0.6)), abs=1e-9)
        assert (np.diff(t["hypervolume"].to_numpy()) >= -1e-12).all()
    assert set(traces[traces["method"] == "multi_fidelity"]["fidelity"]) == {"closed_form", "kinetics_phase_field"}
    summary = pd.read_csv(out / "backtest_summary.csv")
    assert {"final_hv_share_median", "final_hv_share_q25", "final_hv_share_q75", "cost_to_hv90_median",
            "cost_to_hv90_reached", "rec_violating_runs", "rec_points", "rec_hv_share_median"} <= set(summary.columns)
    assert (summary["final_hv_share_median"] <= 1.0 + 1e-9).all() and (summary["rec_points"] >= 2).all()
    meta = json.loads((out / "backtest_summary.json").read_text())
    assert meta["reference"] == {"glass_transition_temperature": 100.0, "fracture_toughness": 0.6}
    assert meta["outcome_constraints"] == ["fracture_toughness >= 0.8 MPa*m**0.5"] and meta["best_hypervolume"] > 0
    assert (out / "backtest_best_vs_cost.png").read_bytes()[:4] == b"\x89PNG"
    assert "hypervolume reference (100 degC, 0.6 MPa*m**0.5)" in printed
    assert "cost to 90 % of it" in printed and "recommendation violates constraints" in printed


@pytest.mark.parametrize(
    ("edit", "objective_only", "field", "message"),
    [
        pytest.param(lambda f: f.drop(columns=[KIC_TARGET]), False,
                     "backtest.columns.kinetics_phase_field.fracture_toughness", "no fracture_toughness",
                     id="objective-column-missing"),
        pytest.param(lambda f: f.rename(columns={"toughness_closed_form [MPa*m**0.5]": "toughness_closed_form [degC]"}), True,
                     "backtest.columns.closed_form.fracture_toughness", "'degC' does not fit 'MPa\\*m\\*\\*0.5'",
                     id="constraint-column-wrong-unit"),
    ],
)
def test_bad_outcome_columns_exit_2_naming_the_field_and_write_nothing(tmp_path, capsys, edit, objective_only, field, message):
    raw = mo_raw()
    raw["backtest"]["table"] = str(write_table(tmp_path, edit(pd.read_csv(MO_TABLE))))
    if objective_only:  # one objective (Tg) and the toughness only as an outcome constraint
        first = raw.pop("objectives")[0]
        raw["objective"] = {k: v for k, v in first.items() if k != "threshold"}
    with pytest.raises(ConfigError, match=message) as info:
        config_from_dict(raw)
    assert info.value.fields == [field]
    path = write_toml(tmp_path / "bad.toml", raw)
    out = tmp_path / "never"
    for argv in (["check", str(path)], ["backtest", str(path), "--seeds", "1", "--output-dir", str(out)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if field in line]
        assert len(lines) == 1 and re.search(message, lines[0]), err
    assert not out.exists()


def test_one_objective_with_an_outcome_constraint_counts_feasible_results_and_judges_the_recommendation():
    raw = mo_raw()
    first = raw.pop("objectives")[0]
    raw["objective"] = {k: v for k, v in first.items() if k != "threshold"}
    config = config_from_dict(raw, source=str(MO_CONFIG))
    source = TableSource(config)
    assert source.goal == "constrained"
    frame = pd.read_csv(MO_TABLE)
    feasible_tg = frame[TARGET_COL][frame[KIC_TARGET] >= 0.8]
    assert source.thresholds[0.01] == pytest.approx(np.quantile(feasible_tg, 0.99, method="higher"))
    trace, rec = run_one(config, source, "random", seed=0, budget=30.0)
    at = trace[(trace["fidelity"] == "kinetics_phase_field") & trace["feasible"]]
    assert trace["best_target"].iloc[-1] == (at["value"].max() if len(at) else pytest.approx(math.nan, nan_ok=True))
    assert set(rec) == {"rec_points", "rec_unknown", "rec_violations", "rec_best"} and rec["rec_points"] >= 1


def test_recommendations_are_judged_by_the_table_at_the_target():
    from optimizers.suggestion import ParetoPoint, Recommendation

    config = load_config(MO_CONFIG)
    source = TableSource(config)
    frame = pd.read_csv(MO_TABLE)
    tough = int(np.argmax(frame[KIC_TARGET].to_numpy()))
    brittle = int(np.argmin(frame[KIC_TARGET].to_numpy()))

    def recipe(i: int) -> dict:
        return {p.name: (Q_(source.table.recipes[p.name].iloc[i], p.unit) if p.kind == "continuous"
                         else source.table.recipes[p.name].iloc[i]) for p in config.parameters}

    class Stub:
        def recommendation(self, history):
            pts = tuple(ParetoPoint(recipe(i), {}, {}) for i in (tough, brittle))
            return Recommendation(pts[0].recipe, 0.0, None, "stub", pts)

    rec = judge_recommendation(source, Stub(), pd.DataFrame({"x": [1]}))
    assert rec["rec_points"] == 2 and rec["rec_violations"] == 1 and rec["rec_unknown"] == 0
    tk = np.array([[frame[TARGET_COL].iloc[tough], frame[KIC_TARGET].iloc[tough]]])
    assert rec["rec_hypervolume"] == pytest.approx(signed_front_hv(tk, (100.0, 0.6)))
    assert judge_recommendation(source, Stub(), None)["rec_points"] == 0


def test_continuous_two_objective_backtest_emulates_every_outcome(tmp_path):
    small = write_table(tmp_path, pd.read_csv(MO_TABLE).head(60))
    raw = mo_raw()
    raw["backtest"].update(table=str(small), mode="continuous", noise=True)
    config = config_from_dict(raw)
    source = TableSource(config)
    assert set(source.emulator.outcome_r2) == {"glass_transition_temperature", "fracture_toughness"}
    assert source.emulator.r2 is source.emulator.outcome_r2["glass_transition_temperature"]
    recipe = {p.name: (Q_(source.table.recipes[p.name].iloc[3], p.unit) if p.kind == "continuous"
                       else source.table.recipes[p.name].iloc[3]) for p in config.parameters}
    a = source.measure_outcomes(recipe, "kinetics_phase_field", np.random.default_rng(5))
    b = source.measure_outcomes(recipe, "kinetics_phase_field", np.random.default_rng(5))
    assert a == b and a[2] == -1 and set(a[0]) == {"glass_transition_temperature", "fracture_toughness"}
    # the first objective's draw is the one a one-outcome emulator makes
    assert source.measure(recipe, "kinetics_phase_field", np.random.default_rng(5))[0] == a[0]["glass_transition_temperature"]
    trace, rec = run_one(config, source, "random", seed=3, budget=15.0)
    assert len(trace) == 3 and (trace["row"] == -1).all() and "hypervolume" in trace and "rec_hypervolume" in rec


def test_cost_quartiles_count_a_seed_that_never_got_there_as_infinite():
    from controller.analysis.backtest import _quantile_with_inf

    assert _quantile_with_inf(np.array([1.0, 2.0, 3.0, 4.0]), 0.25) == pytest.approx(np.quantile([1, 2, 3, 4], 0.25))
    assert _quantile_with_inf(np.array([5.0, np.inf, np.inf]), 0.25) == math.inf  # numpy: NaN
    assert _quantile_with_inf(np.array([5.0, 6.0, 7.0, np.inf, np.inf]), 0.25) == 6.0


def test_physics_methods_are_refused_before_anything_runs_when_there_are_several_goals():
    raw = mo_raw()
    raw["optimizer"].update(physics="prior_mean", physics_model="thermoset.closed_form")
    with pytest.raises(ConfigError) as err:
        run_backtest(config_from_dict(raw), seeds=1, methods=["random", "multi_fidelity+physics"], budget=5)
    assert err.value.fields == ["methods"] and "one objective without outcome constraints" in str(err.value)
