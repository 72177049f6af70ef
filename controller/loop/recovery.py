"""Crash recovery: samples a dead controller left ``running`` are recorded as interrupted, with
the process steps their stored documents show; their cost stays spent and they are never repeated."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any, Callable

from controller.records.samples import ProcessStep
from controller.records.store import RecordStore


def partial_steps(store: RecordStore, campaign: str, run_uid: str | None,
                  record: Callable[[list], Any] | None = None) -> list[ProcessStep]:
    """The process steps a robot run completed, read back from its stored documents by the
    material system's own reader (``RobotLine.record``), or the generic one."""
    docs = store.documents(run_uid) if run_uid else []
    if not docs:
        return []
    if record is None:
        from devices import steps_from_documents as record

    try:
        partial = record(docs)
    except Exception as err:  # noqa: BLE001 - a partial record is better than none
        store.log_event(campaign, "recovery_note", {"run_uid": run_uid, "error": str(err)})
        return []
    return [ProcessStep.from_mapping(s if isinstance(s, dict) else asdict(s)) for s in partial.steps]


def recover_inflight(store: RecordStore, campaign: str, record: Callable[[list], Any] | None = None) -> int:
    """Record every sample left ``running`` as interrupted. Returns how many there were.
    ``record``: the system's documents -> run record (see :func:`partial_steps`)."""
    left = store.inflight(campaign)
    for sample in left:
        sample.steps = partial_steps(store, campaign, sample.run_uid, record)
        sample.status = "interrupted"
        sample.error = ("the controller stopped while this sample was in flight (crash or kill); "
                        f"{len(sample.steps)} completed process steps kept; the run is not repeated")
        sample.completed = time.time()
        store.add_sample(sample)
    return len(left)
