"""Multi-objective benchmark problems for ``optimizers.bench_mo``: a search space with several objectives,
fidelities with costs, and the truth every recommended front is scored on.

Each problem evaluates a recipe at a fidelity and returns every objective's value (its own unit and
direction); the hypervolume of a front is computed from the *target* fidelity's values of its recipes,
above a fixed reference point (``ref_point``), with every objective maximized (signed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from core import Q_, ContinuousParameter, Fidelity, Objective
from optimizers.goals import hypervolume
from optimizers.space import SearchSpace


@dataclass
class MOProblem:
    """One multi-objective benchmark cell.

    Attributes:
        name: cell name, e.g. ``momf_branin_currin``.
        space: the search space (several objectives, each with its ``threshold``) with fidelities and
            costs (target cost 1).
        evaluate: ``(recipe, fidelity_name) -> {objective property: value}`` (what the optimizer sees,
            in each objective's unit and direction).
        ref_point: objective property -> the hypervolume reference value (the objectives' thresholds).
        budget: cost units per run for ``full`` / ``quick`` / ``smoke``.
        max_hv: the best achievable hypervolume at the target when known (None: unknown).
        note: one line on what the problem is.
    """

    name: str
    space: SearchSpace
    evaluate: Callable[[dict, str], dict[str, float]]
    ref_point: dict[str, float]
    budget: dict[str, float] = field(default_factory=dict)
    max_hv: float | None = None
    note: str = ""

    @property
    def signed_ref(self) -> torch.Tensor:
        return torch.tensor([o.sign * self.ref_point[o.property] for o in self.space.objectives], dtype=torch.double)

    def signed(self, values: dict[str, float]) -> list[float]:
        """Objective values (a dict by property) as the maximized vector hypervolumes are computed on."""
        return [o.sign * float(values[o.property]) for o in self.space.objectives]

    def true_values(self, recipes) -> torch.Tensor:
        """Signed target-fidelity values of ``recipes`` (``n x objectives``)."""
        target = self.space.target_fidelity.name
        rows = [self.signed(self.evaluate(r, target)) for r in recipes]
        return torch.tensor(rows, dtype=torch.double).reshape(-1, len(self.space.objectives))

    def hypervolume_of(self, recipes) -> float:
        """Hypervolume above ``ref_point`` of the target-fidelity values of ``recipes``."""
        return hypervolume(self.true_values(recipes), self.signed_ref) if recipes else 0.0


def momf_branin_currin(s_low: float = 0.5, cost_low: float = 0.1) -> MOProblem:
    """BoTorch's ``MOMFBraninCurrin`` (negated: both maximized), ``x`` in ``[0, 1]^2``, one discrete cheap
    fidelity ``s = s_low`` at cost ratio ``cost_low`` and the target ``s = 1`` at cost 1. Reference point
    (0, 0) and best hypervolume 0.5236 as BoTorch states them."""
    from botorch.test_functions.multi_objective_multi_fidelity import MOMFBraninCurrin  # noqa: PLC0415

    fn = MOMFBraninCurrin(negate=True)
    names = ("x0", "x1")
    space = SearchSpace(
        [ContinuousParameter(n, Q_(0.0, ""), Q_(1.0, ""), "") for n in names],
        [Fidelity("low", "simulator", cost_low, s_low), Fidelity("target", "robot", 1.0, 1.0, target=True)],
        [Objective("branin", "", "maximize", threshold=0.0), Objective("currin", "", "maximize", threshold=0.0)],
    )

    def evaluate(recipe, fidelity):
        s = space.fidelity(fidelity).value
        x = [float(recipe[n].magnitude) for n in names]
        y = fn(torch.tensor([x + [s]], dtype=torch.double))[0]
        return {"branin": float(y[0]), "currin": float(y[1])}

    return MOProblem("momf_branin_currin", space, evaluate, {"branin": 0.0, "currin": 0.0},
                     {"full": 6.0, "quick": 4.0, "smoke": 2.5}, float(fn.max_hv),
                     f"MOMFBraninCurrin (negated), cheap fidelity s={s_low} at cost ratio {cost_low}, target s=1")
