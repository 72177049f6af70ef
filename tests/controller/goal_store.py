"""A small two-objective record store for the views' tests, written straight to the store (no loop).

configs/thermoset_two_objectives.toml (maximize Tg and fracture toughness; toughness >= 0.8
MPa*m**0.5; thresholds 100 degC and 0.6 MPa*m**0.5) with 12 closed-form and 4 kinetics
samples made by the simulators on a Sobol design, and robot samples whose values are set by
hand so the measured front is known:

| sample | Tg (degC) | K_IC (MPa*m**0.5) | at the robot |
|---|---|---|---|
| ROBOT[0] | 150 | 1.00 | on the front |
| ROBOT[1] | 130 | 1.30 | on the front |
| ROBOT[2] | 120 | 0.90 | dominated by ROBOT[0] |
| ROBOT[3] | 170 | 0.70 | breaks the constraint |
| ROBOT[4] | failed | | |

Measured hypervolume above (100 degC, 0.6): 50 x 0.4 + 30 x 0.7 - 30 x 0.4 = 29.
The last ``recommendation`` event is what the loop would log: the strategy's predicted front and
the dry-run line's hidden truth of it.
"""

from __future__ import annotations

import pathlib
import tomllib

import torch

from controller.config.campaign import config_from_dict
from controller.loop.outcome import ground_truth, recommendation
from controller.loop.strategy import build_strategy
from controller.records.samples import ProcessStep, Sample
from controller.records.store import RecordStore
from core import Q_
from optimizers import SearchSpace
from simulators.registry import get_simulator

TWO = pathlib.Path(__file__).resolve().parents[2] / "configs" / "thermoset_two_objectives.toml"
NAME = "mo-views"
N_CHEAP, N_MID = 12, 4
#: Tg (degC), toughness (MPa*m**0.5) of each robot sample; None: the run failed.
ROBOT_VALUES = [(150.0, 1.0), (130.0, 1.3), (120.0, 0.9), (170.0, 0.7), None]
FIRST_ROBOT = N_CHEAP + N_MID + 1
ROBOT = [f"{NAME}-{FIRST_ROBOT + i:04d}" for i in range(len(ROBOT_VALUES))]
FRONT = [ROBOT[0], ROBOT[1]]  # best Tg first
VIOLATING_ROBOT = ROBOT[3]
HYPERVOLUME = 29.0


def goal_config(name: str = NAME):
    raw = tomllib.loads(TWO.read_text())
    raw["name"] = name
    return config_from_dict(raw)


def build_goal_store(path: str | pathlib.Path, name: str = NAME, recommend: bool = True):
    """Write the campaign to ``path``; returns its config."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small fits: extra threads only slow a shared machine down
    try:
        config = goal_config(name)
        store = RecordStore(path)
        store.open_campaign(name, config.fingerprint, config.to_json(), config.budget)
        space = SearchSpace(config.parameters, config.fidelities, config.objectives,
                            linear_constraints=config.linear_constraints)
        U = torch.quasirandom.SobolEngine(len(space.parameters), scramble=True, seed=5).draw(64, dtype=torch.double)
        recipes = [r for r in space.decode(space.from_unit(U)) if space.is_feasible(r)]
        design = ([("closed_form", r) for r in recipes[:N_CHEAP]] + [("kinetics_phase_field", r) for r in recipes[:N_MID]]
                  + [("robot", r) for r in recipes[N_CHEAP : N_CHEAP + len(ROBOT_VALUES)]])
        robot_values = iter(ROBOT_VALUES)
        for seq, (fidelity, recipe) in enumerate(design, 1):
            fid = config.fidelity(fidelity)
            status, properties, structure, error = "completed", {}, {}, None
            if fidelity == "robot":
                values = next(robot_values)
                if values is None:
                    status, error = "failed", "dispenser: timeout (the test's failed run)"
                else:
                    properties = {"glass_transition_temperature": Q_(values[0], "degC"),
                                  "fracture_toughness": Q_(values[1], "MPa*m**0.5")}
            else:
                res = get_simulator(fid.model).run(recipe, seed=seq)
                properties, structure = dict(res.properties), dict(res.structure)
            suggestion = {"fidelity": fidelity, "model_id": "space-filling", "strategy": "multi_fidelity",
                          "reason": f"space-filling initial design at {fidelity}", "acquisition_by_fidelity": {},
                          "objective_unit": "degC", "time": float(seq)}
            store.add_sample(Sample(
                id=f"{name}-{seq:04d}", campaign=name, seq=seq, fidelity=fidelity, status=status, cost=fid.cost,
                recipe=recipe, steps=[ProcessStep(name="make", device=f"{fidelity}")], structure=structure,
                properties=properties, suggestion=suggestion, error=error, created=float(seq), completed=seq + 0.5))
        if recommend:
            rec = recommendation(config, build_strategy(config), store.samples(name), store)
            store.log_event(name, "recommendation", {"recommendation": rec, "ground_truth": ground_truth(config, rec)})
        store.finish_campaign(name, "finished", "the test's samples are written")
        store.close()
        return config
    finally:
        torch.set_num_threads(threads)
