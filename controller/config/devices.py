"""``[devices]`` and ``[retry]``: the synthesis line, its limits, who runs its plans, and the retry policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
import pint
from core import (
    ConfigError,
    ContinuousParameter,
    FieldIssue,
    MoleculeParameter,
    Parameter,
    SDLError,
    parse_quantity,
)
from core.units import Q_, unit_text


#: Simulated seconds per wall second: past this a simulated line's timers no longer mean anything.
MAX_SPEEDUP = 1e9
#: Transports on which a line runs for real (``dry_run = false``) unless its robot line declares
#: ``real_transports`` itself (a plugin whose ``make_line`` builds its own real devices).
REAL_TRANSPORTS = ("epics",)
#: The longest first backoff before a robot retry (it doubles with each retry).
MAX_BACKOFF_S = 86400.0


@dataclass(frozen=True)
class DeviceSettings:
    """The synthesis line used by the robot fidelity.

    Attributes:
        dry_run: True runs the simulated twins; False runs the real line (a transport in the robot
            line's ``real_transports``, ``epics`` by default), after a pre-flight
            (:mod:`controller.execution.preflight`), with robot runs waiting for approval by default.
        speedup: simulated time runs this many times faster than wall time (dry runs; ignored for real).
        batch_mass: total mass of one film batch.
        limits: setpoint path (e.g. ``furnace.temperature``) -> (low, high) overriding the line's defaults.
        watchdog_factor: a device action taking longer than this many times its expected
            duration is stopped and reported as a ``watchdog`` fault.
        faults: simulated device faults to inject in dry runs (the system's ``fault_specs``), seeded.
        executor: who runs the robot's plans: ``local`` (a RunEngine in the controller) or
            ``queueserver`` (a bluesky-queueserver RE Manager, see ``controller.execution.queueserver``).
        qserver_control: RE Manager's 0MQ control address (executor ``queueserver``).
        qserver_data: the 0MQ proxy output where RE Manager's documents arrive.
        transport: ``sim`` (in-process twins) or ``epics`` (the line's Ophyd EPICS devices over
            Channel Access, see ``devices.epics``; a system may ship an IOC that serves its twins).
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

def parse_devices(raw: Any, robot: Any = None) -> DeviceSettings:
    """``[devices]``; ``robot`` is the material system's robot line (None: the system has none)."""
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
        if not isinstance(raw["faults"], list):
            issues.append(FieldIssue("devices.faults", "must be an array of tables: [[devices.faults]] device = ..., kind = ..., probability = ..."))
        else:
            try:
                faults = _robot(robot, "devices.faults").fault_specs(raw["faults"])
            except ConfigError as err:
                issues.extend(err.issues)
    dry_run = raw.get("dry_run", True)
    if not isinstance(dry_run, bool):
        issues.append(FieldIssue("devices.dry_run", f"{dry_run!r} must be true (simulated twins) or false (the real line)"))
        dry_run = True
    elif dry_run is False and robot is not None:
        transport = raw.get("transport", "sim")
        real = tuple(getattr(robot, "real_transports", REAL_TRANSPORTS))
        if transport not in real:
            issues.append(FieldIssue("devices.dry_run", f"false needs a line that can run for real, but transport "
                                                        f"{transport!r} is the simulated twins: set transport to one of "
                                                        f"{list(real)} (and ioc_prefix), or dry_run = true"))
        if raw.get("faults"):
            issues.append(FieldIssue("devices.faults", "faults are injected into simulated twins only; remove "
                                                       "[[devices.faults]] or set dry_run = true"))
    speedup = raw.get("speedup", 2000.0)
    if isinstance(speedup, bool) or not isinstance(speedup, (int, float)) or not 1 <= speedup <= MAX_SPEEDUP:
        issues.append(FieldIssue("devices.speedup", f"{speedup!r} must be a number from 1 to {MAX_SPEEDUP:g} "
                                                    "(simulated seconds per wall second)"))
        speedup = 1.0
    batch_mass = Q_(10.0, "g")
    try:
        batch_mass = parse_quantity(raw.get("batch_mass", "10 g"), "devices.batch_mass", like="g")
        if batch_mass.magnitude <= 0:
            issues.append(FieldIssue("devices.batch_mass", f"{raw.get('batch_mass')!r} must be positive"))
    except ConfigError as err:
        issues.extend(err.issues)
    limits, limit_issues = _limit_overrides(raw.get("limits", {}), robot) if raw.get("limits") else ({}, [])
    issues += limit_issues
    from controller.config.queueserver import executor_settings

    executor, executor_issues = executor_settings(raw)
    issues += executor_issues
    from devices.epics.settings import transport_settings

    transport, transport_issues = transport_settings(raw)
    issues += transport_issues
    if issues:
        raise ConfigError(issues)
    return DeviceSettings(dry_run=dry_run, speedup=float(speedup), batch_mass=batch_mass, limits=limits,
                          watchdog_factor=float(watchdog), faults=faults, **executor, **transport)

def station_issues(fidelities: Any, devices: DeviceSettings, robot: Any) -> list[FieldIssue]:
    """Where several robot stations (``stations = N``) cannot run: one RE Manager drives one
    line, and real devices (or an IOC) need a system whose ``make_line`` builds each station's
    own devices (it takes ``station=``); twins in a dry run are built once per station."""
    from core.system import takes_station

    issues = []
    for f in fidelities:
        if f.kind != "robot" or f.stations <= 1:
            continue
        where = f"fidelities.{f.name}.stations"
        if devices.executor == "queueserver":
            issues.append(FieldIssue(where, f"{f.stations} stations need executor \"local\": one queue server's "
                                            "RE Manager drives one line; set stations = 1 or executor = \"local\""))
        elif (devices.transport != "sim" or not devices.dry_run) and robot is not None and not takes_station(robot):
            issues.append(FieldIssue(where, f"{f.stations} stations on real devices need the system's make_line to "
                                            "take station= and build that station's devices; this system's does not "
                                            "(several stations run only on the simulated twins: transport \"sim\")"))
    return issues


def _robot(robot: Any, field_name: str) -> Any:
    if robot is None:
        raise ConfigError(FieldIssue(field_name, "the campaign's material system has no robot line"))
    return robot


def _limit_overrides(raw: Any, robot: Any) -> tuple[dict[str, tuple[pint.Quantity, pint.Quantity]], list[FieldIssue]]:
    """``[devices.limits]``: a campaign may only *narrow* the line's hardware limits."""
    try:
        DEFAULT_LIMITS = _robot(robot, "devices.limits").default_limits
    except ConfigError as err:
        return {}, list(err.issues)
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

def parse_retry(raw: Any) -> RetryPolicy:
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
            if not 0 <= backoff.to("s").magnitude <= MAX_BACKOFF_S:
                issues.append(FieldIssue("retry.backoff", f"{raw['backoff']!r} must be from 0 s to 1 day"))
                backoff = default.backoff
        except ConfigError as err:
            issues.extend(err.issues)
    retryable = raw.get("retryable", list(default.retryable))
    if not isinstance(retryable, list) or not all(k in DEVICE_FAULT_KINDS for k in retryable):
        issues.append(FieldIssue("retry.retryable", f"{retryable!r} must be a list of fault kinds from {list(DEVICE_FAULT_KINDS)}"))
        retryable = list(default.retryable)
    if issues:
        raise ConfigError(issues)
    return RetryPolicy(retries=retries, backoff=backoff, retryable=tuple(retryable))

def _check_corners(parameters: list[Parameter], limits, devices: DeviceSettings, robot: Any,
                   constraints: tuple = ()) -> list[FieldIssue]:
    """Every corner of the box must give setpoints the line accepts (dispensed masses depend on
    the fraction, the ratio and the batch mass together; the fixed process setpoints must fit
    narrowed limits). A campaign that would have every robot run refused is an error now.
    With linear constraints the corners of the constrained search space are checked instead:
    a corner of the box that breaks a constraint is never run."""
    import itertools

    from core import LimitError

    continuous = [p for p in parameters if isinstance(p, ContinuousParameter)]
    fixed = {p.name: (next(iter(p.choices.values())) if isinstance(p, MoleculeParameter) else p.choices[0])
             for p in parameters if not isinstance(p, ContinuousParameter)}
    problems: dict[str, None] = {}
    corners = itertools.product(*[(p.low, p.high) for p in continuous])
    if constraints:
        corners = _constrained_corners(continuous, constraints, corners)
    for corner in corners:
        recipe = {**fixed, **{p.name: q for p, q in zip(continuous, corner)}}
        try:
            robot.check_recipe(recipe, limits, batch_mass=devices.batch_mass)
        except LimitError as err:
            problems.update(dict.fromkeys(str(err).split("; ")))
        except SDLError:
            return []  # malformed for the line: reported by the parameter checks
    return [FieldIssue("devices", f"the search space reaches a setpoint the line refuses: {p}; narrow the "
                                  "parameter bounds or devices.batch_mass") for p in problems]

def _constrained_corners(continuous: list[ContinuousParameter], constraints: tuple, box_corners) -> list:
    """The vertices of the box cut by the linear constraints, as quantities (the box's corners when
    there are too many vertices to enumerate: then only those that meet the constraints)."""
    from optimizers.constraints import unit_box_rows, vertices  # noqa: PLC0415 - scipy on demand

    G, h = unit_box_rows(constraints, continuous)
    V = vertices(G, h)
    if V is None:
        names = [p.name for p in continuous]
        units = {p.name: p.unit for p in continuous}
        return [c for c in box_corners
                if all(k.violation(dict(zip(names, c)), units) is None for k in constraints)]
    return [tuple(p.quantity(p.low_magnitude + u * (p.high_magnitude - p.low_magnitude))
                  for p, u in zip(continuous, row)) for row in V]


def check_device_limits(parameters: list[Parameter], devices: DeviceSettings, robot: Any,
                        constraints: tuple = ()) -> None:
    """Every bound a robot run could be asked for must be inside the line's limits (with linear
    constraints, every corner of the constrained search space)."""
    robot = _robot(robot, "fidelities")
    try:
        limits = line_limits(robot, devices.limits)
    except SDLError as err:
        raise ConfigError(FieldIssue("devices.limits", str(err))) from err
    allowed = robot.parameter_limits(limits, batch_mass=devices.batch_mass)
    issues = _check_corners(parameters, limits, devices, robot, constraints)
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


def line_limits(robot: Any, overrides: dict) -> Any:
    """The robot line's default limits with the campaign file's ``[devices.limits]`` applied."""
    return robot.default_limits.with_ranges(overrides) if overrides else robot.default_limits
