"""Live progress of a campaign on the terminal (rich): a budget bar and one line per sample."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from controller.config.campaign import CampaignConfig
from controller.records.history import meets_outcome_constraints, non_dominated, objective_value, property_value
from controller.records.samples import Sample


class ProgressView:
    """Shows step, fidelity chosen, cost spent / budget and best so far.

    Args:
        config: the campaign.
        enabled: False keeps the console quiet (tests, library use).
    """

    def __init__(self, config: CampaignConfig, enabled: bool = True, console: Console | None = None):
        self.config = config
        self.enabled = enabled
        self.console = console or Console(highlight=False)
        self._progress: Progress | None = None
        self._task = None

    def start(self, samples: list[Sample], spent: float, resumed: bool) -> None:
        if not self.enabled:
            return
        cfg = self.config
        verb = "Resuming" if resumed else "Starting"
        self.console.print(
            f"[bold]{verb} campaign {escape(cfg.name)}[/bold]: {cfg.objective.direction} {cfg.objective.property} "
            f"{escape('[' + cfg.objective.unit + ']')} over {len(cfg.parameters)} parameters; budget {cfg.budget:g} cost units; "
            f"fidelities " + ", ".join(f"{f.name} (cost {f.cost:g}{', target' if f.target else ''})" for f in cfg.fidelities)
        )
        if resumed:
            self.console.print(f"  {len(samples)} samples already recorded, {spent:g} cost units spent")
        self._progress = Progress(
            TextColumn("[bold]budget[/bold]"), BarColumn(), TextColumn("{task.completed:g}/{task.total:g} cost units"),
            TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=self.console, transient=False,
        )
        self._task = self._progress.add_task("budget", total=cfg.budget, completed=spent, status="")
        self._progress.start()

    def thinking(self, n_observations: int, allowed: list[str]) -> None:
        if self._progress is not None:
            self._progress.update(self._task, status=f"optimizer: {n_observations} observations")

    def dispatched(self, dispatch: Any, committed: float) -> None:
        if self._progress is not None:
            self._progress.update(self._task, status=f"running {dispatch.sample_id} at {dispatch.fidelity}")

    def note(self, text: str) -> None:
        """An operator-facing line: pauses, resumes, approvals awaited."""
        if self._progress is not None:
            self._progress.console.print(f"  {escape(text)}", soft_wrap=True)

    def retrying(self, sample_id: str, attempt: int, fault: dict) -> None:
        if self._progress is not None:
            self._progress.console.print(
                f"  {sample_id}: attempt {attempt} failed ({fault.get('device')}, {fault.get('step')}: "
                f"{fault.get('kind')}); retrying", soft_wrap=True)

    def sample_recorded(self, sample: Sample, spent: float, samples: list[Sample]) -> None:
        if self._progress is None:
            return
        cfg = self.config
        predicted = sample.suggestion.get("predicted_mean")
        pred_text = f" (predicted {predicted:.1f})" if isinstance(predicted, (int, float)) else ""
        if cfg.multi_objective:  # every objective, and how many target samples are on the measured front
            values = [property_value(sample, o.property, o.unit) for o in cfg.objectives]
            shown = (", ".join(f"{o.property} {v:.4g} {o.unit}" for o, v in zip(cfg.objectives, values))
                     if all(math.isfinite(v) for v in values) else f"{sample.status:>8}")
            pred_text = ""  # the prediction is the first objective's only
            tail = f"measured front at {cfg.target.name}: {self.front_size(samples)} samples"
        else:
            value = objective_value(cfg, sample)
            shown = f"{value:8.2f} {cfg.objective.unit}" if math.isfinite(value) else f"{sample.status:>8}"
            best = self.best(samples)
            tail = f"best at {cfg.target.name}: " + (f"{best:.2f} {cfg.objective.unit}" if best is not None else "-")
        self._progress.console.print(
            f"#{sample.seq:04d} {sample.fidelity:<22} {shown}{pred_text:<20} cost {sample.cost:>5g}  "
            f"spent {spent:g}/{cfg.budget:g}  {tail}",
            soft_wrap=True,
        )
        self._progress.update(self._task, completed=min(spent, cfg.budget))

    def best(self, samples: list[Sample]) -> float | None:
        values = [objective_value(self.config, s) for s in samples if s.fidelity == self.config.target.name
                  and meets_outcome_constraints(self.config, s)]  # a film that cracks is not the best one
        values = [v for v in values if math.isfinite(v)]
        if not values:
            return None
        return max(values) if self.config.objective.direction == "maximize" else min(values)

    def front_size(self, samples: list[Sample]) -> int:
        """How many target samples that meet the outcome constraints no other such sample dominates
        in every objective (several objectives)."""
        cfg = self.config
        rows = []
        for s in samples:
            if s.fidelity != cfg.target.name or not meets_outcome_constraints(cfg, s):
                continue
            signed = [o.sign * property_value(s, o.property, o.unit) for o in cfg.objectives]
            if all(math.isfinite(v) for v in signed):
                rows.append(signed)
        return int(non_dominated(rows).sum()) if rows else 0

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
