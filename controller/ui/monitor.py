"""``sdl monitor [CAMPAIGN]``: a live terminal view of a campaign, fed by the 0MQ event stream.

The view is a pure function of a :class:`MonitorState`: ``state.apply(kind, event)`` folds
one event of :mod:`controller.ui.stream` into it and :func:`render` draws it, so both are tested
without a terminal. :func:`run_monitor` only wires them to a subscription and ``rich.live``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from controller.records.samples import OPEN_STATUSES
from controller.ui.console import recommended_front_lines
from controller.ui.stream import StreamSettings, subscribe_events

#: How many of the latest samples the view lists.
RECENT = 10
#: How many points of a recommended Pareto set the view lists.
FRONT_LINES = 5


@dataclass
class SampleRow:
    """One sample as the monitor shows it; ``objective`` in ``unit``, None if not measured."""

    sample: str
    fidelity: str
    status: str
    cost: float | None = None
    objective: float | None = None
    predicted: float | None = None


@dataclass
class MonitorState:
    """What the monitor knows of one campaign.

    Args:
        campaign: show only this campaign; None follows whichever campaign starts (or the first heard of).

    Attributes:
        budget, committed: cost units; ``committed`` counts samples in flight (as the store does).
        best: best objective so far at the target fidelity, in ``unit``.
        now: one line on what the controller does now (sample dispatched, why, robot step).
    """

    campaign: str | None = None
    status: str = "waiting for events"
    budget: float | None = None
    committed: float = 0.0
    unit: str = ""
    target: str | None = None
    best: float | None = None
    now: str = ""
    robot: str = ""
    reason: str | None = None
    recommendation: dict[str, Any] | None = None
    samples: dict[str, SampleRow] = field(default_factory=dict)
    events: int = 0
    last_event: float | None = None
    _follow: bool = field(default=True, repr=False)
    _streams: list[str] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._follow = self.campaign is None

    # ------------------------------------------------------------------
    def apply(self, kind: str, event: dict[str, Any]) -> bool:
        """Fold one stream event in; False if it was for another campaign (nothing changed)."""
        campaign = event.get("campaign")
        if campaign != self.campaign:
            switching = self._follow and (self.campaign is None or kind in ("campaign_started", "campaign_resumed"))
            if not switching:
                return False
            if self.campaign is not None:
                self.__init__(campaign=None)  # a new campaign in follow mode: start over
            self.campaign = campaign
        self.events += 1
        self.last_event = event.get("time")
        handler = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            handler(event)
        elif kind.startswith("campaign_"):
            self._on_campaign_end(kind, event)
        return True

    def _on_campaign_started(self, event: dict[str, Any]) -> None:
        self.status = "running"
        self.reason = None
        self.budget = event.get("budget", self.budget)
        self.committed = event.get("spent", self.committed) or 0.0
        self.now = "campaign started"

    def _on_campaign_resumed(self, event: dict[str, Any]) -> None:
        if "operator" in event:  # an operator resumed a paused campaign
            self.status = "running"
            self.now = f"resumed by {event['operator']}"
            return
        self._on_campaign_started(event)
        self.now = f"campaign resumed with {event.get('samples', 0)} samples recorded"

    def _on_campaign_paused(self, event: dict[str, Any]) -> None:
        self.status = "paused"
        self.now = f"paused by {event.get('operator')}" + (f" ({event['note']})" if event.get("note") else "")

    def _on_campaign_stopping(self, event: dict[str, Any]) -> None:
        self.status = "stopping"
        self.now = f"stop requested by {event.get('operator')}; running samples finish"

    def _on_approval_requested(self, event: dict[str, Any]) -> None:
        sample, fidelity = event.get("sample", "?"), event.get("fidelity", "?")
        self.samples[sample] = SampleRow(sample, fidelity, "awaiting_approval", cost=None,
                                         predicted=event.get("predicted_mean"))
        self.now = f"{sample} at {fidelity} awaits an operator's approval (sdl serve)"

    def _on_sample_dispatched(self, event: dict[str, Any]) -> None:
        committed = event.get("committed")
        # The events carry the running total, not the sample's cost: the cost is the step.
        cost = committed - self.committed if isinstance(committed, (int, float)) else None
        sample, fidelity = event.get("sample", "?"), event.get("fidelity", "?")
        suggestion = event.get("suggestion") or {}
        known = self.samples.get(sample)
        if cost is None or cost < 0:  # a missed or repeated event: keep what is known
            cost = known.cost if known is not None else None
        self.samples[sample] = SampleRow(sample, fidelity, "running", cost=cost,
                                         predicted=suggestion.get("predicted_mean"))
        if isinstance(committed, (int, float)):
            self.committed = committed
        if self.budget is None and isinstance(committed, (int, float)) and isinstance(event.get("budget_left"), (int, float)):
            self.budget = committed + event["budget_left"]
        why = suggestion.get("reason")
        self.now = f"{sample} dispatched to {fidelity}" + (f": {why}" if why else "")

    def _on_sample_recorded(self, event: dict[str, Any]) -> None:
        sample = event.get("sample", "?")
        row = self.samples.get(sample) or SampleRow(sample, event.get("fidelity", "?"), "?")
        row.status = event.get("status", row.status)
        row.cost = event.get("cost", row.cost)
        row.objective = event.get("objective")
        row.predicted = event.get("predicted_mean", row.predicted)
        self.samples[sample] = row
        self.unit = event.get("unit") or self.unit
        if isinstance(event.get("spent"), (int, float)):
            self.committed = event["spent"]
        self.budget = event.get("budget", self.budget)
        if event.get("best_at_target") is not None:
            self.best = event["best_at_target"]
        fault = event.get("fault") or {}
        detail = f" ({fault.get('device')} {fault.get('kind')} at {fault.get('step')})" if fault else ""
        self.now = f"{sample} recorded: {row.status}{detail}"

    def _on_sample_retried(self, event: dict[str, Any]) -> None:
        fault = event.get("fault") or {}
        self.now = (f"{event.get('sample')}: attempt {event.get('attempt')} failed "
                    f"({fault.get('device')} {fault.get('kind')} at {fault.get('step')}); retrying")

    def _on_run_started(self, event: dict[str, Any]) -> None:
        self._streams = list(event.get("streams") or [])
        first = self._streams[0] if self._streams else "?"
        self.robot = f"{event.get('sample')} (attempt {event.get('attempt') or 1}): starting {first}"

    def _on_run_step(self, event: dict[str, Any]) -> None:
        stream = event.get("stream", "?")
        devices = ", ".join(event.get("devices") or [])
        following = self._streams[self._streams.index(stream) + 1:] if stream in self._streams else []
        step = f"{stream} done ({devices})" + (f"; now {following[0]}" if following else "")
        self.robot = f"{event.get('sample')} (attempt {event.get('attempt') or 1}): {step}"

    def _on_run_finished(self, event: dict[str, Any]) -> None:
        self.robot = f"{event.get('sample')}: run {event.get('exit_status')}; robot idle"

    def _on_recommendation(self, event: dict[str, Any]) -> None:
        self.recommendation = event.get("recommendation")
        if self.recommendation:
            self.target = self.recommendation.get("fidelity", self.target)
            self.unit = self.recommendation.get("unit") or self.unit

    def _on_campaign_end(self, kind: str, event: dict[str, Any]) -> None:
        self.status = kind.removeprefix("campaign_")
        self.reason = event.get("reason")
        if isinstance(event.get("spent"), (int, float)):
            self.committed = event["spent"]
        self.now = f"campaign {self.status}"

    # ------------------------------------------------------------------
    def by_fidelity(self) -> dict[str, dict[str, float]]:
        """fidelity -> ``{"done", "running", "cost"}`` (cost units committed, in flight included)."""
        out: dict[str, dict[str, float]] = {}
        for row in self.samples.values():
            entry = out.setdefault(row.fidelity, {"done": 0, "running": 0, "cost": 0.0})
            entry["running" if row.status in OPEN_STATUSES else "done"] += 1
            entry["cost"] += row.cost or 0.0
        return out


def seed_from_store(state: MonitorState, store_path: str | Path) -> bool:
    """Fill ``state`` with what the store already holds (samples recorded before the monitor
    started). Picks the most recently updated campaign when ``state.campaign`` is None.
    False if the store has no such campaign."""
    from controller.config.campaign import config_from_dict
    from controller.records.history import objective_value
    from controller.records.store import RecordStore
    from core import SDLError

    store = RecordStore(store_path)
    try:
        names = store.campaign_names()
        if state.campaign is None and names:
            state.campaign = max(names, key=lambda n: store.campaign(n)["updated"])
        if state.campaign not in names:
            return False
        row = store.campaign(state.campaign)
        state.budget = row["budget"]
        state.status = row["status"]
        state.reason = row.get("stop_reason")
        try:
            config = config_from_dict(json.loads(row["config_json"]))
        except SDLError:
            config = None  # a store from another version: show what needs no config
        if config is not None:
            state.target, state.unit = config.target.name, config.objective.unit
        best = None
        for s in store.samples(state.campaign, include_running=True):
            value = objective_value(config, s) if config is not None else math.nan
            state.samples[s.id] = SampleRow(s.id, s.fidelity, s.status, cost=s.cost,
                                            objective=value if math.isfinite(value) else None,
                                            predicted=s.suggestion.get("predicted_mean"))
            if config is not None and s.fidelity == state.target and math.isfinite(value):
                better = best is None or (value > best if config.objective.direction == "maximize" else value < best)
                best = value if better else best
        state.best = best
        state.committed = store.spent(state.campaign)
        return True
    finally:
        store.close()


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render(state: MonitorState, recent: int = RECENT):
    """The whole view as one rich renderable."""
    budget = f"{state.committed:g} / {state.budget:g} cost units" if state.budget else f"{state.committed:g} cost units"
    if state.budget:
        budget += f" ({100 * state.committed / state.budget:.0f}%)"
    header = Text.assemble((state.campaign or "no campaign yet", "bold"), "  ", (state.status, "cyan"),
                           "  budget spent ", budget)
    lines: list[Any] = [header]
    if state.now:
        lines.append(Text(f"now    {state.now}"))
    if state.robot:
        lines.append(Text(f"robot  {state.robot}"))
    if state.reason and state.status != "running":
        lines.append(Text(f"why    {state.reason}"))
    unit = f" ({state.unit})" if state.unit else ""
    best = f"{_num(state.best)}{' ' + state.unit if state.unit else ''}" if state.best is not None else "-"
    lines.append(Text.assemble(f"best at {state.target or 'target'}: ", (best, "bold green")))

    samples = Table(title="recent samples", title_justify="left", expand=False)
    for column, justify in (("sample", "left"), ("fidelity", "left"), ("status", "left"),
                            (f"objective{unit}", "right"), ("predicted", "right"), ("cost", "right")):
        samples.add_column(column, justify=justify)
    for row in list(state.samples.values())[-recent:]:
        style = {"failed": "red", "interrupted": "yellow", "running": "dim"}.get(row.status)
        samples.add_row(Text(row.sample), Text(row.fidelity), Text(row.status), _num(row.objective),
                        _num(row.predicted, 1), "-" if row.cost is None else f"{row.cost:g}", style=style)

    spent = Table(title="budget by fidelity", title_justify="left", expand=False)
    for column in ("fidelity", "done", "running", "cost units"):
        spent.add_column(column, justify="left" if column == "fidelity" else "right")
    for fidelity, entry in state.by_fidelity().items():
        spent.add_row(Text(fidelity), f"{entry['done']:g}", f"{entry['running']:g}", f"{entry['cost']:g}")

    parts: list[Any] = [Group(*lines), samples, spent]
    rec = state.recommendation
    if rec and rec.get("front"):  # several objectives / outcome constraints: a few lines of the Pareto set
        parts.append(Text("\n".join(recommended_front_lines(rec, limit=FRONT_LINES))))
    elif rec:
        parts.append(Text(f"recommendation at {rec.get('fidelity')}: {_num(rec.get('mean'))} "
                          f"+/- {_num(rec.get('std'))} {rec.get('unit', '')} ({rec.get('property', '')})"))
    return Panel(Group(*parts), title="sdl monitor", border_style="blue")


def run_monitor(campaign: str | None, settings: StreamSettings, store_path: str | None,
                console: Console | None = None, duration_s: float | None = None) -> int:
    """Show a campaign live until Ctrl-C or ``duration_s`` seconds; returns the exit status (0).

    Args:
        campaign: only this campaign's events; None follows whichever campaign runs.
        settings: ``settings.proxy_out`` is where the events are read (with ``settings.keys()``
            when the stream is CurveZMQ).
        store_path: seed the view with the store's samples if the file exists.
    """
    state = MonitorState(campaign=campaign)
    from controller.records.opening import store_exists

    if store_path and store_exists(store_path):
        seed_from_store(state, store_path)  # a campaign=None state still follows a new campaign
    console = console or Console()
    deadline = None if duration_s is None else time.monotonic() + duration_s
    with subscribe_events(settings.proxy_out, campaign=campaign, keys=settings.keys()) as events, \
            Live(render(state), console=console, refresh_per_second=4) as live:
        try:
            while deadline is None or time.monotonic() < deadline:
                wait = 0.25 if deadline is None else max(0.0, min(0.25, deadline - time.monotonic()))
                changed = False
                event = events.receive(wait)
                while event is not None:  # take everything queued, then draw once
                    changed = state.apply(event["kind"], event) or changed
                    event = events.receive(0)
                if changed:
                    live.update(render(state), refresh=True)
        except KeyboardInterrupt:
            pass
    return 0
