"""What a campaign aims at beyond one number: thresholds and constraints on measured outcomes.

An :class:`core.Objective` may carry a ``threshold`` (the worst acceptable value, also the
hypervolume reference point of a multi-objective campaign). An :class:`OutcomeConstraint`
says which measured values make a sample acceptable at all::

    outcome_constraints = ["fracture_toughness >= 0.8 MPa*m**0.5"]

Grammar (one string per constraint)::

    constraint := property_name ("<=" | ">=") quantity

The bound is a quantity with the property's dimension; a bare number is dimensionless.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as dataclass_field

import pint

from core.constraints import OPERATORS, split_comparison
from core.errors import ConfigError, FieldIssue
from core.units import Q_, parse_quantity, unit_text

MAX_TEXT = 300
EXAMPLE = 'write e.g. "fracture_toughness >= 0.8 MPa*m**0.5"'
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class OutcomeConstraint:
    """``property operator bound``: a sample is acceptable only when its measured value meets it.

    Attributes:
        property: the property name (as simulators and the line report it).
        operator: ``"<="`` or ``">="``.
        bound: the bound, a quantity with the property's dimension.
        text: as written (for messages).
        field: where it was written (``outcome_constraints[0]``).
    """

    property: str
    operator: str
    bound: pint.Quantity
    text: str = dataclass_field(default="", compare=False)
    field: str = dataclass_field(default="outcome_constraints", compare=False)

    def __post_init__(self) -> None:
        if self.operator not in OPERATORS:
            raise ConfigError(FieldIssue(self.field, f"operator {self.operator!r} is not one of {list(OPERATORS)}"))
        if not self.text:
            object.__setattr__(self, "text", f"{self.property} {self.operator} {self.bound:~P}")

    def __str__(self) -> str:
        return self.text

    @property
    def unit(self) -> str:
        return unit_text(self.bound.units)

    def bound_in(self, unit: str) -> float:
        """The bound's magnitude in ``unit`` (raises ``ConfigError`` naming the field on a wrong dimension)."""
        try:
            return float(self.bound.to(unit).magnitude)
        except (pint.DimensionalityError, pint.OffsetUnitCalculusError) as err:
            raise ConfigError(FieldIssue(self.field, f"{self.text!r}: the bound is in {self.unit!r}, which does not "
                                                     f"fit {self.property} (measured in {unit!r})")) from err

    def holds(self, value: float, unit: str) -> bool:
        """Whether a measured ``value`` (a magnitude in ``unit``) meets the constraint."""
        return self.meets(value, self.bound_in(unit))

    def meets(self, value: float, bound: float) -> bool:
        """Whether ``value`` meets the constraint with its bound already in ``value``'s unit (converted once
        for many values: :meth:`bound_in`)."""
        return value >= bound if self.operator == ">=" else value <= bound


#: The history column of the first objective; every other outcome's is ``outcome.<property>``.
OBJECTIVE_COLUMN = "objective"
OUTCOME_PREFIX = "outcome."


@dataclass(frozen=True)
class Outcome:
    """One measured value the optimizer models: an objective, or a property an outcome constraint names.

    Attributes:
        property: the property name.
        unit: the unit of its history column (the objective's unit, else the constraint bound's).
        column: its history column (``objective`` for the first objective, else ``outcome.<property>``).
        sign: +1 / -1: the model sees ``sign * value`` (objectives are maximized; constraint-only
            outcomes keep their sign, +1).
        objective: whether it is one of the objectives.
    """

    property: str
    unit: str
    column: str
    sign: float
    objective: bool


def outcomes(objectives, constraints) -> tuple[Outcome, ...]:
    """The outcomes of a campaign: its objectives in order, then each property only a constraint names
    (once). The one rule for history columns, used by the optimizer and the store's history table.

    Raises:
        ConfigError: an objective named twice, or a constraint bound of the wrong dimension.
    """
    out: list[Outcome] = []
    for i, o in enumerate(objectives):
        if any(x.property == o.property for x in out):
            raise ConfigError(FieldIssue("objectives", f"{o.property!r} is an objective twice; name each property once"))
        out.append(Outcome(o.property, o.unit, OBJECTIVE_COLUMN if i == 0 else OUTCOME_PREFIX + o.property, o.sign, True))
    for c in constraints:
        known = next((x for x in out if x.property == c.property), None)
        if known is None:
            out.append(Outcome(c.property, c.unit, OUTCOME_PREFIX + c.property, 1.0, False))
        else:
            c.bound_in(known.unit)
    return tuple(out)


def parse_outcome_constraint(text: object, field: str = "outcome_constraints") -> OutcomeConstraint:
    """Parse ``"name (<=|>=) quantity"``; which properties exist is checked by the caller.

    Raises:
        ConfigError: one issue naming ``field``.
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(FieldIssue(field, f"{text!r} is not an outcome constraint; {EXAMPLE}"))
    if len(text) > MAX_TEXT:
        raise ConfigError(FieldIssue(field, f"{text[:30]!r}... is {len(text)} characters long, over {MAX_TEXT}"))
    left, op, right = (part.strip() for part in split_comparison(text, field, EXAMPLE))
    if not _NAME.match(left):
        raise ConfigError(FieldIssue(field, f"{text!r}: the left-hand side must be one property name; {EXAMPLE}"))
    try:
        bound = parse_quantity(right, field)
    except ConfigError as err:
        raise ConfigError(FieldIssue(field, f"{text!r}: the bound: {err.issues[0].message}")) from err
    return OutcomeConstraint(left, op, bound, text.strip(), field)


def check_threshold(value: float, unit: str, valid: tuple[float, float] | None, field: str) -> None:
    """Refuse a threshold outside the property's physical range (``valid``: low, high in ``unit``),
    or an absolute temperature below absolute zero."""
    q = Q_(value, unit)
    if q.dimensionality == Q_(1, "kelvin").dimensionality and q.to("kelvin").magnitude < 0:
        raise ConfigError(FieldIssue(field, f"{value:g} {unit} is below absolute zero"))
    if valid is not None:
        low, high = valid
        if not low <= value <= high:
            raise ConfigError(FieldIssue(field, f"{value:g} {unit} is outside the property's physical range "
                                                f"[{low:g}, {high:g}] {unit}"))


def converted_range(spec: object, unit: str) -> tuple[float, float] | None:
    """A property's physical range (``core.system.PhysicalRange``-like: ``unit``, ``low``, ``high``) in ``unit``."""
    if not all(hasattr(spec, a) for a in ("unit", "low", "high")):
        return None
    low = float(Q_(spec.low, spec.unit).to(unit).magnitude)
    high = float(Q_(spec.high, spec.unit).to(unit).magnitude)
    return (min(low, high), max(low, high))


__all__ = ["OBJECTIVE_COLUMN", "OUTCOME_PREFIX", "Outcome", "OutcomeConstraint", "check_threshold", "converted_range", "outcomes", "parse_outcome_constraint"]
