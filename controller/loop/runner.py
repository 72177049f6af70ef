"""The closed loop: ask the optimizer, run the experiment, record the sample, repeat.

One step (see ``../shared/DESIGN.md``)::

    history (store) -> strategy.recommend(history, pending, budget_left) -> Suggestion
      -> simulations (Dask / a pool)  |  approval gate -> robot station (RunEngine thread)
      -> Sample record (one transaction) -> progress / events

The runner is a small state machine: :meth:`CampaignRunner.run` opens the campaign, takes
:meth:`~CampaignRunner._step` until a stop reason is set, winds down (nothing in flight is
lost) and reports. Simulations run while the robot works; what is in flight is passed to
the optimizer as pending points so it does not suggest the same thing twice. The budget is
committed when a sample is dispatched, so the campaign never overspends, and the store's
sum of sample costs is the spent budget.
"""

from __future__ import annotations

import logging
import os
import getpass
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.config.campaign import CampaignConfig
from controller.execution.probe import probe_plan, probe_simulators
from controller.execution.protocol import Executor
from controller.execution.simulations import Simulations, make_simulation_executor
from controller.loop import dispatch as book
from controller.loop.dispatch import Dispatch, suggestion_record
from controller.loop.custody import check_chain
from controller.loop.gate import ControlGate
from controller.loop.outcome import CampaignResult, ground_truth, recommendation
from controller.loop.progress import ProgressView
from controller.loop.recovery import partial_steps, recover_inflight
from controller.loop.strategy import build_strategy
from controller.records.history import history_frame, objective_value
from controller.records.lease import Heartbeat, owner_id
from controller.records.stopwatch import StopWatch
from controller.records.location import redact, store_target
from controller.records.samples import Sample, to_jsonable
from controller.records.store import RecordStore
from core import ConfigError, FieldIssue, OptimizerError, PluginError, SDLError

log = logging.getLogger(__name__)

# A refusal costs nothing, so a space whose every robot run is refused would loop forever.
MAX_REFUSALS_IN_A_ROW = 3
# How often the loop looks for operator decisions (pause/resume/stop, approvals) in the store.
CONTROL_POLL_S = 0.2
# A simulation that ran at least this long (s) and has finished frees its worker for the batch being
# chosen, before its result is recorded (see ``_sim_slot_free``).
REFILL_FIRST_S = 1.0

__all__ = ["CONTROL_POLL_S", "MAX_REFUSALS_IN_A_ROW", "CampaignResult", "CampaignRunner", "suggestion_record"]


@dataclass
class LoopState:
    """Everything one run of the loop holds; ``reason`` set ends it."""

    store: RecordStore
    strategy: Any
    executors: dict[str, Executor]  # by fidelity kind: "simulator", "robot"
    samples: list[Sample]
    committed: float
    seq: int
    resumed: bool
    inflight: dict[Future, Dispatch] = field(default_factory=dict)
    awaiting: dict[str, Dispatch] = field(default_factory=dict)
    refusals: int = 0
    lease: Heartbeat | None = None
    stop_watch: StopWatch | None = None  # reaches a running robot plan at once when an operator stops
    history_rows: dict[str, dict] = field(default_factory=dict)  # sample id -> its row in the optimizer's history
    pending_rows: dict[str, dict] = field(default_factory=dict)  # sample id -> its row in the pending table
    status: str = "finished"
    reason: str | None = None

    def end(self, status: str, reason: str) -> None:
        self.status, self.reason = status, reason

    def open_dispatches(self) -> list[Dispatch]:
        return [*self.inflight.values(), *self.awaiting.values()]


