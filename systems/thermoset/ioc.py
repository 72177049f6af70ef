"""A Channel Access IOC (caproto) serving the simulated synthesis line.

One command starts it::

    python -m systems.thermoset.ioc --prefix SDL: [--port 5064] [--interfaces 127.0.0.1] [--speedup 1000] [--seed 0]

It owns a :class:`systems.thermoset.devices.sim.SimulatedLab` and the simulated twins of
:mod:`systems.thermoset.devices.sim.twins` (the same physics, lots, noise and hidden truth as an in-process dry
run) and serves them with the PV contract of :mod:`devices.epics.pvs`: every component of the
line's devices is a PV (``SDL:oven:temperature``, ``SDL:resin_dispenser:lot_number`` ...),
setpoints are writable with the device limits as control limits, text travels as CHAR
waveforms, and each device has ``Go``/``Acquire`` (put-completion when the action is done),
``Busy``, ``Stop`` and ``Error``. The PV list is built from the simulated device classes
themselves, so the IOC cannot drift from them.

``--fault device:kind:probability[:signal]`` (repeatable) switches on the twins' seeded fault
injection (see ``[[devices.faults]]`` in the README).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pint
from caproto import ChannelType
from caproto.server import PVGroup, SubGroup, pvproperty

from core import Q_, ConfigError, SDLError
from devices.ambient import AmbientSensor
from devices.epics.pvs import ACTION_PV, BUSY, CLOCK, ERROR, STOP, TEXT_LENGTH, TIME_SCALE, device_prefix, egu
from devices.limits import DeviceLimits
from devices.signals import SetpointSignal
from devices.tracker import SampleTracker
from systems.thermoset.devices.backends import CureProgram
from systems.thermoset.devices.characterizer import Characterizer
from systems.thermoset.devices.dispenser import Dispenser
from systems.thermoset.devices.faults import FaultSpec, fault_specs_from_config
from systems.thermoset.devices.limits import DEFAULT_LIMITS
from systems.thermoset.devices.mixer import Mixer
from systems.thermoset.devices.oven import CuringOven

log = logging.getLogger("systems.thermoset.ioc")

#: Line attribute -> the simulated line's device class (whose components become PVs), in process order.
LINE_CLASSES = {
    "tracker": SampleTracker,
    "ambient": AmbientSensor,
    "resin_dispenser": Dispenser,
    "hardener_dispenser": Dispenser,
    "additive_dispenser": Dispenser,
    "mixer": Mixer,
    "oven": CuringOven,
    "characterizer": Characterizer,
}

# Each action reads its setpoints from the PVs when it starts (in the IOC's event loop) and
# returns the call that runs in a worker thread: call(stop) -> readbacks.
def _dispense(g: DevicePVs):
    reagent, mass = g.text("reagent"), g.quantity("mass")
    return lambda stop: g.backend.dispense(reagent, mass, stop)


def _mix(g: DevicePVs):
    speed, duration = g.quantity("speed"), g.quantity("duration")
    return lambda stop: g.backend.mix(speed, duration, stop)


def _cure(g: DevicePVs):
    program = CureProgram(temperature=g.quantity("temperature"), ramp_rate=g.quantity("ramp_rate"),
                          settle_tolerance=g.quantity("settle_tolerance"), settle_time=g.quantity("settle_time"),
                          hold_time=g.quantity("hold_time"))
    return lambda stop: g.backend.cure(program, stop)


def _measure(g: DevicePVs):
    rate = g.quantity("heating_rate")
    return lambda stop: g.backend.measure(rate, stop)


def _assign(g: DevicePVs):
    sample_id = g.text("sample_id")
    return lambda stop: g.backend.assign(sample_id, stop)


#: Device class -> kind (``set``/``trigger``) -> action (as the in-process device's ``set``/``trigger``).
ACTIONS: dict[type, dict[str, Callable[[DevicePVs], Callable[[threading.Event], Mapping[str, Any]]]]] = {
    Dispenser: {"set": _dispense},
    Mixer: {"set": _mix},
    CuringOven: {"set": _cure},
    Characterizer: {"trigger": _measure},
    SampleTracker: {"set": _assign, "trigger": lambda g: g.backend.where},
    AmbientSensor: {"trigger": lambda g: g.backend.conditions},
}


def _text(value: Any) -> str:
    """A CHAR waveform's value as text (caproto hands over str, bytes or an array of codes)."""
    if isinstance(value, str):
        return value.split("\0", 1)[0]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).split(b"\0", 1)[0].decode("latin-1")
    codes = bytes(int(c) & 0xFF for c in np.ravel(value))
    return codes.split(b"\0", 1)[0].decode("latin-1")


