"""The robot fidelity: a RunEngine driving the synthesis line's plan for one sample.

The RunEngine lives in its own thread (the scheduler's main thread keeps
dispatching simulations meanwhile), so it is built without the SIGINT context
manager, which only works in the main thread; Ctrl-C is handled by the
scheduler, which asks the engine to stop.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from bluesky import RunEngine

from controller.config import CampaignConfig


def line_limits(overrides: dict) -> Any:
    """The line's default limits with the campaign file's ``[devices.limits]`` applied."""
    from devices import DEFAULT_LIMITS

    return DEFAULT_LIMITS.with_ranges(overrides) if overrides else DEFAULT_LIMITS


def dry_run_truth(config: CampaignConfig, recipe: dict[str, Any], sample_id: str = "truth-check") -> dict[str, Any]:
    """Make the recipe once on a fresh simulated line and return its hidden true properties.

    Only meaningful for dry runs: it answers "how good is the recommendation really?"
    with the twin's ground truth (no measurement noise), which no campaign ever sees.
    """
    from devices import make_and_characterize, make_sim_line

    line = make_sim_line(seed=config.seed + 7919, speedup=1e6, limits=line_limits(config.devices.limits))
    RE = RunEngine({}, context_managers=[])
    RE(make_and_characterize(line, recipe, sample_id=sample_id, batch_mass=config.devices.batch_mass))
    return dict(line.simulation.samples[sample_id].truth.properties)


class RobotCell:
    """One synthesis line and the RunEngine that drives it.

    Args:
        config: the campaign (its ``devices`` settings build the line).
        speedup: overrides ``config.devices.speedup`` (tests use large values).
    """

    def __init__(self, config: CampaignConfig, speedup: float | None = None):
        from devices import make_sim_line

        self.config = config
        self.limits = line_limits(config.devices.limits)
        self.line = make_sim_line(
            seed=config.seed,
            speedup=speedup or config.devices.speedup,
            limits=self.limits,
        )
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="robot")
        self._RE: RunEngine | None = None
        self._document_listeners: list = []

    def add_document_listener(self, callback) -> None:
        """``callback(name, doc)`` for every document of every run (e.g. a 0MQ publisher)."""
        self._document_listeners.append(callback)

    def check(self, recipe: dict[str, Any]) -> None:
        """Raise :class:`core.LimitError` if any setpoint of the recipe is beyond the line's limits."""
        from devices import check_recipe_limits

        check_recipe_limits(recipe, self.limits, batch_mass=self.config.devices.batch_mass)

    def submit(self, recipe: dict[str, Any], sample_id: str, md: dict[str, Any], on_document=None) -> Future:
        """Start making one sample; the future gives ``(RobotRunRecord, documents)``.

        Args:
            on_document: ``callback(name, doc)`` called for each document of this run as it is emitted.
        """
        # Refuse before anything is queued: a plan that would exceed a limit never reaches a device.
        self.check(recipe)
        return self._pool.submit(self._run, recipe, sample_id, md, on_document)

    def _run(self, recipe, sample_id, md, on_document):
        from devices import make_and_characterize, steps_from_documents

        if self._RE is None:
            self._RE = RunEngine({}, context_managers=[])
        documents: list[tuple[str, dict]] = []

        def collect(name, doc):
            documents.append((name, doc))
            if on_document is not None:
                on_document(name, doc)
            for listener in self._document_listeners:
                listener(name, doc)

        token = self._RE.subscribe(collect)
        try:
            self._RE(make_and_characterize(self.line, recipe, sample_id=sample_id, md=md,
                                           batch_mass=self.config.devices.batch_mass))
        finally:
            self._RE.unsubscribe(token)
        return steps_from_documents(documents), documents

    def request_stop(self) -> None:
        """Ask a running plan to stop at the next checkpoint (Ctrl-C in the scheduler)."""
        RE = self._RE
        if RE is not None and RE.state != "idle":
            try:
                RE.request_pause(defer=False)
                RE.stop()
            except Exception:  # the run may end between the check and the call
                pass

    def close(self) -> None:
        self._pool.shutdown(wait=True)
