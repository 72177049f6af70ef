"""Campaign files (TOML) -> frozen, validated :class:`CampaignConfig`.

Validation collects every problem and raises one :class:`core.ConfigError` that
names each field and what is allowed, before anything runs. See
``configs/thermoset_dryrun.toml`` for a complete, commented example.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pint

from core import (
    CategoricalParameter,
    ConfigError,
    ContinuousParameter,
    FieldIssue,
    Fidelity,
    MoleculeParameter,
    Objective,
    Parameter,
    SDLError,
    parse_quantity,
)
from core.space import FIDELITY_KINDS
from core.units import Q_, unit_text

DEFAULT_STORE = "runs/sdl.sqlite"
STRATEGIES = ("multi_fidelity", "single_fidelity", "random", "sobol")
TOP_LEVEL_KEYS = {
    "name", "description", "seed", "budget", "store", "system", "objective",
    "parameters", "fidelities", "optimizer", "devices", "scheduler", "retry", "backtest", "control",
}
SYSTEMS = ("thermoset_blend", "generic")  # generic: any parameters and property (backtests on recorded tables)


@dataclass(frozen=True)
class OptimizerSettings:
    """How suggestions are made.

    Attributes:
        strategy: one of ``multi_fidelity``, ``single_fidelity``, ``random``, ``sobol``.
        initial_design: fidelity name -> number of space-filling samples before the model.
        physics: what the model takes from a simulator (``optimizers.physics``): ``"none"``,
            ``"features"`` (its structure features as extra inputs), ``"prior_mean"`` (its
            prediction as the GP's prior mean) or ``"sim_input"`` (its prediction as an input).
        physics_model: the simulator asked (default: the cheapest simulator fidelity's model).
        physics_features: structure features used in ``features`` mode (None: all it returns).
    """

    strategy: str = "multi_fidelity"
    initial_design: dict[str, int] = field(default_factory=dict, hash=False)
    physics: str = "none"
    physics_model: str | None = None
    physics_features: tuple[str, ...] | None = None


@dataclass(frozen=True)
class DeviceSettings:
    """The synthesis line used by the robot fidelity.

    Attributes:
        dry_run: True runs the simulated twins; False is refused until real hardware is configured.
        speedup: simulated time runs this many times faster than wall time (dry runs).
        batch_mass: total mass of one film batch.
        limits: setpoint path (e.g. ``oven.temperature``) -> (low, high) overriding the line's defaults.
        watchdog_factor: a device action taking longer than this many times its expected
            duration is stopped and reported as a ``watchdog`` fault.
        faults: simulated device faults to inject in dry runs (``devices.FaultSpec``), seeded.
        executor: who runs the robot's plans: ``local`` (a RunEngine in the controller) or
            ``queueserver`` (a bluesky-queueserver RE Manager, see ``controller.execution.queueserver``).
        qserver_control: RE Manager's 0MQ control address (executor ``queueserver``).
        qserver_data: the 0MQ proxy output where RE Manager's documents arrive.
        transport: ``sim`` (in-process twins) or ``epics`` (the line's Ophyd EPICS devices over
            Channel Access, see ``devices.epics``; ``python -m devices.ioc`` serves the twins).
        ioc_prefix: PV prefix of the line's IOC (transport ``epics``).
        ca_addr_list, ca_server_port: EPICS_CA_ADDR_LIST / EPICS_CA_SERVER_PORT to set, or None
            to keep the environment's.
        connection_timeout: how long to wait for the IOC's PVs to connect.
    """

    dry_run: bool = True
    speedup: float = 2000.0
    batch_mass: pint.Quantity = field(default_factory=lambda: Q_(10.0, "g"))
    limits: dict[str, tuple[pint.Quantity, pint.Quantity]] = field(default_factory=dict, hash=False)
    watchdog_factor: float = 3.0
    faults: tuple = ()
    executor: str = "local"
    qserver_control: str = "tcp://127.0.0.1:60615"
    qserver_data: str = "tcp://127.0.0.1:5568"
    transport: str = "sim"
    ioc_prefix: str = "SDL:"
    ca_addr_list: str | None = None
    ca_server_port: int | None = None
    connection_timeout: pint.Quantity = field(default_factory=lambda: Q_(10.0, "s"))


@dataclass(frozen=True)
class RetryPolicy:
    """What to do when a robot run fails with a device fault.

    Attributes:
        retries: further attempts at the same recipe after the first (0 = never retry).
        backoff: lab time to wait before the first retry; doubles with each further retry
            (divided by the speed-up in dry runs).
        retryable: fault kinds worth retrying (others fail the sample at once).
    """

    retries: int = 2
    backoff: pint.Quantity = field(default_factory=lambda: Q_(1.0, "min"))
    retryable: tuple[str, ...] = ("timeout", "fail", "disconnect", "watchdog", "nan_reading")


@dataclass(frozen=True)
class SchedulerSettings:
    """Parallelism of the loop.

    Attributes:
        simulation_workers: simulations kept in flight alongside the robot; with the default
            local Dask cluster (or ``backend = "processes"``), also its number of worker processes.
        backend: where simulations run: ``"dask"`` (a ``dask.distributed`` cluster) or
            ``"processes"`` (a local process pool).
        dask_scheduler: address (``tcp://host:port``) of an existing Dask scheduler; None
            starts a LocalCluster on this machine.
    """

    simulation_workers: int = 2
    backend: str = "dask"
    dask_scheduler: str | None = None

    @property
    def local_simulation_workers(self) -> int:
        """Simulation processes on this machine (none when an existing Dask scheduler runs them)."""
        return 0 if self.dask_scheduler else self.simulation_workers


@dataclass(frozen=True)
class ControlSettings:
    """What the operator must decide, and how control requests are authorized.

    Attributes:
        approval: fidelities whose runs wait at the approval gate until an operator
            approves or rejects them (e.g. ``["robot"]``); empty = fully autonomous.
        token: the control token for `sdl serve` (pause/resume/stop/approve). Prefer
            ``$SDL_CONTROL_TOKEN``, which overrides it and keeps it out of the store.
    """

    approval: tuple[str, ...] = ()
    token: str | None = field(default=None, repr=False)

    def needs_approval(self, fidelity: str) -> bool:
        return fidelity in self.approval


@dataclass(frozen=True)
class BacktestSettings:
    """``[backtest]``: run the campaign against a recorded table (``sdl backtest``).

    Attributes:
        table: path of the CSV / Parquet file (relative paths are taken from the campaign file's folder).
        mode: ``discrete`` (the rows are the candidates) or ``continuous`` (a GP fitted to the
            table answers any recipe).
        columns: fidelity name -> property column of the table.
        cost_columns: fidelity name -> column of recorded costs (the fidelity's cost otherwise).
        units: column -> unit, for headers without ``[unit]``.
        noise: continuous mode: add Gaussian noise of the emulator's fitted noise level.
        methods: strategies compared (default: the campaign's, ``single_fidelity``, ``random``).
    """

    table: str
    mode: str = "discrete"
    columns: dict[str, str] = field(default_factory=dict, hash=False)
    cost_columns: dict[str, str] = field(default_factory=dict, hash=False)
    units: dict[str, str] = field(default_factory=dict, hash=False)
    noise: bool = False
    methods: tuple[str, ...] = ()


@dataclass(frozen=True)
class CampaignConfig:
    """A whole campaign, validated. Build it with :func:`load_config` or :func:`config_from_dict`."""

    name: str
    seed: int
    budget: float
    store: str
    system: str
    objective: Objective
    parameters: tuple[Parameter, ...]
    fidelities: tuple[Fidelity, ...]
    optimizer: OptimizerSettings
    devices: DeviceSettings
    scheduler: SchedulerSettings
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    backtest: BacktestSettings | None = None
    control: ControlSettings = field(default_factory=ControlSettings)
    description: str = ""
    source: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)

    @property
    def target(self) -> Fidelity:
        return next(f for f in self.fidelities if f.target)

    def fidelity(self, name: str) -> Fidelity:
        for f in self.fidelities:
            if f.name == name:
                return f
        raise ConfigError(FieldIssue("fidelity", f"unknown fidelity {name!r}; allowed: {[f.name for f in self.fidelities]}"))

    def parameter(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def fingerprint(self) -> str:
        """Hash of what defines the campaign's data (space, objective, fidelities): a store
        written under another fingerprint belongs to a different campaign."""
        essential = {k: self.raw.get(k) for k in ("name", "objective", "parameters", "fidelities", "system")}
        text = json.dumps(essential, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_json(self) -> str:
        from controller.records.store import redact

        raw = {**self.raw, "store": redact(self.raw["store"])} if isinstance(self.raw.get("store"), str) else self.raw
        return json.dumps(raw, sort_keys=True, default=str)  # kept in the store: never with its password


def load_config(path: str | Path) -> CampaignConfig:
    """Read and validate a campaign file.

    Raises:
        ConfigError: the file is missing, is not TOML, or any field is invalid (all listed).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise ConfigError(FieldIssue("config", f"file {str(path)!r} does not exist"), source=str(path)) from err
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(FieldIssue("config", f"cannot read {str(path)!r}: {err}"), source=str(path)) from err
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(FieldIssue("config", f"malformed TOML: {err}"), source=str(path)) from err
    return config_from_dict(raw, source=str(path))


def config_from_dict(raw: dict[str, Any], source: str | None = None) -> CampaignConfig:
    """Validate an already-parsed campaign mapping (same rules as :func:`load_config`)."""
    issues: list[FieldIssue] = []

    def collect(fn, *args):
        try:
            return fn(*args)
        except ConfigError as err:
            issues.extend(err.issues)
            return None

    for key in sorted(set(raw) - TOP_LEVEL_KEYS):
        issues.append(FieldIssue(key, f"unknown field; allowed top-level fields: {sorted(TOP_LEVEL_KEYS)}"))

    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        issues.append(FieldIssue("name", "missing: give the campaign a name, e.g. name = \"thermoset-tg\""))
        name = ""
    elif not all(c.isalnum() or c in "-_." for c in name):
        issues.append(FieldIssue("name", f"{name!r} may only contain letters, digits, '-', '_' and '.'"))

    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        issues.append(FieldIssue("seed", f"{seed!r} must be a non-negative integer"))
        seed = 0

    budget = raw.get("budget")
    if budget is None:
        issues.append(FieldIssue("budget", "missing: the campaign's budget in cost units, e.g. budget = 200"))
        budget = 0.0
    elif isinstance(budget, bool) or not isinstance(budget, (int, float)) or not math.isfinite(budget) or budget <= 0:
        issues.append(FieldIssue("budget", f"{budget!r} must be a positive number of cost units"))
        budget = 0.0

    store = raw.get("store", DEFAULT_STORE)
    if not isinstance(store, str) or not store:
        issues.append(FieldIssue("store", f"{store!r} must be a SQLite file path or a database URL "
                                          "(sqlite:///PATH, postgresql://USER@HOST:PORT/DATABASE)"))
        store = DEFAULT_STORE
    else:
        from controller.records.store import StoreLocation
        from core import StoreError

        try:
            StoreLocation.parse(store)
        except StoreError as err:
            issues.append(FieldIssue("store", str(err).removeprefix("store ")))
            store = DEFAULT_STORE

    system = raw.get("system", "thermoset_blend")
    if system not in SYSTEMS:
        issues.append(FieldIssue("system", f"{system!r} is not a known material system; allowed: {list(SYSTEMS)}"))

    objective = collect(_objective, raw.get("objective"))
    if objective is not None and system in SYSTEM_PROPERTIES:
        collect(_check_objective, objective, system)
    parameters = collect(_parameters, raw.get("parameters"), system if system in SYSTEM_PROPERTIES else None)
    fidelities = collect(_fidelities, raw.get("fidelities"))
    optimizer = collect(_optimizer, raw.get("optimizer", {}), fidelities)
    devices = collect(_devices, raw.get("devices", {}))
    scheduler = collect(_scheduler, raw.get("scheduler", {}))
    retry = collect(_retry, raw.get("retry", {}))
    backtest = collect(_backtest, raw.get("backtest"), fidelities, source)
    if backtest is None and "backtest" not in raw:
        if any(f.kind == "table" for f in fidelities or ()):
            issues.append(FieldIssue("backtest", "fidelities of kind \"table\" need a [backtest] table naming the recorded table"))
        if system == "generic":
            issues.append(FieldIssue("system", "\"generic\" campaigns run only against a recorded table: add a [backtest] table"))
    if backtest is not None and parameters and objective is not None and fidelities:
        collect(_check_backtest_table, backtest, parameters, objective)
    control = collect(_control, raw.get("control", {}), fidelities)

    if parameters and devices is not None and any(f.kind == "robot" for f in fidelities or ()):
        collect(_check_device_limits, parameters, devices)
    if optimizer is not None and parameters and objective is not None:
        collect(_check_physics, optimizer, parameters, objective)
    if fidelities and budget and budget < min(f.cost for f in fidelities):
        issues.append(
            FieldIssue("budget", f"{budget} is below the cheapest fidelity's cost {min(f.cost for f in fidelities)}; nothing could run")
        )
    if issues:
        raise ConfigError(issues, source=source)
    return CampaignConfig(
        name=name,
        seed=seed,
        budget=float(budget),
        store=store,
        system=system,
        objective=objective,
        parameters=tuple(parameters),
        fidelities=tuple(fidelities),
        optimizer=optimizer,
        devices=devices,
        scheduler=scheduler,
        retry=retry,
        backtest=backtest,
        control=control,
        description=str(raw.get("description", "")),
        source=source,
        raw=raw,
    )


def _require_table(value: Any, field_name: str, example: str) -> dict[str, Any]:
    if value is None:
        raise ConfigError(FieldIssue(field_name, f"missing; add a [{field_name}] table, e.g. {example}"))
    if not isinstance(value, dict):
        raise ConfigError(FieldIssue(field_name, f"must be a table, got {type(value).__name__}"))
    return value


def _objective(raw: Any) -> Objective:
    table = _require_table(raw, "objective", 'property = "glass_transition_temperature", unit = "degC", direction = "maximize"')
    issues = []
    prop = table.get("property")
    if not isinstance(prop, str) or not prop:
        issues.append(FieldIssue("objective.property", "missing: the property to optimize, e.g. \"glass_transition_temperature\""))
    unit = table.get("unit", "dimensionless")
    try:
        Q_(1, unit)
    except Exception as err:  # pint raises several types for bad unit text
        issues.append(FieldIssue("objective.unit", f"unknown unit {unit!r} ({err})"))
    direction = table.get("direction", "maximize")
    if direction not in ("maximize", "minimize"):
        issues.append(FieldIssue("objective.direction", f"{direction!r} is not one of 'maximize', 'minimize'"))
    extra = set(table) - {"property", "unit", "direction"}
    issues += [FieldIssue(f"objective.{k}", "unknown field; allowed: property, unit, direction") for k in sorted(extra)]
    if issues:
        raise ConfigError(issues)
    return Objective(property=prop, unit=unit, direction=direction)


def system_parameters(system: str) -> dict[str, tuple[str, float, float] | None]:
    """The recipe keys a material system needs: name -> (unit, physical low, high), or None
    for a molecule parameter."""
    from simulators.thermoset.recipe import PHYSICAL_RANGES

    if system == "thermoset_blend":
        return {"additive": None, **{k: (unit, lo, hi) for k, (unit, lo, hi, _) in PHYSICAL_RANGES.items()}}
    raise KeyError(system)


SYSTEM_PROPERTIES = {
    "thermoset_blend": {"glass_transition_temperature": "degC", "fracture_toughness": "MPa*m**0.5"},
}


def _check_objective(objective: Objective, system: str) -> None:
    props = SYSTEM_PROPERTIES[system]
    if objective.property not in props:
        raise ConfigError(FieldIssue("objective.property", f"{objective.property!r} is not measured in the {system} system; "
                                                           f"allowed: {sorted(props)}"))
    if Q_(1, objective.unit).dimensionality != Q_(1, props[objective.property]).dimensionality:
        raise ConfigError(FieldIssue("objective.unit", f"{objective.unit!r} does not fit {objective.property}; "
                                                       f"use a unit like {props[objective.property]!r}"))


def _parameters(raw: Any, system: str | None) -> list[Parameter]:
    table = _require_table(raw, "parameters", 'cure_temperature = {low = "60 degC", high = "180 degC"}')
    if not table:
        raise ConfigError(FieldIssue("parameters", "needs at least one parameter"))
    expected = system_parameters(system) if system else {}
    out: list[Parameter] = []
    issues: list[FieldIssue] = []
    for name in sorted(set(expected) - set(table)):
        issues.append(FieldIssue(f"parameters.{name}", f"missing: the {system} system needs parameters {sorted(expected)}"))
    for name, spec in table.items():
        where = f"parameters.{name}"
        if expected and name not in expected:
            issues.append(FieldIssue(where, f"not a parameter of the {system} system; allowed: {sorted(expected)}"))
            continue
        want_kind = "molecule" if name in expected and expected[name] is None else ("continuous" if name in expected else None)
        got_kind = spec.get("type", "continuous" if isinstance(spec, dict) and ("low" in spec or "high" in spec) else None) if isinstance(spec, dict) else None
        if want_kind and got_kind != want_kind:
            issues.append(FieldIssue(f"{where}.type", f"{got_kind!r}: the {system} system needs {name} to be {want_kind!r}"))
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
        unit = spec.get("unit", unit_text(low.units))
        try:
            Q_(1, unit)
        except Exception as err:
            raise ConfigError(FieldIssue(f"{where}.unit", f"unknown unit {unit!r} ({err})")) from err
        high = parse_quantity(spec["high"], f"{where}.high", like=unit)
        low = parse_quantity(spec["low"], f"{where}.low", like=unit)
        return ContinuousParameter(name=name, low=low, high=high, unit=unit)
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            raise ConfigError(FieldIssue(f"{where}.choices", "must be a list of strings"))
        return CategoricalParameter(name=name, choices=tuple(choices))
    if kind == "molecule":
        choices = spec.get("choices")
        if not isinstance(choices, dict) or not all(isinstance(v, str) for v in choices.values()):
            raise ConfigError(FieldIssue(f"{where}.choices", "must be a table of label = \"SMILES\""))
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


def _fidelities(raw: Any) -> list[Fidelity]:
    table = _require_table(raw, "fidelities", '[fidelities.robot] kind = "robot", cost = 40, target = true')
    issues: list[FieldIssue] = []
    specs = []
    for name, spec in table.items():
        where = f"fidelities.{name}"
        if not isinstance(spec, dict):
            issues.append(FieldIssue(where, "must be a table with kind and cost"))
            continue
        extra = set(spec) - {"kind", "cost", "model", "target", "value", "expected_duration"}
        issues += [FieldIssue(f"{where}.{k}", "unknown field; allowed: kind, cost, model, target, value, expected_duration") for k in sorted(extra)]
        kind = spec.get("kind")
        cost = spec.get("cost")
        if kind not in FIDELITY_KINDS:
            issues.append(FieldIssue(f"{where}.kind", f"{kind!r} is not one of {', '.join(map(repr, FIDELITY_KINDS))}"))
        if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not cost > 0:
            issues.append(FieldIssue(f"{where}.cost", f"{cost!r} must be a positive number of cost units"))
        if kind == "simulator":
            model = spec.get("model")
            if not isinstance(model, str):
                issues.append(FieldIssue(f"{where}.model", "missing: the simulator model, e.g. \"thermoset.closed_form\""))
        duration = None
        if "expected_duration" in spec:
            try:
                duration = parse_quantity(spec["expected_duration"], f"{where}.expected_duration", like="s")
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
        out.append(Fidelity(name, spec["kind"], float(spec["cost"]), float(value), False, spec.get("model"), duration))
    for name, spec, duration in specs:
        if spec.get("target"):
            out.append(Fidelity(name, spec["kind"], float(spec["cost"]), float(spec.get("value", 1.0)), True, spec.get("model"), duration))
    if out[-1].value != 1.0:
        raise ConfigError(FieldIssue(f"fidelities.{out[-1].name}.value", "the target fidelity's value must be 1"))
    _check_models(out)
    return out


def _check_models(fidelities: list[Fidelity]) -> None:
    from simulators import available_models

    models = available_models()
    issues = [
        FieldIssue(f"fidelities.{f.name}.model", f"unknown simulator {f.model!r}; allowed: {sorted(models)}")
        for f in fidelities
        if f.kind == "simulator" and f.model not in models
    ]
    if issues:
        raise ConfigError(issues)


def _optimizer(raw: Any, fidelities: list[Fidelity] | None) -> OptimizerSettings:
    if not isinstance(raw, dict):
        raise ConfigError(FieldIssue("optimizer", "must be a table"))
    issues = []
    known = {"strategy", "initial_design", "physics", "physics_model", "physics_features"}
    extra = set(raw) - known
    issues += [FieldIssue(f"optimizer.{k}", f"unknown field; allowed: {', '.join(sorted(known))}") for k in sorted(extra)]
    strategy = raw.get("strategy", "multi_fidelity")
    if strategy not in STRATEGIES:
        issues.append(FieldIssue("optimizer.strategy", f"{strategy!r} is not one of {list(STRATEGIES)}"))
    design = raw.get("initial_design", {})
    names = [f.name for f in fidelities or ()]
    if not isinstance(design, dict):
        issues.append(FieldIssue("optimizer.initial_design", "must be a table of fidelity = count"))
        design = {}
    for fid, count in design.items():
        if fidelities is not None and fid not in names:
            issues.append(FieldIssue(f"optimizer.initial_design.{fid}", f"unknown fidelity {fid!r}; allowed: {names}"))
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            issues.append(FieldIssue(f"optimizer.initial_design.{fid}", f"{count!r} must be a non-negative integer"))
    physics, physics_model, physics_features = _physics_settings(raw, strategy, fidelities, issues)
    if issues:
        raise ConfigError(issues)
    return OptimizerSettings(strategy=strategy, initial_design=dict(design), physics=physics,
                             physics_model=physics_model, physics_features=physics_features)


PHYSICS_MODES = ("none", "features", "prior_mean", "sim_input")


def _physics_settings(raw: dict, strategy: str, fidelities: list[Fidelity] | None, issues: list[FieldIssue]):
    """``optimizer.physics*``: the mode, the simulator (default the cheapest simulator fidelity's) and features."""
    physics = raw.get("physics", "none")
    if physics not in PHYSICS_MODES:
        issues.append(FieldIssue("optimizer.physics", f"{physics!r} is not one of {list(PHYSICS_MODES)}"))
        return "none", None, None
    model = raw.get("physics_model")
    features = raw.get("physics_features")
    if physics == "none":
        for key in ("physics_model", "physics_features"):
            if key in raw:
                issues.append(FieldIssue(f"optimizer.{key}", "only used with physics = \"features\", \"prior_mean\" or \"sim_input\""))
        return "none", None, None
    if strategy not in ("multi_fidelity", "single_fidelity"):
        issues.append(FieldIssue("optimizer.physics", f"{physics!r} needs a model-based strategy "
                                                      f"('multi_fidelity' or 'single_fidelity'), not {strategy!r}"))
    if model is None:
        sims = sorted((f for f in fidelities or () if f.kind == "simulator"), key=lambda f: (f.cost, f.value))
        if fidelities is not None and not sims:
            issues.append(FieldIssue("optimizer.physics_model", "no simulator fidelity to default to; name a simulator "
                                                                "model, e.g. \"thermoset.closed_form\""))
        model = sims[0].model if sims else None
    elif not isinstance(model, str):
        issues.append(FieldIssue("optimizer.physics_model", f"{model!r} must be a simulator model name"))
        model = None
    else:
        from simulators import available_models

        if model not in available_models():
            issues.append(FieldIssue("optimizer.physics_model", f"unknown simulator {model!r}; allowed: {available_models()}"))
            model = None
    if features is not None:
        if physics != "features":
            issues.append(FieldIssue("optimizer.physics_features", f"only used with physics = \"features\", not {physics!r}"))
            features = None
        elif not isinstance(features, list) or not features or not all(isinstance(x, str) for x in features):
            issues.append(FieldIssue("optimizer.physics_features", f"{features!r} must be a non-empty list of structure "
                                                                   "feature names, e.g. [\"degree_of_cure\"]"))
            features = None
        else:
            features = tuple(features)
    return physics, model, features


def _check_physics(optimizer: OptimizerSettings, parameters: list[Parameter], objective: Objective) -> None:
    """The physics simulator must return the chosen features and predict the objective (run once on the box's middle)."""
    if optimizer.physics == "none" or optimizer.physics_model is None:
        return
    from optimizers.physics import available_features
    from simulators import get_simulator

    try:
        structure, properties = available_features(get_simulator(optimizer.physics_model,
                                                                 field="optimizer.physics_model"), parameters)
    except SDLError as err:
        raise ConfigError(FieldIssue("optimizer.physics_model", f"{optimizer.physics_model} cannot run this search "
                                                                f"space's middle recipe: {err}")) from err
    issues = []
    if optimizer.physics_features is not None:
        bad = [f for f in optimizer.physics_features if f not in structure]
        if bad:
            issues.append(FieldIssue("optimizer.physics_features", f"{bad} not returned by {optimizer.physics_model}; "
                                                                   f"allowed: {structure}"))
    if optimizer.physics in ("prior_mean", "sim_input") and objective.property not in properties:
        issues.append(FieldIssue("optimizer.physics", f"{optimizer.physics_model} does not predict "
                                                      f"{objective.property!r} (it predicts {properties})"))
    if issues:
        raise ConfigError(issues)


def physics_for(config: "CampaignConfig"):
    """The ``optimizers.physics.PhysicsFeatures`` a campaign's strategy gets (None without physics)."""
    opt = config.optimizer
    if opt.physics == "none":
        return None
    from optimizers.physics import simulator_physics
    from simulators import get_simulator

    sim = get_simulator(opt.physics_model, field="optimizer.physics_model")
    return simulator_physics(sim, opt.physics, config.objective, opt.physics_features)


def _devices(raw: Any) -> DeviceSettings:
    if not isinstance(raw, dict):
        raise ConfigError(FieldIssue("devices", "must be a table"))
    issues = []
    allowed_keys = {"dry_run", "speedup", "batch_mass", "limits", "watchdog_factor", "faults",
                    "executor", "qserver_control", "qserver_data",
                    "transport", "ioc_prefix", "ca_addr_list", "ca_server_port", "connection_timeout"}
    extra = set(raw) - allowed_keys
    issues += [FieldIssue(f"devices.{k}", f"unknown field; allowed: {sorted(allowed_keys)}") for k in sorted(extra)]
    watchdog = raw.get("watchdog_factor", 3.0)
    if isinstance(watchdog, bool) or not isinstance(watchdog, (int, float)) or not watchdog > 1:
        issues.append(FieldIssue("devices.watchdog_factor", f"{watchdog!r} must be a number > 1 (times the expected duration)"))
        watchdog = 3.0
    faults: tuple = ()
    if raw.get("faults"):
        from devices import fault_specs_from_config

        if not isinstance(raw["faults"], list):
            issues.append(FieldIssue("devices.faults", "must be an array of tables: [[devices.faults]] device = ..., kind = ..., probability = ..."))
        else:
            try:
                faults = fault_specs_from_config(raw["faults"])
            except ConfigError as err:
                issues.extend(err.issues)
    dry_run = raw.get("dry_run", True)
    if dry_run is not True:
        issues.append(FieldIssue("devices.dry_run", "only dry runs on the simulated twins are supported in this release; set dry_run = true"))
    speedup = raw.get("speedup", 2000.0)
    if isinstance(speedup, bool) or not isinstance(speedup, (int, float)) or not speedup >= 1:
        issues.append(FieldIssue("devices.speedup", f"{speedup!r} must be a number >= 1 (simulated seconds per wall second)"))
        speedup = 1.0
    batch_mass = Q_(10.0, "g")
    try:
        batch_mass = parse_quantity(raw.get("batch_mass", "10 g"), "devices.batch_mass", like="g")
        if batch_mass.magnitude <= 0:
            issues.append(FieldIssue("devices.batch_mass", f"{raw.get('batch_mass')!r} must be positive"))
    except ConfigError as err:
        issues.extend(err.issues)
    limits, limit_issues = _limit_overrides(raw.get("limits", {}))
    issues += limit_issues
    from controller.execution.queueserver import executor_settings

    executor, executor_issues = executor_settings(raw)
    issues += executor_issues
    from devices.epics.settings import transport_settings

    transport, transport_issues = transport_settings(raw)
    issues += transport_issues
    if issues:
        raise ConfigError(issues)
    return DeviceSettings(dry_run=True, speedup=float(speedup), batch_mass=batch_mass, limits=limits,
                          watchdog_factor=float(watchdog), faults=faults, **executor, **transport)


def _limit_overrides(raw: Any) -> tuple[dict[str, tuple[pint.Quantity, pint.Quantity]], list[FieldIssue]]:
    """``[devices.limits]``: a campaign may only *narrow* the line's hardware limits."""
    from devices import DEFAULT_LIMITS

    if not isinstance(raw, dict):
        return {}, [FieldIssue("devices.limits", 'must be a table of "device.setpoint" = {low = ..., high = ...}')]
    limits: dict[str, tuple[pint.Quantity, pint.Quantity]] = {}
    issues: list[FieldIssue] = []
    known = sorted(DEFAULT_LIMITS.ranges)
    for path, spec in raw.items():
        where = f"devices.limits.{path}"
        if path not in DEFAULT_LIMITS.ranges:
            issues.append(FieldIssue(where, f"unknown setpoint; allowed: {known}"))
            continue
        if not isinstance(spec, dict) or set(spec) != {"low", "high"}:
            issues.append(FieldIssue(where, "must be {low = ..., high = ...} with units"))
            continue
        hw_low, hw_high = DEFAULT_LIMITS.ranges[path]
        unit = unit_text(hw_low.units)
        try:
            low = parse_quantity(spec["low"], f"{where}.low", like=unit)
            high = parse_quantity(spec["high"], f"{where}.high", like=unit)
        except ConfigError as err:
            issues.extend(err.issues)
            continue
        if unit == "K" and any("degC" in str(spec[k]) or "degF" in str(spec[k]) for k in ("low", "high")):
            issues.append(FieldIssue(where, f"{path} is a temperature difference: write it in K (or delta_degC), not degC"))
            continue
        if low.to(unit).magnitude < hw_low.magnitude - 1e-9 or high.to(unit).magnitude > hw_high.magnitude + 1e-9:
            issues.append(FieldIssue(where, f"may only narrow the device's own limits {hw_low:~} to {hw_high:~}; "
                                            f"got {low:~} to {high:~}"))
            continue
        if low.to(unit).magnitude > high.to(unit).magnitude:
            issues.append(FieldIssue(where, f"low {low:~} is above high {high:~}; swap them"))
            continue
        limits[path] = (low, high)
    return limits, issues


def _retry(raw: Any) -> RetryPolicy:
    from core import DEVICE_FAULT_KINDS

    if not isinstance(raw, dict):
        raise ConfigError(FieldIssue("retry", "must be a table: retries, backoff, retryable"))
    issues = [FieldIssue(f"retry.{k}", "unknown field; allowed: retries, backoff, retryable")
              for k in sorted(set(raw) - {"retries", "backoff", "retryable"})]
    default = RetryPolicy()
    retries = raw.get("retries", default.retries)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
        issues.append(FieldIssue("retry.retries", f"{retries!r} must be an integer from 0 to 10"))
        retries = default.retries
    backoff = default.backoff
    if "backoff" in raw:
        try:
            backoff = parse_quantity(raw["backoff"], "retry.backoff", like="s")
            if backoff.magnitude < 0:
                issues.append(FieldIssue("retry.backoff", f"{raw['backoff']!r} must not be negative"))
        except ConfigError as err:
            issues.extend(err.issues)
    retryable = raw.get("retryable", list(default.retryable))
    if not isinstance(retryable, list) or not all(k in DEVICE_FAULT_KINDS for k in retryable):
        issues.append(FieldIssue("retry.retryable", f"{retryable!r} must be a list of fault kinds from {list(DEVICE_FAULT_KINDS)}"))
        retryable = list(default.retryable)
    if issues:
        raise ConfigError(issues)
    return RetryPolicy(retries=retries, backoff=backoff, retryable=tuple(retryable))


def _control(raw: Any, fidelities: list[Fidelity] | None) -> ControlSettings:
    if not isinstance(raw, dict):
        raise ConfigError(FieldIssue("control", "must be a table, e.g. [control] approval = [\"robot\"]"))
    issues = [FieldIssue(f"control.{k}", "unknown field; allowed: approval, token") for k in sorted(set(raw) - {"approval", "token"})]
    approval = raw.get("approval", [])
    names = [f.name for f in fidelities or ()]
    if not isinstance(approval, list) or not all(isinstance(a, str) for a in approval):
        issues.append(FieldIssue("control.approval", f"{approval!r} must be a list of fidelity names; allowed: {names}"))
        approval = []
    elif fidelities:
        issues += [FieldIssue("control.approval", f"unknown fidelity {a!r}; allowed: {names}") for a in approval if a not in names]
    token = raw.get("token")
    if token is not None and (not isinstance(token, str) or len(token) < 8):
        issues.append(FieldIssue("control.token", "must be a string of at least 8 characters (or set $SDL_CONTROL_TOKEN instead)"))
    if issues:
        raise ConfigError(issues)
    return ControlSettings(approval=tuple(approval), token=token)


def _scheduler(raw: Any) -> SchedulerSettings:
    if not isinstance(raw, dict):
        raise ConfigError(FieldIssue("scheduler", "must be a table"))
    allowed = ("simulation_workers", "backend", "dask_scheduler")
    extra = set(raw) - set(allowed)
    if extra:
        raise ConfigError([FieldIssue(f"scheduler.{k}", f"unknown field; allowed: {', '.join(allowed)}") for k in sorted(extra)])
    issues = []
    workers = raw.get("simulation_workers", 2)
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 64:
        issues.append(FieldIssue("scheduler.simulation_workers", f"{workers!r} must be an integer from 1 to 64"))
    backend = raw.get("backend", "dask")
    if backend not in ("dask", "processes"):
        issues.append(FieldIssue("scheduler.backend", f"{backend!r} is not a simulation backend; allowed: dask, processes"))
    address = raw.get("dask_scheduler")
    if address is not None:
        if not isinstance(address, str) or not _DASK_ADDRESS.fullmatch(address) or not 1 <= int(address.rsplit(":", 1)[1]) <= 65535:
            issues.append(FieldIssue("scheduler.dask_scheduler", f"{address!r} is not a Dask scheduler address; "
                                                                 "expected tcp://HOST:PORT (PORT from 1 to 65535), e.g. tcp://10.0.0.5:8786"))
        elif backend == "processes":
            issues.append(FieldIssue("scheduler.dask_scheduler", "is set but scheduler.backend is \"processes\"; "
                                                                 "remove one of them"))
    if issues:
        raise ConfigError(issues)
    return SchedulerSettings(simulation_workers=workers, backend=backend, dask_scheduler=address)


# tcp://HOST:PORT with a host name, an IPv4 address or a bracketed IPv6 address.
_DASK_ADDRESS = re.compile(r"tcp://(?:[A-Za-z0-9](?:[A-Za-z0-9.\-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}")


def _check_corners(parameters: list[Parameter], limits, devices: DeviceSettings) -> list[FieldIssue]:
    """Every corner of the box must give setpoints the line accepts (dispensed masses depend on
    the fraction, the ratio and the batch mass together; the fixed process setpoints must fit
    narrowed limits). A campaign that would have every robot run refused is an error now."""
    import itertools

    from core import LimitError
    from devices import check_recipe_limits

    continuous = [p for p in parameters if isinstance(p, ContinuousParameter)]
    fixed = {p.name: (next(iter(p.choices.values())) if isinstance(p, MoleculeParameter) else p.choices[0])
             for p in parameters if not isinstance(p, ContinuousParameter)}
    problems: dict[str, None] = {}
    for corner in itertools.product(*[(p.low, p.high) for p in continuous]):
        recipe = {**fixed, **{p.name: q for p, q in zip(continuous, corner)}}
        try:
            check_recipe_limits(recipe, limits, batch_mass=devices.batch_mass)
        except LimitError as err:
            problems.update(dict.fromkeys(str(err).split("; ")))
        except SDLError:
            return []  # malformed for the line: reported by the parameter checks
    return [FieldIssue("devices", f"the search space reaches a setpoint the line refuses: {p}; narrow the "
                                  "parameter bounds or devices.batch_mass") for p in problems]


def _check_device_limits(parameters: list[Parameter], devices: DeviceSettings) -> None:
    """Every bound a robot run could be asked for must be inside the line's limits."""
    from controller.execution.robot import line_limits
    from devices import parameter_limits

    try:
        limits = line_limits(devices.limits)
    except SDLError as err:
        raise ConfigError(FieldIssue("devices.limits", str(err))) from err
    allowed = parameter_limits(limits, batch_mass=devices.batch_mass)
    issues = _check_corners(parameters, limits, devices)
    for p in parameters:
        if not isinstance(p, ContinuousParameter) or p.name not in allowed:
            continue
        lo, hi = allowed[p.name]
        where = f"parameters.{p.name}"
        if p.low.dimensionality != lo.dimensionality:
            issues.append(FieldIssue(where, f"unit {p.unit!r} does not fit the device, which takes {lo.units:~}"))
            continue
        if p.low.to(lo.units).magnitude < lo.magnitude - 1e-9:
            issues.append(FieldIssue(f"{where}.low", f"{p.low:~} is below the device limit {lo.to(p.unit):~}; allowed {lo.to(p.unit):~} to {hi.to(p.unit):~}"))
        if p.high.to(hi.units).magnitude > hi.magnitude + 1e-9:
            issues.append(FieldIssue(f"{where}.high", f"{p.high:~} is above the device limit {hi.to(p.unit):~}; allowed {lo.to(p.unit):~} to {hi.to(p.unit):~}"))
    if issues:
        raise ConfigError(issues)


BACKTEST_MODES = ("discrete", "continuous")
_BACKTEST_KEYS = ("table", "mode", "columns", "cost_columns", "units", "noise", "methods")


def _backtest(raw: Any, fidelities: list[Fidelity] | None, source: str | None) -> BacktestSettings | None:
    """``[backtest]``: the recorded table a backtest runs against (None when absent)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(FieldIssue("backtest", 'must be a table: table = "data.csv", mode = "discrete", columns = {...}'))
    issues = [FieldIssue(f"backtest.{k}", f"unknown field; allowed: {', '.join(_BACKTEST_KEYS)}")
              for k in sorted(set(raw) - set(_BACKTEST_KEYS))]
    table = raw.get("table")
    path = None
    if not isinstance(table, str) or not table.strip():
        issues.append(FieldIssue("backtest.table", "missing: the CSV or Parquet file of recorded results, e.g. \"data.csv\""))
    else:
        path = Path(table)
        if not path.is_absolute() and source and Path(source).exists():
            path = Path(source).resolve().parent / path
        if not path.is_file():
            issues.append(FieldIssue("backtest.table", f"file {str(path)!r} does not exist"))
    mode = raw.get("mode", "discrete")
    if mode not in BACKTEST_MODES:
        issues.append(FieldIssue("backtest.mode", f"{mode!r} is not one of {list(BACKTEST_MODES)}"))
    names = [f.name for f in fidelities or ()]

    def column_table(key: str, required: bool) -> dict[str, str]:
        value = raw.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) and v for v in value.values()):
            issues.append(FieldIssue(f"backtest.{key}", "must be a table of fidelity = \"column name\""))
            return {}
        if fidelities is not None:
            issues.extend(FieldIssue(f"backtest.{key}.{k}", f"unknown fidelity {k!r}; allowed: {names}") for k in value if k not in names)
            if required:
                issues.extend(FieldIssue(f"backtest.{key}.{n}", "missing: the table column with this fidelity's property values")
                              for n in names if n not in value)
        return dict(value)

    columns = column_table("columns", required=True)
    cost_columns = column_table("cost_columns", required=False)
    units = raw.get("units", {})
    if not isinstance(units, dict):
        issues.append(FieldIssue("backtest.units", "must be a table of \"column\" = \"unit\""))
        units = {}
    for col, unit in units.items():
        try:
            Q_(1, unit)
        except Exception as err:  # pint raises several types for bad unit text
            issues.append(FieldIssue(f"backtest.units.{col}", f"unknown unit {unit!r} ({err})"))
    noise = raw.get("noise", False)
    if not isinstance(noise, bool):
        issues.append(FieldIssue("backtest.noise", f"{noise!r} must be true or false"))
    methods = raw.get("methods", [])
    if not isinstance(methods, list) or not all(isinstance(m, str) and m.removesuffix("+physics") in STRATEGIES
                                                for m in methods):
        issues.append(FieldIssue("backtest.methods", f"{methods!r} must be a list of strategies from {list(STRATEGIES)} "
                                                     "(a model strategy may end in '+physics')"))
        methods = []
    if issues:
        raise ConfigError(issues)
    return BacktestSettings(table=str(path), mode=mode, columns=columns, cost_columns=cost_columns,
                            units=dict(units), noise=noise, methods=tuple(dict.fromkeys(methods)))


def _check_backtest_table(backtest: BacktestSettings, parameters: list[Parameter], objective: Objective) -> None:
    """Read the recorded table and check its columns and units against the campaign (every problem at once)."""
    from simulators.table import RecordedTable

    RecordedTable.from_file(backtest.table, parameters, objective, backtest.columns, backtest.cost_columns,
                            backtest.units, field="backtest")
