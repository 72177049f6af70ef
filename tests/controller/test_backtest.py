"""Backtests on recorded data: the shipped thermoset table, both modes, bad tables, the CLI."""

from __future__ import annotations

import copy
import math
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from controller.analysis.backtest import TableSource, _cost_to_reach, run_backtest, run_method
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
