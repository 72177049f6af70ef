"""From a run's Bluesky documents to a :class:`RobotRunRecord`, so the controller needs no signal names.

It reads the ``role``, ``path`` and ``units`` that :class:`devices.signals.QuantitySignal`
puts in every data key.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypedDict

import event_model
import pint

from core import Q_, DeviceFault, InputDataError, quantity_from_record


class RobotStep(TypedDict):
    """One process step of a robot run.

    Keys: ``name`` (the step's stream name, e.g. ``anneal``), ``device``
    (comma-separated device names), ``setpoints`` and ``actuals`` (path -> quantity, or text),
    ``start_time``/``end_time`` (UNIX s, from the event's timestamps), ``lots``
    (reagent -> lot number), ``ambient`` (room_temperature, relative_humidity as quantities).
    """

    name: str
    device: str
    setpoints: dict[str, Any]
    actuals: dict[str, Any]
    start_time: float
    end_time: float
    lots: dict[str, str]
    ambient: dict[str, pint.Quantity]


@dataclass(frozen=True)
class RobotRunRecord:
    """What one robot run made and measured, with units.

    Attributes:
        run_uid: the start document's uid.
        sample_id, plan_name: from the start document.
        recipe: the recipe as quantities (from the start document).
        steps: the process steps in run order (the ``ambient`` stream is not a step).
        structure: measured structure (signals of role ``structure``), e.g. ``grain_size``.
        properties: measured properties (signals of role ``property``), e.g. ``hardness``.
        lots: reagent -> lot number over all steps.
        ambient: room conditions at the start of the run.
        exit_status: ``success``, ``fail``, ``abort`` (stop document) or ``incomplete`` (none).
        reason: the stop document's reason.
        fault: the device fault that ended the run, ``{"device", "kind", "step", "detail"}``
            (see :class:`core.DeviceFault`), read from the stop document's ``reason``; None
            when the run succeeded or ended for another reason. ``steps`` then holds the
            steps completed before the fault.
    """

    run_uid: str
    sample_id: str | None
    plan_name: str | None
    recipe: dict[str, Any]
    steps: list[RobotStep]
    structure: dict[str, pint.Quantity]
    properties: dict[str, pint.Quantity]
    lots: dict[str, str]
    ambient: dict[str, pint.Quantity]
    exit_status: str
    reason: str = ""
    start_time: float | None = None
    stop_time: float | None = None
    fault: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)

    def step(self, name: str) -> RobotStep:
        for step in self.steps:
            if step["name"] == name:
                return step
        raise KeyError(f"no step {name!r}; steps are {[s['name'] for s in self.steps]}")


def _value(key: dict, value: Any) -> Any:
    units = key.get("units")
    if units is None or isinstance(value, str):
        return value
    return Q_(value, units if units != "dimensionless" else "")


def _events(docs: Iterable[tuple[Any, dict]]):
    for name, doc in docs:
        name = getattr(name, "name", name)
        if name == "event_page":
            for event in event_model.unpack_event_page(doc):
                yield "event", event
        else:
            yield name, doc


def steps_from_documents(docs: Iterable[tuple[Any, dict]]) -> RobotRunRecord:
    """Build the record of one run from its ``(name, doc)`` pairs (events or event pages).

    Raises:
        InputDataError: no start document, or documents of several runs.
    """
    start, stop = None, None
    descriptors: dict[str, dict] = {}
    events: dict[str, list[dict]] = {}
    for name, doc in _events(docs):
        if name == "start":
            if start is not None:
                raise InputDataError(f"documents of several runs ({start['uid']}, {doc['uid']}); pass one run")
            start = doc
        elif name == "descriptor":
            descriptors[doc["uid"]] = doc
            events.setdefault(doc["uid"], [])
        elif name == "event":
            events.setdefault(doc["descriptor"], []).append(doc)
        elif name == "stop":
            stop = doc
    if start is None:
        raise InputDataError("no start document among the documents; pass a whole run")

    streams = []  # (first event time, stream name, descriptor, events)
    for uid, descriptor in descriptors.items():
        evs = sorted(events.get(uid, []), key=lambda e: (e["time"], e["seq_num"]))
        if evs:
            streams.append((evs[0]["time"], descriptor.get("name", "primary"), descriptor, evs))
    streams.sort(key=lambda s: s[0])

    steps: list[RobotStep] = []
    structure: dict[str, pint.Quantity] = {}
    properties: dict[str, pint.Quantity] = {}
    all_lots: dict[str, str] = {}
    run_ambient: dict[str, pint.Quantity] = {}
    for _, stream, descriptor, evs in streams:
        keys = descriptor["data_keys"]
        last = evs[-1]
        roles: dict[str, dict[str, Any]] = {}
        for data_key, value in last["data"].items():
            meta = keys.get(data_key, {})
            role = meta.get("role", "actual")
            path = meta.get("path", data_key)
            roles.setdefault(role, {})[path] = _value(meta, value)
        ambient = {path.rsplit(".", 1)[-1]: v for path, v in roles.get("ambient", {}).items()}
        if stream == "ambient":
            run_ambient = run_ambient or ambient
            continue
        lots = {}
        for config in descriptor.get("configuration", {}).values():
            reagent = lot = None
            for data_key, value in config.get("data", {}).items():
                role = config.get("data_keys", {}).get(data_key, {}).get("role")
                reagent = value if role == "reagent" else reagent
                lot = value if role == "lot" else lot
            if reagent and lot:
                lots[reagent] = lot
        all_lots.update(lots)
        for path, v in roles.get("structure", {}).items():
            structure[path.rsplit(".", 1)[-1]] = v
        for path, v in roles.get("property", {}).items():
            properties[path.rsplit(".", 1)[-1]] = v
        timed = [k for k in last["data"] if keys.get(k, {}).get("role") == "setpoint"] or [
            k for k in last["data"] if keys.get(k, {}).get("role") != "ambient"]
        first_ts = evs[0].get("timestamps", {})
        start_time = min((first_ts[k] for k in timed if k in first_ts), default=evs[0]["time"])
        objects = [obj for obj in descriptor.get("object_keys", {})
                   if not all(keys.get(k, {}).get("role") == "ambient" for k in descriptor["object_keys"][obj])]
        steps.append(
            RobotStep(
                name=stream,
                device=", ".join(objects),
                setpoints=roles.get("setpoint", {}),
                actuals={**roles.get("actual", {}), **roles.get("structure", {}), **roles.get("property", {})},
                start_time=float(start_time),
                end_time=float(last["time"]),
                lots=lots,
                ambient=ambient,
            )
        )
    for step in steps:
        if not step["ambient"]:
            step["ambient"] = dict(run_ambient)
    meta = {k: v for k, v in start.items() if k not in ("uid", "time", "recipe", "setpoints")}
    reason = (stop or {}).get("reason", "") or ""
    fault = DeviceFault.from_message(reason) if stop and stop.get("exit_status") != "success" else None
    return RobotRunRecord(
        run_uid=start["uid"],
        sample_id=start.get("sample_id"),
        plan_name=start.get("plan_name"),
        recipe={k: quantity_from_record(v) for k, v in start.get("recipe", {}).items()},
        steps=steps,
        structure=structure,
        properties=properties,
        lots=all_lots,
        ambient=run_ambient,
        exit_status=stop["exit_status"] if stop else "incomplete",
        reason=reason,
        start_time=start.get("time"),
        stop_time=(stop or {}).get("time"),
        fault=fault.as_dict() if fault is not None else None,
        metadata=meta,
    )
