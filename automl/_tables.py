"""Rendering leaderboards and study lists as rich tables, CSV or JSON (CLI output)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, RenderableType
from rich.padding import Padding
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from automl._text import strip_ansi
from automl.storage import StudyRow, TrialRow

__all__ = ["Leaderboard", "trials_table", "trials_csv", "trials_json", "studies_table", "fmt"]


def fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):  # 4 significant digits: 0.004123, 0.9749, 2.4
        return f"{v:.4g}"
    return str(v)


def _param_names(rows: Sequence[TrialRow]) -> list[str]:
    names: list[str] = []
    for r in rows:
        names.extend(k for k in r.params if k not in names)
    return names


def _varying(rows: Sequence[TrialRow]) -> tuple[list[str], dict[str, Any]]:
    """The parameters whose value differs between the rows (or that some rows lack), and
    the others with their one value: a table shows the first, its caption the second."""
    names = _param_names(rows)
    same = {n: rows[0].params[n] for n in names
            if len(rows) > 1 and all(n in r.params and r.params[n] == rows[0].params[n] for r in rows)}
    return [n for n in names if n not in same], same


class Leaderboard:
    """The leaderboard, as a table where the terminal is wide enough for its parameters and
    as two lines or more per trial (its figures, then its parameters, wrapped between
    ``name=value`` tokens) where it is not."""

    WIDE = 110  # columns from which the table keeps every parameter token whole

    def __init__(self, rows: Sequence[TrialRow], title: str, objective: str = "value", *,
                 front: set[int] | None = None) -> None:
        self.rows, self.title, self.front = list(rows), title, front or set()
        self.objectives = objective.split(",")
        self.metrics = _metric_names(self.rows, self.objectives)
        self.varying, same = _varying(self.rows)
        self.caption = ("same in every row: " + ", ".join(f"{k}={fmt(v)}" for k, v in same.items())) if same else None

    def _hyperparameters(self, r: TrialRow) -> str:
        parts = [f"{k}={fmt(r.params[k])}" for k in self.varying if k in r.params]
        if r.continues is not None:
            parts.insert(0, f"(continues #{r.continues})")
        if r.retry_of is not None:
            parts.insert(0, f"(retry of #{r.retry_of})")
        hp = escape(", ".join(parts))
        if r.error:
            # Stores written before errors were stripped of Keras's colour codes still hold
            # them; and an error's own brackets are text, not rich markup.
            error = escape(strip_ansi(r.error) or "")
            hp = f"{hp}  [red]{error}[/]" if hp else f"[red]{error}[/]"
        return hp

    def _values(self, r: TrialRow) -> list[str]:
        values = r.values if r.values else [r.value]
        return [fmt(values[i]) if i < len(values) else "-" for i in range(len(self.objectives))] + \
            [fmt(r.metrics.get(m)) for m in self.metrics]

    def _number(self, r: TrialRow) -> str:
        return f"{'★' if r.number in self.front else ''}{r.number}"

    def table(self) -> Table:
        table = Table(title=self.title, caption=self.caption, box=box.SIMPLE_HEAD, padding=(0, 1),
                      caption_justify="left")
        table.add_column("#", justify="right", no_wrap=True)
        table.add_column("state", no_wrap=True)
        for name in self.objectives + self.metrics:
            table.add_column(name, justify="right", no_wrap=True)
        for col in ("epochs", "params", "seconds"):
            table.add_column(col, justify="right", no_wrap=True)
        table.add_column("hyperparameters", overflow="fold", ratio=1)
        for r in self.rows:
            table.add_row(self._number(r), r.state, *self._values(r), str(r.epochs), fmt(r.params_count),
                          _seconds(r), self._hyperparameters(r))
        return table

    def _stacked(self) -> Iterator[RenderableType]:
        yield Text(self.title, style="italic", justify="center")
        for r in self.rows:
            values = "  ".join(f"{n} {v}" for n, v in zip(self.objectives + self.metrics, self._values(r)))
            yield Text.from_markup(f"[bold]{self._number(r)}[/] {r.state}  {escape(values)}  {r.epochs} epochs  "
                                   f"{fmt(r.params_count)} params  {_seconds(r)} s")
            hp = self._hyperparameters(r)
            if hp:
                yield Padding(Text.from_markup(hp), (0, 0, 0, 4))
        if self.caption:
            yield Text(self.caption, style="italic")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[RenderableType]:
        if options.max_width >= self.WIDE:
            yield self.table()
        else:
            yield from self._stacked()


def _metric_names(rows: Sequence[TrialRow], objectives: Sequence[str]) -> list[str]:
    """The validation metrics some row has beside its objectives, in the order first seen."""
    names: list[str] = []
    for r in rows:
        names.extend(k for k in r.metrics if k not in objectives and k not in names)
    return names


def _seconds(r: TrialRow) -> str:
    return f"{r.duration_s:.1f}" if r.duration_s is not None else "-"


def trials_table(rows: Sequence[TrialRow], title: str, objective: str = "value", *,
                 front: set[int] | None = None) -> Leaderboard:
    """The leaderboard. ``objective`` names each objective ("a,b" for two: a column each);
    ``front`` marks the Pareto-optimal trials (★). Only the parameters that vary are listed."""
    return Leaderboard(rows, title, objective, front=front)


def trials_csv(rows: Sequence[TrialRow], objective: str = "value") -> str:
    """Every trial, every objective's value in its own column (named after it), every parameter."""
    names = _param_names(rows)
    objectives = objective.split(",")
    buf = io.StringIO()
    w = csv.writer(buf)
    value_cols = ["value"] if len(objectives) == 1 else [f"value_{o}" for o in objectives]
    metrics = _metric_names(rows, objectives)
    w.writerow(["number", "state", *value_cols, *metrics, "epochs", "params_count", "duration_s", "error", *names])
    for r in rows:
        values = r.values if r.values else [r.value]
        w.writerow([r.number, r.state, *(values[i] if i < len(values) else "" for i in range(len(value_cols))),
                    *(r.metrics.get(m, "") for m in metrics), r.epochs, r.params_count, r.duration_s,
                    strip_ansi(r.error) or "", *(r.params.get(n, "") for n in names)])
    return buf.getvalue()


def trials_json(rows: Sequence[TrialRow]) -> str:
    return json.dumps([r.as_dict() for r in rows], indent=2, default=str)


def studies_table(rows: Sequence[StudyRow], title: str) -> Table:
    """Every study; names are never cut (the other columns give way)."""
    table = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1))
    longest = max((len(s.name) for s in rows), default=5)
    table.add_column("study", no_wrap=True, min_width=min(longest, 60), overflow="fold")
    for col in ("engine", "algorithm", "objective", "direction"):
        table.add_column(col, overflow="fold")
    for col in ("complete", "pruned", "failed", "running", "best"):
        table.add_column(col, justify="right", no_wrap=True)
    for s in rows:
        table.add_row(escape(s.name), s.engine, s.algorithm, s.objective, s.direction, str(s.complete),
                      str(s.pruned), str(s.failed), str(s.running), fmt(s.best_value))
    return table
