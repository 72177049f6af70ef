"""The second reference material system's physics: colloidal CdSe quantum dots made in a
continuous-flow reactor, at two fidelities that disagree in a known way:

* ``quantum_dots.brus`` (:class:`BrusQuantumDots`): closed-form burst-nucleation growth
  law and the Brus effective-mass gap, about 2 ms. The Brus gap is known to be too high
  for small dots, so its emission is bluer than the fine model's.
* ``quantum_dots.population_balance`` (:class:`PopulationBalanceQuantumDots`): LaMer
  nucleation and Gibbs-Thomson growth as a population balance (a few hundred implicit
  steps in numpy) and the empirical sizing curve, 5-40 ms.

Never imports bluesky, ophyd, the controller or devices.
"""

from simulators.quantum_dots.models import MODEL_GRID, BrusQuantumDots, PopulationBalanceQuantumDots
from simulators.quantum_dots.optics import (
    brus_gap,
    diameter_from_emission,
    emission_spectrum,
    sizing_curve_gap,
    spectrum_features,
)
from simulators.quantum_dots.recipe import LIGAND_SUM_MAX, PHYSICAL_RANGES, RECIPE_KEYS, QuantumDotRecipe, validate_recipe

__all__ = [
    "LIGAND_SUM_MAX",
    "MODEL_GRID",
    "PHYSICAL_RANGES",
    "RECIPE_KEYS",
    "BrusQuantumDots",
    "PopulationBalanceQuantumDots",
    "QuantumDotRecipe",
    "brus_gap",
    "diameter_from_emission",
    "emission_spectrum",
    "sizing_curve_gap",
    "spectrum_features",
    "validate_recipe",
]
