"""The pre-flight of a real (``[devices] dry_run = false``) campaign: before anything moves,
reach every device of the line and compare what its setpoint PVs serve with what the campaign
declares.

For a line on ``transport = "epics"`` (the PV contract of :mod:`devices.epics.pvs`:
``<prefix><device>:<signal>``), every setpoint with limits (``furnace.temperature`` ->
``SDL:furnace:temperature``) is read with its control metadata: its engineering unit (EGU) must be
the unit the line writes in (the unit of the line's limits), and the campaign's range for it (the
line's limits narrowed by ``[devices.limits]``, which the parameter bounds already fit) must lie
inside the PV's drive limits (DRVL/DRVH, served as the control limits). Each device's ``Busy`` PV
must answer too. A plugin whose real line is not EPICS may give its robot line a
``preflight(settings, limits) -> list[str]`` method; its problems are reported the same way.

Every problem is one line naming the device/PV, what was read and what was expected.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from controller.config.campaign import CampaignConfig
from controller.config.devices import line_limits
from core import DeviceError

__all__ = ["PreflightError", "PreflightReport", "preflight", "require_preflight"]

#: Relative slack when comparing a campaign bound with a PV's drive limit (float round trips).
_TOLERANCE = 1e-9


class PreflightError(DeviceError):
    """The line is not what the campaign declares; nothing was moved or recorded.

    Attributes:
        problems: one line per problem.
    """

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        noun = "problem" if len(self.problems) == 1 else "problems"
        super().__init__(f"pre-flight refused the line ({len(self.problems)} {noun}):\n"
                         + "\n".join(f"  {p}" for p in self.problems))


@dataclass(frozen=True)
class PreflightReport:
    """What the pre-flight looked at.

    Attributes:
        checked: PV (or device) names read.
        problems: one line per problem; empty when the line matches the campaign.
    """

    checked: tuple[str, ...]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def preflight(config: CampaignConfig) -> PreflightReport:
    """Check the campaign's line (connect, units, limits) and report every problem found.

    A campaign without a robot fidelity has nothing to check.
    """
    robot = config.robot
    if robot is None or not any(f.kind == "robot" for f in config.fidelities):
        return PreflightReport((), ())
    limits = line_limits(robot, config.devices.limits)
    if config.devices.transport == "epics":
        return _epics_preflight(config, limits)
    hook = getattr(robot, "preflight", None)
    if hook is None:
        return PreflightReport((), ())
    return PreflightReport(("line",), tuple(hook(config.devices, limits)))


def require_preflight(config: CampaignConfig) -> PreflightReport:
    """:func:`preflight`, raising :class:`PreflightError` when it finds any problem."""
    report = preflight(config)
    if report.problems:
        raise PreflightError(report.problems)
    return report


def _device_names(config: CampaignConfig, limits: Any) -> list[str]:
    names = dict.fromkeys(path.split(".", 1)[0] for path in limits.ranges)
    names.update(dict.fromkeys(getattr(config.robot, "fault_devices", ()) or ()))
    return list(names)


def _epics_preflight(config: CampaignConfig, limits: Any) -> PreflightReport:
    from caproto.threading.client import Context

    from devices.epics.pvs import BUSY, device_prefix
    from devices.epics.settings import apply_ca_environment

    settings = config.devices
    apply_ca_environment(settings.ca_addr_list, settings.ca_server_port)
    prefix = settings.ioc_prefix
    timeout = float(settings.connection_timeout.to("s").magnitude)
    setpoints = {path: device_prefix(prefix, path.split(".", 1)[0]) + path.split(".", 1)[1] for path in limits.ranges}
    busy = {name: device_prefix(prefix, name) + BUSY for name in _device_names(config, limits)}
    names = list(dict.fromkeys([*busy.values(), *setpoints.values()]))
    problems: list[str] = []
    context = Context()
    try:
        pvs = dict(zip(names, context.get_pvs(*names, timeout=timeout)))
        deadline = time.monotonic() + timeout
        unreachable: set[str] = set()
        for name, pv in pvs.items():
            try:
                pv.wait_for_connection(timeout=max(deadline - time.monotonic(), 0.05))
            except TimeoutError:
                unreachable.add(name)
        for device, name in busy.items():
            if name in unreachable:
                problems.append(f"{device}: {name} did not connect within {timeout:g} s; expected the device's IOC "
                                f"at prefix {prefix!r} (start it, or set devices.ca_addr_list / ca_server_port)")
        for path, name in setpoints.items():
            if name in unreachable:
                if busy.get(path.split(".", 1)[0]) not in unreachable:  # one line per device that is down
                    problems.append(f"{path}: {name} did not connect within {timeout:g} s; expected a setpoint PV")
                continue
            problems += _check_setpoint(path, name, pvs[name], limits.ranges[path], timeout)
    finally:
        context.disconnect()
    return PreflightReport(tuple(names), tuple(problems))


def _check_setpoint(path: str, name: str, pv: Any, declared: tuple, timeout: float) -> list[str]:
    """The problems of one setpoint PV: its EGU against the line's unit, its drive limits
    against the campaign's range."""
    from core import Q_, unit_text
    from devices.epics.pvs import same_units

    low, high = declared
    unit = unit_text(low.units)
    try:
        meta = pv.read(data_type="control", timeout=timeout).metadata
    except Exception as err:  # noqa: BLE001 - any failure to read is a problem to report
        return [f"{path}: reading {name} failed ({type(err).__name__}: {err}); expected EGU {unit!r} and drive limits"]
    egu = meta.units.decode("latin-1") if isinstance(meta.units, bytes) else str(meta.units or "")
    egu = egu.split("\0", 1)[0].strip()
    same = same_units(egu, unit)
    if same is not True:
        why = "a unit of another dimension" if same is False and not _same_dimension(egu, unit) else \
            "a unit the line does not convert" if same is False else "not a unit pint can read"
        return [f"{path}: {name} has EGU {egu!r} ({why}); expected {unit!r}: fix the IOC's EGU or the line's unit"]
    drvl, drvh = float(meta.lower_ctrl_limit), float(meta.upper_ctrl_limit)
    if not drvl < drvh:
        return []  # the IOC sets no drive limits: the line's own limits apply
    lo, hi = float(low.to(unit).magnitude), float(high.to(unit).magnitude)
    slack = _TOLERANCE * max(1.0, abs(drvl), abs(drvh))
    if lo < drvl - slack or hi > drvh + slack:
        shown = f"{Q_(drvl, unit):~g} to {Q_(drvh, unit):~g}"
        return [f"{path}: {name} drive limits (DRVL/DRVH) are {shown}; the campaign declares {Q_(lo, unit):~g} to "
                f"{Q_(hi, unit):~g}, outside them: narrow [devices.limits] {path} to within {shown} or fix the IOC"]
    return []


def _same_dimension(egu: str, unit: str) -> bool:
    from core import ureg

    try:
        return ureg.Quantity(1.0, egu or "").dimensionality == ureg.Quantity(1.0, unit).dimensionality
    except Exception:  # noqa: BLE001
        return False
