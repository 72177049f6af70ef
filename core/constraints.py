"""Linear constraints on recipe parameters, written with units: ``"a_fraction + b_fraction <= 30 %"``.

Grammar (one string per constraint)::

    constraint := terms ("<=" | ">=") quantity
    terms      := term (("+" | "-") term)*
    term       := ["+" | "-"] [number "*"] parameter_name

The right-hand side is a quantity (``"30 %"``, ``"0.3"``, ``"0 degC"``); every term's
parameter must have its dimension. The constraint is read on the numbers each term's
value has *in the right-hand side's unit*: ``a - b <= 10 degC`` means "at most 10 degrees
apart", and ``x <= 30 %`` holds for a dimensionless ``x`` of 0.3. Only continuous
parameters may appear (their unit is known); ``core`` checks the syntax and the units,
the optimizer turns a constraint into a row of its encoded space.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field

import pint

from core.errors import ConfigError, FieldIssue, InputDataError, LimitError
from core.units import Q_, parse_quantity, unit_text

OPERATORS = ("<=", ">=")
#: Longest constraint text read from a campaign file.
MAX_CONSTRAINT_TEXT = 500
#: A recipe breaks a constraint when it misses it by more than this, relative to the size of its terms.
RELATIVE_TOLERANCE = 1e-9
EXAMPLE = "write e.g. \"additive_fraction + filler_fraction <= 30 %\" or \"2 * a - b >= 0 degC\""

_TOKEN = re.compile(r"\s*(?:(?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                    r"|(?P<op>[-+*]))")
_OPERATOR = re.compile(r"<=|>=|=<|=>|==|<|>|=|≤|≥")


@dataclass(frozen=True)
class LinearConstraint:
    """``sum(coefficients[i] * names[i]) operator rhs``, read in ``rhs``'s unit.

    Attributes:
        names: the continuous parameters in the constraint, each once.
        coefficients: one non-zero number per name.
        operator: ``"<="`` or ``">="``.
        rhs: the right-hand side, a quantity.
        text: the constraint as written (for messages).
        field: where it was written (``linear_constraints[0]``, ``system.linear_constraints[1]``).
    """

    names: tuple[str, ...]
    coefficients: tuple[float, ...]
    operator: str
    rhs: pint.Quantity
    text: str = dataclass_field(default="", compare=False)
    field: str = dataclass_field(default="linear_constraints", compare=False)

    def __post_init__(self) -> None:
        if self.operator not in OPERATORS:
            raise ConfigError(FieldIssue(self.field, f"operator {self.operator!r} is not one of {list(OPERATORS)}"))
        if not self.names or len(self.names) != len(self.coefficients):
            raise ConfigError(FieldIssue(self.field, "needs one coefficient per parameter and at least one parameter"))
        if len(set(self.names)) != len(self.names):
            raise ConfigError(FieldIssue(self.field, f"a parameter appears twice in {list(self.names)}"))
        if not all(math.isfinite(c) and c != 0 for c in self.coefficients):
            raise ConfigError(FieldIssue(self.field, f"coefficients {list(self.coefficients)} must be finite and non-zero"))
        if not self.text:
            object.__setattr__(self, "text", self._written())

    def __str__(self) -> str:
        return self.text

    def _written(self) -> str:
        parts = []
        for i, (name, c) in enumerate(zip(self.names, self.coefficients)):
            sign = "-" if c < 0 else "+"
            term = name if abs(c) == 1 else f"{abs(c):g} * {name}"
            parts.append(("-" + term if c < 0 else term) if i == 0 else f"{sign} {term}")
        unit = unit_text(self.rhs.units)
        rhs = f"{self.rhs.magnitude:g}" + ("" if unit == "dimensionless" else f" {unit}")
        return f"{' '.join(parts)} {self.operator} {rhs}"

    # ------------------------------------------------------------------ units
    def _terms(self, units: Mapping[str, str], discrete: Mapping[str, str] | None = None) -> list[tuple[float, float, float]]:
        """``(coefficient, scale, offset)`` per term: ``value in rhs unit = scale * magnitude + offset``.

        Raises:
            ConfigError: an unknown or non-continuous parameter, or a term whose unit has
                another dimension than the right-hand side (one issue naming :attr:`field`).
        """
        discrete = dict(discrete or {})
        want = self.rhs.dimensionality
        out = []
        for name, c in zip(self.names, self.coefficients):
            if name in discrete:
                raise ConfigError(FieldIssue(self.field, f"{name!r} is a {discrete[name]} parameter; only continuous "
                                                         f"parameters may appear in a linear constraint "
                                                         f"(continuous: {sorted(units)})"))
            if name not in units:
                raise ConfigError(FieldIssue(self.field, f"unknown parameter {name!r} in {self.text!r}; known "
                                                         f"continuous parameters: {sorted(units)}"))
            unit = units[name]
            have = Q_(1, unit).dimensionality
            if have != want:
                raise ConfigError(FieldIssue(self.field, f"{name} is in {unit_text(unit)} ({have}) but the right-hand "
                                                         f"side {self.shown(float(self.rhs.magnitude))} is {want}; every term must have the "
                                                         "right-hand side's dimension"))
            out.append((float(c), *_affine(unit, self.rhs.units)))
        return out

    def normal_form(self, units: Mapping[str, str], discrete: Mapping[str, str] | None = None
                    ) -> tuple[tuple[float, ...], float]:
        """The constraint as ``sum(a[i] * m[i]) <= b``, ``m[i]`` the magnitude of ``names[i]`` in ``units[names[i]]``.

        Args:
            units: continuous parameter name -> its unit.
            discrete: other parameter names -> their kind (``molecule``, ``categorical``), for the message.

        Raises:
            ConfigError: see :meth:`_terms`.
        """
        terms = self._terms(units, discrete)
        a = [c * s for c, s, _ in terms]
        b = float(self.rhs.magnitude) - sum(c * o for c, _, o in terms)
        if self.operator == ">=":
            a, b = [-x for x in a], -b
        return tuple(a), b

    def lhs(self, magnitudes: Mapping[str, float], units: Mapping[str, str]) -> float:
        """The left-hand side in the right-hand side's unit, for magnitudes in ``units``."""
        return sum(c * (s * float(magnitudes[n]) + o) for n, (c, s, o) in zip(self.names, self._terms(units)))

    def lhs_range(self, bounds: Mapping[str, tuple[float, float]], units: Mapping[str, str]) -> tuple[float, float]:
        """Least and greatest left-hand side (in the right-hand side's unit) over the box ``bounds`` (in ``units``)."""
        lo = hi = 0.0
        for n, (c, s, o) in zip(self.names, self._terms(units)):
            ends = [c * (s * float(m) + o) for m in bounds[n]]
            lo, hi = lo + min(ends), hi + max(ends)
        return lo, hi

    def shown(self, value: float) -> str:
        """A number in the right-hand side's unit as text (``35 %``)."""
        unit = unit_text(self.rhs.units)
        return f"{value:.6g}" + ("" if unit == "dimensionless" else f" {unit}")

    def violation(self, recipe: Mapping[str, object], units: Mapping[str, str]) -> str | None:
        """Why ``recipe`` (quantities, or magnitudes in ``units``) breaks the constraint, or None if it holds."""
        magnitudes = {n: _magnitude(recipe, n, units[n]) for n in self.names}
        a, b = self.normal_form(units)
        total = sum(x * magnitudes[n] for n, x in zip(self.names, a))
        scale = sum(abs(x * magnitudes[n]) for n, x in zip(self.names, a)) + abs(b)
        if total - b <= RELATIVE_TOLERANCE * max(scale, 1e-300):
            return None
        return (f"{self.field} {self.text!r}: the recipe gives {self.shown(self.lhs(magnitudes, units))}, "
                f"not {self.operator} {self.shown(float(self.rhs.magnitude))}")


