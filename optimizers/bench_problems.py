"""Benchmark problems for ``optimizers.bench``: a search space, fidelities with costs, and the truth.

Each problem evaluates ``recipe`` at a fidelity (the value the optimizer sees) and
scores a recommendation on the true target function (simple regret).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from core import Q_, ContinuousParameter, Fidelity, Objective
from optimizers.space import SearchSpace


@dataclass
class Problem:
    """One benchmark cell.

    Attributes:
        name: cell name, e.g. ``branin_favourable``.
        space: the search space with fidelities and costs (target cost 1).
        evaluate: ``(recipe, fidelity_name) -> objective value`` (what the optimizer sees).
        optimum: best achievable target value (objective's direction), or None when
            unknown (then the best value seen in the benchmark is used).
        reference: a typical target value (mean over a space-filling sample) that
            defines the regret reduction to be achieved.
        budget: cost units per run for ``full`` / ``quick`` / ``smoke``.
        physics: physics mode -> the :class:`optimizers.physics.PhysicsFeatures` the
            problem's cheapest fidelity offers in that mode (None: the mode does not apply,
            e.g. ``features`` on a test function without structure features).
    """

    name: str
    space: SearchSpace
    evaluate: Callable[[dict, str], float]
    optimum: float | None
    reference: float
    budget: dict[str, float] = field(default_factory=dict)
    note: str = ""
    physics: Callable[[str], object | None] | None = None

    def regret(self, value: float, optimum: float | None = None) -> float:
        best = self.optimum if optimum is None else optimum
        return max(0.0, self.space.objective.sign * (best - value))


def _cheap_prediction(space: SearchSpace, evaluate, fidelity: str):
    """Physics of a test function: its cheap fidelity's value as the 'simulator prediction' (no structure features)."""
    from optimizers.physics import PhysicsFeatures  # noqa: PLC0415

    def physics(mode: str):
        if mode not in ("prior_mean", "sim_input"):
            return None
        return PhysicsFeatures(lambda recipe: {"prediction": evaluate(recipe, fidelity)}, None, mode, f"cheap:{fidelity}")

    return physics


def _unit_params(names, lows, highs):
    return [ContinuousParameter(n, Q_(float(lo), ""), Q_(float(hi), ""), "") for n, lo, hi in zip(names, lows, highs)]


def _vector(recipe, names):
    return [float(recipe[n].magnitude) for n in names]


def reference_optimum(space: SearchSpace, true_fn, n: int = 512) -> float:
    U = torch.quasirandom.SobolEngine(len(space.parameters), scramble=True, seed=1234).draw(n, dtype=torch.double)
    recipes = space.decode(space.from_unit(U))
    return float(sum(true_fn(r) for r in recipes) / n)


def branin(s_low: float, cost_low: float, name: str) -> Problem:
    """AugmentedBranin (minimize) with one discrete low fidelity at ``s_low``."""
    from botorch.test_functions.multi_fidelity import AugmentedBranin

    fn = AugmentedBranin()
    names = ("x1", "x2")
    space = SearchSpace(
        _unit_params(names, (-5.0, 0.0), (10.0, 15.0)),
        [Fidelity("low", "simulator", cost_low, s_low), Fidelity("target", "robot", 1.0, 1.0, target=True)],
        Objective("branin", "", "minimize"),
    )

    def evaluate(recipe, fidelity):
        s = space.fidelity(fidelity).value
        return float(fn.evaluate_true(torch.tensor([_vector(recipe, names) + [s]], dtype=torch.double)))

    true = lambda r: evaluate(r, "target")  # noqa: E731
    return Problem(name, space, evaluate, fn.optimal_value, reference_optimum(space, true),
                   {"full": 40.0, "quick": 20.0, "smoke": 5.0},
                   f"AugmentedBranin, low fidelity s={s_low} at cost ratio {cost_low}",
                   _cheap_prediction(space, evaluate, "low"))


def hartmann() -> Problem:
    """AugmentedHartmann (6-D, minimize) with fidelities s = 0.5, 0.75 and the target."""
    from botorch.test_functions.multi_fidelity import AugmentedHartmann

    fn = AugmentedHartmann()
    names = tuple(f"x{i}" for i in range(1, 7))
    space = SearchSpace(
        _unit_params(names, [0.0] * 6, [1.0] * 6),
        [Fidelity("s050", "simulator", 0.1, 0.5), Fidelity("s075", "simulator", 0.3, 0.75),
         Fidelity("target", "robot", 1.0, 1.0, target=True)],
        Objective("hartmann", "", "minimize"),
    )

    def evaluate(recipe, fidelity):
        s = space.fidelity(fidelity).value
        return float(fn.evaluate_true(torch.tensor([_vector(recipe, names) + [s]], dtype=torch.double)))

    true = lambda r: evaluate(r, "target")  # noqa: E731
    return Problem("hartmann", space, evaluate, fn.optimal_value, reference_optimum(space, true),
                   {"full": 60.0, "quick": 25.0, "smoke": 5.0}, "AugmentedHartmann 6-D, fidelities 0.5 / 0.75 / 1")


def misleading() -> Problem:
    """2-D bumps (maximize) whose cheap fidelity puts the big bump where the target's small one is."""
    names = ("x1", "x2")
    a, b = (0.25, 0.75), (0.75, 0.3)

    def bumps(x, big, small):
        g = lambda c: math.exp(-((x[0] - c[0]) ** 2 + (x[1] - c[1]) ** 2) / 0.05)  # noqa: E731
        return g(big) + 0.6 * g(small)

    space = SearchSpace(
        _unit_params(names, (0.0, 0.0), (1.0, 1.0)),
        [Fidelity("low", "simulator", 0.1, 0.5), Fidelity("target", "robot", 1.0, 1.0, target=True)],
        Objective("bumps", "", "maximize"),
    )

    def evaluate(recipe, fidelity):
        x = _vector(recipe, names)
        return bumps(x, a, b) if fidelity == "target" else bumps(x, b, a)

    true = lambda r: evaluate(r, "target")  # noqa: E731
    return Problem("misleading", space, evaluate, bumps(a, a, b), reference_optimum(space, true),
                   {"full": 30.0, "quick": 15.0, "smoke": 5.0},
                   "cheap fidelity's optimum at the target's secondary bump (negative control)",
                   _cheap_prediction(space, evaluate, "low"))
