"""A sample in flight, and the records it ends as (measured, failed, refused, closed at the gate)."""

from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from controller.config.campaign import CampaignConfig
from controller.execution.protocol import RobotRunFailed, RunRequest, SimulationOutcome
from controller.records.history import recipe_row
from controller.records.samples import ProcessStep, Sample, from_jsonable, to_jsonable


@dataclass
class Dispatch:
    """A sample in flight (or waiting at the approval gate)."""

    sample_id: str
    seq: int
    fidelity: str
    recipe: dict[str, Any]
    suggestion: dict[str, Any]
    created: float

    @classmethod
    def of(cls, sample: Sample) -> Dispatch:
        return cls(sample.id, sample.seq, sample.fidelity, dict(sample.recipe), dict(sample.suggestion), sample.created)


def suggestion_record(suggestion: Any, objective_unit: str) -> dict[str, Any]:
    """The decision that asked for a sample, as stored with it (the recipe is stored beside it)."""
    data = suggestion.to_record()
    data.pop("recipe", None)
    data["objective_unit"] = objective_unit
    data["time"] = time.time()
    return to_jsonable(data)


def simulation_seed(config: CampaignConfig, seq: int) -> int:
    """Each sample's simulation seed: a pure function of the campaign's seed and the sample's number."""
    return (config.seed * 1_000_003 + seq) % (2**31)


def run_request(config: CampaignConfig, d: Dispatch, on_document=None, on_retry=None) -> RunRequest:
    """What the fidelity's executor is asked to make."""
    fidelity = config.fidelity(d.fidelity)
    md = {"campaign": config.name, "fidelity": fidelity.name,
          "suggestion": {k: d.suggestion.get(k) for k in ("model_id", "strategy", "predicted_mean", "predicted_std")}}
    return RunRequest(sample_id=d.sample_id, recipe=d.recipe, model=fidelity.model, seed=simulation_seed(config, d.seq),
                      md=md, on_document=on_document, on_retry=on_retry)


def started_sample(config: CampaignConfig, d: Dispatch, status: str = "running") -> Sample:
    """The record written before anything starts, so a crash never loses the sample."""
    return Sample(id=d.sample_id, campaign=config.name, seq=d.seq, fidelity=d.fidelity, status=status,
                  cost=config.fidelity(d.fidelity).cost, recipe=d.recipe, suggestion=d.suggestion, created=d.created)


def unmeasured(config: CampaignConfig, d: Dispatch, status: str, error: str, cost: float) -> Sample:
    """The record of a dispatch that ends without a measurement, finished now."""
    return Sample(id=d.sample_id, campaign=config.name, seq=d.seq, fidelity=d.fidelity, status=status,
                  cost=cost, recipe=d.recipe, suggestion=d.suggestion, error=error, created=d.created,
                  completed=time.time())


def failed(config: CampaignConfig, d: Dispatch, err: BaseException, cost: float) -> Sample:
    return unmeasured(config, d, "failed", f"{type(err).__name__}: {err}", cost=cost)


def finished_sample(config: CampaignConfig, d: Dispatch, fut: Future) -> Sample:
    """The record of a finished future: measured, or failed with whatever the run left.

    A failed robot run keeps its attempts and fault; its completed process steps are added by
    the caller from the stored documents.
    """
    cost = config.fidelity(d.fidelity).cost
    try:
        outcome = fut.result()
    except BaseException as err:  # noqa: BLE001 - every failure becomes a record
        sample = failed(config, d, err, cost=cost)
        if isinstance(err, RobotRunFailed):
            sample.attempts, sample.fault = err.attempts, err.fault
        return sample
    if isinstance(outcome, SimulationOutcome):
        return Sample(
            id=d.sample_id, campaign=config.name, seq=d.seq, fidelity=d.fidelity, status="completed",
            cost=cost, recipe=d.recipe,
            steps=[ProcessStep.from_mapping({**from_jsonable(s), "start_time": outcome.start_time,
                                             "end_time": outcome.end_time}) for s in outcome.steps],
            structure=from_jsonable(outcome.structure), properties=from_jsonable(outcome.properties),
            suggestion={**d.suggestion, "simulator": {"model": outcome.model, "version": outcome.model_version}},
            created=d.created, completed=time.time(),
        )
    record = outcome.record  # its documents were stored as they were emitted
    ok = record.exit_status == "success"
    return Sample(
        id=d.sample_id, campaign=config.name, seq=d.seq, fidelity=d.fidelity,
        status="completed" if ok else "interrupted", cost=cost, recipe=d.recipe,
        steps=[ProcessStep.from_mapping(s if isinstance(s, dict) else asdict(s)) for s in record.steps],
        structure=dict(record.structure), properties=dict(record.properties), suggestion=d.suggestion,
        run_uid=record.run_uid, error=None if ok else f"run ended with exit status {record.exit_status!r}",
        attempts=outcome.attempts, created=d.created, completed=time.time(),
    )


def pending_frame(config: CampaignConfig, dispatches: list[Dispatch], samples: list[Sample],
                  rows_by_id: dict[str, dict] | None = None) -> pd.DataFrame:
    """Running and awaiting samples, and interrupted or rejected ones: none has a measurement,
    and none may be suggested again (an interrupted robot run is never repeated; a rejected
    one was refused by the operator).

    ``rows_by_id``: a cache of each sample's row, kept by a caller that asks once per free
    worker (the loop): a dispatched recipe never changes, and converting every running
    recipe's quantities anew cost O(running) per request, O(workers^2) per batch."""
    def row(sample_id: str, recipe: dict, fidelity: str) -> dict:
        got = rows_by_id.get(sample_id) if rows_by_id is not None else None
        if got is None:
            got = {**recipe_row(config, recipe), "fidelity": fidelity}
            if rows_by_id is not None:
                rows_by_id[sample_id] = got
        return got

    rows = [row(d.sample_id, d.recipe, d.fidelity) for d in dispatches]
    rows += [row(s.id, s.recipe, s.fidelity) for s in samples if s.status in ("interrupted", "rejected")]
    return pd.DataFrame(rows, columns=[p.name for p in config.parameters] + ["fidelity"])
