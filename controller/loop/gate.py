"""The operator's say: pause, resume and stop requests, and the approval gate.

Both arrive through the record store (written by ``sdl serve``), so the dashboard needs no
channel into the controller process, and a decision made while the controller is down is
still there when it resumes.
"""

from __future__ import annotations

from typing import Any, Callable

from controller.config.campaign import CampaignConfig
from controller.loop.dispatch import Dispatch, unmeasured
from controller.records.samples import Sample, to_jsonable
from controller.records.store import RecordStore

CONTROL_ACTION_EVENTS = {"pause": "campaign_paused", "resume": "campaign_resumed", "stop": "campaign_stopping"}


class ControlGate:
    """What operators asked for, as the loop sees it between steps.

    Args:
        config: the campaign.
        view: the console view (``note``).
        emit: ``emit(kind, payload)``, the runner's campaign events.

    Attributes:
        paused: nothing new starts while True.
        stop_request: the operator's stop request (``{"operator", "note", ...}``), once made.
    """

    def __init__(self, config: CampaignConfig, view: Any, emit: Callable[[str, dict[str, Any]], None]):
        self.config = config
        self.view = view
        self.emit = emit
        self.paused = False
        self.stop_request: dict[str, Any] | None = None

    def needs_approval(self, fidelity: str) -> bool:
        return self.config.control.needs_approval(fidelity)

    def poll(self, store: RecordStore) -> None:
        """Carry out the operators' pause/resume/stop requests."""
        name = self.config.name
        for request in store.pending_controls(name):
            action, who = request["action"], request["operator"]
            payload = {"operator": who, "note": request.get("note")}
            if action == "stop":
                self.stop_request = request
                outcome = ("stopping: a running robot plan is stopped now and recorded as interrupted; "
                           "running simulations finish and are recorded")
            elif action == "pause" and not self.paused:
                self.paused = True
                store.set_campaign_status(name, "paused")
                outcome = "paused: nothing new starts; running samples finish and are recorded"
                self.view.note(f"paused by {who}")
            elif action == "resume" and self.paused:
                self.paused = False
                store.set_campaign_status(name, "running")
                outcome = "resumed"
                self.view.note(f"resumed by {who}")
            else:
                outcome = f"ignored: the campaign is already {'paused' if self.paused else 'running'}"
            store.control_handled(request["id"], outcome)
            if not outcome.startswith("ignored"):
                kind = CONTROL_ACTION_EVENTS[action]
                store.log_event(name, kind, payload)
                self.emit(kind, payload)

    def stop_reason(self) -> str:
        request = self.stop_request or {}
        return (f"stopped by operator {request.get('operator')}"
                + (f" ({request['note']})" if request.get("note") else "")
                + "; run `sdl run` on the same file to continue")

    def requested(self, store: RecordStore, d: Dispatch, committed: float) -> None:
        """A run now waits at the gate: record and announce it."""
        s = d.suggestion
        payload = {"sample": d.sample_id, "fidelity": d.fidelity, "recipe": d.recipe,
                   "predicted_mean": s.get("predicted_mean"), "predicted_std": s.get("predicted_std"),
                   "reason": s.get("reason"), "committed": committed}
        store.log_event(self.config.name, "approval_requested", to_jsonable(payload))
        self.view.note(f"{d.sample_id} ({d.fidelity}) awaits an operator's approval (sdl serve)")
        self.emit("approval_requested", payload)

    def decided(self, store: RecordStore, awaiting: dict[str, Dispatch]) -> list[tuple[Dispatch, Sample | None]]:
        """Runs at the gate an operator has decided on, taken out of ``awaiting``, each with the
        decision in its suggestion record: ``(dispatch, None)`` when approved, ``(dispatch,
        rejected sample record)`` when rejected (not yet written)."""
        out = []
        for sample_id, d in list(awaiting.items()):
            decision = store.decision(sample_id)
            if decision is None:
                continue
            awaiting.pop(sample_id)
            d.suggestion = {**d.suggestion, "approval": {
                "decision": decision["decision"], "operator": decision["operator"],
                "note": decision["note"], "time": decision["time"]}}
            rejected = None
            if decision["decision"] == "rejected":
                rejected = unmeasured(self.config, d, "rejected", f"rejected by operator {decision['operator']}"
                                      + (f": {decision['note']}" if decision["note"] else ""), cost=0.0)
            out.append((d, rejected))
        return out

    def cancelled(self, d: Dispatch) -> Sample:
        """A run never approved before the campaign stopped: nothing ran, nothing is charged."""
        return unmeasured(self.config, d, "cancelled", "the campaign stopped before an operator decided", cost=0.0)
