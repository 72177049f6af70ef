"""The campaign file (TOML) -> a frozen, validated :class:`CampaignConfig`.

Validation collects every problem and raises one :class:`core.ConfigError` that
names each field and what is allowed, before anything runs. Each section is
validated by its own module (``space``, ``optimizer``, ``devices``, ``scheduler``,
``control``, ``backtest``); this one assembles them. See
the campaign files in ``configs/`` for complete, commented examples.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from controller.records.location import DEFAULT_STORE, StoreLocation, redact
from core import (
    ConfigError,
    FieldIssue,
    Fidelity,
    LinearConstraint,
    Objective,
    OutcomeConstraint,
    Parameter,
)
from controller.config.names import label_issue
from core.goals import outcomes

from controller.config.backtest import BacktestSettings, parse_backtest, check_backtest_table
from controller.config.constraints import check_recipe_constraints, parse_linear_constraints
from controller.config.control import ControlSettings, parse_control
from controller.config.devices import (
    DeviceSettings,
    RetryPolicy,
    check_device_limits,
    parse_devices,
    parse_retry,
    station_issues,
)
from controller.config.goals import parse_goals
from controller.config.optimizer import OptimizerSettings, check_physics, parse_optimizer
from controller.config.scheduler import SchedulerSettings, parse_scheduler
from controller.config.space import (
    GENERIC,
    MAX_COST,
    parse_fidelities,
    parse_parameters,
    resolve_system,
)




TOP_LEVEL_KEYS = {
    "name", "description", "seed", "budget", "store", "system", "objective",
    "parameters", "fidelities", "optimizer", "devices", "scheduler", "retry", "backtest", "control",
    "linear_constraints", "objectives", "outcome_constraints",
}

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
    #: the campaign's ``linear_constraints`` and then its material system's (``core.LinearConstraint``)
    linear_constraints: tuple[LinearConstraint, ...] = ()
    #: every objective (``objective`` is the first); one unless the file has ``[[objectives]]``
    objectives: tuple[Objective, ...] = ()
    #: ``outcome_constraints`` (``core.OutcomeConstraint``): measured values a sample must meet
    outcome_constraints: tuple[OutcomeConstraint, ...] = ()
    description: str = ""
    source: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)
    #: the loaded plugin (``core.MaterialSystem``) ``system`` names; None for "generic"
    material: Any = field(default=None, hash=False, compare=False, repr=False)

    @property
    def robot(self) -> Any:
        """The material system's robot line (``core.system.RobotLine``), or None."""
        return self.material.robot if self.material is not None else None

    @property
    def robot_stations(self) -> int:
        """How many robot samples can be made at once (the robot fidelities share the stations; 0 without a robot)."""
        return max((f.stations for f in self.fidelities if f.kind == "robot"), default=0)

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    @property
    def outcome_units(self) -> dict[str, str]:
        """Every objective's and constrained property's unit in this campaign (``core.goals.outcomes``)."""
        return {o.property: o.unit for o in outcomes(self.objectives, self.outcome_constraints)}

    @property
    def target(self) -> Fidelity:
        return next(f for f in self.fidelities if f.target)

    def fidelity(self, name: str) -> Fidelity:
        for f in self.fidelities:
            if f.name == name:
                return f
        raise ConfigError(FieldIssue("fidelity", f"unknown fidelity {name!r}; allowed: {[f.name for f in self.fidelities]}"))

    def check_constraints(self, recipe: dict[str, Any]) -> None:
        """Refuse a recipe that breaks a linear constraint, before it is dispatched.

        Raises:
            LimitError: naming each broken constraint, the recipe's left-hand side and the bound.
        """
        check_recipe_constraints(self.linear_constraints, self.parameters, recipe)

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
        # (several objectives and outcome constraints count only when set: older stores keep their fingerprint)
        for key in ("objectives", "outcome_constraints"):
            if self.raw.get(key):
                essential[key] = self.raw[key]
        # How many stations make robot samples does not change what the data mean: a lab may add one and resume.
        if isinstance(essential["fidelities"], dict):
            essential["fidelities"] = {name: {k: v for k, v in spec.items() if k != "stations"} if isinstance(spec, dict) else spec
                                       for name, spec in essential["fidelities"].items()}
        # Constraints bound which recipes the campaign may hold; tightened, the old data no longer fit.
        # (Only when set, so that a store written before constraints existed keeps its fingerprint.)
        if self.raw.get("linear_constraints"):
            essential["linear_constraints"] = self.raw["linear_constraints"]
        text = json.dumps(essential, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_json(self) -> str:

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
        issues.append(FieldIssue("name", "missing: give the campaign a name, e.g. name = \"films-tg-2026-12\""))
        name = ""
    elif (issue := label_issue(name, "name", "campaign name")) is not None:
        issues.append(issue)

    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        issues.append(FieldIssue("seed", f"{seed!r} must be a non-negative integer"))
        seed = 0

    budget = raw.get("budget")
    if budget is None:
        issues.append(FieldIssue("budget", "missing: the campaign's budget in cost units, e.g. budget = 200"))
        budget = 0.0
    elif isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0 < budget <= MAX_COST:
        issues.append(FieldIssue("budget", f"{budget!r} must be a positive number of cost units, at most {MAX_COST:g}"))
        budget = 0.0

    store = raw.get("store", DEFAULT_STORE)
    if not isinstance(store, str) or not store:
        issues.append(FieldIssue("store", f"{store!r} must be a SQLite file path or a database URL "
                                          "(sqlite:///PATH, postgresql://USER@HOST:PORT/DATABASE)"))
        store = DEFAULT_STORE
    else:
        from core import StoreError

        try:
            StoreLocation.parse(store)
        except StoreError as err:
            issues.append(FieldIssue("store", str(err).removeprefix("store ")))
            store = DEFAULT_STORE

    system = raw.get("system")
    material = collect(resolve_system, system)

    goals = collect(parse_goals, raw, material)
    objective = goals.objectives[0] if goals is not None else None
    parameters = collect(parse_parameters, raw.get("parameters"), material)
    constraints = collect(parse_linear_constraints, raw.get("linear_constraints"), parameters, material)
    fidelities = collect(parse_fidelities, raw.get("fidelities"))
    optimizer = collect(parse_optimizer, raw.get("optimizer", {}), fidelities)
    devices = collect(parse_devices, raw.get("devices", {}), material.robot if material is not None else None)
    scheduler = collect(parse_scheduler, raw.get("scheduler", {}))
    retry = collect(parse_retry, raw.get("retry", {}))
    backtest = collect(parse_backtest, raw.get("backtest"), fidelities, source)
    if backtest is None and "backtest" not in raw:
        if any(f.kind == "table" for f in fidelities or ()):
            issues.append(FieldIssue("backtest", "fidelities of kind \"table\" need a [backtest] table naming the recorded table"))
        if system == GENERIC:
            issues.append(FieldIssue("system", f"\"{GENERIC}\" campaigns run only against a recorded table: add a [backtest] table"))
    if backtest is not None and parameters and objective is not None and fidelities:
        collect(check_backtest_table, backtest, parameters, goals.objectives, goals.outcome_constraints)
    control = collect(parse_control, raw.get("control", {}), fidelities, devices)

    # (with broken constraints the reachable corners are unknown: the constraints' issues are reported)
    if parameters and devices is not None and constraints is not None and any(f.kind == "robot" for f in fidelities or ()):
        collect(check_device_limits, parameters, devices, material.robot if material is not None else None,
                constraints)
    if fidelities and devices is not None:
        issues += station_issues(fidelities, devices, material.robot if material is not None else None)
    if optimizer is not None and goals is not None and optimizer.physics != "none" and (
            len(goals.objectives) > 1 or goals.outcome_constraints):
        issues.append(FieldIssue("optimizer.physics", f"{optimizer.physics!r} supports one objective without "
                                                      "outcome_constraints; use physics = \"none\" with several goals"))
    elif optimizer is not None and parameters and objective is not None:
        collect(check_physics, optimizer, parameters, objective)
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
        material=material,
        objective=objective,
        objectives=goals.objectives,
        outcome_constraints=goals.outcome_constraints,
        parameters=tuple(parameters),
        fidelities=tuple(fidelities),
        optimizer=optimizer,
        devices=devices,
        scheduler=scheduler,
        retry=retry,
        backtest=backtest,
        control=control,
        linear_constraints=constraints or (),
        description=str(raw.get("description", "")),
        source=source,
        raw=raw,
    )
