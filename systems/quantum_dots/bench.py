"""The quantum-dot flow lab as a benchmark problem of ``python -m optimizers.bench`` (entry point
``quantum_dots`` of group ``sdl.bench_problems``): the optimizer's harness names no system.

The problem is the dry-run campaign's (``configs/quantum_dots_dryrun.toml``): minimize the
emission linewidth ``emission_fwhm`` over the campaign's box, with the system's linear
constraint (ligand fractions together at most 100 %). The campaign's target is the robot; here
the population-balance simulator stands in for it (as kinetics + phase field does for the
thermoset), and the Brus / closed-form growth-law simulator is the cheap fidelity, at the cost
ratio the campaign gives the two simulators (brus 1 : population_balance 3).

Known before running (``simulators.quantum_dots.models``): the cheap fidelity is a good guide
to size and colour but a poor one to linewidth, so this is a hard cell for multi-fidelity BO.

``quantum_dots_line`` (:func:`line_problem`) is the whole dry-run campaign instead: both
simulators as cheap fidelities of the dry-run line's hidden truth (the dots the line really
makes, with the surface-trap emission neither simulator has), at the campaign's cost ratios
brus 1 : population_balance 3 : robot 20.
"""

from __future__ import annotations

import torch

from core import Q_, ContinuousParameter, Fidelity, Objective, SimulationError
from optimizers.bench_problems import Problem
from optimizers.space import SearchSpace
from simulators import get_simulator
from systems.quantum_dots import system

#: The dry-run campaign's seed: its simulated line (pump biases, coil, thermocouple) is the target.
LINE_SEED = 11

#: The dry-run campaign's box (configs/quantum_dots_dryrun.toml [parameters]; a test holds them equal).
QD_PARAMETERS = {
    "reactor_temperature": (230.0, 310.0, "degC"),
    "residence_time": (10.0, 240.0, "s"),
    "precursor_concentration": (0.01, 0.1, "mol/L"),
    "oleic_acid_fraction": (0.0, 60.0, "percent"),
    "oleylamine_fraction": (0.0, 60.0, "percent"),
}
#: Campaign costs brus 1, population_balance 3: the cheap fidelity at 1/3 of the target stand-in.
CHEAP_COST = 1.0 / 3.0
#: With one cheap fidelity the campaign loader places it at 0.75 on the fidelity axis (controller.config.space).
CHEAP_VALUE = 0.75
OBJECTIVE = "emission_fwhm"
CHEAP, TARGET = "brus", "population_balance"


def feasible_reference(space: SearchSpace, true_fn, n: int = 64, seed: int = 1234) -> float:
    """Mean target value over the first ``n`` points of a scrambled Sobol sequence that meet the
    linear constraints (``optimizers.bench_problems.reference_optimum`` draws from the whole box,
    where the simulators refuse the recipes that break the ligand rule); recipes that make no dots
    at the target fidelity (:class:`core.SimulationError`) are left out."""
    engine = torch.quasirandom.SobolEngine(len(space.parameters), scramble=True, seed=seed)
    found: list[torch.Tensor] = []
    while len(found) < n:
        X = space.from_unit(engine.draw(2 * n, dtype=torch.double))
        found.extend(X[space.is_feasible(X)])
    values = []
    for recipe in space.decode(torch.stack(found[:n])):
        try:
            values.append(true_fn(recipe))
        except SimulationError:  # no dots at this recipe: it has no linewidth to average
            continue
    return float(sum(values) / len(values))


def _space(fidelities: list[Fidelity]) -> SearchSpace:
    """The dry-run campaign's box, objective and ligand rule, with ``fidelities``."""
    params = [ContinuousParameter(n, Q_(lo, u), Q_(hi, u), u) for n, (lo, hi, u) in QD_PARAMETERS.items()]
    return SearchSpace(params, fidelities, Objective(OBJECTIVE, "nm", "minimize"),
                       linear_constraints=system.linear_constraints)


def _evaluator(space: SearchSpace, measure):
    """``(recipe, fidelity) -> linewidth in nm``, each answer computed once; ``measure(recipe, fidelity)``
    gives the linewidth as a quantity. A recipe that breaks the ligand rule raises LimitError."""
    cache: dict = {}

    def evaluate(recipe, fidelity):
        key = (fidelity, tuple((k, str(v)) for k, v in sorted(recipe.items())))
        if key not in cache:
            space.check_recipe(recipe)
            cache[key] = float(measure(recipe, fidelity).to("nm").magnitude)
        return cache[key]

    return evaluate


def problem() -> Problem:
    """CdSe dots in a flow reactor: Brus growth law (cheap) vs the population balance as the target stand-in."""
    low = get_simulator("quantum_dots.brus")
    high = get_simulator("quantum_dots.population_balance")
    space = _space([Fidelity(CHEAP, "simulator", CHEAP_COST, CHEAP_VALUE, model=low.name),
                    Fidelity(TARGET, "simulator", 1.0, 1.0, target=True, model=high.name)])
    evaluate = _evaluator(space, lambda recipe, fidelity: (high if fidelity == TARGET else low)
                          .run(recipe, seed=0).properties[OBJECTIVE])

    def physics(mode: str):
        from optimizers.physics import simulator_physics  # noqa: PLC0415

        return simulator_physics(low, mode, space.objective)

    true = lambda r: evaluate(r, TARGET)  # noqa: E731
    return Problem("quantum_dots", space, evaluate, None, feasible_reference(space, true),
                   {"full": 30.0, "quick": 12.0, "smoke": 3.0},
                   "brus (cost 1/3) vs population_balance as the target stand-in, minimize emission_fwhm, "
                   "ligands <= 100 %; optimum = best value seen",
                   physics)


def line_problem() -> Problem:
    """The dry-run campaign as a benchmark: brus (cost 1/20) and population_balance (3/20) as the cheap
    fidelities of the simulated line's hidden truth (cost 1; ``system.robot.truth``, no detector noise)."""
    sims = {CHEAP: get_simulator("quantum_dots.brus"), TARGET: get_simulator("quantum_dots.population_balance")}
    # the campaign loader's fidelity values for two cheap fidelities in order of cost: 0.5, 0.9
    space = _space([Fidelity(CHEAP, "simulator", 1.0 / 20.0, 0.5, model=sims[CHEAP].name),
                    Fidelity(TARGET, "simulator", 3.0 / 20.0, 0.9, model=sims[TARGET].name),
                    Fidelity("robot", "robot", 1.0, 1.0, target=True)])

    def measure(recipe, fidelity):
        if fidelity != "robot":
            return sims[fidelity].run(recipe, seed=0).properties[OBJECTIVE]
        try:
            return system.robot.truth(recipe, seed=LINE_SEED)[OBJECTIVE]
        except ValueError as err:  # no dots, so no spectrum to take a linewidth of: a failed sample
            raise SimulationError(f"the line made no dots at this recipe: {err}") from err

    evaluate = _evaluator(space, measure)
    true = lambda r: evaluate(r, "robot")  # noqa: E731
    return Problem("quantum_dots_line", space, evaluate, None, feasible_reference(space, true),
                   {"full": 20.0, "quick": 8.0, "smoke": 2.0},
                   "brus (cost 1/20) and population_balance (3/20) vs the dry-run line's hidden truth, minimize "
                   "emission_fwhm, ligands <= 100 %; optimum = best value seen")
