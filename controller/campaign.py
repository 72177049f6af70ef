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
import multiprocessing
import os
import signal
import socket
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from core import OptimizerError, SDLError, quantity_to_record
from controller.config import CampaignConfig
from controller.history import history_frame, objective_value, recipe_row
from controller.progress import ProgressView
from controller.records import ProcessStep, Sample, from_jsonable, to_jsonable
from controller.simwork import run_simulation
from controller.store import RecordStore

log = logging.getLogger(__name__)

# A refusal costs nothing, so a space whose every robot run is refused would loop forever.
MAX_REFUSALS_IN_A_ROW = 3

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


def _ignore_sigint() -> None:
    """Simulator workers leave Ctrl-C to the controller, which records what they were doing."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


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
        self.store_path = Path(store_path or config.store)
        self.speedup = speedup
        self.view = ProgressView(config, enabled=show_progress, console=console)
        self._stop_reason: str | None = None
        self._stopping = False
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
        _share_cores_with_simulators(cfg.scheduler.simulation_workers)
        # Everything that can fail on bad settings is built before the store is touched.
        space = SearchSpace(cfg.parameters, cfg.fidelities, cfg.objective)
        strategy = make_strategy(cfg.optimizer.strategy, space, seed=cfg.seed,
                                 initial_design=cfg.optimizer.initial_design or None)
        store = RecordStore(self.store_path)
        try:
            resumed = store.open_campaign(cfg.name, cfg.fingerprint, cfg.to_json(), cfg.budget,
                                          owner=f"{socket.gethostname()}:{os.getpid()}")
        except BaseException:
            store.close()
            raise
        robot = None
        if any(f.kind == "robot" for f in cfg.fidelities):
            from controller.robot import RobotCell

            robot = RobotCell(cfg, speedup=self.speedup)
            for callback in self._document_listeners:
                robot.add_document_listener(callback)
        sims = ProcessPoolExecutor(max_workers=cfg.scheduler.simulation_workers,
                                   mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_ignore_sigint)
        inflight: dict[Future, Dispatch] = {}
        self._recover_inflight(store)
        samples = store.samples(cfg.name)
        committed = store.spent(cfg.name)
        seq = store.next_seq(cfg.name)
        status = "finished"
        refusals = 0
        self.view.start(samples, committed, resumed)
        kind = "campaign_resumed" if resumed else "campaign_started"
        store.log_event(cfg.name, kind, {"spent": committed})
        self._emit(kind, {"spent": committed, "budget": cfg.budget, "samples": len(samples)})
        try:
            while True:
                for fut in [f for f in inflight if f.done()]:
                    sample = self._record(store, inflight.pop(fut), fut)
                    samples.append(sample)
                    self._recorded(sample, store, samples)
                budget_left = cfg.budget - committed
                affordable = [f for f in cfg.fidelities if f.cost <= budget_left + 1e-9]
                if not affordable:
                    if not inflight:
                        self._stop_reason = (
                            f"budget exhausted: {committed:g} of {cfg.budget:g} cost units committed; "
                            f"the cheapest fidelity costs {min(f.cost for f in cfg.fidelities):g}"
                        )
                        break
                    wait(list(inflight), return_when=FIRST_COMPLETED)
                    continue
                robot_busy = any(cfg.fidelity(d.fidelity).kind == "robot" for d in inflight.values())
                sims_busy = sum(cfg.fidelity(d.fidelity).kind == "simulator" for d in inflight.values())
                sim_free = sims_busy < cfg.scheduler.simulation_workers
                allowed = [f for f in affordable if not (f.kind == "robot" and robot_busy)]
                if not allowed or not (sim_free or any(f.kind == "robot" for f in allowed)):
                    wait(list(inflight), return_when=FIRST_COMPLETED)
                    continue
                history = history_frame(cfg, samples)
                pending = self._pending_frame(inflight, samples)
                self.view.thinking(len(history), [f.name for f in allowed])
                try:
                    suggestion = strategy.recommend(history, pending=pending, budget_left=budget_left, q=1,
                                                    allowed_fidelities=[f.name for f in allowed])[0]
                except OptimizerError as err:
                    # e.g. a single-fidelity strategy while the robot is busy, or with less budget
                    # left than a robot run costs: wait for what is running, else stop here.
                    if inflight:
                        wait(list(inflight), return_when=FIRST_COMPLETED)
                        continue
                    self._stop_reason = f"nothing left to suggest within the budget ({committed:g} of {cfg.budget:g} committed): {err}"
                    break
                fidelity = cfg.fidelity(suggestion.fidelity)
                self._emit("suggestion", {"fidelity": fidelity.name, "reason": suggestion.reason,
                                          "acquisition_by_fidelity": suggestion.acquisition_by_fidelity,
                                          "predicted_mean": suggestion.predicted_mean, "budget_left": budget_left})
                if fidelity.kind == "simulator" and not sim_free:
                    # The optimizer wants a simulation but every worker is busy: wait for one.
                    wait(list(inflight), return_when=FIRST_COMPLETED)
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
                inflight[fut] = dispatch
                committed += fidelity.cost
                seq += 1
                self.view.dispatched(dispatch, committed)
                self._emit("sample_dispatched", {"sample": dispatch.sample_id, "fidelity": fidelity.name,
                                                 "recipe": dispatch.recipe, "suggestion": dispatch.suggestion,
                                                 "committed": committed, "budget_left": cfg.budget - committed})
        except KeyboardInterrupt:
            self._stopping = True
            status = "stopped"
            self._stop_reason = "stopped by the operator (Ctrl-C); run `sdl run` on the same file to continue"
            if robot is not None:
                robot.request_stop()
        finally:
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
            name=cfg.name, store=str(self.store_path), status=status, stop_reason=reason, budget=cfg.budget,
            spent=store.spent(cfg.name), samples_by_fidelity=counts,
            failed=sum(s.status != "completed" for s in samples), recommendation=recommendation,
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

    def _pending_frame(self, inflight: dict[Future, Dispatch], samples: list[Sample]) -> pd.DataFrame:
        """Running samples, and interrupted ones: neither has a measurement, and neither may be
        suggested again (an interrupted robot run is never repeated)."""
        rows = [{**recipe_row(self.config, d.recipe), "fidelity": d.fidelity} for d in inflight.values()]
        rows += [{**recipe_row(self.config, s.recipe), "fidelity": s.fidelity} for s in samples if s.status == "interrupted"]
        return pd.DataFrame(rows, columns=[p.name for p in self.config.parameters] + ["fidelity"])

    def _submit(self, d: Dispatch, fidelity, sims: ProcessPoolExecutor, robot, store: RecordStore) -> Future:
        """Start the sample. It is recorded as ``running`` first, so a crash never loses it."""
        if fidelity.kind == "robot":
            robot.check(d.recipe)  # refuse an out-of-limit recipe before anything is recorded or sent
        store.begin_sample(Sample(
            id=d.sample_id, campaign=self.config.name, seq=d.seq, fidelity=d.fidelity, status="running",
            cost=fidelity.cost, recipe=d.recipe, suggestion=d.suggestion, created=d.created,
        ), budget=self.config.budget)
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
            from controller.robot import RobotRunFailed

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
        return Sample(
            id=d.sample_id, campaign=self.config.name, seq=d.seq, fidelity=d.fidelity, status="failed",
            cost=cost, recipe=d.recipe, suggestion=d.suggestion,
            error=f"{type(err).__name__}: {err}", created=d.created, completed=time.time(),
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
        from controller.robot import dry_run_truth

        prop = dry_run_truth(self.config, from_jsonable(recommendation["recipe"])).get(self.config.objective.property)
        if prop is None:
            return None
        return {"property": self.config.objective.property, **quantity_to_record(prop.to(self.config.objective.unit))}
