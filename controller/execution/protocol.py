"""One executor protocol for every fidelity, and what a run gives back.

The loop hands an :class:`Executor` a :class:`RunRequest` and waits on the returned
``concurrent.futures.Future``; the future's result is a :class:`SimulationOutcome` (simulator
fidelities) or a :class:`RobotOutcome` (robot fidelities), or it raises
:class:`RobotRunFailed` once the retry policy gives up. Kept light on purpose: simulator
worker processes import this module, never torch or bluesky.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, runtime_checkable

from core import SDLError

#: ``callback(name, doc)`` for each Bluesky document of a robot run, as emitted.
DocumentCallback = Callable[[str, dict], None]
#: ``callback(attempt, fault, delay_s)`` before each retry of a robot run.
RetryCallback = Callable[[int, dict, float], None]


@dataclass(frozen=True)
class RunRequest:
    """One sample to make.

    Attributes:
        sample_id: the sample's id (a robot run's tracker id; ``-r2``... for retries).
        recipe: parameter name -> pint quantity or label.
        model: the simulator model (simulator fidelities only).
        seed: the simulation's seed (simulator fidelities only).
        md: metadata for the robot run's start document.
        on_document, on_retry: callbacks of a robot run (see the type aliases above).
    """

    sample_id: str
    recipe: dict[str, Any]
    model: str | None = None
    seed: int = 0
    md: dict[str, Any] = field(default_factory=dict)
    on_document: DocumentCallback | None = None
    on_retry: RetryCallback | None = None


@dataclass(frozen=True)
class SimulationOutcome:
    """A simulation's result, JSON-able (it crosses process boundaries; quantities as
    ``{"value", "unit"}``, rebuilt by :func:`controller.records.samples.from_jsonable`).

    Attributes:
        model, model_version: which simulator answered.
        steps: the simulated process steps.
        structure, properties: name -> quantity record.
        start_time, end_time: wall time of the simulation (s since the epoch).
    """

    model: str
    model_version: str
    steps: list[dict[str, Any]]
    structure: dict[str, Any]
    properties: dict[str, Any]
    start_time: float
    end_time: float


@dataclass
class RobotOutcome:
    """A robot sample that was made: the last run's record and documents, and every attempt.

    Attributes:
        record: the last attempt's ``devices.RobotRunRecord`` (steps, structure, properties, run uid).
        documents: ``(name, doc)`` of the last attempt.
        attempts: ``[{"run_uid", "fault", ...}]`` in order (a queue-server attempt adds ``queue_item``).
    """

    record: Any
    documents: list[tuple[str, dict]]
    attempts: list[dict[str, Any]] = field(default_factory=list)


class RobotRunFailed(SDLError):
    """Every attempt at a robot sample failed (or the fault was not worth retrying).

    Attributes:
        attempts: ``[{"run_uid", "fault"}]`` in order.
        fault: the last attempt's fault ``{device, kind, step, detail}`` (kind ``error`` if no device fault).
        record: the last attempt's partial ``RobotRunRecord`` (completed steps), or None.
    """

    def __init__(self, message: str, attempts: list[dict[str, Any]], record: Any = None):
        super().__init__(message)
        self.attempts = attempts
        self.fault = attempts[-1]["fault"] if attempts else None
        self.record = record


@runtime_checkable
class Executor(Protocol):
    """Runs the experiments of one kind of fidelity."""

    def check(self, recipe: dict[str, Any]) -> None:
        """Refuse a recipe before anything is recorded or sent (raise a ``core.SDLError``)."""

    def submit(self, request: RunRequest) -> Future:
        """Start one sample; the future gives its outcome."""

    def request_stop(self) -> None:
        """Ask what runs to stop at its next safe point (the operator's stop, Ctrl-C)."""

    def close(self) -> None:
        """Wait for what runs, then release workers, threads and devices."""