def _affine(unit: str, rhs_unit: pint.Unit) -> tuple[float, float]:
    """``(scale, offset)`` with ``value in rhs_unit = scale * value in unit + offset``.

    An absolute temperature and a temperature difference do not convert into each other;
    between them only the scale is taken (``T + dT <= 200 degC``, ``a - b <= 10 delta_degC``).
    """
    try:
        offset = float(Q_(0.0, unit).to(rhs_unit).magnitude)
        return float(Q_(1.0, unit).to(rhs_unit).magnitude) - offset, offset
    except (pint.DimensionalityError, pint.OffsetUnitCalculusError):
        def size(u) -> float:
            return float(Q_(1.0, u).to_base_units().magnitude - Q_(0.0, u).to_base_units().magnitude)

        return size(unit) / size(rhs_unit), 0.0


def _magnitude(recipe: Mapping[str, object], name: str, unit: str) -> float:
    if name not in recipe:
        raise InputDataError(f"recipe is missing {name!r}; it has {sorted(recipe)}")
    value = recipe[name]
    if isinstance(value, pint.Quantity):
        return float(value.to(unit).magnitude)
    return float(value)  # a magnitude already in ``unit``


def split_comparison(text: str, field: str, example: str) -> tuple[str, str, str]:
    """``"left <= right"`` -> ``(left, "<=", right)``: exactly one comparison, ``<=`` or ``>=``.

    Raises:
        ConfigError: one issue naming ``field``: no comparison, another one (``<``, ``==``), or several.
    """
    ops = _OPERATOR.findall(text)
    if len(ops) != 1 or ops[0] not in OPERATORS:
        found = f"found {' and '.join(map(repr, ops))}" if ops else "found none"
        raise ConfigError(FieldIssue(field, f"{text!r} needs exactly one comparison, <= or >= ({found}); {example}"))
    left, right = text.split(ops[0])
    return left, ops[0], right


