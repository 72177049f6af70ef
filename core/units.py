"""The one pint registry of the project and helpers to move quantities in and out of text.

pint quantities from two registries cannot be combined, so every package uses
``core.units.ureg``.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pint

from core.errors import ConfigError, FieldIssue

ureg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
ureg.formatter.default_format = "~C"
Q_ = ureg.Quantity


#: Longest quantity text read from a campaign file: a number and a unit fit with room to spare.
MAX_QUANTITY_TEXT = 100
#: ``"60 degC"``, ``"-4.5e-3 MPa*m**0.5"``: a plain number, then (optionally) a unit expression.
#: pint would evaluate any expression (``"9**9**9 rpm"`` never returns), so only the unit is
#: handed to it, never the number.
_QUANTITY_TEXT = re.compile(r"^\s*(?P<number>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(?P<unit>.*?)\s*$")
#: What a unit expression may contain: names, digits, spaces and the operators * / ** ( ) ^ and °.
_UNIT_TEXT = re.compile(r"^[A-Za-z_°µΩ%0-9\s*/().^-]*$")
#: An exponent in a unit: a small number (``m**0.5``, ``s^-1``); pint evaluates chained powers
#: such as ``m**9**9**9`` without end, so a power of a power is refused.
_EXPONENT = re.compile(r"(\*\*|\^)\s*(?P<value>[-+]?\d+(?:\.\d+)?)?")
MAX_EXPONENT = 10


def parse_quantity(text: Any, field: str, like: str | None = None) -> pint.Quantity:
    """Parse ``"60 degC"`` (or a number, taken as dimensionless) into a quantity.

    Only a finite number followed by a unit is accepted: no arithmetic, no ``nan``/``inf``.

    Args:
        text: the value from the campaign file.
        field: dotted field name used in the error message.
        like: a unit the value must convert to (e.g. ``"degC"``): same dimension, and no
            mix of absolute temperatures and temperature differences.

    Raises:
        ConfigError: unknown unit, unparsable text, a non-finite number, or a value that
            does not convert to ``like``.
    """
    example = f"write a number and a unit, e.g. \"60 degC\""
    if isinstance(text, bool):
        raise ConfigError(FieldIssue(field, f"{text!r} is not a quantity; {example}"))
    if isinstance(text, (int, float)):
        q = Q_(float(text), "dimensionless")
    elif isinstance(text, pint.Quantity):
        q = text
    elif isinstance(text, str):
        q = _parse_text(text, field, example)
    else:
        raise ConfigError(FieldIssue(field, f"{text!r} is not a quantity; {example}"))
    if not math.isfinite(float(q.magnitude)):
        raise ConfigError(FieldIssue(field, f"{text!r} is not a finite number; {example}"))
    if like is not None:
        want = Q_(1, like).dimensionality
        if q.dimensionality != want:
            raise ConfigError(
                FieldIssue(
                    field,
                    f"{text!r} has dimension {q.dimensionality}, expected {want} (a unit like {like!r})",
                )
            )
        try:
            q.to(like)
        except (pint.DimensionalityError, pint.OffsetUnitCalculusError) as err:
            raise ConfigError(FieldIssue(field, f"{text!r} does not convert to {like!r}: an absolute temperature "
                                                "and a temperature difference (delta_degC) are different things")) from err
    return q


def _plain_exponents(unit: str) -> bool:
    """Every power in ``unit`` is a number of at most :data:`MAX_EXPONENT`, and no power is raised again."""
    for found in _EXPONENT.finditer(unit):
        value = found["value"]
        if value is None or abs(float(value)) > MAX_EXPONENT or unit[found.end():].lstrip().startswith(("**", "^")):
            return False
    return True


def parse_unit(text: Any, field: str) -> str:
    """Check a unit written in a campaign file (``"degC"``, ``"MPa*m**0.5"``) and return it.

    Raises:
        ConfigError: not text, too long, an expression pint would evaluate (powers of
            powers, large exponents), or a unit pint does not know.
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(FieldIssue(field, f"{text!r} is not a unit; write e.g. \"degC\" or \"MPa*m**0.5\""))
    if len(text) > MAX_QUANTITY_TEXT or not _UNIT_TEXT.match(text) or not _plain_exponents(text):
        raise ConfigError(FieldIssue(field, f"{text[:40]!r} is not a unit; write e.g. \"degC\" or \"MPa*m**0.5\""))
    try:
        ureg.parse_units(text)
    except Exception as err:  # noqa: BLE001 - pint raises several types for bad unit text
        raise ConfigError(FieldIssue(field, f"unknown unit {text!r} ({err})")) from err
    return text


def _parse_text(text: str, field: str, example: str) -> pint.Quantity:
    if len(text) > MAX_QUANTITY_TEXT:
        raise ConfigError(FieldIssue(field, f"{text[:20]!r}... is {len(text)} characters long, over "
                                            f"{MAX_QUANTITY_TEXT}; {example}"))
    match = _QUANTITY_TEXT.match(text)
    if match is None or not _UNIT_TEXT.match(match["unit"]) or not _plain_exponents(match["unit"]):
        raise ConfigError(FieldIssue(field, f"{text!r} is not a quantity; {example}"))
    number = float(match["number"])
    if not math.isfinite(number):
        raise ConfigError(FieldIssue(field, f"{text!r} is not a finite number; {example}"))
    unit_text_ = match["unit"]
    if not unit_text_:
        return Q_(number, "dimensionless")
    try:
        unit = ureg.parse_units(_offset_units_as_differences(f"{match['number']} {unit_text_}")
                                .removeprefix(match["number"]).strip())
    except pint.UndefinedUnitError as err:
        raise ConfigError(FieldIssue(field, f"unknown unit in {text!r} ({err})")) from err
    except (TypeError, ValueError, AttributeError, SyntaxError, pint.PintError) as err:
        raise ConfigError(FieldIssue(field, f"{text!r} is not a quantity; {example}")) from err
    return Q_(number, unit)


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
    """JSON-friendly form of a quantity: ``{"value": 60.0, "unit": "degC"}``; an array quantity
    (a spectrum, a curve) keeps every value: ``{"value": [...], "unit": "nm"}``."""
    if isinstance(q, pint.Quantity):
        m = q.magnitude
        value = m.tolist() if getattr(m, "ndim", 0) else float(m)
        return {"value": value, "unit": unit_text(q.units)}
    return q


def quantity_from_record(obj: Any) -> Any:
    """Inverse of :func:`quantity_to_record`; other values are returned unchanged."""
    if isinstance(obj, dict) and set(obj) == {"value", "unit"}:
        return Q_(obj["value"], obj["unit"] if obj["unit"] != "dimensionless" else "")
    return obj
