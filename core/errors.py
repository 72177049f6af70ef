"""One exception base for the project.

Messages say what was asked, what is allowed (with units) and how to fix it.
"""

from __future__ import annotations

import re
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

    Example message: ``furnace.temperature: 700 degC is above the device limit 650 degC``.
    """


class DeviceError(SDLError):
    """A device failed: a move timed out, a status finished with failure, a bad reading."""


class SimulationError(SDLError):
    """A simulator could not compute a result for the recipe it was given."""


class PluginError(SDLError):
    """A material system's plugin broke its contract when its parts ran: a simulator raised on
    the middle of the search space, a robot plan made no run. The message names the system and
    the part (``material system 'mylab:system': robot.plan ...``)."""


class OptimizerError(SDLError):
    """The optimizer could not produce a suggestion."""


class StoreError(SDLError):
    """The record store is unreadable, corrupt, or belongs to another campaign."""


#: What can go wrong with a device, as :attr:`DeviceFault.kind`.
#: ``timeout``: an action never finished; ``fail``: its status finished with failure;
#: ``disconnect``: the device did not answer a command; ``nan_reading`` / ``out_of_range`` /
#: ``stuck``: a reading was NaN, physically impossible, or repeated a sensor's previous
#: value exactly; ``watchdog``: an action ran far longer than expected and was stopped.
DEVICE_FAULT_KINDS = ("timeout", "fail", "disconnect", "nan_reading", "out_of_range", "stuck", "watchdog")

_FAULT_MESSAGE = re.compile(
    r"(?P<device>[A-Za-z0-9_.\-]+)(?: \((?P<step>[A-Za-z0-9_]+)\))?: "
    r"(?P<kind>" + "|".join(DEVICE_FAULT_KINDS) + r"): (?P<detail>.*)",
    re.DOTALL,
)


class DeviceFault(DeviceError):
    """A device fault of a known kind, at a known plan step.

    The message has a fixed grammar, ``<device>[ (<step>)]: <kind>: <detail>``, e.g.
    ``furnace (anneal): watchdog: the anneal ran 3.1x its expected 4.3 h without finishing; stopped``, so a run's
    stop document (whose ``reason`` is this message) can be read back with
    :meth:`from_message`.

    Attributes:
        device: the device's name (``furnace``, ``feed_pump`` ...).
        kind: one of :data:`DEVICE_FAULT_KINDS`.
        detail: what happened, in words.
        step: the plan step (stream) where it happened (``tracker``, ``dispense``, ``mix``,
            ``cure``, ``characterize``, or ``ambient`` for the room reading at the start), or None.
    """

    def __init__(self, device: str, kind: str, detail: str = "", step: str | None = None):
        if kind not in DEVICE_FAULT_KINDS:
            raise ValueError(f"device fault kind {kind!r} is not one of {', '.join(DEVICE_FAULT_KINDS)}")
        self.device = str(device)
        self.kind = kind
        self.detail = str(detail)
        self.step = step
        where = f"{self.device} ({step})" if step else self.device
        super().__init__(f"{where}: {kind}: {self.detail}")

    def __reduce__(self):
        return (type(self), (self.device, self.kind, self.detail, self.step))

    def with_step(self, step: str | None) -> DeviceFault:
        """The same fault at plan step ``step`` (a new exception; ``self`` is left as it is)."""
        return type(self)(self.device, self.kind, self.detail, step)

    def as_dict(self) -> dict[str, str | None]:
        """``{"device", "kind", "step", "detail"}``: plain JSON-able values."""
        return {"device": self.device, "kind": self.kind, "step": self.step, "detail": self.detail}

    @classmethod
    def from_message(cls, text: str | None) -> DeviceFault | None:
        """The fault whose message is ``text`` (e.g. a stop document's ``reason``), or None
        when ``text`` does not have the grammar of a fault message."""
        if not text:
            return None
        match = _FAULT_MESSAGE.fullmatch(text)
        if match is None:
            return None
        return cls(match["device"], match["kind"], match["detail"], match["step"])
