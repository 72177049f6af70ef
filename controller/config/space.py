"""``system``, ``[parameters]`` and ``[fidelities]``: what is searched, measured and where."""

from __future__ import annotations

from typing import Any
from core import (
    CategoricalParameter,
    ConfigError,
    ContinuousParameter,
    FieldIssue,
    Fidelity,
    MoleculeParameter,
    Parameter,
    parse_quantity,
)
from controller.config.names import identifier_issue, label_issue
from core.space import FIDELITY_KINDS, MAX_STATIONS
from core.system import MOLECULE, SIMULATORS_GROUP, SYSTEMS_GROUP, MaterialSystem, installed, load_reference, load_system
from core.units import Q_, parse_unit, unit_text


#: Cost units: a budget or a fidelity's cost outside these is a typo, not a campaign.
MIN_COST, MAX_COST = 1e-6, 1e9
#: The longest a robot run may be expected to take (a watchdog multiplies it).
MAX_DURATION_S = 30 * 86400.0
#: The longest SMILES a molecule choice may have (rdkit's parsing grows fast with length).
MAX_SMILES = 500

#: A campaign of no material system: any parameters and property, answered by a recorded table.
GENERIC = "generic"


def resolve_system(ref: Any) -> MaterialSystem | None:
    """The campaign file's ``system``: an installed system's name, a ``module:attribute``
    reference, or ``"generic"`` (None: no system, backtests on recorded tables only).

    Raises:
        ConfigError: missing, unknown, not loadable or malformed (one line naming the part).
    """
    if ref is None:
        raise ConfigError(FieldIssue("system", f"missing: name the material system; installed: "
                                               f"{installed(SYSTEMS_GROUP)}, or a module:attribute reference, "
                                               f"or \"{GENERIC}\" for a recorded table"))
    if ref == GENERIC:
        return None
    return load_system(ref)

def require_table(value: Any, field_name: str, example: str) -> dict[str, Any]:
    if value is None:
        raise ConfigError(FieldIssue(field_name, f"missing; add a [{field_name}] table, e.g. {example}"))
    if not isinstance(value, dict):
        raise ConfigError(FieldIssue(field_name, f"must be a table, got {type(value).__name__}"))
    return value

def system_parameters(system: MaterialSystem) -> dict[str, tuple[str, float, float] | None]:
    """The recipe keys a material system needs: name -> (unit, physical low, high), or None
    for a molecule parameter."""
    return {name: None if spec == MOLECULE else (spec.unit, spec.low, spec.high)
            for name, spec in system.parameters.items()}


def parse_parameters(raw: Any, system: MaterialSystem | None) -> list[Parameter]:
    table = require_table(raw, "parameters", 'cure_temperature = {low = "60 degC", high = "180 degC"}')
    if not table:
        raise ConfigError(FieldIssue("parameters", "needs at least one parameter"))
    expected = system_parameters(system) if system else {}
    out: list[Parameter] = []
    issues: list[FieldIssue] = []
    for name in sorted(set(expected) - set(table)):
        issues.append(FieldIssue(f"parameters.{name}", f"missing: the {system.name} system needs parameters {sorted(expected)}"))
    for name, spec in table.items():
        where = f"parameters.{name}"
        if (issue := identifier_issue(name, where, "parameter")) is not None:
            issues.append(issue)
            continue
        if expected and name not in expected:
            issues.append(FieldIssue(where, f"not a parameter of the {system.name} system; allowed: {sorted(expected)}"))
            continue
        want_kind = "molecule" if name in expected and expected[name] is None else ("continuous" if name in expected else None)
        got_kind = spec.get("type", "continuous" if isinstance(spec, dict) and ("low" in spec or "high" in spec) else None) if isinstance(spec, dict) else None
        if want_kind and got_kind != want_kind:
            issues.append(FieldIssue(f"{where}.type", f"{got_kind!r}: the {system.name} system needs {name} to be {want_kind!r}"))
            continue
        try:
            p = _parameter(name, spec, where, like=expected[name][0] if expected.get(name) else None)
            if expected.get(name) and isinstance(p, ContinuousParameter):
                unit, lo, hi = expected[name]
                for side, q in (("low", p.low), ("high", p.high)):
                    m = float(q.to(unit).magnitude)
                    if not lo <= m <= hi:
                        issues.append(FieldIssue(f"{where}.{side}", f"{q:~} is outside what the models accept: "
                                                 f"{Q_(lo, unit).to(p.unit):~} to {Q_(hi, unit).to(p.unit):~}"))
            out.append(p)
        except ConfigError as err:
            issues.extend(err.issues)
    if issues:
        raise ConfigError(issues)
    return out

