"""From a recipe to device setpoints, checked against the device limits before any plan exists.

A recipe (see ``docs/interfaces.md``) speaks the chemist's language
(``hardener_ratio``, ``additive_fraction``, ``cure_temperature``); the line
speaks setpoint paths (``hardener_dispenser.mass``, ``oven.temperature``).
Masses come from the *nominal* equivalent weights printed on the reagents'
data sheets; the true weights of a lot differ a little, which is the lab's problem,
not the recipe's.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

import pint

from core import Q_, ConfigError, InputDataError
from core.space import canonical_smiles
from devices.limits import DeviceLimits, Range, format_quantity
from devices.setpoints import check_setpoints, parameter_bounds, process_setpoints, recipe_quantity
from systems.thermoset.devices.limits import DEFAULT_LIMITS

RESIN_SMILES = "CC(C)(c1ccc(OCC2CO2)cc1)c1ccc(OCC2CO2)cc1"
HARDENER_SMILES = "CC1(C)CC(N)CC(C)(CN)C1"
#: Nominal epoxide equivalent weight of the DGEBA resin.
RESIN_EEW = Q_(187.0, "g/mol")
#: Nominal amine hydrogen equivalent weight of the IPDA hardener.
HARDENER_AHEW = Q_(42.6, "g/mol")
#: Nominal epoxide equivalent weights of the reactive additives of the library (by label).
REACTIVE_ADDITIVE_EEW = {
    "C1OC1CN(CC1CO1)c1ccc(OCC2CO2)cc1": Q_(92.0, "g/mol"),  # tgap, trifunctional
    "CCCCOCC1CO1": Q_(130.0, "g/mol"),  # butyl glycidyl ether, monofunctional
}
DEFAULT_BATCH_MASS = Q_(10.0, "g")

#: Recipe parameter -> (setpoint path, unit of the signal).
RECIPE_SETPOINTS: dict[str, tuple[str, str]] = {
    "mixing_speed": ("mixer.speed", "rpm"),
    "mixing_time": ("mixer.duration", "min"),
    "cure_temperature": ("oven.temperature", "degC"),
    "cure_time": ("oven.hold_time", "h"),
}
#: Process settings that are not recipe parameters; override with ``process=``.
DEFAULT_PROCESS: dict[str, pint.Quantity] = {
    "oven.ramp_rate": Q_(5.0, "K/min"),
    "oven.settle_tolerance": Q_(1.0, "K"),
    "oven.settle_time": Q_(5.0, "min"),
    "characterizer.heating_rate": Q_(10.0, "K/min"),
}
_REQUIRED = ("hardener_ratio", *RECIPE_SETPOINTS)
_PARAMETER_OF_PATH = {path: name for name, (path, _) in RECIPE_SETPOINTS.items()}
_PARAMETER_OF_PATH.update(
    {
        "resin_dispenser.mass": "additive_fraction, hardener_ratio",
        "hardener_dispenser.mass": "hardener_ratio",
        "additive_dispenser.mass": "additive_fraction",
    }
)


@lru_cache(maxsize=256)
def _epoxide_eew(smiles: str) -> pint.Quantity | None:
    """Nominal EEW of an additive: the library value, else molar mass / number of epoxide rings."""
    from rdkit import Chem
    from rdkit.Chem import Descriptors

    table = {canonical_smiles(key, "REACTIVE_ADDITIVE_EEW"): eew for key, eew in REACTIVE_ADDITIVE_EEW.items()}
    if canonical_smiles(smiles, "recipe.additive") in table:
        return table[canonical_smiles(smiles, "recipe.additive")]

    mol = Chem.MolFromSmiles(smiles)
    n_epoxide = len(mol.GetSubstructMatches(Chem.MolFromSmarts("C1OC1")))
    if n_epoxide == 0:
        return None
    return Q_(Descriptors.MolWt(mol) / n_epoxide, "g/mol")


def _quantity(recipe: Mapping, key: str, like: str) -> pint.Quantity:
    return recipe_quantity(recipe, key, like, _REQUIRED)


def additive_smiles(recipe: Mapping) -> str | None:
    """Canonical SMILES of the recipe's additive, or None when the recipe has none.

    Raises:
        InputDataError: the SMILES does not parse.
    """
    smiles = recipe.get("additive")
    if smiles is None or smiles == "":
        return None
    if not isinstance(smiles, str):
        raise InputDataError(f"recipe additive: {smiles!r} is not a SMILES string")
    try:
        return canonical_smiles(smiles, "recipe.additive")
    except ConfigError as err:
        raise InputDataError(str(err)) from err


def recipe_to_setpoints(
    recipe: Mapping,
    batch_mass: pint.Quantity = DEFAULT_BATCH_MASS,
    process: Mapping[str, pint.Quantity] | None = None,
) -> dict[str, pint.Quantity]:
    """Setpoints of the line for one batch of ``recipe``.

    Masses: the additive is ``additive_fraction * batch_mass``; resin and hardener share
    the rest such that amine N-H equivalents = ``hardener_ratio`` x epoxide equivalents
    (resin + reactive additive), with the nominal EEW 187 g/eq, AHEW 42.6 g/eq, and the
    additive's nominal EEW (tgap ~92, BGE ~130 g/eq; none for non-reactive additives).

    Args:
        recipe: the recipe (quantities in any compatible unit).
        batch_mass: total mass of the film batch.
        process: overrides of :data:`DEFAULT_PROCESS` (``oven.ramp_rate`` ...).

    Returns:
        path -> quantity in the unit of the signal, e.g. ``{"oven.temperature": 120 degC,
        "resin_dispenser.mass": 7.2 g, ...}``. Not checked against limits: see
        :func:`check_recipe_limits`.

    Raises:
        InputDataError: a key is missing, has no unit or the wrong dimension.
    """
    batch = Q_(batch_mass).to("g")
    if not batch.magnitude > 0:
        raise InputDataError(f"batch_mass: {format_quantity(batch)} must be above 0 g")
    ratio = float(_quantity(recipe, "hardener_ratio", "").to("").magnitude)
    fraction = float(_quantity(recipe, "additive_fraction", "").to("").magnitude) if "additive_fraction" in recipe else 0.0
    smiles = additive_smiles(recipe)
    if fraction > 0 and smiles is None:
        raise InputDataError(f"recipe additive_fraction is {fraction:.3g} but the recipe names no 'additive' SMILES")
    m_add = fraction * batch.magnitude
    eew_add = _epoxide_eew(smiles) if smiles else None
    eq_add = m_add / eew_add.to("g/mol").magnitude if eew_add is not None else 0.0
    ahew, eew = HARDENER_AHEW.to("g/mol").magnitude, RESIN_EEW.to("g/mol").magnitude
    # m_r + m_h = batch - m_add and m_h / AHEW = r (m_r / EEW + eq_add)
    m_resin = (batch.magnitude - m_add - ahew * ratio * eq_add) / (1.0 + ahew * ratio / eew)
    m_hardener = batch.magnitude - m_add - m_resin
    setpoints: dict[str, pint.Quantity] = {
        "resin_dispenser.mass": Q_(m_resin, "g"),
        "hardener_dispenser.mass": Q_(m_hardener, "g"),
        "additive_dispenser.mass": Q_(m_add, "g"),
    }
    for name, (path, unit) in RECIPE_SETPOINTS.items():
        setpoints[path] = _quantity(recipe, name, unit).to(unit)
    setpoints.update(process_setpoints(DEFAULT_PROCESS, process))
    return setpoints


def check_recipe_limits(
    recipe: Mapping,
    limits: DeviceLimits = DEFAULT_LIMITS,
    batch_mass: pint.Quantity = DEFAULT_BATCH_MASS,
    process: Mapping[str, pint.Quantity] | None = None,
) -> dict[str, pint.Quantity]:
    """Check every setpoint of ``recipe`` against ``limits``; return the setpoints.

    Raises:
        LimitError: one or more setpoints are outside the limits; the message lists each,
            e.g. ``oven.temperature: 450 degC is above the device limit 220 degC (recipe cure_temperature)``.
        InputDataError: the recipe is malformed (missing key, no unit, wrong dimension).
    """
    setpoints = recipe_to_setpoints(recipe, batch_mass, process)
    check_setpoints(setpoints, limits, _PARAMETER_OF_PATH)
    return setpoints


def parameter_limits(limits: DeviceLimits = DEFAULT_LIMITS, batch_mass: pint.Quantity = DEFAULT_BATCH_MASS) -> dict[str, Range]:
    """Bounds of the recipe parameters that the line accepts, for the campaign config loader.

    Returns:
        ``{"cure_temperature": (20 degC, 220 degC), "cure_time": ..., "mixing_speed": ...,
        "mixing_time": ..., "additive_fraction": (0 %, capacity / batch_mass capped at 100 %)}``;
        a parameter whose path has no limits is left out.
    """
    bounds = parameter_bounds(limits, RECIPE_SETPOINTS)
    capacity = limits.bounds("additive_dispenser.mass")
    if capacity is not None:
        high = min(1.0, float((capacity[1] / Q_(batch_mass)).to("").magnitude))
        bounds["additive_fraction"] = (Q_(0.0, "percent"), Q_(100.0 * high, "percent"))
    return bounds
