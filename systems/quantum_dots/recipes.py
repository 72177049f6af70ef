"""From a quantum-dot recipe to the flow line's setpoints, checked before any plan exists.

The recipe speaks the chemist's language (``reactor_temperature``, ``residence_time``,
``precursor_concentration``, ``oleic_acid_fraction``, ``oleylamine_fraction``); the line
speaks setpoint paths (``reactor.temperature``, ``precursor_pump.flow_rate`` ...).

Flows: the reactor coil holds :data:`REACTOR_VOLUME`; the total flow is
``volume / residence_time``. The precursor pump delivers the premixed Cd oleate / TOP-Se
stock (:data:`PRECURSOR_STOCK` of each) at ``concentration / stock`` of the total; the rest
is the solvent stream, of which oleic acid and oleylamine take their fractions and
octadecene the remainder. So the two ligand fractions can add up to at most 100 %: beyond,
the octadecene pump would have to run backwards. :func:`check_recipe_limits` refuses such a
recipe itself (one line naming both parameters and their sum), before any pump limit.
"""

from __future__ import annotations

from collections.abc import Mapping

import pint

from core import Q_, InputDataError, LimitError
from devices.limits import DeviceLimits, Range, format_quantity
from devices.setpoints import check_setpoints, parameter_bounds, process_setpoints, recipe_quantity

REACTOR_VOLUME = Q_(2.0, "mL")
PRECURSOR_STOCK = Q_(0.5, "mol/L")
LIGANDS = ("oleic_acid_fraction", "oleylamine_fraction")
#: The linear constraint of the recipe, as a campaign file writes it.
LIGAND_CONSTRAINT = "oleic_acid_fraction + oleylamine_fraction <= 100 %"
PUMPS = ("precursor_pump", "oleic_acid_pump", "oleylamine_pump", "solvent_pump")
#: What each pump delivers (its reagent), by pump.
PUMP_REAGENTS = {
    "precursor_pump": "Cd oleate / TOP-Se in octadecene (0.5 M each)",
    "oleic_acid_pump": "oleic acid",
    "oleylamine_pump": "oleylamine",
    "solvent_pump": "1-octadecene",
}

#: Recipe parameter -> (setpoint path, unit of the signal), where one parameter is one setpoint.
RECIPE_SETPOINTS: dict[str, tuple[str, str]] = {
    "reactor_temperature": ("reactor.temperature", "degC"),
    "residence_time": ("reactor.residence_time", "s"),
}
UNITS = {"reactor_temperature": "degC", "residence_time": "s", "precursor_concentration": "mol/L",
         "oleic_acid_fraction": "percent", "oleylamine_fraction": "percent"}
#: Process settings that are not recipe parameters; override with ``process=``.
DEFAULT_PROCESS: dict[str, pint.Quantity] = {
    "reactor.ramp_rate": Q_(30.0, "K/min"),
    "reactor.flush_volumes": Q_(3.0, "dimensionless"),
    "spectrometer.integration_time": Q_(100.0, "ms"),
    "spectrometer.excitation_wavelength": Q_(405.0, "nm"),
}
_SOURCE = {
    "reactor.temperature": "reactor_temperature",
    "reactor.residence_time": "residence_time",
    "precursor_pump.flow_rate": "precursor_concentration, residence_time",
    "oleic_acid_pump.flow_rate": "oleic_acid_fraction, residence_time",
    "oleylamine_pump.flow_rate": "oleylamine_fraction, residence_time",
    "solvent_pump.flow_rate": "oleic_acid_fraction, oleylamine_fraction, residence_time",
}

DEFAULT_LIMITS = DeviceLimits(
    {
        **{f"{pump}.flow_rate": (Q_(0.0, "mL/min"), Q_(20.0, "mL/min")) for pump in PUMPS},
        "reactor.temperature": (Q_(20.0, "degC"), Q_(340.0, "degC")),
        "reactor.residence_time": (Q_(5.0, "s"), Q_(20.0, "min")),
        "reactor.ramp_rate": (Q_(1.0, "K/min"), Q_(60.0, "K/min")),
        "reactor.flush_volumes": (Q_(1.0, "dimensionless"), Q_(20.0, "dimensionless")),
        "spectrometer.integration_time": (Q_(1.0, "ms"), Q_(5000.0, "ms")),
        "spectrometer.excitation_wavelength": (Q_(350.0, "nm"), Q_(450.0, "nm")),
    }
)


