"""The one retry policy of robot runs: retryable device faults are tried again on a new vial,
with exponential backoff, until the campaign's ``[retry]`` gives up or the operator stops."""

from __future__ import annotations

import threading
from typing import Any, Callable

from controller.execution.protocol import RetryCallback, RobotOutcome, RobotRunFailed
from core import PluginError

#: ``attempt(run_id, attempt_number, documents, info)``: one run; it appends ``(name, doc)``
#: to ``documents`` as they come and may fill ``info`` (its ``station`` is kept as the attempt's
#: ``station``, the rest as its ``queue_item``).
Attempt = Callable[[str, int, list, dict], None]


def run_with_retries(policy: Any, attempt: Attempt, sample_id: str, time_scale: float,
                     stop: threading.Event, on_retry: RetryCallback | None = None,
                     record: Callable[[list], Any] | None = None) -> RobotOutcome:
    """Make one sample, retrying retryable device faults.

    Each attempt is a new run on a new vial (``<sample_id>-r<attempt>`` on the tracker): a
    half-cured film cannot be resumed.

    Args:
        policy: the campaign's :class:`controller.config.devices.RetryPolicy`.
        attempt: runs one attempt (see :data:`Attempt`).
        time_scale: lab seconds per wall second (the backoff is lab time).
        stop: set by the operator's stop; ends a backoff at once and prevents further attempts.
        on_retry: called before each retry.
        record: the material system's documents -> run record (``RobotLine.record``).

    Raises:
        RobotRunFailed: the last attempt failed and no retry is left (or allowed).
    """
    from devices import fault_from_exception, steps_from_documents

    steps_from_documents = record or steps_from_documents  # a system may read its documents its own way

    delay = float(policy.backoff.to("s").magnitude) / time_scale
    attempts: list[dict[str, Any]] = []
    for number in range(1, policy.retries + 2):
        if stop.is_set():  # the operator's stop: no attempt starts after it
            raise RobotRunFailed(f"stopped by the operator before attempt {number}", attempts)
        run_id = sample_id if number == 1 else f"{sample_id}-r{number}"
        documents: list[tuple[str, dict]] = []
        info: dict[str, Any] = {}
        try:
            attempt(run_id, number, documents, info)
        except PluginError:
            raise  # the system's plan is broken, not this sample: nothing to retry
        except Exception as exc:  # noqa: BLE001 - classified below
            fault = fault_from_exception(exc)
            record = steps_from_documents(documents) if documents else None
            detail = fault.as_dict() if fault is not None else {"device": None, "kind": "error", "step": None,
                                                                "detail": f"{type(exc).__name__}: {exc}"}
            attempts.append(_attempt(record.run_uid if record else None, detail, info))
            give_up = (fault is None or fault.kind not in policy.retryable or number > policy.retries
                       or stop.is_set())
            if give_up:
                why = ("not retryable" if fault is not None and fault.kind not in policy.retryable
                       else f"after {number} attempt{'s' if number > 1 else ''}")
                raise RobotRunFailed(f"{fault or exc} ({why})", attempts, record) from exc
            if on_retry is not None:
                on_retry(number, detail, delay)
            stop.wait(delay)  # a stop request ends the backoff at once
            delay *= 2
            continue
        record = steps_from_documents(documents)
        attempts.append(_attempt(record.run_uid, None, info))
        return RobotOutcome(record, documents, attempts)
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


def _attempt(run_uid: str | None, fault: dict | None, info: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"run_uid": run_uid, "fault": fault}
    info = dict(info)
    if "station" in info:  # which of the robot fidelity's stations made it
        entry["station"] = info.pop("station")
    if info:
        entry["queue_item"] = info
    return entry
