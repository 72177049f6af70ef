"""From a recipe to a line's setpoints, checked against the device limits before any plan exists.

A recipe speaks the chemist's language (parameter names with units); a line speaks setpoint
paths (``<device>.<signal>``). A material system says how one becomes the other; these
helpers do the parts every system does the same way, given the system's names: read a recipe
value with its dimension checked (:func:`recipe_quantity`), add the process settings that
are not recipe parameters (:func:`process_setpoints`), check every setpoint against the
limits naming the recipe parameters behind it (:func:`check_setpoints`), and give the
parameter bounds a line accepts (:func:`parameter_bounds`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pint

from core import Q_, InputDataError, LimitError
from devices.limits import DeviceLimits, Range, format_quantity


def recipe_quantity(recipe: Mapping, key: str, like: str, required: Sequence[str]) -> pint.Quantity:
    """``recipe[key]`` as a quantity of the dimension of ``like`` (a bare number only where
    ``like`` is dimensionless).

    Args:
        recipe: parameter -> quantity (or number, for a dimensionless parameter).
        key: the parameter.
        like: a unit of the dimension the parameter must have (``"degC"``, ``""``).
        required: every parameter the line needs, named when ``key`` is missing.

    Raises:
        InputDataError: one line naming the parameter: missing, no unit, or the wrong dimension.
    """
    if key not in recipe:
        raise InputDataError(f"recipe has no {key!r}; it needs {', '.join(required)} (got {sorted(recipe)})")
    value = recipe[key]
    if not isinstance(value, pint.Quantity):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and Q_(1, like).dimensionless:
            value = Q_(float(value), "")
        else:
            raise InputDataError(f"recipe {key}: {value!r} is not a quantity; give e.g. {format_quantity(Q_(1, like))}")
    if value.dimensionality != Q_(1, like).dimensionality:
        raise InputDataError(f"recipe {key}: {format_quantity(value)} has dimension {value.dimensionality}, "
                             f"expected a unit like {like!r}")
    return value


def process_setpoints(defaults: Mapping[str, pint.Quantity],
                      overrides: Mapping[str, pint.Quantity] | None = None) -> dict[str, pint.Quantity]:
    """The process settings of a run that are not recipe parameters: ``defaults`` with
    ``overrides`` applied, each in its default's unit (a path without a default keeps its own)."""
    out = {}
    for path, value in {**defaults, **(overrides or {})}.items():
        unit = defaults[path].units if path in defaults else Q_(value).units
        out[path] = Q_(value).to(unit)
    return out


def check_setpoints(setpoints: Mapping[str, pint.Quantity], limits: DeviceLimits,
                    sources: Mapping[str, str] | None = None) -> None:
    """Check every setpoint against ``limits``.

    Args:
        setpoints: path -> quantity.
        limits: the line's limits.
        sources: path -> the recipe parameter(s) it comes from, added to its message.

    Raises:
        LimitError: one line listing every setpoint outside its limits, e.g.
            ``furnace.temperature: 700 degC is above the device limit 650 degC (recipe anneal_temperature)``.
        InputDataError: a setpoint has no unit or the wrong dimension.
    """
    problems = []
    for path, value in setpoints.items():
        message = limits.violation(path, value)
        if message is not None:
            source = (sources or {}).get(path)
            problems.append(f"{message} (recipe {source})" if source else message)
    if problems:
        raise LimitError("; ".join(problems))


def parameter_bounds(limits: DeviceLimits, recipe_setpoints: Mapping[str, tuple[str, str]]) -> dict[str, Range]:
    """Bounds of the recipe parameters that are one setpoint each: the limits of that setpoint.

    Args:
        limits: the line's limits.
        recipe_setpoints: parameter -> (setpoint path, unit the bounds are given in).

    Returns:
        parameter -> (low, high); a parameter whose path has no limits is left out.
    """
    bounds: dict[str, Range] = {}
    for name, (path, unit) in recipe_setpoints.items():
        pair = limits.bounds(path)
        if pair is not None:
            bounds[name] = (pair[0].to(unit), pair[1].to(unit))
    return bounds


__all__ = ["check_setpoints", "parameter_bounds", "process_setpoints", "recipe_quantity"]