def _quantity(recipe: Mapping, key: str) -> pint.Quantity:
    return recipe_quantity(recipe, key, UNITS[key], tuple(UNITS))


def ligand_violation(recipe: Mapping) -> str | None:
    """The message for a recipe whose ligand fractions add up to more than 100 %, else None."""
    a, b = (float(_quantity(recipe, key).to("percent").magnitude) for key in LIGANDS)
    if a + b > 100.0 + 1e-6:
        return (f"oleic_acid_fraction + oleylamine_fraction = {a:.4g} % + {b:.4g} % = {a + b:.4g} % is above "
                "100 %: the two ligands share one solvent stream with octadecene, so lower one of them")
    return None


def recipe_to_setpoints(recipe: Mapping, process: Mapping[str, pint.Quantity] | None = None) -> dict[str, pint.Quantity]:
    """Setpoints of the line for ``recipe``: path -> quantity in the signal's unit.

    Not checked against limits (see :func:`check_recipe_limits`); a recipe breaking the
    ligand constraint gives a negative octadecene flow here.

    Raises:
        InputDataError: a key is missing, has no unit or the wrong dimension, or the
            residence time is not above 0 s.
    """
    tau = _quantity(recipe, "residence_time").to("s")
    if not tau.magnitude > 0:
        raise InputDataError(f"recipe residence_time: {format_quantity(tau)} must be above 0 s")
    total = (REACTOR_VOLUME / tau).to("mL/min")
    share = float((_quantity(recipe, "precursor_concentration") / PRECURSOR_STOCK).to("").magnitude)
    oleic, amine = (float(_quantity(recipe, key).to("").magnitude) for key in LIGANDS)
    medium = total * (1.0 - share)
    setpoints: dict[str, pint.Quantity] = {
        "reactor.temperature": _quantity(recipe, "reactor_temperature").to("degC"),
        "reactor.residence_time": tau,
        "precursor_pump.flow_rate": total * share,
        "oleic_acid_pump.flow_rate": medium * oleic,
        "oleylamine_pump.flow_rate": medium * amine,
        "solvent_pump.flow_rate": medium * (1.0 - oleic - amine),
    }
    setpoints.update(process_setpoints(DEFAULT_PROCESS, process))
    return setpoints


def check_recipe_limits(recipe: Mapping, limits: DeviceLimits = DEFAULT_LIMITS,
                        process: Mapping[str, pint.Quantity] | None = None) -> dict[str, pint.Quantity]:
    """Check ``recipe`` against the ligand constraint and every setpoint against ``limits``.

    Returns:
        The setpoints (see :func:`recipe_to_setpoints`).

    Raises:
        LimitError: one line: the ligand constraint (which makes any pump limit moot), or
            every setpoint outside its limits, e.g. ``reactor.temperature: 400 degC is above
            the device limit 340 degC (recipe reactor_temperature)``.
        InputDataError: the recipe is malformed.
    """
    broken = ligand_violation(recipe)
    if broken is not None:
        raise LimitError(broken)
    setpoints = recipe_to_setpoints(recipe, process)
    check_setpoints(setpoints, limits, _SOURCE)
    return setpoints


def parameter_limits(limits: DeviceLimits = DEFAULT_LIMITS) -> dict[str, Range]:
    """Bounds of the recipe parameters the line accepts one at a time (the config loader's check).

    Returns:
        ``reactor_temperature`` and ``residence_time`` from the reactor's limits,
        ``precursor_concentration`` up to the stock's, and each ligand fraction 0-100 %
        (their sum is the linear constraint, checked per recipe).
    """
    bounds = parameter_bounds(limits, RECIPE_SETPOINTS)
    bounds["precursor_concentration"] = (Q_(0.0, "mol/L"), PRECURSOR_STOCK.to("mol/L"))
    for key in LIGANDS:
        bounds[key] = (Q_(0.0, "percent"), Q_(100.0, "percent"))
    return bounds
