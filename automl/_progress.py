"""The live progress display of a search (rich), used by the CLI."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from automl.engines._base import TrialOutcome, TrialSpec
from automl.runner import SearchObserver

__all__ = ["RichProgress"]


class RichProgress(SearchObserver):
    """Trials done / pruned / failed, the best value so far, the running trial's epoch."""

    def __init__(self, console: Console, direction: str, objective: str) -> None:
        self.console = console
        self.maximize = direction == "maximize"
        self.objective = objective
        self.counts = {"complete": 0, "pruned": 0, "failed": 0}
        self.best: float | None = None
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                                 console=console, transient=False)
        self.task: Any = None
        self.running: dict[int, tuple[str, str]] = {}

    def close(self) -> None:
        """Stop the live display if the search started it."""
        if self.task is not None:
            self.progress.stop()

    def _status(self) -> str:
        c = self.counts
        best = f"{self.best:.4f}" if self.best is not None else "-"
        parts = [f"[green]{c['complete']} done[/] [yellow]{c['pruned']} pruned[/] [red]{c['failed']} failed[/]",
                 f"best {self.objective} {best}"]
        running = [f"{slot} #{n} {state}" for n, (slot, state) in sorted(self.running.items())]
        if len(running) > 4:
            running = running[:4] + [f"+{len(running) - 4} more"]
        parts.extend(running)
        return " | ".join(parts)

    def _update(self, advance: int = 0) -> None:
        self.progress.update(self.task, advance=advance, status=self._status())

    def on_search_start(self, total: int, done: int, slots: list[str] | None = None) -> None:
        # Started only now: after validation and store setup, so errors print plainly.
        self.progress.start()
        self.task = self.progress.add_task("trials", total=total, completed=min(done, total), status="")
        self._update()

    def on_trial_start(self, spec: TrialSpec, slot: str = "") -> None:
        self.running[spec.number] = (slot or "cpu", "building")
        self._update()

    def on_epoch(self, spec: TrialSpec, epoch: int, metrics: dict[str, float]) -> None:
        v = metrics.get(self.objective)
        shown = f" {v:.3f}" if v is not None else ""
        slot = self.running.get(spec.number, ("cpu", ""))[0]
        self.running[spec.number] = (slot, f"epoch {epoch}/{spec.epochs}{shown}")
        self._update()

    def on_trial_end(self, spec: TrialSpec, outcome: TrialOutcome) -> None:
        self.running.pop(spec.number, None)
        self.counts[outcome.state] += 1
        v = outcome.value
        if outcome.state == "complete" and v is not None and math.isfinite(v):
            if self.best is None or (v > self.best if self.maximize else v < self.best):
                self.best = v
        self._update(advance=1)
