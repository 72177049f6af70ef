"""Validation of a thermoset recipe into plain SI-ish floats.

A recipe is ``dict[str, pint.Quantity | str]`` with the keys of the reference
system (``docs/interfaces.md``). The simulators accept a *physical* range that is
wider than a campaign's typical range; outside it the models are not meaningful
and :class:`core.InputDataError` names the key, the value and the allowed range.
Keys other than the seven below are ignored (a campaign may carry parameters a
simulator does not model).
"""

from __future__ import annotations

from dataclasses import dataclass


from core import InputDataError, Q_
from simulators.base import recipe_magnitude
from simulators.thermoset.chemistry import AdditiveProperties, additive_properties

# key: (unit the model works in, low, high, unit to show in messages)
PHYSICAL_RANGES: dict[str, tuple[str, float, float, str]] = {
    "additive_fraction": ("dimensionless", 0.0, 0.4, "percent"),
    "hardener_ratio": ("dimensionless", 0.3, 2.5, "dimensionless"),
    "mixing_speed": ("rpm", 0.0, 5000.0, "rpm"),
    "mixing_time": ("min", 0.0, 120.0, "min"),
    "cure_temperature": ("degC", 20.0, 250.0, "degC"),
    "cure_time": ("h", 0.0, 48.0, "h"),
}
RECIPE_KEYS = ("additive", *PHYSICAL_RANGES)


@dataclass(frozen=True)
class ThermosetRecipe:
    """A validated recipe in the units the models use.

    Attributes:
        additive: properties of the additive molecule.
        additive_fraction: mass fraction of additive in the whole blend, 0-1.
        hardener_ratio: amine N-H / epoxide equivalents.
        mixing_speed: rpm.
        mixing_time: min.
        cure_temperature: K.
        cure_time: s (isothermal hold).
    """

    additive: AdditiveProperties
    additive_fraction: float
    hardener_ratio: float
    mixing_speed: float
    mixing_time: float
    cure_temperature: float
    cure_time: float


def _magnitude(recipe: dict, key: str) -> float:
    return recipe_magnitude(recipe, key, *PHYSICAL_RANGES[key])


def validate_recipe(recipe: dict) -> ThermosetRecipe:
    """Check a recipe and convert it to model units.

    Args:
        recipe: ``{"additive": SMILES, "additive_fraction": Quantity, ...}``.

    Returns:
        The validated recipe (temperatures in K, cure time in s).

    Raises:
        InputDataError: missing key, not a quantity, wrong dimension, value out of
            the physical range, or an invalid SMILES; the message names the key.
    """
    if not isinstance(recipe, dict):
        raise InputDataError(f"recipe must be a dict of quantities, got {type(recipe).__name__}")
    if "additive" not in recipe:
        raise InputDataError(f"recipe is missing 'additive' (a SMILES string); it has {sorted(recipe)}")
    smiles = recipe["additive"]
    if not isinstance(smiles, str):
        raise InputDataError(f"recipe['additive']: {smiles!r} is not a SMILES string")
    values = {key: _magnitude(recipe, key) for key in PHYSICAL_RANGES}
    return ThermosetRecipe(
        additive=additive_properties(smiles, "additive"),
        additive_fraction=values["additive_fraction"],
        hardener_ratio=values["hardener_ratio"],
        mixing_speed=values["mixing_speed"],
        mixing_time=values["mixing_time"],
        cure_temperature=Q_(values["cure_temperature"], "degC").to("K").magnitude,
        cure_time=values["cure_time"] * 3600.0,
    )
