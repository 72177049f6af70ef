"""``linear_constraints``: linear constraints on the continuous parameters, written with units.

```toml
linear_constraints = ["additive_fraction + filler_fraction <= 30 %", "2 * a - b >= 0 degC"]
```

The material system's own ``linear_constraints`` (``core.MaterialSystem``) are added to the
campaign's. Each is checked when the campaign file is loaded: its syntax, that it names
continuous parameters of the campaign, that their units have the right-hand side's
dimension, and that all of them together leave room for recipes within the parameters'
bounds. Each problem is one line naming the field (``linear_constraints[0]``,
``system.linear_constraints[1]``).
"""

from __future__ import annotations

from typing import Any

from core import (
    ConfigError,
    ContinuousParameter,
    FieldIssue,
    LinearConstraint,
    Parameter,
    parse_linear_constraint,
)
from core.constraints import check_recipe
from core.system import MaterialSystem

FIELD = "linear_constraints"


def parse_linear_constraints(raw: Any, parameters: list[Parameter] | None,
                             system: MaterialSystem | None) -> tuple[LinearConstraint, ...]:
    """The campaign's ``linear_constraints`` and its material system's, checked against the parameters.

    Args:
        raw: the campaign file's ``linear_constraints`` (None when absent).
        parameters: the validated parameters (None when they have errors: then only the
            syntax is checked).
        system: the loaded material system, or None.

    Raises:
        ConfigError: every problem, each naming its field: bad syntax, an unknown or
            non-continuous parameter, a wrong dimension, or constraints that no recipe within
            the bounds meets.
    """
    issues: list[FieldIssue] = []
    written: list[tuple[str, Any]] = []
    if raw is not None:
        if not isinstance(raw, list):
            issues.append(FieldIssue(FIELD, f"{raw!r} must be a list of strings, e.g. "
                                            "linear_constraints = [\"additive_fraction + filler_fraction <= 30 %\"]"))
        else:
            written += [(f"{FIELD}[{i}]", text) for i, text in enumerate(raw)]
    if system is not None:
        written += [(f"system.{FIELD}[{i}]", text) for i, text in enumerate(system.linear_constraints)]
    parsed: list[LinearConstraint] = []
    for field, text in written:
        try:
            parsed.append(parse_linear_constraint(text, field))
        except ConfigError as err:
            issues.extend(err.issues)
    if parameters is None:
        if issues:
            raise ConfigError(issues)
        return tuple(parsed)
    units = {p.name: p.unit for p in parameters if isinstance(p, ContinuousParameter)}
    discrete = {p.name: p.kind for p in parameters if not isinstance(p, ContinuousParameter)}
    valid = []
    for c in parsed:
        try:
            c.normal_form(units, discrete)
            valid.append(c)
        except ConfigError as err:
            issues.extend(err.issues)
    if issues:
        raise ConfigError(issues)
    if valid:
        check_feasible(valid, parameters)
    return tuple(valid)


def check_feasible(constraints: list[LinearConstraint], parameters: list[Parameter]) -> None:
    """Some recipe within the parameters' bounds must meet every constraint, with room to search
    (a set as thin as an equality or a single point cannot be sampled). A constraint that every
    recipe of the box meets is fine.

    Raises:
        ConfigError: one issue naming the constraint (``linear_constraints[i]``), or
            ``linear_constraints`` naming each of a smallest set that cannot hold together.
    """
    from optimizers.constraints import chebyshev_center, culprits, unit_box_rows  # noqa: PLC0415 - scipy on demand

    G, h = unit_box_rows(constraints, parameters)
    rows = culprits(G, h)
    if not rows:
        return
    empty = chebyshev_center(G[rows], h[rows])[0] is None
    chosen = [constraints[i] for i in rows]
    continuous = {p.name: p for p in parameters if isinstance(p, ContinuousParameter)}
    names = sorted({n for c in chosen for n in c.names}, key=list(continuous).index)
    box = ", ".join(f"{n} {continuous[n].low:~P} to {continuous[n].high:~P}" for n in names)
    if len(chosen) == 1:
        c = chosen[0]
        units = {n: p.unit for n, p in continuous.items()}
        bounds = {n: (p.low_magnitude, p.high_magnitude) for n, p in continuous.items()}
        lo, hi = c.lhs_range(bounds, units)
        if empty:
            message = (f"{c.text!r} holds for no recipe within the parameters' bounds ({box}): its left-hand side "
                       f"ranges from {c.shown(lo)} to {c.shown(hi)} there; loosen it or widen the bounds")
        else:
            edge = c.shown(lo if c.operator == "<=" else hi)
            message = (f"{c.text!r} leaves only the edge of the parameters' bounds ({box}) where its left-hand side "
                       f"is {edge}: a set that thin cannot be searched; loosen it (or fix the parameter by its bounds)")
        raise ConfigError(FieldIssue(c.field, message))
    listed = " and ".join(f"{c.field} {c.text!r}" for c in chosen)
    if empty:
        message = (f"no recipe within the parameters' bounds ({box}) satisfies {listed} together; loosen one of "
                   "them or widen the bounds")
    else:
        message = (f"{listed} together leave only a flat sliver of the parameters' bounds ({box}), an equality or "
                   "a single point, too thin to search; loosen one of them (an equality needs a tolerance)")
    raise ConfigError(FieldIssue(FIELD, message))


def check_recipe_constraints(constraints: tuple[LinearConstraint, ...], parameters: tuple[Parameter, ...],
                             recipe: dict[str, Any]) -> None:
    """Refuse a recipe that breaks a constraint (``core.LimitError`` naming each broken one)."""
    units = {p.name: p.unit for p in parameters if isinstance(p, ContinuousParameter)}
    check_recipe(constraints, recipe, units)
