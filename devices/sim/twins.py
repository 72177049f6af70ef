"""The seeded lab behind a line's twins, the faults it injects, and the base of a twin backend.

Everything random is drawn from generators keyed by (seed, what, ...), so a seed gives the
same line, lots, noise and faults however fast the twins run. Faults are drawn from
generators keyed by (seed, "fault", device, spec, action number), a stream apart from the
physics, so switching faults on changes nothing about a sample that no fault strikes (beyond
the lab's clock, which a failed sample moves as a real one would).
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import numpy as np
import pint

from core import Q_, DeviceError, DeviceFault, InputDataError
from devices.faults import FaultSpec


class FaultInjector:
    """Draws the faults of each device action and corrupts readings.

    Args:
        lab: the :class:`TwinLab` (its ``rng`` and current ``sample``).
        specs: the faults switched on.
        impossible: reading -> a value no healthy instrument gives (in the reading's unit),
            what an ``out_of_range`` fault reads.

    Attributes:
        specs: the faults switched on.
        log: one dict per injected fault: ``device``, ``kind``, ``signal``, ``sample`` (index),
            ``sample_id``, ``action`` (the device's action number, from 0).
    """

    def __init__(self, lab: Any, specs: Iterable[FaultSpec] = (), impossible: Mapping[str, float] | None = None):
        self.lab = lab
        self.specs = tuple(specs)
        self.impossible = dict(impossible or {})
        self.log: list[dict[str, Any]] = []
        self._actions: dict[str, int] = {}
        self._last: dict[tuple[str, str], pint.Quantity] = {}
        self._lock = threading.Lock()

    def draw(self, device: str, sample_index: int) -> FaultSpec | None:
        """The fault (if any) of ``device``'s next action, which belongs to sample ``sample_index``."""
        with self._lock:
            action = self._actions.get(device, 0)
            self._actions[device] = action + 1
        for i, spec in enumerate(self.specs):
            if spec.device != device or sample_index < (spec.after_samples or 0):
                continue
            if self.lab.rng("fault", device, i, action).random() < spec.probability:
                sample = self.lab.sample
                self.log.append({"device": device, "kind": spec.kind, "signal": spec.signal, "sample": sample_index,
                                 "sample_id": sample.sample_id if sample is not None and sample.index == sample_index else None,
                                 "action": action})
                return spec
        return None

    def readings(self, device: str, spec: FaultSpec | None, readbacks: Mapping[str, Any]) -> dict[str, Any]:
        """``readbacks`` with the reading fault of ``spec`` applied; remembers what each sensor showed."""
        out = dict(readbacks)
        if spec is not None and spec.signal in out and isinstance(out[spec.signal], pint.Quantity):
            value = out[spec.signal]
            if spec.kind == "nan_reading":
                shape = np.shape(value.magnitude)
                out[spec.signal] = Q_(np.full(shape, np.nan) if shape else float("nan"), value.units)
            elif spec.kind == "out_of_range":
                if spec.signal not in self.impossible:
                    raise DeviceError(f"{device}: no impossible value of {spec.signal} is known to inject")
                out[spec.signal] = Q_(self.impossible[spec.signal], value.units)
            elif spec.kind == "stuck" and (device, spec.signal) in self._last:
                out[spec.signal] = self._last[(device, spec.signal)]  # a first reading has nothing to repeat
        for name, value in out.items():
            if isinstance(value, pint.Quantity):
                self._last[(device, name)] = value
        return out


class TwinLab:
    """The simulated lab behind a line's twins: seed, speed-up, clock, the samples made and the
    one in hand, and the fault injector.

    Args:
        seed: seeds everything.
        speedup: simulated seconds per wall second (> 0).
        faults: :class:`devices.FaultSpec` s the twins inject (see :attr:`faults`).
        impossible: reading -> an impossible value, for ``out_of_range`` faults.

    Attributes:
        samples: sample id -> what the lab knows about it (a system's own record, with an ``index``).
        sample: the sample in hand, or None.
        faults: the :class:`FaultInjector`; its ``log`` lists the injected faults.

    Raises:
        InputDataError: ``speedup`` is not above 0.
    """

    def __init__(self, seed: int = 0, speedup: float = 1000.0, faults: Iterable[FaultSpec] = (),
                 impossible: Mapping[str, float] | None = None):
        if not speedup > 0:
            raise InputDataError(f"speedup {speedup!r} must be > 0")
        self.seed = int(seed)
        self.speedup = float(speedup)
        self.clock = 0.0  # simulated seconds since the lab opened
        self.samples: dict[str, Any] = {}
        self.sample: Any = None
        self._lock = threading.RLock()
        self.faults = FaultInjector(self, faults, impossible)

    def rng(self, *keys: object) -> np.random.Generator:
        """A generator keyed by the seed and ``keys`` (strings or ints)."""
        words = [self.seed] + [k if isinstance(k, int) else zlib.crc32(str(k).encode()) for k in keys]
        return np.random.default_rng([w & 0xFFFFFFFF for w in words])

    def elapse(self, seconds: float, stop: threading.Event, started: float) -> None:
        """Advance the simulated clock by ``seconds``; block the calling worker thread for
        ``seconds / speedup`` wall seconds counted from ``started`` (``time.monotonic()``).

        Raises:
            DeviceError: the device was stopped meanwhile.
        """
        with self._lock:
            self.clock += float(seconds)
        remaining = seconds / self.speedup - (time.monotonic() - started)
        if remaining > 0 and stop.wait(remaining):
            raise DeviceError("stopped before the action finished")
        if stop.is_set():
            raise DeviceError("stopped before the action finished")

    def sample_index(self) -> int:
        """The index of the sample in hand (0 before the first)."""
        return self.sample.index if self.sample is not None else 0


_UNDRAWN = object()


class SimTwin:
    """Base of a twin backend: each action draws its fault (see :class:`FaultInjector`).

    ``timeout``: the action waits until the device is stopped; ``fail``: it fails after a
    simulated second; ``disconnect``: :meth:`begin_action` (called synchronously by ``set`` /
    ``trigger``) raises; reading faults corrupt the returned readbacks.

    Args:
        lab: the :class:`TwinLab`.
        device: the device's name (as in the fault specs).

    Attributes:
        begins_samples: the twin of a sample tracker: its ``set`` (an assignment) belongs to the
            sample it begins, so a fault ``after_samples = n`` can strike the n-th assignment.
    """

    begins_samples: ClassVar[bool] = False

    def __init__(self, lab: TwinLab, device: str):
        self.lab, self.device = lab, device
        self._pending: object = _UNDRAWN

    def _sample_index(self, action: str) -> int:
        """The index of the sample an action belongs to."""
        if self.begins_samples and action == "set":
            return len(self.lab.samples)
        return self.lab.sample_index()

    def begin_action(self, action: str = "set") -> None:
        """Draw the fault of the coming action; a disconnect raises :class:`core.DeviceFault` now."""
        spec = self.lab.faults.draw(self.device, self._sample_index(action))
        self._pending = _UNDRAWN
        if spec is not None and spec.kind == "disconnect":
            raise DeviceFault(self.device, "disconnect", "the device does not answer (simulated disconnect)")
        self._pending = spec

    def _act(self, stop: threading.Event | None, body: Callable[[float], Mapping[str, Any]], action: str = "set") -> dict:
        """Run ``body(started)`` (the twin's physics, returning readbacks) with the drawn fault applied."""
        started = time.monotonic()
        stop = stop if stop is not None else threading.Event()
        if self._pending is _UNDRAWN:  # called directly, not through the device
            self.begin_action(action)
        spec, self._pending = self._pending, _UNDRAWN
        if spec is not None and spec.kind == "timeout":
            stop.wait()
            raise DeviceError(f"{self.device}: stopped before the action finished (it hung: simulated timeout)")
        if spec is not None and spec.kind == "fail":
            self.lab.elapse(1.0, stop, started)
            raise DeviceFault(self.device, "fail", "the action finished with failure (simulated fault)")
        return self.lab.faults.readings(self.device, spec, body(started))


__all__ = ["FaultInjector", "SimTwin", "TwinLab"]
