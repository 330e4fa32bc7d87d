"""The live progress display of a search (rich), used by the CLI.

Short lines, one idea each, so that it stays readable at 80 columns: the bar with the
count, rate, time left and time taken; the outcomes and the best value; then one line per
worker slot (its device and worker, its trial, epoch and current value).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import Any

from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from automl.engines._base import TrialOutcome, TrialSpec
from automl.runner import SearchObserver

__all__ = ["RichProgress"]


class _Lines(Progress):
    """A progress bar followed by lines the observer writes."""

    def __init__(self, lines: Any, *args: Any, **kwargs: Any) -> None:
        self._lines = lines  # first: rich renders once while it is built
        super().__init__(*args, **kwargs)

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        yield from self._lines()


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class RichProgress(SearchObserver):
    """Trials done / pruned / failed, the best value, the rate and what each slot runs."""

    def __init__(self, console: Console, direction: str, objective: str) -> None:
        self.console = console
        self.maximize = direction == "maximize"
        self.objective = objective
        self.counts = {"complete": 0, "pruned": 0, "failed": 0}
        self.best: float | None = None
        self.task: Any = None
        self.total = self.before = 0
        self.started = time.monotonic()
        self.slots: dict[str, str] = {}  # slot label -> what it does, in the order slots appeared
        self.running: dict[int, str] = {}  # trial number -> its slot label
        self.progress = _Lines(self._lines, TextColumn("[bold]trials"), BarColumn(bar_width=20),
                               MofNCompleteColumn(), TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                               console=console, transient=False)

    def close(self) -> None:
        """Stop the live display if the search started it."""
        if self.task is not None:
            self.progress.stop()

    def _rate(self) -> str:
        ended = sum(self.counts.values())
        minutes = (time.monotonic() - self.started) / 60
        if not ended or minutes <= 0:
            return ""
        rate = ended / minutes
        left = max(0, self.total - self.before - ended)
        eta = f"  left {_clock(left / rate * 60)}" if left and rate > 0 else ""
        return f"{rate:.3g}/min{eta}"

    def _lines(self) -> Iterable[RenderableType]:
        c = self.counts
        best = f"{self.best:.4f}" if self.best is not None else "-"
        scope = "this run: " if self.before else ""
        yield Text.from_markup(f"{scope}[green]{c['complete']} done[/] · [yellow]{c['pruned']} pruned[/] · "
                               f"[red]{c['failed']} failed[/] · best {self.objective} {best}")
        for label, doing in self.slots.items():
            yield Text(f"  {label:<12} {doing}", overflow="ellipsis", no_wrap=True)

    def _update(self, advance: int = 0) -> None:
        if self.task is not None:
            self.progress.update(self.task, advance=advance, rate=self._rate())

    def on_search_start(self, total: int, done: int, slots: list[str] | None = None) -> None:
        # Started only now: after validation and store setup, so errors print plainly.
        self.total, self.before, self.started = total, min(done, total), time.monotonic()
        for label in slots or []:
            self.slots.setdefault(label, "starting")
        self.progress.start()
        self.task = self.progress.add_task("trials", total=total, completed=self.before, rate="")
        self._update()

    def on_worker(self, slot: str, state: str) -> None:
        self.slots[slot] = state
        self._update()

    def on_trial_start(self, spec: TrialSpec, slot: str = "") -> None:
        label = slot or "cpu"
        self.running[spec.number] = label
        self.slots[label] = f"#{spec.number} building"
        self._update()

    def on_epoch(self, spec: TrialSpec, epoch: int, metrics: dict[str, float]) -> None:
        v = metrics.get(self.objective)
        shown = f"  {self.objective} {v:.4f}" if v is not None and math.isfinite(v) else ""
        label = self.running.get(spec.number, "cpu")
        self.slots[label] = f"#{spec.number} epoch {epoch}/{spec.epochs}{shown}"
        self._update()

    def on_trial_end(self, spec: TrialSpec, outcome: TrialOutcome) -> None:
        label = self.running.pop(spec.number, None)
        if label is not None:
            self.slots[label] = "idle"
        self.counts[outcome.state] += 1
        v = outcome.value
        if outcome.state == "complete" and v is not None and math.isfinite(v):
            if self.best is None or (v > self.best if self.maximize else v < self.best):
                self.best = v
        self._update(advance=1)