class DevicePVs(PVGroup):
    """The PVs of one device of the line; subclasses (one per device, built by
    :func:`device_pvs`) add a pvproperty per component of the simulated device class."""

    device_name = ""
    units: dict[str, str | None] = {}
    device_class: type = object

    busy = pvproperty(value=0, name=BUSY, read_only=True, doc="1 while an action runs")
    error = pvproperty(value="", name=ERROR, dtype=ChannelType.CHAR, max_length=TEXT_LENGTH,
                       report_as_string=False, read_only=True, doc="why the last action failed; empty if it did not")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._stop_event: threading.Event | None = None

    @property
    def backend(self) -> Any:
        return self.parent.backends[self.device_name]

    def quantity(self, attr: str) -> pint.Quantity:
        return Q_(float(getattr(self, attr).value), self.units[attr])

    def text(self, attr: str) -> str:
        return _text(getattr(self, attr).value)

    async def write_reading(self, attr: str, value: Any) -> None:
        units = self.units.get(attr)
        if units is None:
            await getattr(self, attr).write(str(value)[: TEXT_LENGTH - 1])
            return
        magnitude = value.to(units).magnitude if isinstance(value, pint.Quantity) else value
        await getattr(self, attr).write(float(magnitude))

    async def run_action(self, kind: str) -> None:
        """Run the device's ``kind`` action in a worker thread; write readbacks, Error and Busy."""
        if self.busy.value:
            await self.error.write(f"{self.device_name}: busy with a previous action; wait for it or stop the device")
            return
        stop = threading.Event()
        self._stop_event = stop
        await self.busy.write(1)
        await self.error.write("")
        lab = self.parent.lab
        try:
            call = ACTIONS[self.device_class][kind](self)
            if self.device_class is Dispenser:  # the lot in the dispenser now, as the in-process device shows it
                await self.lot_number.write(self.backend.lot_number(self.text("reagent")))
            begin = getattr(self.backend, "begin_action", None)
            if begin is not None:
                begin(kind)
            readings = await asyncio.get_running_loop().run_in_executor(self.parent.executor, call, stop)
            for attr, value in readings.items():
                await self.write_reading(attr, value)
        except Exception as err:  # every failure goes to the Error PV: a CA put cannot carry it
            message = str(err) if isinstance(err, SDLError) else f"{self.device_name}: {type(err).__name__}: {err}"
            log.info("%s %s failed: %s", self.device_name, kind, message)
            await self.error.write(message[: TEXT_LENGTH - 1])
        finally:
            self._stop_event = None
            await self.busy.write(0)
            await self.parent.clock.write(float(lab.clock))

    async def request_stop(self) -> None:
        if self._stop_event is not None:
            self._stop_event.set()


async def _put_stop(group: DevicePVs, instance, value):
    await group.request_stop()
    return 0


def _put_action(kind: str):
    async def put(group: DevicePVs, instance, value):
        await group.run_action(kind)
        return 0

    put.__name__ = f"put_{kind}"
    return put


async def _put_reagent(group: DevicePVs, instance, value):
    """A cartridge swap: the lot number follows the reagent (as ``Dispenser`` does)."""
    reagent = _text(value)
    await group.lot_number.write(group.backend.lot_number(reagent) if reagent else "")
    return value


