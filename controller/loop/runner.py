"""The closed loop: ask the optimizer, run the experiment, record the sample, repeat.

One step (see ``../shared/DESIGN.md``)::

    history (store) -> strategy.recommend(history, pending, budget_left) -> Suggestion
      -> simulator pool (parallel processes)  |  robot cell (RunEngine thread)
      -> Sample record (one transaction) -> progress / events

Simulations run while the robot works; what is in flight is passed to the
optimizer as pending points so it does not suggest the same thing twice. The
budget is committed when a sample is dispatched, so the campaign never
overspends, and the store's sum of sample costs is the spent budget.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from core import OptimizerError, SDLError, quantity_to_record
from controller.config.campaign import CampaignConfig
from controller.records.history import history_frame, objective_value, recipe_row
from controller.loop.progress import ProgressView
from controller.records.samples import ProcessStep, Sample, from_jsonable, to_jsonable
from controller.execution.simulations import SimulationExecutor, make_simulation_executor
from controller.execution.simwork import run_simulation
from controller.records.store import RecordStore, redact, store_target

log = logging.getLogger(__name__)

# A refusal costs nothing, so a space whose every robot run is refused would loop forever.
MAX_REFUSALS_IN_A_ROW = 3
# How often the loop looks for operator decisions (pause/resume/stop, approvals) in the store.
CONTROL_POLL_S = 0.2

@dataclass
class Dispatch:
    """A sample in flight."""

    sample_id: str
    seq: int
    fidelity: str
    recipe: dict[str, Any]
    suggestion: dict[str, Any]
    created: float


@dataclass
class CampaignResult:
    """What a finished (or stopped) campaign reports."""

    name: str
    store: str
    status: str
    stop_reason: str
    budget: float
    spent: float
    samples_by_fidelity: dict[str, int]
    failed: int
    recommendation: dict[str, Any] | None
    wall_time_s: float
    ground_truth: dict[str, Any] | None = None
    resumed: bool = False


def suggestion_record(suggestion: Any, objective_unit: str) -> dict[str, Any]:
    """The decision that asked for a sample, as stored with it (the recipe is stored beside it)."""
    data = suggestion.to_record()
    data.pop("recipe", None)
    data["objective_unit"] = objective_unit
    data["time"] = time.time()
    return to_jsonable(data)


def _share_cores_with_simulators(workers: int) -> None:
    """Leave the simulator processes their cores: torch threads fighting them for the CPU
    made model fits an order of magnitude slower on a 2-core machine."""
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 1) - workers))


class CampaignRunner:
    """Runs one campaign to its budget.

    Args:
        config: the validated campaign.
        store_path: overrides ``config.store``.
        speedup: overrides ``config.devices.speedup`` for the simulated line.
        show_progress: draw the live progress view on the console.
    """

    def __init__(self, config: CampaignConfig, store_path: str | Path | None = None,
                 speedup: float | None = None, show_progress: bool = True, console=None):
        self.config = config
        self.store_path = store_target(store_path or config.store)  # a Path, or a PostgreSQL URL
        self.speedup = speedup
        self.view = ProgressView(config, enabled=show_progress, console=console)
        self._stop_reason: str | None = None
        self._stopping = False
        self._paused = False
        self._stop_request: dict[str, Any] | None = None
        self._interrupted = False
        self._listeners: list = []
        self._document_listeners: list = []

    def add_listener(self, callback) -> None:
        """``callback(kind, payload)`` for every campaign event: ``campaign_started``/``campaign_resumed``,
        ``suggestion``, ``sample_dispatched``, ``sample_recorded``, ``sample_failed``, ``sample_retried``,
        ``campaign_finished``/``campaign_stopped``/``campaign_failed``, ``recommendation``.

        Listeners are for display (monitors, streams): an error in one is logged, never fatal.
        """
        self._listeners.append(callback)

    def add_document_listener(self, callback) -> None:
        """``callback(name, doc)`` for every Bluesky document of every robot run, as emitted."""
        self._document_listeners.append(callback)

    def _emit(self, kind: str, payload: dict[str, Any]) -> None:
        event = {"campaign": self.config.name, "time": time.time(), **to_jsonable(payload)}
        for callback in self._listeners:
            try:
                callback(kind, event)
            except Exception as err:  # noqa: BLE001 - display callbacks must not stop a campaign
                log.warning("campaign event listener %r failed on %s: %s", callback, kind, err)

    # ------------------------------------------------------------------
    def run(self) -> CampaignResult:
        from optimizers import SearchSpace, make_strategy

        cfg = self.config
        started = time.time()
        if any(f.kind == "table" for f in cfg.fidelities):
            from core import ConfigError, FieldIssue

            raise ConfigError(FieldIssue("fidelities", "fidelities of kind \"table\" are answered by a recorded table: "
                                                       f"run this campaign with `sdl backtest {cfg.source or 'CONFIG'}`"))
        _share_cores_with_simulators(cfg.scheduler.local_simulation_workers)
        # Everything that can fail on bad settings is built before the store is touched.
        space = SearchSpace(cfg.parameters, cfg.fidelities, cfg.objective)
        from controller.config.campaign import physics_for

        physics = physics_for(cfg)  # simulator features / prior for the model, per [optimizer] physics
        strategy = make_strategy(cfg.optimizer.strategy, space, seed=cfg.seed,
                                 initial_design=cfg.optimizer.initial_design or None,
                                 **({"physics": physics} if physics is not None else {}))
        # Dask (default) or a process pool, per [scheduler]; an unreachable Dask scheduler fails here.
        sims = make_simulation_executor(cfg.scheduler)
        try:
            store = RecordStore(self.store_path)
        except BaseException:
            sims.close()
            raise
        try:
            resumed = store.open_campaign(cfg.name, cfg.fingerprint, cfg.to_json(), cfg.budget,
                                          owner=f"{socket.gethostname()}:{os.getpid()}")
        except BaseException:
            store.close()
            sims.close()
            raise
        robot = None
        if any(f.kind == "robot" for f in cfg.fidelities):
            from controller.execution.robot import make_robot_cell

            robot = make_robot_cell(cfg, speedup=self.speedup,
                                    event_log=lambda kind, payload: store.log_event(cfg.name, kind, payload))
            for callback in self._document_listeners:
                robot.add_document_listener(callback)
        inflight: dict[Future, Dispatch] = {}
        self._recover_inflight(store)
        # Runs still waiting for an operator when the controller stopped wait on.
        awaiting: dict[str, Dispatch] = {
            s.id: Dispatch(s.id, s.seq, s.fidelity, dict(s.recipe), dict(s.suggestion), s.created)
            for s in store.awaiting(cfg.name)
        }
        samples = store.samples(cfg.name)
        committed = store.spent(cfg.name)
        seq = store.next_seq(cfg.name)
        status = "finished"
        refusals = 0
        self.view.start(samples, committed, resumed)
        kind = "campaign_resumed" if resumed else "campaign_started"
        store.log_event(cfg.name, kind, {"spent": committed})
        self._emit(kind, {"spent": committed, "budget": cfg.budget, "samples": len(samples)})
        previous_handlers = self._catch_stop_signals()
        try:
            while True:
                if self._interrupted:
                    raise KeyboardInterrupt
                for fut in [f for f in inflight if f.done()]:
                    sample = self._record(store, inflight.pop(fut), fut)
                    samples.append(sample)
                    self._recorded(sample, store, samples)
                self._poll_controls(store)
                if self._stop_request is not None:
                    request = self._stop_request
                    self._stop_reason = (f"stopped by operator {request['operator']}"
                                         + (f" ({request['note']})" if request.get("note") else "")
                                         + "; run `sdl run` on the same file to continue")
                    status = "stopped"
                    break
                if self._paused:
                    self._wait(inflight)
                    continue
                for dispatch in self._decided(store, awaiting, samples):
                    if dispatch.suggestion["approval"]["decision"] == "rejected":
                        committed -= cfg.fidelity(dispatch.fidelity).cost
                        continue
                    try:
                        fut = self._submit(dispatch, cfg.fidelity(dispatch.fidelity), sims, robot, store, approved=True)
                    except SDLError as err:  # refused after approval (e.g. the line's limits changed): nothing ran
                        committed -= cfg.fidelity(dispatch.fidelity).cost
                        sample = self._failed(dispatch, err, cost=0.0)
                        store.add_sample(sample)
                        samples.append(sample)
                        self._recorded(sample, store, samples)
                        continue
                    inflight[fut] = dispatch
                    self._dispatched(dispatch, committed)
                budget_left = cfg.budget - committed
                affordable = [f for f in cfg.fidelities if f.cost <= budget_left + 1e-9]
                if not affordable:
                    if not inflight and not awaiting:
                        self._stop_reason = (
                            f"budget exhausted: {committed:g} of {cfg.budget:g} cost units committed; "
                            f"the cheapest fidelity costs {min(f.cost for f in cfg.fidelities):g}"
                        )
                        break
                    self._wait(inflight)
                    continue
                robot_busy = any(cfg.fidelity(d.fidelity).kind == "robot"
                                 for d in [*inflight.values(), *awaiting.values()])
                sims_busy = sum(cfg.fidelity(d.fidelity).kind == "simulator" for d in inflight.values())
                sim_free = sims_busy < cfg.scheduler.simulation_workers
                allowed = [f for f in affordable if not (f.kind == "robot" and robot_busy)]
                if not allowed or not (sim_free or any(f.kind == "robot" for f in allowed)):
                    self._wait(inflight)
                    continue
                history = history_frame(cfg, samples)
                pending = self._pending_frame([*inflight.values(), *awaiting.values()], samples)
                self.view.thinking(len(history), [f.name for f in allowed])
                try:
                    suggestion = strategy.recommend(history, pending=pending, budget_left=budget_left, q=1,
                                                    allowed_fidelities=[f.name for f in allowed])[0]
                except OptimizerError as err:
                    # e.g. a single-fidelity strategy while the robot is busy, or with less budget
                    # left than a robot run costs: wait for what is running, else stop here.
                    if inflight or awaiting:
                        self._wait(inflight)
                        continue
                    self._stop_reason = f"nothing left to suggest within the budget ({committed:g} of {cfg.budget:g} committed): {err}"
                    break
                fidelity = cfg.fidelity(suggestion.fidelity)
                self._emit("suggestion", {"fidelity": fidelity.name, "reason": suggestion.reason,
                                          "acquisition_by_fidelity": suggestion.acquisition_by_fidelity,
                                          "predicted_mean": suggestion.predicted_mean, "budget_left": budget_left})
                if fidelity.kind == "simulator" and not sim_free:
                    # The optimizer wants a simulation but every worker is busy: wait for one.
                    self._wait(inflight)
                    continue
                dispatch = Dispatch(
                    sample_id=f"{cfg.name}-{seq:04d}", seq=seq, fidelity=fidelity.name,
                    recipe=dict(suggestion.recipe), suggestion=suggestion_record(suggestion, cfg.objective.unit),
                    created=time.time(),
                )
                try:
                    fut = self._submit(dispatch, fidelity, sims, robot, store)
                except SDLError as err:
                    # Refused before anything ran (e.g. a setpoint beyond a device limit): record it as failed.
                    sample = self._failed(dispatch, err, cost=0.0)
                    store.add_sample(sample)  # nothing ran, nothing is charged
                    samples.append(sample)
                    self._recorded(sample, store, samples)
                    seq += 1
                    refusals += 1
                    if refusals >= MAX_REFUSALS_IN_A_ROW:
                        self._stop_reason = (f"{refusals} suggestions in a row were refused before running "
                                             f"(last: {err}); fix the campaign's bounds or limits")
                        status = "failed"
                        break
                    continue
                refusals = 0
                committed += fidelity.cost
                seq += 1
                if fut is None:  # held at the approval gate; its cost stays reserved
                    awaiting[dispatch.sample_id] = dispatch
                    self._approval_requested(store, dispatch, committed)
                    continue
                inflight[fut] = dispatch
                self._dispatched(dispatch, committed)
        except KeyboardInterrupt:
            self._stopping = True
            self._stop_request = None
            status = "stopped"
            self._stop_reason = "stopped by the operator (Ctrl-C); run `sdl run` on the same file to continue"
            if robot is not None:
                robot.request_stop()
        finally:
            for dispatch in list(awaiting.values()):  # never approved: nothing ran, nothing is charged
                sample = self._closed_at_gate(dispatch, "cancelled", "the campaign stopped before an operator decided")
                store.add_sample(sample)
                samples.append(sample)
                awaiting.pop(dispatch.sample_id)
                self._recorded(sample, store, samples)
            # Nothing in flight is lost: wait for it and record it.
            for fut in list(inflight):
                try:
                    fut.exception()
                except BaseException:  # noqa: BLE001 - recorded below
                    pass
                sample = self._record(store, inflight.pop(fut), fut)
                samples.append(sample)
                self._recorded(sample, store, samples)
            sims.shutdown(wait=True, cancel_futures=True)
            if robot is not None:
                robot.close()
            reason = self._stop_reason or "stopped by an error; see the log"
            if status == "finished" and self._stop_reason is None:
                status = "failed"
            store.finish_campaign(cfg.name, status, reason)
            self._emit(f"campaign_{status}", {"reason": reason, "spent": store.spent(cfg.name)})
            self.view.stop()
            for signum, handler in previous_handlers.items():
                signal.signal(signum, handler)

        recommendation = self._recommend(strategy, samples, store)
        try:
            truth = self._ground_truth(recommendation)
        except Exception as err:  # noqa: BLE001 - the check is informative only; the campaign is done
            store.log_event(cfg.name, "ground_truth_failed", {"error": f"{type(err).__name__}: {err}"})
            truth = None
        if recommendation is not None:
            store.log_event(cfg.name, "recommendation", {"recommendation": recommendation, "ground_truth": truth})
            self._emit("recommendation", {"recommendation": recommendation})
        counts: dict[str, int] = {f.name: 0 for f in cfg.fidelities}
        for s in samples:
            counts[s.fidelity] = counts.get(s.fidelity, 0) + 1
        result = CampaignResult(
            name=cfg.name, store=redact(str(self.store_path)), status=status, stop_reason=reason, budget=cfg.budget,
            spent=store.spent(cfg.name), samples_by_fidelity=counts,
            failed=sum(s.status in ("failed", "interrupted") for s in samples), recommendation=recommendation,
            wall_time_s=time.time() - started, ground_truth=truth, resumed=resumed,
        )
        store.close()
        return result

    # ------------------------------------------------------------------
    def _recorded(self, sample: Sample, store: RecordStore, samples: list[Sample]) -> None:
        spent = store.spent(self.config.name)
        self.view.sample_recorded(sample, spent, samples)
        value = objective_value(self.config, sample)
        self._emit("sample_recorded", {
            "sample": sample.id, "fidelity": sample.fidelity, "status": sample.status, "cost": sample.cost,
            "objective": value if value == value else None, "unit": self.config.objective.unit,
            "predicted_mean": sample.suggestion.get("predicted_mean"), "fault": sample.fault, "error": sample.error,
            "spent": spent, "budget": self.config.budget, "best_at_target": self.view.best(samples),
        })
        if sample.status == "failed":
            self._emit("sample_failed", {"sample": sample.id, "fidelity": sample.fidelity, "fault": sample.fault,
                                         "error": sample.error, "attempts": len(sample.attempts)})

    def _pending_frame(self, dispatches: list[Dispatch], samples: list[Sample]) -> pd.DataFrame:
        """Running and awaiting samples, and interrupted or rejected ones: none has a measurement,
        and none may be suggested again (an interrupted robot run is never repeated; a rejected
        one was refused by the operator)."""
        rows = [{**recipe_row(self.config, d.recipe), "fidelity": d.fidelity} for d in dispatches]
        rows += [{**recipe_row(self.config, s.recipe), "fidelity": s.fidelity} for s in samples
                 if s.status in ("interrupted", "rejected")]
        return pd.DataFrame(rows, columns=[p.name for p in self.config.parameters] + ["fidelity"])

    def _submit(self, d: Dispatch, fidelity, sims: SimulationExecutor, robot, store: RecordStore,
                approved: bool = False) -> Future | None:
        """Start the sample. It is recorded as ``running`` first, so a crash never loses it.

        A fidelity behind the approval gate is recorded as ``awaiting_approval`` instead (its
        cost reserved) and nothing starts: None is returned. Once approved it comes back here
        with ``approved=True``.
        """
        if fidelity.kind == "robot":
            robot.check(d.recipe)  # refuse an out-of-limit recipe before anything is recorded or sent
        sample = Sample(
            id=d.sample_id, campaign=self.config.name, seq=d.seq, fidelity=d.fidelity, status="running",
            cost=fidelity.cost, recipe=d.recipe, suggestion=d.suggestion, created=d.created,
        )
        if approved:
            store.start_approved(sample)
        elif self.config.control.needs_approval(fidelity.name):
            sample.status = "awaiting_approval"
            store.begin_sample(sample, budget=self.config.budget)
            return None
        else:
            store.begin_sample(sample, budget=self.config.budget)
        if fidelity.kind == "simulator":
            seed = (self.config.seed * 1_000_003 + d.seq) % (2**31)
            return sims.submit(run_simulation, fidelity.model, to_jsonable(d.recipe), seed)
        md = {"campaign": self.config.name, "fidelity": fidelity.name,
              "suggestion": {k: d.suggestion.get(k) for k in ("model_id", "strategy", "predicted_mean", "predicted_std")}}
        run_uid: list[str] = []

        def keep(name: str, doc: dict) -> None:
            # Documents are stored as they come: an interrupted run keeps the steps it did.
            if name == "start":
                run_uid.append(doc["uid"])
                store.attach_run(d.sample_id, doc["uid"])
            if run_uid:
                store.add_document(run_uid[0], name, doc)

        def retrying(attempt: int, fault: dict, delay_s: float) -> None:
            store.log_event(self.config.name, "sample_retried",
                            {"sample": d.sample_id, "attempt": attempt, "fault": fault, "delay_s": delay_s})
            self.view.retrying(d.sample_id, attempt, fault)
            self._emit("sample_retried", {"sample": d.sample_id, "attempt": attempt, "fault": fault, "delay_s": delay_s})
            run_uid.clear()  # the next attempt is a new run

        return robot.submit(d.recipe, d.sample_id, md, on_document=keep, on_retry=retrying)

    def _dispatched(self, d: Dispatch, committed: float) -> None:
        self.view.dispatched(d, committed)
        self._emit("sample_dispatched", {"sample": d.sample_id, "fidelity": d.fidelity, "recipe": d.recipe,
                                         "suggestion": d.suggestion, "committed": committed,
                                         "budget_left": self.config.budget - committed})

    # operator control -------------------------------------------------
    def _catch_stop_signals(self) -> dict:
        """Ctrl-C (SIGINT) and SIGTERM set a flag the loop acts on between steps, rather than
        raising wherever the signal lands: a KeyboardInterrupt inside a library (a model fit,
        a store write) could be swallowed there or leave a sample half-recorded. A second
        signal raises at once, for an operator who will not wait for running samples.

        Returns:
            the handlers replaced (restored when the run ends); empty off the main thread.
        """
        if threading.current_thread() is not threading.main_thread():
            return {}

        def handler(signum, frame):
            if self._interrupted:
                raise KeyboardInterrupt
            self._interrupted = True
            self.view.note("stopping: running samples are recorded first (Ctrl-C again to stop waiting)")

        return {signum: signal.signal(signum, handler) for signum in (signal.SIGINT, signal.SIGTERM)}

    def _wait(self, inflight: dict[Future, Dispatch]) -> None:
        """Wait for a sample to finish, but never longer than the control poll interval."""
        if inflight:
            wait(list(inflight), timeout=CONTROL_POLL_S, return_when=FIRST_COMPLETED)
        else:
            time.sleep(CONTROL_POLL_S)

    def _poll_controls(self, store: RecordStore) -> None:
        """Carry out the operators' pause/resume/stop requests (written to the store by `sdl serve`)."""
        for request in store.pending_controls(self.config.name):
            action, who = request["action"], request["operator"]
            payload = {"operator": who, "note": request.get("note")}
            if action == "stop":
                self._stop_request = request
                outcome = "stopping: running samples finish and are recorded"
            elif action == "pause" and not self._paused:
                self._paused = True
                store.set_campaign_status(self.config.name, "paused")
                outcome = "paused: nothing new starts; running samples finish and are recorded"
                self.view.note(f"paused by {who}")
            elif action == "resume" and self._paused:
                self._paused = False
                store.set_campaign_status(self.config.name, "running")
                outcome = "resumed"
                self.view.note(f"resumed by {who}")
            else:
                outcome = f"ignored: the campaign is already {'paused' if self._paused else 'running'}"
            store.control_handled(request["id"], outcome)
            if not outcome.startswith("ignored"):
                kind = {"pause": "campaign_paused", "resume": "campaign_resumed", "stop": "campaign_stopping"}[action]
                store.log_event(self.config.name, kind, payload)
                self._emit(kind, payload)

    def _approval_requested(self, store: RecordStore, d: Dispatch, committed: float) -> None:
        s = d.suggestion
        payload = {"sample": d.sample_id, "fidelity": d.fidelity, "recipe": d.recipe,
                   "predicted_mean": s.get("predicted_mean"), "predicted_std": s.get("predicted_std"),
                   "reason": s.get("reason"), "committed": committed}
        store.log_event(self.config.name, "approval_requested", to_jsonable(payload))
        self.view.note(f"{d.sample_id} ({d.fidelity}) awaits an operator's approval (sdl serve)")
        self._emit("approval_requested", payload)

    def _decided(self, store: RecordStore, awaiting: dict[str, Dispatch], samples: list[Sample]) -> list[Dispatch]:
        """Samples at the gate an operator has decided on. Rejected ones are recorded here (cost
        released); approved ones carry the decision in their suggestion record and are returned
        for dispatch."""
        out = []
        for sample_id, d in list(awaiting.items()):
            decision = store.decision(sample_id)
            if decision is None:
                continue
            awaiting.pop(sample_id)
            d.suggestion = {**d.suggestion, "approval": {
                "decision": decision["decision"], "operator": decision["operator"],
                "note": decision["note"], "time": decision["time"]}}
            if decision["decision"] == "rejected":
                sample = self._closed_at_gate(d, "rejected", f"rejected by operator {decision['operator']}"
                                              + (f": {decision['note']}" if decision["note"] else ""))
                store.add_sample(sample)
                samples.append(sample)
                self._recorded(sample, store, samples)
            out.append(d)
        return out

    def _closed_at_gate(self, d: Dispatch, status: str, why: str) -> Sample:
        return self._unmeasured(d, status, why, cost=0.0)

    def _recover_inflight(self, store: RecordStore) -> None:
        """Samples left ``running`` by a controller that died are recorded as interrupted,
        with the process steps their stored documents show; their cost stays spent."""
        for sample in store.inflight(self.config.name):
            sample.steps = self._partial_steps(store, sample.run_uid)
            sample.status = "interrupted"
            sample.error = ("the controller stopped while this sample was in flight (crash or kill); "
                            f"{len(sample.steps)} completed process steps kept; the run is not repeated")
            sample.completed = time.time()
            store.add_sample(sample)

    def _partial_steps(self, store: RecordStore, run_uid: str | None) -> list[ProcessStep]:
        """The process steps a robot run completed, read back from its stored documents."""
        docs = store.documents(run_uid) if run_uid else []
        if not docs:
            return []
        from devices import steps_from_documents

        try:
            partial = steps_from_documents(docs)
        except Exception as err:  # noqa: BLE001 - a partial record is better than none
            store.log_event(self.config.name, "recovery_note", {"run_uid": run_uid, "error": str(err)})
            return []
        return [ProcessStep.from_mapping(s if isinstance(s, dict) else asdict(s)) for s in partial.steps]

    def _record(self, store: RecordStore, d: Dispatch, fut: Future) -> Sample:
        cost = self.config.fidelity(d.fidelity).cost
        try:
            outcome = fut.result()
        except BaseException as err:  # noqa: BLE001 - every failure becomes a record
            from controller.execution.robot import RobotRunFailed

            sample = self._failed(d, err, cost=cost)
            sample.run_uid = store.run_uid_of(d.sample_id)
            sample.steps = self._partial_steps(store, sample.run_uid)
            if isinstance(err, RobotRunFailed):
                sample.attempts, sample.fault = err.attempts, err.fault
            if self._stopping:
                sample.status = "interrupted"
                sample.error = f"stopped by the operator after {len(sample.steps)} process steps ({sample.error})"
            store.add_sample(sample)
            return sample
        if isinstance(outcome, dict):  # simulation
            sample = Sample(
                id=d.sample_id, campaign=self.config.name, seq=d.seq, fidelity=d.fidelity, status="completed",
                cost=cost, recipe=d.recipe,
                steps=[ProcessStep.from_mapping({**from_jsonable(s), "start_time": outcome["start_time"],
                                                 "end_time": outcome["end_time"]}) for s in outcome["steps"]],
                structure=from_jsonable(outcome["structure"]), properties=from_jsonable(outcome["properties"]),
                suggestion={**d.suggestion, "simulator": {"model": outcome["model"], "version": outcome["model_version"]}},
                created=d.created, completed=time.time(),
            )
            store.add_sample(sample)
            return sample
        record = outcome.record  # its documents were stored as they were emitted
        ok = record.exit_status == "success"
        sample = Sample(
            id=d.sample_id, campaign=self.config.name, seq=d.seq, fidelity=d.fidelity,
            status="completed" if ok else "interrupted", cost=cost, recipe=d.recipe,
            steps=[ProcessStep.from_mapping(s if isinstance(s, dict) else asdict(s)) for s in record.steps],
            structure=dict(record.structure), properties=dict(record.properties), suggestion=d.suggestion,
            run_uid=record.run_uid, error=None if ok else f"run ended with exit status {record.exit_status!r}",
            attempts=outcome.attempts, created=d.created, completed=time.time(),
        )
        store.add_sample(sample)
        return sample

    def _failed(self, d: Dispatch, err: BaseException, cost: float) -> Sample:
        return self._unmeasured(d, "failed", f"{type(err).__name__}: {err}", cost=cost)

    def _unmeasured(self, d: Dispatch, status: str, error: str, cost: float) -> Sample:
        """The record of a dispatch that ends without a measurement, finished now."""
        return Sample(
            id=d.sample_id, campaign=self.config.name, seq=d.seq, fidelity=d.fidelity, status=status,
            cost=cost, recipe=d.recipe, suggestion=d.suggestion, error=error, created=d.created, completed=time.time(),
        )

    def _recommend(self, strategy, samples: list[Sample], store: RecordStore) -> dict[str, Any] | None:
        history = history_frame(self.config, samples)
        target = self.config.target.name
        if not (history["fidelity"] == target).any() and len(history) == 0:
            return None
        try:
            rec = strategy.recommendation(history)
        except SDLError as err:
            store.log_event(self.config.name, "recommendation_failed", {"error": str(err)})
            return None
        return {
            "recipe": to_jsonable(rec.recipe),
            "mean": rec.mean,
            "std": rec.std,
            "unit": self.config.objective.unit,
            "property": self.config.objective.property,
            "fidelity": target,
            "model_id": rec.model_id,
        }

    def _ground_truth(self, recommendation: dict[str, Any] | None) -> dict[str, Any] | None:
        """Dry runs only: what the simulated line's hidden truth says of the recommended recipe."""
        if recommendation is None or not any(f.kind == "robot" for f in self.config.fidelities):
            return None
        from controller.execution.robot import dry_run_truth

        prop = dry_run_truth(self.config, from_jsonable(recommendation["recipe"])).get(self.config.objective.property)
        if prop is None:
            return None
        return {"property": self.config.objective.property, **quantity_to_record(prop.to(self.config.objective.unit))}
