"""Small search spaces and histories shared by the optimizer tests (imported by name: tests/ is not a package)."""

from __future__ import annotations

import pandas as pd

from core import Q_, CategoricalParameter, ContinuousParameter, Fidelity, MoleculeParameter, Objective
from optimizers import SearchSpace

ADDITIVES = {
    "tgap": "C1OC1CN(CC1CO1)c1ccc(OCC2CO2)cc1",
    "butyl_glycidyl_ether": "CCCCOCC1CO1",
    "dibutyl_phthalate": "CCCCOC(=O)c1ccccc1C(=O)OCCCC",
}


def two_fidelity_space(direction: str = "maximize", cheap_cost: float = 0.1) -> SearchSpace:
    """A 1-D continuous space with a cheap simulator and the robot as target."""
    return SearchSpace(
        [ContinuousParameter("x", Q_(0.0, ""), Q_(1.0, ""), "")],
        [
            Fidelity("cheap", "simulator", cheap_cost, 0.5, model="toy"),
            Fidelity("robot", "robot", 1.0, 1.0, target=True),
        ],
        Objective("y", "", direction),
    )


def make_thermoset_space() -> SearchSpace:
    """Mixed space like the reference campaign: temperature with units, a molecule, a category."""
    return SearchSpace(
        [
            ContinuousParameter("cure_temperature", Q_(60.0, "degC"), Q_(180.0, "degC"), "degC"),
            ContinuousParameter("cure_time", Q_(0.5, "h"), Q_(6.0, "h"), "h"),
            MoleculeParameter("additive", dict(ADDITIVES)),
            CategoricalParameter("blade", ("anchor", "dispersion")),
        ],
        [
            Fidelity("closed_form", "simulator", 0.1, 0.3, model="thermoset.closed_form"),
            Fidelity("kinetics_phase_field", "simulator", 0.5, 0.6, model="thermoset.kinetics_phase_field"),
            Fidelity("robot", "robot", 10.0, 1.0, target=True),
        ],
        Objective("glass_transition_temperature", "degC", "maximize"),
    )


def toy_value(space: SearchSpace, recipe: dict, fidelity: str) -> float:
    """A smooth function of the thermoset space (peak at 130 degC, 3 h, tgap); cheaper fidelities are biased."""
    t = recipe["cure_temperature"].to("degC").magnitude
    h = recipe["cure_time"].to("h").magnitude
    bonus = {"tgap": 10.0, "butyl_glycidyl_ether": -10.0}.get(space.parameters[2].label_of(recipe["additive"]), 0.0)
    base = 150.0 - ((t - 130.0) / 30.0) ** 2 * 20.0 - (h - 3.0) ** 2 * 3.0 + bonus
    return base - {"closed_form": 8.0, "kinetics_phase_field": 3.0, "robot": 0.0}[fidelity]


def history_from(space: SearchSpace, suggestions, values) -> pd.DataFrame:
    rows = []
    for s, v in zip(suggestions, values):
        row = {k: (float(q.to(p.unit).magnitude) if hasattr(q, "to") else q)
               for (k, q), p in zip(s.recipe.items(), space.parameters)}
        row.update(fidelity=s.fidelity, objective=v, status="completed")
        rows.append(row)
    return pd.DataFrame(rows)
