"""The thermoset film as a benchmark problem of ``python -m optimizers.bench`` (entry point
``thermoset`` of group ``sdl.bench_problems``): the optimizer's harness names no system."""

from __future__ import annotations

from core import Q_, ContinuousParameter, Fidelity, MoleculeParameter, Objective
from optimizers.bench_problems import Problem, reference_optimum
from optimizers.space import SearchSpace
from simulators import get_simulator
from simulators.thermoset import ADDITIVE_LIBRARY

THERMOSET_PARAMETERS = {
    "additive_fraction": (0.0, 20.0, "percent"),
    "hardener_ratio": (0.7, 1.3, "dimensionless"),
    "mixing_speed": (200.0, 2000.0, "rpm"),
    "mixing_time": (1.0, 15.0, "min"),
    "cure_temperature": (60.0, 180.0, "degC"),
    "cure_time": (0.5, 6.0, "h"),
}


def problem() -> Problem:
    """The reference material system: closed-form simulator (cheap) vs the kinetics/phase-field model as target."""
    low = get_simulator("thermoset.closed_form")
    high = get_simulator("thermoset.kinetics_phase_field")
    params = [MoleculeParameter("additive", dict(ADDITIVE_LIBRARY))]
    params += [ContinuousParameter(n, Q_(lo, u), Q_(hi, u), u) for n, (lo, hi, u) in THERMOSET_PARAMETERS.items()]
    space = SearchSpace(
        params,
        [Fidelity("closed_form", "simulator", 0.05, 0.3, model="thermoset.closed_form"),
         Fidelity("kinetics_phase_field", "simulator", 1.0, 1.0, target=True, model="thermoset.kinetics_phase_field")],
        Objective("glass_transition_temperature", "degC", "maximize"),
    )
    cache: dict = {}

    def evaluate(recipe, fidelity):
        key = (fidelity, tuple((k, str(v)) for k, v in sorted(recipe.items())))
        if key not in cache:
            sim = high if fidelity == "kinetics_phase_field" else low
            res = sim.run(recipe, seed=0)
            cache[key] = float(res.properties["glass_transition_temperature"].to("degC").magnitude)
        return cache[key]

    def physics(mode: str):
        from optimizers.physics import simulator_physics  # noqa: PLC0415

        return simulator_physics(low, mode, space.objective)  # every structure feature in features mode

    true = lambda r: evaluate(r, "kinetics_phase_field")  # noqa: E731
    return Problem("thermoset", space, evaluate, None, reference_optimum(space, true, n=64),
                   {"full": 30.0, "quick": 12.0, "smoke": 3.0},
                   "closed_form (cost 0.05) vs kinetics_phase_field as the target stand-in; optimum = best value seen",
                   physics)




def two_objective_problem():
    """Tg and fracture toughness (both maximized) of the film: closed-form simulator (cost 0.05) vs the
    kinetics/phase-field model as the target (entry point ``thermoset_tg_toughness`` of group
    ``sdl.bench_mo_problems``); hypervolume reference Tg 100 degC, K_IC 0.6 MPa*m**0.5."""
    from optimizers.bench_mo_problems import MOProblem  # noqa: PLC0415

    low = get_simulator("thermoset.closed_form")
    high = get_simulator("thermoset.kinetics_phase_field")
    params = [MoleculeParameter("additive", dict(ADDITIVE_LIBRARY))]
    params += [ContinuousParameter(n, Q_(lo, u), Q_(hi, u), u) for n, (lo, hi, u) in THERMOSET_PARAMETERS.items()]
    ref = {"glass_transition_temperature": 100.0, "fracture_toughness": 0.6}
    space = SearchSpace(
        params,
        [Fidelity("closed_form", "simulator", 0.05, 0.3, model="thermoset.closed_form"),
         Fidelity("kinetics_phase_field", "simulator", 1.0, 1.0, target=True, model="thermoset.kinetics_phase_field")],
        [Objective("glass_transition_temperature", "degC", "maximize", threshold=ref["glass_transition_temperature"]),
         Objective("fracture_toughness", "MPa*m**0.5", "maximize", threshold=ref["fracture_toughness"])],
    )
    cache: dict = {}

    def evaluate(recipe, fidelity):
        key = (fidelity, tuple((k, str(v)) for k, v in sorted(recipe.items())))
        if key not in cache:
            sim = high if fidelity == "kinetics_phase_field" else low
            props = sim.run(recipe, seed=0).properties
            cache[key] = {"glass_transition_temperature": float(props["glass_transition_temperature"].to("degC").magnitude),
                          "fracture_toughness": float(props["fracture_toughness"].to("MPa*m**0.5").magnitude)}
        return cache[key]

    return MOProblem("thermoset_tg_toughness", space, evaluate, ref, {"full": 5.5, "quick": 5.0, "smoke": 5.0}, None,
                     "Tg and K_IC: closed_form (cost 0.05) vs kinetics_phase_field as the target stand-in; "
                     "reference point Tg 100 degC, K_IC 0.6 MPa*m**0.5")
