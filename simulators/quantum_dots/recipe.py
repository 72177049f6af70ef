"""Validation of a quantum-dot flow recipe into plain floats in model units.

A recipe is ``dict[str, pint.Quantity]`` with the five keys of :data:`PHYSICAL_RANGES`.
Outside these ranges the models mean nothing, and :class:`core.InputDataError` names
the key, the value and the allowed range. Other keys are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass


from core import Q_, InputDataError
from simulators.base import recipe_magnitude

# key: (unit the model works in, low, high, unit to show in messages)
PHYSICAL_RANGES: dict[str, tuple[str, float, float, str]] = {
    "reactor_temperature": ("degC", 200.0, 330.0, "degC"),
    "residence_time": ("s", 2.0, 900.0, "s"),
    "precursor_concentration": ("mol/L", 0.002, 0.2, "mol/L"),
    "oleic_acid_fraction": ("dimensionless", 0.0, 1.0, "percent"),
    "oleylamine_fraction": ("dimensionless", 0.0, 1.0, "percent"),
}
RECIPE_KEYS = tuple(PHYSICAL_RANGES)
#: The mixture rule: the two ligands are volume fractions of the solvent stream, octadecene
#: makes up the rest, so together they can take at most all of it.
LIGAND_SUM_MAX = 1.0


@dataclass(frozen=True)
class QuantumDotRecipe:
    """A validated recipe in the units the models use.

    Attributes:
        temperature: reactor temperature, K.
        residence_time: s.
        precursor_concentration: Cd (= Se) in the reactor feed, mol/m**3.
        oleic_acid: volume fraction of oleic acid in the solvent stream, 0-1.
        oleylamine: volume fraction of oleylamine in the solvent stream, 0-1.
    """

    temperature: float
    residence_time: float
    precursor_concentration: float
    oleic_acid: float
    oleylamine: float


def _magnitude(recipe: dict, key: str) -> float:
    return recipe_magnitude(recipe, key, *PHYSICAL_RANGES[key])


def validate_recipe(recipe: dict) -> QuantumDotRecipe:
    """Check a recipe and convert it to model units.

    Raises:
        InputDataError: a key is missing, not a quantity, of the wrong dimension or out of
            its physical range, or the ligand fractions add up to more than 100 %.
    """
    if not isinstance(recipe, dict):
        raise InputDataError(f"recipe must be a dict of quantities, got {type(recipe).__name__}")
    v = {key: _magnitude(recipe, key) for key in PHYSICAL_RANGES}
    ligands = v["oleic_acid_fraction"] + v["oleylamine_fraction"]
    if ligands > LIGAND_SUM_MAX + 1e-9:
        raise InputDataError(f"recipe: oleic_acid_fraction + oleylamine_fraction = {100 * ligands:.4g} % is above "
                             f"{100 * LIGAND_SUM_MAX:g} % (they are fractions of one solvent stream)")
    return QuantumDotRecipe(
        temperature=Q_(v["reactor_temperature"], "degC").to("K").magnitude,
        residence_time=v["residence_time"],
        precursor_concentration=v["precursor_concentration"] * 1000.0,
        oleic_acid=v["oleic_acid_fraction"],
        oleylamine=v["oleylamine_fraction"],
    )
