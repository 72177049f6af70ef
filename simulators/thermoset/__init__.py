"""The reference material system: an epoxy/amine thermoset blend film with one additive.

DGEBA cured with IPDA plus one additive from :data:`ADDITIVE_LIBRARY`, simulated at
two fidelities:

* ``thermoset.closed_form`` (:class:`ClosedFormThermoset`): analytic, about a millisecond.
* ``thermoset.kinetics_phase_field`` (:class:`KineticsPhaseFieldThermoset`):
  Kamal-Sourour ODE over the oven program, Miller-Macosko network statistics,
  mixing quality and a Cahn-Hilliard phase field, a fraction of a second.

Both follow the physics picture of ``docs/interfaces.md``; the modules name the
equations and constants they use.
"""

from simulators.thermoset.chemistry import (
    ADDITIVE_LIBRARY,
    additive_properties,
    estimate_molar_volume,
    estimate_solubility_parameter,
    molecular_descriptors,
)
from simulators.thermoset.closed_form import ClosedFormThermoset
from simulators.thermoset.kinetics_phase_field import KineticsPhaseFieldThermoset
from simulators.thermoset.recipe import PHYSICAL_RANGES, RECIPE_KEYS, validate_recipe

__all__ = [
    "ADDITIVE_LIBRARY",
    "PHYSICAL_RANGES",
    "RECIPE_KEYS",
    "ClosedFormThermoset",
    "KineticsPhaseFieldThermoset",
    "additive_properties",
    "estimate_molar_volume",
    "estimate_solubility_parameter",
    "molecular_descriptors",
    "validate_recipe",
]
