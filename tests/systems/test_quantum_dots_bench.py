"""The quantum-dot lab's benchmark problem: found through the entry point, the dry-run campaign's
box and linear constraint, both fidelities evaluate, and a tiny run of the harness completes."""

from __future__ import annotations

import math
import tomllib
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from core import Q_, LimitError, SimulationError
from core.system import installed
from optimizers import bench
from optimizers.strategies import make_strategy
from systems.quantum_dots.bench import CHEAP, QD_PARAMETERS, TARGET

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "quantum_dots_dryrun.toml"


@pytest.fixture(scope="module")
def problem():
    return bench.build_problem("quantum_dots")  # through the sdl.bench_problems entry point


def recipe(temperature=270.0, residence=120.0, concentration=0.05, oleic=40.0, amine=30.0) -> dict:
    return {"reactor_temperature": Q_(temperature, "degC"), "residence_time": Q_(residence, "s"),
            "precursor_concentration": Q_(concentration, "mol/L"), "oleic_acid_fraction": Q_(oleic, "percent"),
            "oleylamine_fraction": Q_(amine, "percent")}


def test_problem_is_the_dry_run_campaigns(problem):
    assert "quantum_dots" in installed(bench.PROBLEMS_GROUP)
    campaign = tomllib.loads(CONFIG.read_text())
    space = problem.space
    assert space.objective.property == campaign["objective"]["property"] == "emission_fwhm"
    assert space.objective.direction == campaign["objective"]["direction"] == "minimize"
    for p in space.parameters:
        spec = campaign["parameters"][p.name]
        for bound, value in (("low", p.low), ("high", p.high)):
            want = Q_(spec[bound])
            assert math.isclose(value.to(want.units).magnitude, want.magnitude, abs_tol=1e-12), (p.name, bound)
    assert set(QD_PARAMETERS) == set(campaign["parameters"])
    fids = campaign["fidelities"]
    ratio = fids["brus"]["cost"] / fids["population_balance"]["cost"]
    assert math.isclose(space.fidelity(CHEAP).cost / space.fidelity(TARGET).cost, ratio)
    assert space.target_fidelity.name == TARGET
    assert space.has_constraints  # 60 % + 60 % of ligands is in the box, above the 100 % the system allows
    assert problem.optimum is None and math.isfinite(problem.reference)


def test_evaluate_both_fidelities_and_refuse_broken_ligand_rule(problem):
    r = recipe()
    cheap, target = problem.evaluate(r, CHEAP), problem.evaluate(r, TARGET)
    assert 1.0 < cheap < 300.0 and 1.0 < target < 300.0 and cheap != target
    assert problem.space.is_feasible(r)
    broken = recipe(oleic=60.0, amine=45.0)
    assert not problem.space.is_feasible(broken)
    for fidelity in (CHEAP, TARGET):
        with pytest.raises(LimitError, match="oleic_acid_fraction"):
            problem.evaluate(broken, fidelity)
    # short residence, dilute feed, much oleic acid: no dots nucleate in the fine model
    with pytest.raises(SimulationError):
        problem.evaluate(recipe(temperature=230.0, residence=10.0, concentration=0.01, oleic=60.0, amine=0.0), TARGET)


def test_tiny_runs_complete_within_the_constraint(problem):
    space = problem.space
    for method, budget in (("multi_fidelity", 0.5), ("single_fidelity", 2.0), ("random", 2.0)):
        records = bench.run_one(problem, method, seed=0, budget=budget)
        assert records and records[-1]["cumulative_cost"] <= budget + 1e-9
        assert {r["status"] for r in records} == {"completed"}
        if method == "multi_fidelity":
            assert {r["fidelity"] for r in records} == {CHEAP}  # the initial design starts cheap
        else:
            assert {r["fidelity"] for r in records} == {TARGET}
    strategy = make_strategy("random", space, seed=3)  # uniform random points, each one inside the constraint
    rows = []
    for _ in range(8):
        sug = strategy.recommend(pd.DataFrame(rows) if rows else None)[0]
        assert space.is_feasible(sug.recipe)
        rows.append({**bench._row_of(space, sug.recipe), "fidelity": sug.fidelity,
                     "objective": problem.evaluate(sug.recipe, sug.fidelity), "status": "completed"})


def test_a_failed_simulation_is_a_failed_sample_not_the_end_of_the_benchmark(problem):
    def evaluate(r, fidelity):
        raise SimulationError("no dots")

    records = bench.run_one(replace(problem, evaluate=evaluate), "random", seed=0, budget=2.0)
    assert [r["status"] for r in records] == ["failed", "failed"]
    assert all(math.isnan(r["recommended_value"]) for r in records)


def test_the_line_cell_is_the_whole_dry_run_campaign():
    """``quantum_dots_line``: both simulators as cheap fidelities of the dry-run line's hidden truth, at the
    campaign's cost ratios; the truth is the robot's (its own effect on top of the population balance)."""
    line = bench.build_problem("quantum_dots_line")
    campaign = tomllib.loads(CONFIG.read_text())
    fids = campaign["fidelities"]
    space = line.space
    assert space.target_fidelity.name == "robot" and space.target_fidelity.kind == "robot"
    for name in (CHEAP, TARGET):
        assert math.isclose(space.fidelity(name).cost, fids[name]["cost"] / fids["robot"]["cost"])
    r = recipe(amine=0.0)  # few ligands: surface traps widen the line's emission beyond the population balance
    from systems.quantum_dots import system
    from systems.quantum_dots.bench import LINE_SEED

    truth = line.evaluate(r, "robot")
    assert truth == pytest.approx(system.robot.truth(r, seed=LINE_SEED)["emission_fwhm"].to("nm").magnitude)
    assert truth != line.evaluate(r, TARGET)
    with pytest.raises(SimulationError, match="no dots"):
        line.evaluate(recipe(temperature=230.0, residence=10.0, concentration=0.01, oleic=60.0, amine=0.0), "robot")