def _parameter(name: str, spec: Any, where: str, like: str | None = None) -> Parameter:
    if not isinstance(spec, dict):
        raise ConfigError(FieldIssue(where, "must be a table like {low = \"60 degC\", high = \"180 degC\"}"))
    kind = spec.get("type", "continuous" if "low" in spec or "high" in spec else None)
    if kind == "continuous":
        issues = []
        for side in ("low", "high"):
            if side not in spec:
                issues.append(FieldIssue(f"{where}.{side}", "missing bound, e.g. \"60 degC\""))
        extra = set(spec) - {"type", "low", "high", "unit"}
        issues += [FieldIssue(f"{where}.{k}", "unknown field; allowed: type, low, high, unit") for k in sorted(extra)]
        if issues:
            raise ConfigError(issues)
        low = parse_quantity(spec["low"], f"{where}.low", like=like)
        unit = parse_unit(spec.get("unit", unit_text(low.units)), f"{where}.unit")
        high = parse_quantity(spec["high"], f"{where}.high", like=unit)
        low = parse_quantity(spec["low"], f"{where}.low", like=unit)
        return ContinuousParameter(name=name, low=low, high=high, unit=unit)
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            raise ConfigError(FieldIssue(f"{where}.choices", "must be a list of strings"))
        bad = [issue for c in choices if (issue := label_issue(c, f"{where}.choices", "choice")) is not None]
        if bad:
            raise ConfigError(bad)
        return CategoricalParameter(name=name, choices=tuple(choices))
    if kind == "molecule":
        choices = spec.get("choices")
        if not isinstance(choices, dict) or not all(isinstance(v, str) for v in choices.values()):
            raise ConfigError(FieldIssue(f"{where}.choices", "must be a table of label = \"SMILES\""))
        bad = [issue for label in choices if (issue := label_issue(label, f"{where}.choices", "label")) is not None]
        bad += [FieldIssue(f"{where}.choices.{label}", f"a SMILES of {len(s)} characters; at most {MAX_SMILES}")
                for label, s in choices.items() if len(s) > MAX_SMILES]
        if bad:
            raise ConfigError(bad)
        return _molecule_parameter(name, spec, where, dict(choices))
    raise ConfigError(
        FieldIssue(f"{where}.type", f"{kind!r} is not one of 'continuous' (with low/high), 'categorical', 'molecule'")
    )

def _molecule_parameter(name: str, spec: dict, where: str, choices: dict) -> MoleculeParameter:
    """``featurization`` (descriptors | morgan | both), ``descriptors``, ``morgan_radius``, ``morgan_bits``."""
    from core import InputDataError
    from optimizers.featurize import MORGAN_BITS, MORGAN_RADIUS, check_settings

    descriptors = spec.get("descriptors")
    radius = spec.get("morgan_radius", MORGAN_RADIUS)
    n_bits = spec.get("morgan_bits", MORGAN_BITS)
    if descriptors is not None and (not isinstance(descriptors, list) or not all(isinstance(d, str) for d in descriptors)):
        raise ConfigError(FieldIssue(f"{where}.descriptors", f"{descriptors!r} must be a list of rdkit descriptor names"))
    try:
        check_settings(descriptors, radius, n_bits, where)
    except InputDataError as err:
        key, _, message = str(err).partition(": ")
        raise ConfigError(FieldIssue(key, message)) from err
    return MoleculeParameter(name=name, choices=choices, featurization=spec.get("featurization", "descriptors"),
                             descriptors=tuple(descriptors) if descriptors is not None else None,
                             morgan_radius=radius, morgan_bits=n_bits)

