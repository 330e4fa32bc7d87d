"""``automl report``: one HTML page per study, the page a person opens to understand a search.

The best trial (how to export and reuse it), the top and failed trials, every trial's
learning curves, when and where trials ran, and Optuna's plots of what mattered.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from automl._logging import get_logger
from automl._report._cards import best_card, failed_table, settings_table, trials_table
from automl._report._format import Objectives, esc, seconds
from automl._report._page import PLOTLY_MODES, page, plotly_tag
from automl._report._plots import (Skip, coarse, fix_scale, importance_bars, importances, learning_curves,
                                   target_kw, timeline)
from automl._keys import ATTR
from automl.engines._record import history_of
from automl.errors import UsageError

__all__ = ["PLOTLY_MODES", "write_report"]

_log = get_logger("report")


class _Page:
    """Sections in order, the figures drawn, and why any was left out."""

    def __init__(self) -> None:
        self.sections: list[tuple[str, str, str]] = []
        self.drawn: list[str] = []
        self.notes: list[str] = []

    def add(self, title: str, content: str) -> None:
        if content:
            anchor = title.lower().replace(" ", "-")
            self.sections.append((anchor, title, f"<section id='{anchor}'><h2>{esc(title)}</h2>{content}</section>"))

    def figure(self, title: str, make: Callable[[], Any], intro: str = "", skip: str | None = None) -> None:
        """Draw ``make()`` under ``title``, or note why not (``skip``, or what it raised)."""
        try:
            if skip:
                raise Skip(skip)
            fig = make()
        except Skip as e:
            self.notes.append(f"{title}: not drawn, {e}.")
            return
        except (ValueError, RuntimeError, ZeroDivisionError, IndexError, KeyError) as e:
            _log.warning("report: %s not drawn: %s", title, e)
            self.notes.append(f"{title}: not drawn ({type(e).__name__}: {e}).")
            return
        fig.update_layout(template="plotly_white", autosize=True, width=None, margin={"l": 60, "r": 30, "t": 60})
        self.drawn.append(title)
        html = fig.to_html(full_html=False, include_plotlyjs=False, default_height=f"{fig.layout.height or 480}px",
                           config={"displaylogo": False, "responsive": True})
        self.add(title, (f"<p class='note'>{intro}</p>" if intro else "") + html)


def _summary(study: Any, obj: Objectives, trials: list[Any]) -> str:
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    attrs = study.user_attrs
    starts = [t.datetime_start for t in trials if t.datetime_start]
    ends = [t.datetime_complete for t in trials if t.datetime_complete]
    wall = (max(ends) - min(starts)).total_seconds() if starts and ends else None
    devices = sorted({str(t.user_attrs[f"{ATTR}device"]) for t in trials if t.user_attrs.get(f"{ATTR}device")})
    goals = ", ".join(f"{'maximize' if up else 'minimize'} <b>{esc(n)}</b>" for n, up in zip(obj.names, obj.maximize))
    engine = " ".join(esc(attrs[f"{ATTR}{k}"]) for k in ("engine", "algorithm") if attrs.get(f"{ATTR}{k}"))
    return (f"<p>{goals} &middot; {engine or 'engine unknown'} &middot; {len(trials)} trials: "
            + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
            + f" &middot; {seconds(wall)} from the first start to the last end"
            + (f" &middot; on {esc(', '.join(devices))}" if devices else "") + "</p>")


def write_report(study: Any, out: Path, top: int = 5, plotly: str = "inline") -> list[str]:
    """Write the report of ``study`` to ``out``; returns the titles of the figures drawn.

    ``plotly``: ``inline`` (one offline file), ``external`` (``plotly.min.js`` beside the
    report, shared by the reports of a folder) or ``cdn``.
    """
    from automl.storage import leaderboard

    if plotly not in PLOTLY_MODES:
        raise UsageError(f"unknown plotly mode {plotly!r}; choose one of {', '.join(PLOTLY_MODES)}")
    obj = Objectives(study)
    trials = study.get_trials(deepcopy=False)
    by_number = {t.number: t for t in trials}
    board = [by_number[r.number] for r in leaderboard(study)]
    p = _Page()
    _trial_sections(p, study, obj, board, top)
    _figures(p, study, obj, board, top)
    p.add("Failed trials", failed_table(study))
    space_yaml = _space_yaml(study)
    p.add("Search settings", settings_table(study) + (f"<details><summary>The search space</summary><pre>"
                                                      f"{esc(space_yaml)}</pre></details>" if space_yaml else ""))
    if p.notes:
        p.add("Not drawn", "".join(f"<p class='note'>{esc(n)}</p>" for n in p.notes))
    title = f"automl report: study {study.study_name}"
    body = f"<h1>{esc(title)}</h1>" + _summary(study, obj, trials) + "\n".join(s for _, _, s in p.sections)
    out.write_text(page(title, [(a, t) for a, t, _ in p.sections], body, plotly_tag(plotly, out)), encoding="utf-8")
    return p.drawn


def _trial_sections(p: _Page, study: Any, obj: Objectives, board: list[Any], top: int) -> None:
    """The best trial's card, the Pareto front's table, the top and all trials."""
    complete = [t for t in board if t.state.name == "COMPLETE"]
    if obj.multi and complete:
        front = sorted(study.best_trials, key=lambda t: t.values[0], reverse=obj.maximize[0])
        p.add("Best trial", best_card(study, front[0], obj, f"on the Pareto front, best {obj.primary}"))
        p.add("Pareto front trials", "<p class='note'>The trials no other trial beats on one objective "
                                     "without doing worse on another.</p>" + trials_table(front, obj))
    elif complete:
        p.add("Best trial", best_card(study, complete[0], obj, f"best {obj.primary}"))
    else:
        p.add("Best trial", "<p>No trial has completed yet.</p>")
    if complete:
        p.add("Top trials", trials_table(complete[:top], obj)
              + f"<details><summary>All {len(board)} trials</summary>{trials_table(board, obj)}</details>")


def _figures(p: _Page, study: Any, obj: Objectives, board: list[Any], top: int) -> None:
    """Curves, then Optuna's plots of the first objective, the top parameters' first."""
    import optuna.visualization as vis

    complete = [t for t in board if t.state.name == "COMPLETE"]
    none = None if complete else "no trial has completed"
    logged = {k for t in board for k in history_of(t)}
    once = [n for n in obj.names if n not in logged]
    p.figure("Learning curves", lambda: learning_curves(study, obj, top),
             f"Every complete and pruned trial, one colour each; the top {top} bold. Click a trial in the "
             "legend to hide it, double-click to show it alone."
             + (f" {', '.join(once)}: measured once per trial, not per epoch (see the tables)." if once else ""))
    tk = target_kw(obj)
    if obj.multi:
        p.figure("Pareto front", lambda: vis.plot_pareto_front(study, target_names=obj.names), skip=none)
    p.figure("Optimization history", lambda: vis.plot_optimization_history(study, **tk), skip=none)
    found: dict[str, float] = {}

    def ranked_bars() -> Any:
        found.update(importances(study, obj))
        return importance_bars(found, obj)

    p.figure("Parameter importances", ranked_bars)
    ranked = list(found) or list(dict.fromkeys(k for t in complete for k in t.params))
    which = "most important" if found else "first"
    few = none or (None if ranked else "the trials drew no parameter")
    p.figure("Slice", lambda: vis.plot_slice(study, params=ranked[:4], **tk),
             f"{obj.primary} against each of the {min(4, len(ranked))} {which} parameters.", skip=few)
    grid, snapped = coarse(study, ranked[:3]) if not few else (study, False)
    p.figure("Contour", lambda: fix_scale(vis.plot_contour(grid, params=ranked[:3], **tk), obj),
             f"{obj.primary} over pairs of the {min(3, len(ranked))} {which} parameters"
             + (", each binned into 40 values (the plot's grid grows with the square of the trials)."
                if snapped else "."),
             skip=few or (None if len(ranked) > 1 and len(complete) > 1
                          else "needs 2 parameters and 2 complete trials"))
    # Several objectives: Optuna draws an axis for each and colours lines by Pareto rank.
    p.figure("Parallel coordinates", lambda: vis.plot_parallel_coordinate(
        study, params=ranked[:8] or None, **({} if obj.multi else tk)), skip=none)
    p.figure("Timeline", lambda: timeline(study))


def _space_yaml(study: Any) -> str:
    import yaml

    space = study.user_attrs.get(f"{ATTR}space")
    return yaml.safe_dump(space, sort_keys=False, default_flow_style=None, width=100) if space else ""
