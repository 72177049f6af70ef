"""The sample record: one sample's whole Process -> Structure -> Property history.

A :class:`Sample` is written to the store in one transaction and read back
unchanged; quantities travel as ``{"value": ..., "unit": ...}``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pint

from core import quantity_from_record, quantity_to_record

SAMPLE_STATUSES = ("awaiting_approval", "running", "completed", "failed", "interrupted", "rejected", "cancelled")
# Not finished: the sample still holds its cost and may yet run.
OPEN_STATUSES = ("awaiting_approval", "running")


def to_jsonable(obj: Any) -> Any:
    """Quantities -> ``{"value", "unit"}`` dicts, recursively; tuples and arrays -> lists."""
    if isinstance(obj, pint.Quantity):
        return quantity_to_record(obj)
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if getattr(obj, "ndim", 0) and callable(getattr(obj, "tolist", None)):  # numpy arrays
        return obj.tolist()
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return obj.item()
    return obj


def from_jsonable(obj: Any) -> Any:
    """Inverse of :func:`to_jsonable` for the quantity dicts."""
    if isinstance(obj, dict):
        q = quantity_from_record(obj)
        if q is not obj:
            return q
        return {k: from_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_jsonable(v) for v in obj]
    return obj


@dataclass
class ProcessStep:
    """One step of making or characterizing a sample.

    Attributes:
        name: ``dispense``, ``mix``, ``cure``, ``characterize`` ... or a simulator step.
        device: the device (or ``simulator:<model>``) that did it.
        setpoints: what was asked (quantities).
        actuals: what was measured while doing it (quantities).
        start_time, end_time: UNIX timestamps (None for simulations).
        lots: reagent -> lot number used in this step.
        ambient: room conditions during the step (quantities).
    """

    name: str
    device: str
    setpoints: dict[str, Any] = field(default_factory=dict)
    actuals: dict[str, Any] = field(default_factory=dict)
    start_time: float | None = None
    end_time: float | None = None
    lots: dict[str, str] = field(default_factory=dict)
    ambient: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> "ProcessStep":
        known = {k: data.get(k) for k in ("name", "device", "setpoints", "actuals", "start_time", "end_time", "lots", "ambient") if data.get(k) is not None}
        return cls(**known)


@dataclass
class Sample:
    """A sample and its complete history.

    Attributes:
        id: ``<campaign>-<seq:04d>``.
        campaign: campaign name.
        seq: order of dispatch within the campaign (1-based).
        fidelity: fidelity name.
        status: ``running`` (dispatched), ``completed``, ``failed`` or ``interrupted``.
        cost: cost units charged.
        recipe: parameter -> quantity / SMILES / choice.
        steps: process steps in order.
        structure: structure features (quantities).
        properties: properties (quantities).
        suggestion: the model decision that asked for this sample.
        run_uid: Bluesky run uid (robot samples; the last attempt's when retried).
        error: what went wrong (failed samples).
        fault: the device fault that failed the sample: device, kind, step, detail.
        attempts: robot runs tried for this sample, each ``{"run_uid", "fault"}`` (retries).
        created, completed: UNIX timestamps.
    """

    id: str
    campaign: str
    seq: int
    fidelity: str
    status: str
    cost: float
    recipe: dict[str, Any]
    steps: list[ProcessStep] = field(default_factory=list)
    structure: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    suggestion: dict[str, Any] = field(default_factory=dict)
    run_uid: str | None = None
    error: str | None = None
    fault: dict[str, Any] | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    created: float = 0.0
    completed: float | None = None

    def to_json(self) -> dict[str, Any]:
        return to_jsonable(asdict(self))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Sample":
        data = dict(data)
        steps = [ProcessStep.from_mapping(from_jsonable(s)) for s in data.pop("steps", [])]
        for key in ("recipe", "structure", "properties", "suggestion"):
            data[key] = from_jsonable(data.get(key) or {})
        return cls(steps=steps, **data)