def device_pvs(name: str, device_class: type, limits: DeviceLimits = DEFAULT_LIMITS,
               initial: Mapping[str, Any] | None = None,
               egu_overrides: Mapping[str, str] | None = None) -> type[DevicePVs]:
    """The PVGroup class of one device: a PV per component of ``device_class``.

    Args:
        name: the device's line attribute (``oven``): first part of its setpoint paths.
        device_class: the simulated line's class (``CuringOven``): components, units, roles.
        limits: the hardware limits, served as the setpoints' control limits (DRVL/DRVH).
        initial: attribute -> initial value (``reagent`` of a dispenser).
        egu_overrides: attribute -> EGU served instead of the component's unit (a miswired IOC,
            for pre-flight tests; the twins still work in the component's unit).
    """
    initial = dict(initial or {})
    egu_overrides = dict(egu_overrides or {})
    body: dict[str, Any] = {"device_name": name, "device_class": device_class, "units": {}}
    for attr in device_class.component_names:
        component = getattr(device_class, attr)
        units = component.kwargs.get("units")
        writable = issubclass(component.cls, SetpointSignal)
        value = initial.get(attr, component.kwargs.get("value"))
        body["units"][attr] = units
        doc = f"{name}.{attr}" + (f" [{units}]" if units else "")
        if units is None:
            extra = {"put": _put_reagent} if device_class is Dispenser and attr == "reagent" else {}
            body[attr] = pvproperty(value=str(value or ""), name=attr, dtype=ChannelType.CHAR, max_length=TEXT_LENGTH,
                                    report_as_string=False, read_only=not writable, doc=doc, **extra)
            continue
        bounds = limits.bounds(f"{name}.{attr}") if writable else None
        ctrl = {}
        if bounds is not None:
            ctrl = {"lower_ctrl_limit": float(bounds[0].to(units).magnitude),
                    "upper_ctrl_limit": float(bounds[1].to(units).magnitude)}
        body[attr] = pvproperty(value=float(value or 0.0), name=attr, units=egu_overrides.get(attr, egu(units)),
                                precision=4,
                                read_only=not writable, doc=doc, **ctrl)
    for kind in ACTIONS[device_class]:
        body[kind] = pvproperty(value=0, name=ACTION_PV[kind], put=_put_action(kind),
                                doc=f"write 1 to {kind}; the put completes when the action is done")
    body["stop"] = pvproperty(value=0, name=STOP, put=_put_stop, doc="write 1 to interrupt the running action")
    return type(f"{device_class.__name__}PVs_{name}", (DevicePVs,), body)


class LinePVs(PVGroup):
    """The line's IOC: one :class:`DevicePVs` per device (built by :func:`make_ioc`), the clock and the time scale."""

    clock = pvproperty(value=0.0, name=CLOCK, units="s", read_only=True, precision=1,
                       doc="simulated seconds since the lab opened")

    def __init__(self, *args, lab: Any, backends: Mapping[str, Any], **kwargs):
        self.lab = lab
        self.backends = dict(backends)
        self.executor = ThreadPoolExecutor(max_workers=len(self.backends) + 2, thread_name_prefix="ioc-action")
        super().__init__(*args, **kwargs)