def parse_fidelities(raw: Any) -> list[Fidelity]:
    table = require_table(raw, "fidelities", '[fidelities.robot] kind = "robot", cost = 40, target = true')
    issues: list[FieldIssue] = []
    specs = []
    for name, spec in table.items():
        where = f"fidelities.{name}"
        if (issue := identifier_issue(name, where, "fidelity")) is not None:
            issues.append(issue)
            continue
        if not isinstance(spec, dict):
            issues.append(FieldIssue(where, "must be a table with kind and cost"))
            continue
        extra = set(spec) - {"kind", "cost", "model", "target", "value", "expected_duration", "stations"}
        issues += [FieldIssue(f"{where}.{k}", "unknown field; allowed: kind, cost, model, target, value, expected_duration, "
                                              "stations") for k in sorted(extra)]
        kind = spec.get("kind")
        cost = spec.get("cost")
        if kind not in FIDELITY_KINDS:
            issues.append(FieldIssue(f"{where}.kind", f"{kind!r} is not one of {', '.join(map(repr, FIDELITY_KINDS))}"))
        if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not MIN_COST <= cost <= MAX_COST:
            issues.append(FieldIssue(f"{where}.cost", f"{cost!r} must be a number of cost units from {MIN_COST:g} "
                                                      f"to {MAX_COST:g}"))
        if kind == "simulator":
            model = spec.get("model")
            if not isinstance(model, str):
                issues.append(FieldIssue(f"{where}.model", "missing: the simulator model: an installed name or a module:attribute reference"))
        stations = spec.get("stations", 1)
        if isinstance(stations, bool) or not isinstance(stations, int) or not 1 <= stations <= MAX_STATIONS:
            issues.append(FieldIssue(f"{where}.stations", f"{stations!r} must be a whole number from 1 to {MAX_STATIONS}"))
        elif stations > 1 and kind != "robot":
            issues.append(FieldIssue(f"{where}.stations", f"only a robot fidelity has stations; this one is {kind!r}"))
        duration = None
        if "expected_duration" in spec:
            try:
                duration = parse_quantity(spec["expected_duration"], f"{where}.expected_duration", like="s")
                if not 0 < duration.to("s").magnitude <= MAX_DURATION_S:
                    issues.append(FieldIssue(f"{where}.expected_duration", f"{spec['expected_duration']!r} must be "
                                                                          "positive and at most 30 days"))
                    duration = None
            except ConfigError as err:
                issues.extend(err.issues)
        specs.append((name, spec, duration))
    for name, spec, _ in specs:
        if "target" in spec and not isinstance(spec["target"], bool):
            issues.append(FieldIssue(f"fidelities.{name}.target", f"{spec['target']!r} must be true or false"))
        if "value" in spec:
            v = spec["value"]
            ok = not isinstance(v, bool) and isinstance(v, (int, float)) and (0 < v < 1 or (v == 1 and spec.get("target") is True))
            if not ok:
                issues.append(FieldIssue(f"fidelities.{name}.value", f"{v!r} must be a number in (0, 1); only the target has 1"))
    values = [spec["value"] for _, spec, _ in specs if isinstance(spec.get("value"), (int, float))]
    if len(values) != len(set(values)):
        issues.append(FieldIssue("fidelities", f"two fidelities share a value in {values}; each needs its own"))
    targets = [name for name, spec, _ in specs if spec.get("target") is True]
    if len(targets) != 1:
        issues.append(FieldIssue("fidelities", f"exactly one fidelity must have target = true; found {targets or 'none'}"))
    if issues:
        raise ConfigError(issues)
    # Fidelity values: the target is 1; others in order of cost, unless given.
    ordered = sorted((s for s in specs if not s[1].get("target")), key=lambda s: s[1]["cost"])
    out = []
    for rank, (name, spec, duration) in enumerate(ordered):
        value = spec.get("value", round(0.5 + 0.4 * rank / max(len(ordered) - 1, 1), 4) if len(ordered) > 1 else 0.75)
        out.append(Fidelity(name, spec["kind"], float(spec["cost"]), float(value), False, spec.get("model"), duration,
                            spec.get("stations", 1)))
    for name, spec, duration in specs:
        if spec.get("target"):
            out.append(Fidelity(name, spec["kind"], float(spec["cost"]), float(spec.get("value", 1.0)), True, spec.get("model"),
                                duration, spec.get("stations", 1)))
    if out[-1].value != 1.0:
        raise ConfigError(FieldIssue(f"fidelities.{out[-1].name}.value", "the target fidelity's value must be 1"))
    _check_models(out)
    return out

def _check_models(fidelities: list[Fidelity]) -> None:
    from simulators.registry import available_models, is_known_model

    issues = []
    for f in fidelities:
        if f.kind != "simulator":
            continue
        where = f"fidelities.{f.name}.model"
        if not is_known_model(f.model):
            issues.append(FieldIssue(where, f"unknown simulator {f.model!r}; installed: {available_models()} "
                                            "(or a module:attribute reference, e.g. \"mylab.sims:Coarse\")"))
        elif ":" in f.model:
            try:  # a lab's reference must import now, not in a worker halfway through the campaign
                load_reference(f.model, SIMULATORS_GROUP, where, "simulator model")
            except ConfigError as err:
                issues.extend(err.issues)
    if issues:
        raise ConfigError(issues)
