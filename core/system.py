"""The material-system plugin contract: what a lab declares so that the controller can run
its campaigns without knowing anything about its material.

A system is one :class:`MaterialSystem` object in the lab's own Python package. A campaign
file names it by entry point (``system = "mylab_film"``, group ``sdl.systems``) or by
reference (``system = "mylab.films:system"``); simulator models are named the same way
(group ``sdl.simulators``, or ``model = "mylab.sims:Coarse"``). Nothing here imports a
system: :func:`load_reference` imports what the campaign file names.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Callable, Mapping, Protocol, runtime_checkable

from core.errors import ConfigError, FieldIssue

SYSTEMS_GROUP = "sdl.systems"
SIMULATORS_GROUP = "sdl.simulators"
_REFERENCE = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*")


@dataclass(frozen=True)
class PhysicalRange:
    """What a system's models and line accept for one continuous parameter.

    Attributes:
        unit: the unit of ``low``/``high`` (e.g. ``"degC"``).
        low, high: the physical range; a campaign's bounds must lie inside it.
    """

    unit: str
    low: float
    high: float


#: A parameter that takes a molecule (SMILES) rather than a number.
MOLECULE = "molecule"


@runtime_checkable
class RobotLine(Protocol):
    """How a system's robot makes and characterizes one sample (a Bluesky plan over Ophyd devices).

    Attributes:
        default_limits: the line's hardware limits (an object with ``ranges`` and
            ``with_ranges(overrides)``, see ``devices.DeviceLimits``).
        fault_devices: the device names a dry run may inject faults into.
    """

    default_limits: Any
    fault_devices: tuple[str, ...]

    def fault_specs(self, specs: list[Mapping[str, Any]]) -> tuple:
        """``[[devices.faults]]`` of a dry run -> the fault specs its twins inject (``ConfigError`` if bad)."""

    def make_line(self, *, seed: int, speedup: float, limits: Any, faults: tuple, settings: Any) -> Any:
        """The line: simulated twins for dry runs (``settings.dry_run``), real devices otherwise.

        A lab with several synthesis stations (``stations = N`` on the robot fidelity) adds a
        keyword ``station: int`` (0-based) and builds that station's devices; without it,
        several stations run only as dry runs on twins (each twin line its own seed)."""

    def plan(self, line: Any, recipe: Mapping[str, Any], *, sample_id: str, md: Mapping[str, Any],
             batch_mass: Any, watchdog_factor: float) -> Any:
        """The Bluesky plan (a generator of ``Msg``) that makes and characterizes one sample."""

    def check_recipe(self, recipe: Mapping[str, Any], limits: Any, *, batch_mass: Any) -> None:
        """Raise ``core.LimitError`` if a setpoint of the recipe is beyond the limits."""

    def parameter_limits(self, limits: Any, *, batch_mass: Any) -> dict[str, tuple[Any, Any]]:
        """Parameter name -> (low, high) quantities the line can make."""

    def record(self, documents: list[tuple[str, dict]]) -> Any:
        """A run's documents -> its record (``steps``, ``structure``, ``properties``, ``run_uid``,
        ``exit_status``). Optional: ``devices.steps_from_documents`` reads any line built from
        ``devices.signals`` (it reads each data key's role, path and units)."""

    def truth(self, recipe: Mapping[str, Any], *, seed: int, limits: Any, batch_mass: Any) -> dict[str, Any]:
        """Dry runs only: the hidden true properties of a recipe on the simulated line."""


@dataclass(frozen=True)
class MaterialSystem:
    """One material system, as a lab declares it.

    Attributes:
        name: the system's name (as in campaign files and records).
        parameters: recipe key -> :class:`PhysicalRange`, or :data:`MOLECULE`.
        properties: property name -> its unit (what the system measures), or a
            :class:`PhysicalRange` (unit and the values it can physically take: an objective's
            threshold or an outcome constraint outside it is refused).
        simulators: model name -> simulator class (``simulators.Simulator``) or factory.
        robot: the robot line (:class:`RobotLine`), or None for a simulation-only system.
        description: one line for people.
        linear_constraints: linear constraints every recipe must satisfy, written as in a
            campaign file's ``linear_constraints`` (e.g. ``"a_fraction + b_fraction <= 100 %"``);
            every campaign on this system gets them on top of its own.
    """

    name: str
    parameters: Mapping[str, PhysicalRange | str]
    properties: Mapping[str, str | PhysicalRange]
    simulators: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    robot: RobotLine | None = None
    description: str = ""
    linear_constraints: tuple[str, ...] = ()

    def property_unit(self, name: str) -> str:
        """The unit a property is reported in."""
        spec = self.properties[name]
        return spec if isinstance(spec, str) else spec.unit

    def problems(self) -> list[str]:
        """What is missing or malformed in the declaration (empty when it is usable)."""
        from core.constraints import parse_linear_constraint

        out = []
        if not isinstance(self.name, str) or not self.name:
            out.append("name: missing")
        if not self.properties:
            out.append("properties: none declared")
        for key, spec in dict(self.properties).items():
            if not isinstance(spec, (str, PhysicalRange)):
                out.append(f"properties.{key}: {spec!r} is neither a unit string nor a PhysicalRange")
        for key, spec in dict(self.parameters).items():
            if spec != MOLECULE and not isinstance(spec, PhysicalRange):
                out.append(f"parameters.{key}: {spec!r} is neither a PhysicalRange nor MOLECULE")
        for name, factory in dict(self.simulators).items():
            if not callable(factory):
                out.append(f"simulators.{name}: {factory!r} is not a simulator class")
        if self.robot is not None:
            missing = [part for part in ("default_limits", "fault_devices", "fault_specs", "make_line", "plan",
                                         "check_recipe", "parameter_limits") if not hasattr(self.robot, part)]
            if missing:
                out.append(f"robot: missing {', '.join(missing)}")
        if isinstance(self.linear_constraints, str) or not isinstance(self.linear_constraints, (tuple, list)):
            out.append(f"linear_constraints: {self.linear_constraints!r} is not a tuple of constraint strings")
        else:
            for i, text in enumerate(self.linear_constraints):
                try:  # the syntax only: which parameters a campaign has is checked when it is loaded
                    parse_linear_constraint(text, f"linear_constraints[{i}]")
                except ConfigError as err:
                    out.extend(str(issue) for issue in err.issues)
        return out


def load_reference(ref: str, group: str, field_name: str, what: str) -> Any:
    """The object a campaign file names: an entry point of ``group`` or ``module:attribute``.

    Raises:
        ConfigError: one issue naming ``field_name``: the name is unknown (with the known
            names), the module does not import, or the attribute is missing.
    """
    if not isinstance(ref, str) or not ref:
        raise ConfigError(FieldIssue(field_name, f"{ref!r} is not a {what} name or module:attribute reference"))
    if ":" in ref:
        if not _REFERENCE.fullmatch(ref):
            raise ConfigError(FieldIssue(field_name, f"{ref!r} is not a module:attribute reference, "
                                                     "e.g. \"mylab.films:system\""))
        module_name, _, attribute = ref.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
        except Exception as err:  # noqa: BLE001 - whatever the lab's module raises on import
            raise ConfigError(FieldIssue(field_name, f"{what} {ref!r}: module {module_name!r} does not import "
                                                     f"({type(err).__name__}: {err})")) from err
        for part in attribute.split("."):
            if not hasattr(obj, part):
                raise ConfigError(FieldIssue(field_name, f"{what} {ref!r}: {module_name!r} has no {attribute!r}"))
            obj = getattr(obj, part)
        return obj
    found = {ep.name: ep for ep in entry_points(group=group)}
    if ref not in found:
        raise ConfigError(FieldIssue(field_name, f"unknown {what} {ref!r}; installed: {sorted(found)} "
                                                 "(or give a module:attribute reference)"))
    try:
        return found[ref].load()
    except Exception as err:  # noqa: BLE001 - whatever the plugin raises on import
        raise ConfigError(FieldIssue(field_name, f"{what} {ref!r} (entry point {found[ref].value}) does not "
                                                 f"load ({type(err).__name__}: {err})")) from err


def installed(group: str) -> list[str]:
    """Names registered under an entry-point group, sorted."""
    return sorted({ep.name for ep in entry_points(group=group)})


def load_system(ref: str, field_name: str = "system") -> MaterialSystem:
    """The :class:`MaterialSystem` a campaign file names, checked.

    Raises:
        ConfigError: it does not load, is not a MaterialSystem, or its declaration has
            problems (each named with the system and the part).
    """
    obj = load_reference(ref, SYSTEMS_GROUP, field_name, "material system")
    if not isinstance(obj, MaterialSystem):
        raise ConfigError(FieldIssue(field_name, f"{ref!r} is a {type(obj).__name__}, not a core.MaterialSystem"))
    problems = obj.problems()
    if problems:
        raise ConfigError([FieldIssue(field_name, f"material system {ref!r}: {p}") for p in problems])
    return obj


def takes_station(robot: Any) -> bool:
    """Whether a robot's ``make_line`` builds a chosen station's line (it takes ``station=``)."""
    import inspect

    try:
        params = inspect.signature(robot.make_line).parameters
    except (AttributeError, TypeError, ValueError):
        return False
    return "station" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
