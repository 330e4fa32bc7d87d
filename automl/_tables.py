"""Rendering leaderboards and study lists as rich tables, CSV or JSON (CLI output)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from rich.markup import escape
from rich.table import Table

from automl._text import strip_ansi
from automl.storage import StudyRow, TrialRow

__all__ = ["trials_table", "trials_csv", "trials_json", "studies_table", "fmt"]


def fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e-3 or abs(v) >= 1e4 else f"{v:.4f}".rstrip("0").rstrip(".")
    return str(v)


def _param_names(rows: Sequence[TrialRow]) -> list[str]:
    names: list[str] = []
    for r in rows:
        names.extend(k for k in r.params if k not in names)
    return names


def trials_table(rows: Sequence[TrialRow], title: str, objective: str = "value") -> Table:
    table = Table(title=title, show_lines=False)
    for col in ("#", "state", objective, "epochs", "params", "seconds"):
        table.add_column(col, justify="right" if col != "state" else "left")
    table.add_column("hyperparameters", overflow="fold")
    for r in rows:
        hp = ", ".join(f"{k}={fmt(v)}" for k, v in r.params.items())
        if r.error:
            # Stores written before errors were stripped of Keras's colour codes still hold
            # them; and an error's own brackets are text, not rich markup.
            error = escape(strip_ansi(r.error) or "")
            hp = f"{hp}  [red]{error}[/]" if hp else f"[red]{error}[/]"
        value = " / ".join(fmt(v) for v in r.values) if r.values else fmt(r.value)
        table.add_row(str(r.number), r.state, value, str(r.epochs), fmt(r.params_count),
                      fmt(round(r.duration_s, 1)) if r.duration_s is not None else "-", hp)
    return table


def trials_csv(rows: Sequence[TrialRow]) -> str:
    names = _param_names(rows)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["number", "state", "value", "epochs", "params_count", "duration_s", "error", *names])
    for r in rows:
        w.writerow([r.number, r.state, r.value, r.epochs, r.params_count, r.duration_s, strip_ansi(r.error) or "",
                    *(r.params.get(n, "") for n in names)])
    return buf.getvalue()


def trials_json(rows: Sequence[TrialRow]) -> str:
    return json.dumps([r.as_dict() for r in rows], indent=2, default=str)


def studies_table(rows: Sequence[StudyRow], title: str) -> Table:
    table = Table(title=title)
    for col in ("study", "engine", "algorithm", "objective", "direction", "complete", "pruned", "failed",
                "running", "best"):
        table.add_column(col, justify="right" if col in ("complete", "pruned", "failed", "running", "best") else "left")
    for s in rows:
        table.add_row(s.name, s.engine, s.algorithm, s.objective, s.direction, str(s.complete), str(s.pruned),
                      str(s.failed), str(s.running), fmt(s.best_value))
    return table
