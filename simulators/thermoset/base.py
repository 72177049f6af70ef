"""The template both thermoset fidelities share: validate, simulate, report with units.

``ThermosetSimulator.run`` validates the recipe (``recipe.validate_recipe``), calls
the subclass's ``_simulate`` with plain floats, and turns its :class:`MaterialState`
into the quantities of ``docs/interfaces.md``. Unexpected numerical failures
become :class:`core.SimulationError` naming the model.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass, field

import numpy as np

from core import InputDataError, Q_, SimulationError
from simulators.base import ProcessStepRecord, SimulationResult, Simulator
from simulators.thermoset.recipe import ThermosetRecipe, validate_recipe


@dataclass(frozen=True)
class MaterialState:
    """Structure and properties of one simulated film, in model units.

    Attributes:
        degree_of_cure: normalized conversion of the limiting group, 0-1.
        crosslink_density: elastically effective chains, mol/m3.
        domain_size: additive-rich domain diameter, nm (0 when one phase).
        free_volume_fraction: at 25 degC, dimensionless.
        chi: Flory-Huggins chi at the cure temperature.
        solubility_parameter: additive delta, MPa**0.5.
        dissolved_fraction: mass fraction of additive dissolved in the matrix.
        separated_fraction: volume fraction of the blend in additive-rich domains.
        degradation: thermo-oxidative damage, 0-1.
        tg: glass transition temperature, K.
        fracture_toughness: MPa*m**0.5.
    """

    degree_of_cure: float
    crosslink_density: float
    domain_size: float
    free_volume_fraction: float
    chi: float
    solubility_parameter: float
    dissolved_fraction: float
    separated_fraction: float
    degradation: float
    tg: float
    fracture_toughness: float


@dataclass(frozen=True)
class Simulated:
    """What ``_simulate`` returns: the material, the step actuals and diagnostics."""

    state: MaterialState
    mix_actuals: dict
    cure_setpoints: dict
    cure_actuals: dict
    diagnostics: dict = field(default_factory=dict)


class ThermosetSimulator(Simulator):
    """Base of the thermoset blend film models (``thermoset.*``)."""

    def run(self, recipe, seed: int | None = None) -> SimulationResult:
        """Simulate one film; see :class:`simulators.Simulator`.

        Args:
            recipe: the seven keys of the reference system (``docs/interfaces.md``).
            seed: seed of the stochastic parts (None behaves like 0).
        """
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise InputDataError(f"seed must be an int or None, got {seed!r}")
        validated = validate_recipe(recipe)
        try:
            with np.errstate(over="ignore", under="ignore"):
                out = self._simulate(validated, 0 if seed is None else int(seed))
        except (InputDataError, SimulationError):
            raise
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as err:
            raise SimulationError(f"{self.name} failed for this recipe: {err}") from err
        return self._result(validated, out)

    @abstractmethod
    def _simulate(self, recipe: ThermosetRecipe, seed: int) -> Simulated:
        """The model itself, on validated floats."""

    def _result(self, recipe: ThermosetRecipe, out: Simulated) -> SimulationResult:
        s = out.state
        values = (s.degree_of_cure, s.crosslink_density, s.domain_size, s.free_volume_fraction, s.chi, s.tg, s.fracture_toughness)
        if not all(math.isfinite(v) for v in values):
            raise SimulationError(f"{self.name} produced a non-finite result for this recipe: {s}")
        device = f"simulator:{self.name}"
        steps: list[ProcessStepRecord] = [
            {
                "name": "mix",
                "device": device,
                "setpoints": {"speed": Q_(recipe.mixing_speed, "rpm"), "time": Q_(recipe.mixing_time, "min")},
                "actuals": out.mix_actuals,
            },
            {"name": "cure", "device": device, "setpoints": out.cure_setpoints, "actuals": out.cure_actuals},
        ]
        structure = {
            "degree_of_cure": Q_(s.degree_of_cure, "dimensionless"),
            "crosslink_density": Q_(s.crosslink_density, "mol/m**3"),
            "domain_size": Q_(s.domain_size, "nm"),
            "free_volume_fraction": Q_(s.free_volume_fraction, "dimensionless"),
            "chi_parameter": Q_(s.chi, "dimensionless"),
            "additive_solubility_parameter": Q_(s.solubility_parameter, "MPa**0.5"),
            "dissolved_additive_fraction": Q_(s.dissolved_fraction, "dimensionless"),
            "separated_volume_fraction": Q_(s.separated_fraction, "dimensionless"),
            "degradation": Q_(s.degradation, "dimensionless"),
        }
        properties = {
            "glass_transition_temperature": Q_(s.tg, "K").to("degC"),
            "fracture_toughness": Q_(s.fracture_toughness, "MPa*m**0.5"),
        }
        return SimulationResult(self.name, self.version, steps, structure, properties, dict(out.diagnostics))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(vars(self).items()))))
