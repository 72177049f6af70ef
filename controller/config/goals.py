"""``[objective]`` or ``[[objectives]]``, and ``outcome_constraints``: what the campaign aims at.

One objective (as before)::

    [objective]
    property = "glass_transition_temperature"
    unit = "degC"
    direction = "maximize"

Several objectives, each with an optional threshold (the worst acceptable value, also the
hypervolume reference point), and constraints on measured outcomes::

    outcome_constraints = ["fracture_toughness >= 0.8 MPa*m**0.5"]

    [[objectives]]
    property = "glass_transition_temperature"
    unit = "degC"
    direction = "maximize"
    threshold = "120 degC"

    [[objectives]]
    property = "fracture_toughness"
    unit = "MPa*m**0.5"
    direction = "maximize"

Every problem is one line naming the field (``objectives[1].threshold``,
``outcome_constraints[0]``): an unknown property, a unit of the wrong dimension, a threshold
outside the property's physical range, a property named twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from controller.config.names import identifier_issue
from core import (
    ConfigError,
    FieldIssue,
    Objective,
    OutcomeConstraint,
    parse_outcome_constraint,
    parse_quantity,
)
from core.goals import check_threshold, converted_range
from core.system import MaterialSystem
from core.units import Q_, parse_unit

OBJECTIVE_FIELDS = ("property", "unit", "direction", "threshold")
EXAMPLE = 'property = "glass_transition_temperature", unit = "degC", direction = "maximize"'
#: More objectives than this make the hypervolume (and people's reading of a front) impractical.
MAX_OBJECTIVES = 4
MAX_OUTCOME_CONSTRAINTS = 16


@dataclass(frozen=True)
class Goals:
    """The campaign's objectives (the first is *the* objective of single-objective views) and
    outcome constraints."""

    objectives: tuple[Objective, ...]
    outcome_constraints: tuple[OutcomeConstraint, ...] = ()


def parse_goals(raw: dict[str, Any], material: MaterialSystem | None) -> Goals:
    """Read ``objective`` / ``objectives`` and ``outcome_constraints`` and check them against the system.

    Raises:
        ConfigError: every problem, each naming its field.
    """
    issues: list[FieldIssue] = []
    single, several = raw.get("objective"), raw.get("objectives")
    objectives: list[Objective] = []
    if single is not None and several is not None:
        issues.append(FieldIssue("objectives", "give either one [objective] table or [[objectives]] tables, not both"))
    elif several is not None:
        if not isinstance(several, list) or not several:
            issues.append(FieldIssue("objectives", f"must be one or more [[objectives]] tables, e.g. {{{EXAMPLE}}}"))
        elif len(several) > MAX_OBJECTIVES:
            issues.append(FieldIssue("objectives", f"{len(several)} objectives; at most {MAX_OBJECTIVES} are supported"))
        else:
            for i, table in enumerate(several):
                objectives += _collect(issues, _parse_objective, table, f"objectives[{i}]", material)
    elif single is None:
        issues.append(FieldIssue("objective", f"missing; add an [objective] table, e.g. {EXAMPLE}, "
                                              "or [[objectives]] tables"))
    else:
        objectives += _collect(issues, _parse_objective, single, "objective", material)
    seen: dict[str, str] = {}
    for i, o in enumerate(objectives):
        where = f"objectives[{i}].property" if several is not None else "objective.property"
        if o.property in seen:
            issues.append(FieldIssue(where, f"{o.property!r} is already an objective; name each property once"))
        seen[o.property] = o.unit
    constraints: list[OutcomeConstraint] = []
    raw_constraints = raw.get("outcome_constraints")
    if raw_constraints is not None:
        if not isinstance(raw_constraints, list):
            issues.append(FieldIssue("outcome_constraints", f"{raw_constraints!r} must be a list of strings, e.g. "
                                                            "outcome_constraints = [\"fracture_toughness >= 0.8 MPa*m**0.5\"]"))
        elif len(raw_constraints) > MAX_OUTCOME_CONSTRAINTS:
            issues.append(FieldIssue("outcome_constraints", f"{len(raw_constraints)} constraints; at most "
                                                            f"{MAX_OUTCOME_CONSTRAINTS}"))
        else:
            for i, text in enumerate(raw_constraints):
                constraints += _collect(issues, _parse_constraint, text, f"outcome_constraints[{i}]", material, seen)
    if issues:
        raise ConfigError(issues)
    return Goals(tuple(objectives), tuple(constraints))


def _collect(issues: list[FieldIssue], fn, *args) -> list:
    try:
        return [fn(*args)]
    except ConfigError as err:
        issues.extend(err.issues)
        return []


def _parse_objective(table: Any, where: str, material: MaterialSystem | None) -> Objective:
    if not isinstance(table, dict):
        raise ConfigError(FieldIssue(where, f"must be a table, got {type(table).__name__}; e.g. {{{EXAMPLE}}}"))
    issues = []
    prop = table.get("property")
    if not isinstance(prop, str) or not prop:
        issues.append(FieldIssue(f"{where}.property", "missing: the property to optimize, e.g. \"glass_transition_temperature\""))
    elif (issue := identifier_issue(prop, f"{where}.property", "property")) is not None:
        issues.append(issue)
    unit = table.get("unit", "dimensionless")
    try:
        unit = parse_unit(unit, f"{where}.unit")
    except ConfigError as err:
        issues.extend(err.issues)
        unit = None
    direction = table.get("direction", "maximize")
    if direction not in ("maximize", "minimize"):
        issues.append(FieldIssue(f"{where}.direction", f"{direction!r} is not one of 'maximize', 'minimize'"))
    extra = set(table) - set(OBJECTIVE_FIELDS)
    issues += [FieldIssue(f"{where}.{k}", f"unknown field; allowed: {', '.join(OBJECTIVE_FIELDS)}") for k in sorted(extra)]
    if not issues and material is not None:
        issues += _property_issues(prop, unit, material, where, "unit")
    threshold = None
    if "threshold" in table and not issues:
        try:
            q = parse_quantity(table["threshold"], f"{where}.threshold", like=unit)
            threshold = float(q.to(unit).magnitude)
            valid = converted_range(material.properties[prop], unit) if material is not None else None
            check_threshold(threshold, unit, valid, f"{where}.threshold")
        except ConfigError as err:
            issues.extend(err.issues)
    if issues:
        raise ConfigError(issues)
    return Objective(property=prop, unit=unit, direction=direction, threshold=threshold)


def _property_issues(prop: str, unit: str, material: MaterialSystem, where: str, unit_field: str) -> list[FieldIssue]:
    if prop not in material.properties:
        return [FieldIssue(f"{where}.property" if unit_field == "unit" else where,
                           f"{prop!r} is not measured in the {material.name} system; allowed: {sorted(material.properties)}")]
    declared = material.property_unit(prop)
    try:
        Q_(1, declared).to(unit)
        return []
    except Exception:  # noqa: BLE001 - pint: another dimension, or absolute vs difference temperature
        return [FieldIssue(f"{where}.{unit_field}" if unit_field == "unit" else where,
                           f"{unit!r} does not fit {prop}; use a unit like {declared!r}")]


def _parse_constraint(text: Any, where: str, material: MaterialSystem | None,
                      objective_units: dict[str, str]) -> OutcomeConstraint:
    c = parse_outcome_constraint(text, where)
    if material is not None:
        issues = _property_issues(c.property, c.unit, material, where, "bound")
        if issues:
            raise ConfigError(FieldIssue(where, f"{c.text!r}: {issues[0].message}"))
    unit = objective_units.get(c.property) or (material.property_unit(c.property) if material is not None else c.unit)
    bound = c.bound_in(unit)
    valid = converted_range(material.properties[c.property], unit) if material is not None else None
    check_threshold(bound, unit, valid, where)
    return c


__all__ = ["Goals", "parse_goals"]