def parse_linear_constraint(text: object, field: str = "linear_constraints") -> LinearConstraint:
    """Parse one constraint: ``"[coef *] name (+|-) [coef *] name ... (<=|>=) quantity"``.

    Checks the syntax and the right-hand side's quantity only; which parameters exist and
    their units are checked by :meth:`LinearConstraint.normal_form`.

    Raises:
        ConfigError: one issue naming ``field``: not text, no or a wrong operator, a bad
            term, a parameter twice, a zero coefficient, a bad quantity on the right.
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(FieldIssue(field, f"{text!r} is not a linear constraint; {EXAMPLE}"))
    if len(text) > MAX_CONSTRAINT_TEXT:
        raise ConfigError(FieldIssue(field, f"{text[:30]!r}... is {len(text)} characters long, over "
                                            f"{MAX_CONSTRAINT_TEXT}"))
    left, op, right = split_comparison(text, field, EXAMPLE)
    names, coefficients = _parse_terms(left, text, field)
    try:
        rhs = parse_quantity(right.strip(), field)
    except ConfigError as err:
        raise ConfigError(FieldIssue(field, f"{text!r}: the right-hand side: {err.issues[0].message}")) from err
    return LinearConstraint(tuple(names), tuple(coefficients), op, rhs, text.strip(), field)


def _parse_terms(left: str, text: str, field: str) -> tuple[list[str], list[float]]:
    tokens = []
    pos = 0
    stripped = left.rstrip()
    while pos < len(stripped):
        match = _TOKEN.match(stripped, pos)
        if match is None:
            raise ConfigError(FieldIssue(field, f"{text!r}: unexpected {stripped[pos:].strip()[:20]!r} on the left; "
                                                f"terms are [number *] parameter joined by + or -; {EXAMPLE}"))
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    names: list[str] = []
    coefficients: list[float] = []
    i = 0
    sign = 1.0

    def bad(what: str) -> ConfigError:
        return ConfigError(FieldIssue(field, f"{text!r}: {what}; terms are [number *] parameter joined by + or -; "
                                             f"{EXAMPLE}"))

    while True:
        coef = 1.0
        if i < len(tokens) and tokens[i] in (("op", "-"), ("op", "+")):  # a signed term: -a, a + -2 * b
            sign *= -1.0 if tokens[i][1] == "-" else 1.0
            i += 1
        if i < len(tokens) and tokens[i][0] == "number":
            coef = float(tokens[i][1])
            if i + 1 >= len(tokens) or tokens[i + 1] != ("op", "*"):
                found = f" (found {tokens[i + 1][1]!r})" if i + 1 < len(tokens) else ""
                raise bad(f"the coefficient {tokens[i][1]} must be followed by '* parameter'{found}; a coefficient "
                          "is a plain number, the unit goes on the right-hand side")
            i += 2
        if i >= len(tokens) or tokens[i][0] != "name":
            raise bad("expected a parameter name" + (f" after {tokens[i - 1][1]!r}" if i else " on the left"))
        name = tokens[i][1]
        if name in names:
            raise bad(f"{name!r} appears twice; write it once with the summed coefficient")
        if coef == 0 or not math.isfinite(coef):
            raise bad(f"the coefficient of {name!r} is {coef:g}; drop the term or give a finite non-zero number")
        names.append(name)
        coefficients.append(sign * coef)
        i += 1
        if i == len(tokens):
            return names, coefficients
        if tokens[i] not in (("op", "+"), ("op", "-")):
            raise bad(f"expected + or - after {name!r}, found {tokens[i][1]!r}")
        sign = -1.0 if tokens[i][1] == "-" else 1.0
        i += 1


def check_recipe(constraints: tuple[LinearConstraint, ...] | list[LinearConstraint], recipe: Mapping[str, object],
                 units: Mapping[str, str]) -> None:
    """Refuse a recipe that breaks a constraint, before anything is made or simulated.

    Args:
        recipe: parameter name -> quantity (or magnitude in ``units``).
        units: continuous parameter name -> its unit.

    Raises:
        LimitError: naming each broken constraint, its left-hand side and the bound.
    """
    broken = [why for c in constraints if (why := c.violation(recipe, units)) is not None]
    if broken:
        raise LimitError("recipe breaks " + "; ".join(broken))


__all__ = ["OPERATORS", "LinearConstraint", "check_recipe", "parse_linear_constraint", "split_comparison"]