def make_ioc(prefix: str = "SDL:", seed: int = 0, speedup: float = 1000.0, limits: DeviceLimits | None = None,
             faults: Sequence[FaultSpec] = (), egu_overrides: Mapping[str, str] | None = None) -> LinePVs:
    """The IOC of a simulated line: its PV groups and the twins behind them.

    Args:
        prefix: PV prefix (``SDL:``).
        seed, speedup, faults: as for :func:`systems.thermoset.devices.make_sim_line` (same lab, same twins).
        limits: hardware limits served as control limits; None for :data:`systems.thermoset.devices.DEFAULT_LIMITS`.
        egu_overrides: setpoint path (``oven.temperature``) -> EGU served instead of its unit.

    Returns:
        The top :class:`LinePVs` group; ``ioc.pvdb`` goes to ``caproto.server.run``, ``ioc.lab``
        is the :class:`~systems.thermoset.devices.sim.SimulatedLab` (hidden truth in ``ioc.lab.samples``).
    """
    from systems.thermoset.devices.sim.lab import HARDENER_NAME, RESIN_NAME, SimulatedLab
    from systems.thermoset.devices.sim.twins import SimAmbientSensor, SimCharacterizer, SimDispenser, SimMixer, SimOven, SimTracker

    limits = limits if limits is not None else DEFAULT_LIMITS
    lab = SimulatedLab(seed=seed, speedup=speedup, faults=faults)
    backends = {
        "tracker": SimTracker(lab),
        "ambient": SimAmbientSensor(lab),
        "resin_dispenser": SimDispenser(lab, "resin"),
        "hardener_dispenser": SimDispenser(lab, "hardener"),
        "additive_dispenser": SimDispenser(lab, "additive"),
        "mixer": SimMixer(lab),
        "oven": SimOven(lab),
        "characterizer": SimCharacterizer(lab),
    }
    reagents = {"resin_dispenser": RESIN_NAME, "hardener_dispenser": HARDENER_NAME, "additive_dispenser": ""}
    body: dict[str, Any] = {
        "time_scale": pvproperty(value=float(speedup), name=TIME_SCALE, read_only=True,
                                 doc="process seconds per wall second (the twins' speedup)"),
    }
    for name, cls in LINE_CLASSES.items():
        initial = {}
        if name in reagents:
            initial = {"reagent": reagents[name], "lot_number": backends[name].lot_number(reagents[name])}
        egus = {path.split(".", 1)[1]: text for path, text in (egu_overrides or {}).items()
                if path.split(".", 1)[0] == name}
        body[name] = SubGroup(device_pvs(name, cls, limits, initial, egus), prefix=device_prefix("", name))
    ioc_class = type("SimulatedLinePVs", (LinePVs,), body)
    return ioc_class(prefix=prefix, lab=lab, backends=backends)


def parse_fault(text: str) -> dict[str, Any]:
    """``oven:timeout:0.3`` or ``characterizer:out_of_range:0.2:fracture_toughness`` -> a fault table."""
    parts = text.split(":")
    if len(parts) not in (3, 4):
        raise argparse.ArgumentTypeError(f"{text!r}: write device:kind:probability[:signal], e.g. oven:timeout:0.3")
    try:
        probability = float(parts[2])
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r}: probability {parts[2]!r} is not a number from 0 to 1") from err
    spec: dict[str, Any] = {"device": parts[0], "kind": parts[1], "probability": probability}
    if len(parts) == 4:
        spec["signal"] = parts[3]
    return spec


def parse_egu(text: str) -> tuple[str, str]:
    """``oven.temperature=degF`` -> (path, EGU)."""
    path, sep, unit = text.partition("=")
    if not sep or "." not in path:
        raise argparse.ArgumentTypeError(f"{text!r}: write device.setpoint=EGU, e.g. oven.temperature=degF")
    return path.strip(), unit.strip()


def parse_drive_limits(text: str) -> tuple[str, float, float]:
    """``oven.temperature=20:150`` -> (path, DRVL, DRVH) in the setpoint's own unit."""
    path, sep, pair = text.partition("=")
    low, colon, high = pair.partition(":")
    try:
        if not sep or not colon or "." not in path:
            raise ValueError
        return path.strip(), float(low), float(high)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: write device.setpoint=LOW:HIGH in the setpoint's unit, "
                                         "e.g. oven.temperature=20:150") from None


def _served_limits(drive: Sequence[tuple[str, float, float]]) -> tuple[DeviceLimits, list[str]]:
    """:data:`DEFAULT_LIMITS` with ``--drive-limits`` applied (any range, wider or narrower)."""
    ranges, problems = {}, []
    for path, low, high in drive:
        pair = DEFAULT_LIMITS.bounds(path)
        if pair is None:
            problems.append(f"--drive-limits: unknown setpoint {path!r}; allowed: {sorted(DEFAULT_LIMITS.ranges)}")
        elif not low < high:
            problems.append(f"--drive-limits {path}: low {low:g} must be below high {high:g}")
        else:
            ranges[path] = (Q_(low, pair[0].units), Q_(high, pair[0].units))
    return DEFAULT_LIMITS.with_ranges(ranges), problems


