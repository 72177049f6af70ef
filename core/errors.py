"""One exception base for the project.

Messages say what was asked, what is allowed (with units) and how to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass


class SDLError(Exception):
    """Base of every error the controller raises on purpose."""


@dataclass(frozen=True)
class FieldIssue:
    """One problem with one field of a campaign file or record.

    Attributes:
        field: dotted path of the field, e.g. ``parameters.cure_temperature.low``.
        message: what is wrong and what is allowed.
    """

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ConfigError(SDLError):
    """A campaign file (or a value built from one) is invalid.

    Collects every issue found so the user can fix them all at once.
    """

    def __init__(self, issues: list[FieldIssue] | FieldIssue | str, source: str | None = None):
        if isinstance(issues, str):
            issues = [FieldIssue("config", issues)]
        elif isinstance(issues, FieldIssue):
            issues = [issues]
        self.issues: list[FieldIssue] = list(issues)
        self.source = source
        where = f"{source}: " if source else ""
        if len(self.issues) == 1:
            text = f"{where}{self.issues[0]}"
        else:
            text = f"{where}{len(self.issues)} problems: " + "; ".join(str(i) for i in self.issues)
        super().__init__(text)

    @property
    def fields(self) -> list[str]:
        return [issue.field for issue in self.issues]


class InputDataError(SDLError):
    """Data handed to a component (a history table, a recipe) is malformed."""


class LimitError(SDLError):
    """A setpoint is outside a device's limits; the plan is refused before it runs.

    Example message: ``oven.temperature: 450 degC is above the device limit 250 degC``.
    """


class DeviceError(SDLError):
    """A device failed: a move timed out, a status finished with failure, a bad reading."""


class SimulationError(SDLError):
    """A simulator could not compute a result for the recipe it was given."""


class OptimizerError(SDLError):
    """The optimizer could not produce a suggestion."""


class StoreError(SDLError):
    """The record store is unreadable, corrupt, or belongs to another campaign."""