def _plugin_error(fut: Future) -> PluginError | None:
    """The :class:`core.PluginError` a finished run ended with, if any."""
    error = None if fut.cancelled() else fut.exception()
    return error if isinstance(error, PluginError) else None


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
        accept_broken_chain: continue a campaign whose records' hash chain is broken (an
            event records who overrode it); without it such a campaign is refused.
    """

    def __init__(self, config: CampaignConfig, store_path: str | Path | None = None,
                 speedup: float | None = None, show_progress: bool = True, console=None,
                 accept_broken_chain: bool = False):
        self.config = config
        self.accept_broken_chain = accept_broken_chain
        self.store_path = store_target(store_path or config.store)  # a Path, or a PostgreSQL URL
        self.speedup = speedup
        self.view = ProgressView(config, enabled=show_progress, console=console)
        self.gate = ControlGate(config, self.view, self._emit)
        self._stopping = False
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

    # -- the state machine ----------------------------------------------------------------------
    def run(self) -> CampaignResult:
        started = time.time()
        loop = self._open()
        previous_handlers = self._catch_stop_signals()
        try:
            while loop.reason is None:
                self._step(loop)
        except KeyboardInterrupt:
            self.gate.stop_request = None
            loop.end("stopped", "stopped by the operator (Ctrl-C); run `sdl run` on the same file to continue")
            self._stop_robot(loop)
        finally:
            self._wind_down(loop, previous_handlers)
        return self._report(loop, started)

    def _stop_robot(self, loop: LoopState) -> None:
        """The operator's stop (a request in the store, Ctrl-C): a running robot plan is aborted
        now and recorded as ``interrupted`` with the steps it completed; nothing new is
        dispatched; simulations in flight finish and are recorded. Called from the loop and
        from the stop watch's thread; doing it twice does nothing more."""
        self._stopping = True
        robot = loop.executors.get("robot")
        if robot is not None:
            robot.request_stop()

    def _step(self, loop: LoopState) -> None:
        """One pass: record what finished, heed the operators, dispatch what is decided and
        what the optimizer asks for next (or wait)."""
        if self._interrupted:
            raise KeyboardInterrupt
        if loop.lease is not None and loop.lease.lost:  # another controller runs it now: dispatch nothing more
            return loop.end("stopped", loop.lease.lost)
        for fut in self._finished(loop):
            self._recorded(loop, self._record(loop, loop.inflight.pop(fut), fut))
            if (broken := _plugin_error(fut)) is not None:  # the system is broken, not the sample: end here
                loop.end("failed", str(broken))
                raise broken
        self.gate.poll(loop.store)
        if self.gate.stop_request is not None:
            self._stop_robot(loop)  # done already when the stop watch saw the request first
            loop.end("stopped", self.gate.stop_reason())
        elif self.gate.paused:
            self._wait(loop)
        else:
            self._dispatch_decided(loop)
            self._dispatch_next(loop)

    # -- opening and closing --------------------------------------------------------------------
    def _open(self) -> LoopState:
        """Build everything that can fail on bad settings before the store is touched, then open
        the campaign in the store and recover what a dead controller left running."""
        cfg = self.config
        if any(f.kind == "table" for f in cfg.fidelities):
            raise ConfigError(FieldIssue("fidelities", "fidelities of kind \"table\" are answered by a recorded table: "
                                                       f"run this campaign with `sdl backtest {cfg.source or 'CONFIG'}`"))
        if not cfg.devices.dry_run and any(f.kind == "robot" for f in cfg.fidelities):
            from controller.execution.preflight import require_preflight

            require_preflight(cfg)  # real devices: one line per problem, before anything moves or is recorded
        probe_simulators(cfg)  # a lab's model that raises is refused naming it, before anything is recorded
        _share_cores_with_simulators(cfg.scheduler.local_simulation_workers)
        strategy = build_strategy(cfg)
        # Dask (default) or a process pool, per [scheduler]; an unreachable Dask scheduler fails here.
        sims = Simulations(make_simulation_executor(cfg.scheduler))
        executors: dict[str, Executor] = {"simulator": sims}
        store = None
        owner, broken = owner_id(), None
        try:
            sims.warm(sorted({f.model for f in cfg.fidelities if f.kind == "simulator"}))
            if any(f.kind == "robot" for f in cfg.fidelities):
                # the line, and its plan walked to its open_run, before the store is touched
                executors["robot"] = self._robot_executor(lambda kind, payload: store.log_event(cfg.name, kind, payload))
                probe_plan(cfg, executors["robot"].station)
            store = RecordStore(self.store_path)
            if cfg.name in store.campaign_names():
                # Read what is recorded before taking the campaign: a store that fails to load
                # leaves the campaign as it was (status, stop reason, no owner).
                store.samples(cfg.name, include_running=True)
                store.awaiting(cfg.name)
                broken = check_chain(store, cfg.name, self.accept_broken_chain)
            resumed = store.open_campaign(cfg.name, cfg.fingerprint, cfg.to_json(), cfg.budget, owner=owner)
        except BaseException:
            for executor in executors.values():
                executor.close()
            if store is not None:
                store.close()
            raise
        lease = store.heartbeat(cfg.name, owner)
        if broken is not None:
            store.log_event(cfg.name, "broken_chain_accepted", {"by": f"{getpass.getuser()} ({owner})", "problem": broken})
        recover_inflight(store, cfg.name, self._reader())
        loop = LoopState(store=store, strategy=strategy, executors=executors, samples=store.samples(cfg.name),
                         committed=store.spent(cfg.name), seq=store.next_seq(cfg.name), resumed=resumed, lease=lease)
        if "robot" in executors:
            # The loop heeds operators between steps, and a step may be a model fit of seconds:
            # the watch stops a running robot plan within a fraction of a second of the request.
            loop.stop_watch = store.watch_stop(cfg.name, lambda request: self._stop_robot(loop))
        # Runs still waiting for an operator when the controller stopped wait on.
        loop.awaiting = {s.id: Dispatch.of(s) for s in store.awaiting(cfg.name)}
        self.view.start(loop.samples, loop.committed, resumed)
        kind = "campaign_resumed" if resumed else "campaign_started"
        store.log_event(cfg.name, kind, {"spent": loop.committed})
        self._emit(kind, {"spent": loop.committed, "budget": cfg.budget, "samples": len(loop.samples)})
        return loop

    def _reader(self):
        """The material system's documents -> run record, or None for the generic reader."""
        return getattr(self.config.robot, "record", None)

    def _robot_executor(self, event_log) -> Executor:
        """The robot's executor; ``event_log(kind, payload)`` records its station's events."""
        from controller.execution.robot import make_robot_executor

        robot = make_robot_executor(self.config, speedup=self.speedup, event_log=event_log)
        for callback in self._document_listeners:
            robot.add_document_listener(callback)
        return robot

    def _wind_down(self, loop: LoopState, previous_handlers: dict) -> None:
        """Nothing is lost: runs at the gate are cancelled, what is in flight is waited for and
        recorded, the executors are closed and the campaign's end is recorded. A controller
        whose lease was taken over records nothing more: the new owner recovered its samples."""
        if loop.lease is not None and loop.lease.lost:
            return self._abandon(loop, previous_handlers)
        for d in list(loop.awaiting.values()):  # never approved: nothing ran, nothing is charged
            loop.awaiting.pop(d.sample_id)
            sample = self.gate.cancelled(d)
            loop.store.add_sample(sample)
            self._recorded(loop, sample)
        for fut in list(loop.inflight):
            try:
                fut.exception()
            except BaseException:  # noqa: BLE001 - recorded below
                pass
            self._recorded(loop, self._record(loop, loop.inflight.pop(fut), fut))
        if loop.stop_watch is not None:
            loop.stop_watch.close()
            if loop.stop_watch.fired and self.gate.stop_request is None:
                # stopped while the loop was already ending (e.g. waiting for the last robot run):
                # the request is handled and recorded, and the campaign ends as stopped
                self.gate.poll(loop.store)
                if self.gate.stop_request is not None and loop.status == "finished":
                    loop.end("stopped", self.gate.stop_reason())
        for executor in loop.executors.values():
            executor.close()
        if loop.reason is None:  # an exception is on its way out
            loop.end("failed", "stopped by an error; see the log")
        if loop.lease is not None:
            loop.lease.stop()  # before finish_campaign releases the lease (its next beat would find no owner)
        loop.store.finish_campaign(self.config.name, loop.status, loop.reason)
        self._emit(f"campaign_{loop.status}", {"reason": loop.reason, "spent": loop.store.spent(self.config.name)})
        self.view.stop()
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)

    def _abandon(self, loop: LoopState, previous_handlers: dict) -> None:
        """The lease was lost: stop the executors, leave the campaign and its open samples to the new owner."""
        loop.lease.stop()
        if loop.stop_watch is not None:
            loop.stop_watch.close()
        loop.end("stopped", loop.lease.lost)
        for executor in loop.executors.values():
            executor.request_stop()
            executor.close()
        loop.inflight.clear()
        loop.awaiting.clear()
        self._emit("campaign_stopped", {"reason": loop.reason, "spent": loop.store.spent(self.config.name)})
        self.view.stop()
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)

    def _report(self, loop: LoopState, started: float) -> CampaignResult:
        cfg, store = self.config, loop.store
        rec = recommendation(cfg, loop.strategy, loop.samples, store)
        try:
            truth = ground_truth(cfg, rec)
        except Exception as err:  # noqa: BLE001 - the check is informative only; the campaign is done
            store.log_event(cfg.name, "ground_truth_failed", {"error": f"{type(err).__name__}: {err}"})
            truth = None
        if rec is not None:
            store.log_event(cfg.name, "recommendation", {"recommendation": rec, "ground_truth": truth})
            self._emit("recommendation", {"recommendation": rec})
        counts: dict[str, int] = {f.name: 0 for f in cfg.fidelities}
        for s in loop.samples:
            counts[s.fidelity] = counts.get(s.fidelity, 0) + 1
        result = CampaignResult(
            name=cfg.name, store=redact(str(self.store_path)), status=loop.status, stop_reason=loop.reason,
            budget=cfg.budget, spent=store.spent(cfg.name), samples_by_fidelity=counts,
            failed=sum(s.status in ("failed", "interrupted") for s in loop.samples), recommendation=rec,
            wall_time_s=time.time() - started, ground_truth=truth, resumed=loop.resumed,
        )
        store.close()
        return result

    # -- dispatching ----------------------------------------------------------------------------
    def _dispatch_decided(self, loop: LoopState) -> None:
        """Runs an operator decided on: a rejected one is recorded (its cost released), an
        approved one starts (or, refused now, is recorded as failed at no cost)."""
        if self._stopping:  # an approved run waits: at the end it is cancelled, at no cost
            return
        for d, rejected in self.gate.decided(loop.store, loop.awaiting):
            cost = self.config.fidelity(d.fidelity).cost
            if rejected is not None:
                loop.store.add_sample(rejected)
                self._recorded(loop, rejected)
                loop.committed -= cost
                continue
            try:
                fut = self._submit(loop, d, approved=True)
            except SDLError as err:  # refused after approval (e.g. the line's limits changed): nothing ran
                loop.committed -= cost
                sample = book.failed(self.config, d, err, cost=0.0)
                loop.store.add_sample(sample)
                self._recorded(loop, sample)
                continue
            loop.inflight[fut] = d
            self._dispatched(d, loop.committed)

    def _allowed_fidelities(self, loop: LoopState) -> tuple[list, bool]:
        """The fidelities a suggestion may use now (affordable, with a free slot), and whether
        a simulation worker is free."""
        cfg = self.config
        budget_left = cfg.budget - loop.committed
        affordable = [f for f in cfg.fidelities if f.cost <= budget_left + 1e-9]
        robots_open = sum(cfg.fidelity(d.fidelity).kind == "robot" for d in loop.open_dispatches())
        robot_busy = robots_open >= cfg.robot_stations  # every station making (or holding at the gate) a sample
        sims_busy = sum(cfg.fidelity(d.fidelity).kind == "simulator" and not self._sim_slot_free(fut)
                        for fut, d in loop.inflight.items())
        sim_free = sims_busy < cfg.scheduler.simulation_workers
        allowed = [f for f in affordable if not (f.kind == "robot" and robot_busy)]
        if not (sim_free or any(f.kind == "robot" for f in allowed)):
            allowed = []
        return allowed, sim_free

    def _sim_slot_free(self, fut: Future) -> bool:
        """Whether a simulation still counted in flight has, in fact, freed its worker for the batch
        being chosen: it finished cleanly after running at least ``REFILL_FIRST_S``. The batch was
        chosen from a history without its result, and its row stays pending (believed at the
        model's mean) for the rest of the batch; the result is recorded right after the batch.
        Recording it first would idle that worker for the batch's remaining decisions (a wave of
        32 workers finishing together waited about 0.3 s on average). A faster simulation waits
        to be recorded: such a campaign is bound by its decisions, and each sees every result.
        Never in an exact replay, whose decisions see everything dispatched before them."""
        if self.config.scheduler.deterministic or not fut.done() or fut.cancelled() or fut.exception() is not None:
            return False
        outcome = fut.result()
        ran = getattr(outcome, "end_time", 0.0) - getattr(outcome, "start_time", 0.0)
        return ran >= REFILL_FIRST_S

    def _finished(self, loop: LoopState) -> list[Future]:
        """The runs to record now: whatever has finished; for an exact replay, the whole batch
        once every run of it has finished, in dispatch order (the history's rows, and so the
        model, then do not depend on which simulation happened to finish first)."""
        done = [f for f in loop.inflight if f.done()]
        if not self.config.scheduler.deterministic:
            return done
        if len(done) < len(loop.inflight):
            return []
        return sorted(done, key=lambda f: loop.inflight[f].seq)

    def _dispatch_next(self, loop: LoopState) -> None:
        """Fill every free slot (simulation workers, the robot) from one model fit, and start
        what is suggested; otherwise wait for something to finish, or end the campaign when
        nothing can run again.

        Nothing is recorded while a batch is chosen, so the history, and with it the fitted
        model, stays the same for every suggestion of the batch: the strategy fits once and
        each further suggestion is conditioned on the ones before it as pending runs. A worker
        whose long simulation finishes during the batch is refilled in it (``_sim_slot_free``)."""
        cfg = self.config
        budget_left = cfg.budget - loop.committed
        if not any(f.cost <= budget_left + 1e-9 for f in cfg.fidelities) and not loop.open_dispatches():
            loop.end("finished", f"budget exhausted: {loop.committed:g} of {cfg.budget:g} cost units committed; "
                                 f"the cheapest fidelity costs {min(f.cost for f in cfg.fidelities):g}")
            return
        if cfg.scheduler.deterministic and loop.open_dispatches():
            return self._wait(loop)  # exact replay: the next decision sees everything before it recorded
        history = history_frame(cfg, loop.samples, loop.history_rows)
        started = 0
        # One suggestion per slot at most; what finished meanwhile is recorded before the next batch.
        while loop.reason is None and started < cfg.scheduler.simulation_workers + cfg.robot_stations:
            outcome = self._dispatch_one(loop, history)
            if outcome == "refused":  # recorded as failed: the next suggestion sees it in the history
                return
            if outcome == "none":
                break
            started += 1
        if not started and loop.reason is None:
            self._wait(loop)

    def _dispatch_one(self, loop: LoopState, history) -> str:
        """Ask for one suggestion for a free slot and start it: ``"started"`` (or waiting at the
        approval gate), ``"none"`` when nothing can start now, ``"refused"`` when it was refused."""
        cfg = self.config
        budget_left = cfg.budget - loop.committed
        allowed, sim_free = self._allowed_fidelities(loop)
        if not allowed:
            return "none"
        pending = book.pending_frame(cfg, loop.open_dispatches(), loop.samples, loop.pending_rows)
        self.view.thinking(len(history), [f.name for f in allowed])
        try:
            suggestion = loop.strategy.recommend(history, pending=pending, budget_left=budget_left, q=1,
                                                 allowed_fidelities=[f.name for f in allowed])[0]
        except OptimizerError as err:
            # e.g. a single-fidelity strategy while the robot is busy, or with less budget
            # left than a robot run costs: wait for what is running, else stop here.
            if not loop.open_dispatches():
                loop.end("finished", f"nothing left to suggest within the budget ({loop.committed:g} of "
                                     f"{cfg.budget:g} committed): {err}")
            return "none"
        if self._stopping:  # an operator stopped the campaign during the fit: start nothing more
            return "none"
        fidelity = cfg.fidelity(suggestion.fidelity)
        self._emit("suggestion", {"fidelity": fidelity.name, "reason": suggestion.reason,
                                  "acquisition_by_fidelity": suggestion.acquisition_by_fidelity,
                                  "predicted_mean": suggestion.predicted_mean, "budget_left": budget_left})
        if fidelity.kind == "simulator" and not sim_free:
            return "none"  # the optimizer wants a simulation but every worker is busy: wait for one
        d = Dispatch(sample_id=f"{cfg.name}-{loop.seq:04d}", seq=loop.seq, fidelity=fidelity.name,
                     recipe=dict(suggestion.recipe), suggestion=suggestion_record(suggestion, cfg.objective.unit),
                     created=time.time())
        loop.seq += 1
        try:
            fut = self._submit(loop, d)
        except SDLError as err:
            self._refused(loop, d, err)
            return "refused"
        loop.refusals = 0
        loop.committed += fidelity.cost
        if fut is None:  # held at the approval gate; its cost stays reserved
            loop.awaiting[d.sample_id] = d
            self.gate.requested(loop.store, d, loop.committed)
            return "started"
        loop.inflight[fut] = d
        self._dispatched(d, loop.committed)
        return "started"

    def _refused(self, loop: LoopState, d: Dispatch, err: SDLError) -> None:
        """Refused before anything ran (e.g. a setpoint beyond a device limit): recorded as
        failed, nothing charged; too many in a row end the campaign."""
        sample = book.failed(self.config, d, err, cost=0.0)
        loop.store.add_sample(sample)
        self._recorded(loop, sample)
        loop.refusals += 1
        if loop.refusals >= MAX_REFUSALS_IN_A_ROW:
            loop.end("failed", f"{loop.refusals} suggestions in a row were refused before running "
                               f"(last: {err}); fix the campaign's bounds or limits")

    def _submit(self, loop: LoopState, d: Dispatch, approved: bool = False) -> Future | None:
        """Start the sample. It is recorded as ``running`` first, so a crash never loses it.

        A fidelity behind the approval gate is recorded as ``awaiting_approval`` instead (its
        cost reserved) and nothing starts: None is returned. Once approved it comes back here
        with ``approved=True``.
        """
        fidelity = self.config.fidelity(d.fidelity)
        executor = loop.executors[fidelity.kind]
        self.config.check_constraints(d.recipe)  # a recipe breaking a linear constraint never runs
        executor.check(d.recipe)  # refuse an out-of-limit recipe before anything is recorded or sent
        if approved:
            loop.store.start_approved(book.started_sample(self.config, d))
        elif self.gate.needs_approval(fidelity.name):
            loop.store.begin_sample(book.started_sample(self.config, d, "awaiting_approval"), budget=self.config.budget)
            return None
        else:
            loop.store.begin_sample(book.started_sample(self.config, d), budget=self.config.budget)
        if fidelity.kind == "simulator":
            return executor.submit(book.run_request(self.config, d))
        return executor.submit(book.run_request(self.config, d, *self._robot_callbacks(loop.store, d)))

    def _robot_callbacks(self, store: RecordStore, d: Dispatch) -> tuple:
        """``on_document``: documents are stored as they come (an interrupted run keeps the steps
        it did); ``on_retry``: each retry is logged and announced, and starts a new run."""
        run_uid: list[str] = []

        def keep(name: str, doc: dict) -> None:
            if name == "start":
                run_uid.append(doc["uid"])
                store.attach_run(d.sample_id, doc["uid"])
            if run_uid:
                store.add_document(run_uid[0], name, doc)

        def retrying(attempt: int, fault: dict, delay_s: float) -> None:
            payload = {"sample": d.sample_id, "attempt": attempt, "fault": fault, "delay_s": delay_s}
            store.log_event(self.config.name, "sample_retried", payload)
            self.view.retrying(d.sample_id, attempt, fault)
            self._emit("sample_retried", payload)
            run_uid.clear()  # the next attempt is a new run

        return keep, retrying

    def _record(self, loop: LoopState, d: Dispatch, fut: Future) -> Sample:
        """Write a finished dispatch's record; a failed robot run keeps the steps its documents show."""
        sample = book.finished_sample(self.config, d, fut)
        if sample.status == "failed" and _plugin_error(fut) is not None:
            sample.cost = 0.0  # the system's plan made nothing: nothing is charged
        if sample.status == "failed":
            sample.run_uid = loop.store.run_uid_of(d.sample_id)
            sample.steps = partial_steps(loop.store, self.config.name, sample.run_uid, self._reader())
            if self._stopping:
                sample.status = "interrupted"
                sample.error = f"stopped by the operator after {len(sample.steps)} process steps ({sample.error})"
        loop.store.add_sample(sample)
        return sample

    # -- announcing -----------------------------------------------------------------------------
    def _recorded(self, loop: LoopState, sample: Sample) -> None:
        loop.samples.append(sample)
        spent = loop.store.spent(self.config.name)
        self.view.sample_recorded(sample, spent, loop.samples)
        value = objective_value(self.config, sample)
        self._emit("sample_recorded", {
            "sample": sample.id, "fidelity": sample.fidelity, "status": sample.status, "cost": sample.cost,
            "objective": value if value == value else None, "unit": self.config.objective.unit,
            "predicted_mean": sample.suggestion.get("predicted_mean"), "fault": sample.fault, "error": sample.error,
            "spent": spent, "budget": self.config.budget, "best_at_target": self.view.best(loop.samples),
        })
        if sample.status == "failed":
            self._emit("sample_failed", {"sample": sample.id, "fidelity": sample.fidelity, "fault": sample.fault,
                                         "error": sample.error, "attempts": len(sample.attempts)})

    def _dispatched(self, d: Dispatch, committed: float) -> None:
        self.view.dispatched(d, committed)
        self._emit("sample_dispatched", {"sample": d.sample_id, "fidelity": d.fidelity, "recipe": d.recipe,
                                         "suggestion": d.suggestion, "committed": committed,
                                         "budget_left": self.config.budget - committed})

    # -- waiting and signals --------------------------------------------------------------------
    def _wait(self, loop: LoopState) -> None:
        """Wait for a sample to finish, but never longer than the control poll interval."""
        if loop.inflight:
            wait(list(loop.inflight), timeout=CONTROL_POLL_S, return_when=FIRST_COMPLETED)
        else:
            time.sleep(CONTROL_POLL_S)

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