class _QuietBeacons(logging.Filter):
    """Drop caproto's error for every beacon nobody listens to (no CA repeater on loopback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "beacon" not in record.getMessage().lower()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m systems.thermoset.ioc", description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefix", default="SDL:", help="PV prefix (default SDL:)")
    parser.add_argument("--port", type=int, default=None,
                        help="Channel Access server port (default $EPICS_CA_SERVER_PORT or 5064)")
    parser.add_argument("--interfaces", nargs="+", default=["127.0.0.1"],
                        help="addresses to serve on (default 127.0.0.1: loopback only)")
    parser.add_argument("--speedup", type=float, default=1000.0,
                        help="simulated seconds per wall second (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of lots, noise and the hidden truth (default 0)")
    parser.add_argument("--fault", type=parse_fault, action="append", default=[], metavar="DEVICE:KIND:P[:SIGNAL]",
                        help="inject a seeded fault, e.g. oven:timeout:0.3 (repeatable)")
    parser.add_argument("--egu", type=parse_egu, action="append", default=[], metavar="DEVICE.SETPOINT=EGU",
                        help="serve another EGU for a setpoint, e.g. oven.temperature=degF (a miswired IOC; repeatable)")
    parser.add_argument("--drive-limits", type=parse_drive_limits, action="append", default=[],
                        metavar="DEVICE.SETPOINT=LOW:HIGH",
                        help="serve other drive limits (DRVL/DRVH) for a setpoint, in its unit, e.g. "
                             "oven.temperature=20:150 (repeatable)")
    parser.add_argument("--list-pvs", action="store_true", help="print the PV names at startup")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every action")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from caproto.server import run

    args = build_parser().parse_args(argv)
    problems = []
    if not args.prefix.strip():
        problems.append("--prefix must not be empty (e.g. SDL:)")
    if args.port is not None and not 1 <= args.port <= 65535:
        problems.append(f"--port {args.port} must be from 1 to 65535")
    if not (math.isfinite(args.speedup) and args.speedup > 0):
        problems.append(f"--speedup {args.speedup} must be a number above 0 (simulated seconds per wall second)")
    faults: tuple = ()
    try:
        faults = fault_specs_from_config(args.fault) if args.fault else ()
    except ConfigError as err:
        problems.extend(f"--fault: {issue}" for issue in err.issues)
    limits, limit_problems = _served_limits(args.drive_limits)
    problems.extend(limit_problems)
    problems.extend(f"--egu: unknown setpoint {path!r}; allowed: {sorted(DEFAULT_LIMITS.ranges)}"
                    for path, _ in args.egu if DEFAULT_LIMITS.bounds(path) is None)
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.port is not None:
        os.environ["EPICS_CA_SERVER_PORT"] = str(args.port)
    # beacons go to the served interfaces only, not every broadcast address of the host
    os.environ.setdefault("EPICS_CAS_AUTO_BEACON_ADDR_LIST", "NO")
    os.environ.setdefault("EPICS_CAS_BEACON_ADDR_LIST", " ".join(args.interfaces))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_QuietBeacons())
    ioc = make_ioc(prefix=args.prefix, seed=args.seed, speedup=args.speedup, faults=faults, limits=limits,
                   egu_overrides=dict(args.egu))
    print(f"systems.thermoset.ioc: serving {len(ioc.pvdb)} PVs under {args.prefix!r} on {' '.join(args.interfaces)} "
          f"port {os.environ.get('EPICS_CA_SERVER_PORT', '5064')}, speedup {args.speedup:g}, seed {args.seed}",
          flush=True)
    if args.list_pvs:
        for pv in sorted(ioc.pvdb):
            print(pv, flush=True)
    try:
        run(ioc.pvdb, interfaces=list(args.interfaces))
    except KeyboardInterrupt:
        pass
    finally:
        ioc.executor.shutdown(wait=False, cancel_futures=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
