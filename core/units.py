"""The one pint registry of the project and helpers to move quantities in and out of text.

pint quantities from two registries cannot be combined, so every package uses
``core.units.ureg``.
"""

from __future__ import annotations

import re
from typing import Any

import pint

from core.errors import ConfigError, FieldIssue

ureg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
ureg.formatter.default_format = "~C"
Q_ = ureg.Quantity


def parse_quantity(text: Any, field: str, like: str | None = None) -> pint.Quantity:
    """Parse ``"60 degC"`` (or a number, taken as dimensionless) into a quantity.

    Args:
        text: the value from the campaign file.
        field: dotted field name used in the error message.
        like: a unit whose dimension the value must have (e.g. ``"degC"``).

    Raises:
        ConfigError: unknown unit, unparsable text, or wrong dimension.
    """
    try:
        if isinstance(text, bool):
            raise TypeError
        if isinstance(text, (int, float)):
            q = Q_(float(text), "dimensionless")
        elif isinstance(text, str):
            q = Q_(_offset_units_as_differences(text.strip()))
            if not isinstance(q, pint.Quantity):  # "5" parses to a plain number
                q = Q_(float(q), "dimensionless")
        elif isinstance(text, pint.Quantity):
            q = text
        else:
            raise TypeError
    except pint.UndefinedUnitError as err:
        raise ConfigError(FieldIssue(field, f"unknown unit in {text!r} ({err})")) from err
    except (TypeError, ValueError, AttributeError, pint.PintError) as err:
        raise ConfigError(
            FieldIssue(field, f"{text!r} is not a quantity; write a number and a unit, e.g. \"60 degC\"")
        ) from err
    if like is not None:
        want = Q_(1, like).dimensionality
        if q.dimensionality != want:
            raise ConfigError(
                FieldIssue(
                    field,
                    f"{text!r} has dimension {q.dimensionality}, expected {want} (a unit like {like!r})",
                )
            )
    return q


_ABSOLUTE_TEMPERATURE = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*(degC|degF|°C|°F)$")


def _offset_units_as_differences(text: str) -> str:
    """``5 degC/min`` is a rate of a temperature *difference*: pint would read it as 278.15 K/min.

    A Celsius or Fahrenheit unit alone is an absolute temperature; inside a compound unit it
    is taken as a difference (``delta_degC``).
    """
    if _ABSOLUTE_TEMPERATURE.match(text) or "delta_deg" in text:
        return text
    return re.sub(r"degC|°C", "delta_degC", re.sub(r"degF|°F", "delta_degF", text))


def unit_text(unit: pint.Unit | str) -> str:
    """Short ASCII text of a unit that pint parses back: ``degC``, ``mol/m**3``, ``dimensionless``."""
    text = f"{ureg.Unit(unit) if isinstance(unit, str) else unit:~C}"
    return text.replace("°C", "degC").replace("°F", "degF") or "dimensionless"


def quantity_to_record(q: pint.Quantity | float | str | None) -> Any:
    """JSON-friendly form of a quantity: ``{"value": 60.0, "unit": "degC"}``."""
    if isinstance(q, pint.Quantity):
        return {"value": float(q.magnitude), "unit": unit_text(q.units)}
    return q


def quantity_from_record(obj: Any) -> Any:
    """Inverse of :func:`quantity_to_record`; other values are returned unchanged."""
    if isinstance(obj, dict) and set(obj) == {"value", "unit"}:
        return Q_(obj["value"], obj["unit"] if obj["unit"] != "dimensionless" else "")
    return obj
