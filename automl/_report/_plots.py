"""The report's figures: learning curves, timeline, importances, and Optuna's plots set right."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from automl._report._format import Objectives, esc, num, seconds
from automl._keys import ATTR

__all__ = [
    "Skip",
    "colour",
    "fix_scale",
    "importance_bars",
    "importances",
    "learning_curves",
    "target_kw",
    "timeline",
]

_STATE_COLOURS = {"COMPLETE": "#4c78a8", "PRUNED": "#f58518", "FAIL": "#e45756", "RUNNING": "#54a24b",
                  "WAITING": "#9d9d9d"}


class Skip(Exception):
    """A section that this study cannot fill (too few trials or parameters), and why."""


def colour(i: int) -> str:
    """The ``i``-th of as many distinct colours as there are trials (hues a golden angle apart)."""
    return f"hsl({(i * 137.508) % 360:.0f},70%,{42 + (i % 3) * 8}%)"


def target_kw(obj: Objectives) -> dict[str, Any]:
    """Arguments of Optuna's plots: the first objective by name when there are several."""
    if not obj.multi:
        return {"target_name": obj.primary}
    return {"target": lambda t: t.values[0], "target_name": obj.primary}


def fix_scale(fig: Any, obj: Objectives) -> Any:
    """Darkest means best in a contour plot: Optuna reverses its colour scale whenever a target
    is given, which inverts it for a maximized first objective of a multi-objective study."""
    for trace in fig.data:
        if trace.type == "contour":
            trace.reversescale = not obj.maximize[0]
    return fig


def _round(v: Any) -> Any:
    """4 significant digits: what a curve can show, at a third of the page's bytes."""
    return float(f"{v:.4g}") if isinstance(v, float) and math.isfinite(v) else v


def coarse(study: Any, params: list[str], levels: int = 40) -> tuple[Any, bool]:
    """``study``, or a copy in memory whose complete trials have each of ``params`` snapped to
    one of ``levels`` values: Optuna's contour grid has a row and a column per distinct value,
    megabytes a pair past a few hundred trials."""
    import optuna

    S = optuna.trial.TrialState
    complete = study.get_trials(deepcopy=False, states=(S.COMPLETE,))
    numeric = {p: [t.params[p] for t in complete if isinstance(t.params.get(p), (int, float))] for p in params}
    if all(len(set(v)) <= levels for v in numeric.values()):
        return study, False
    copy = optuna.create_study(directions=study.directions)
    for t in complete:
        snapped = dict(t.params)
        for p, values in numeric.items():
            dist = t.distributions.get(p)
            if p in snapped and len(set(values)) > levels and hasattr(dist, "low"):
                snapped[p] = _snap(snapped[p], dist, levels)
        copy.add_trial(optuna.trial.create_trial(state=S.COMPLETE, values=t.values, params=snapped,
                                                 distributions=t.distributions))
    return copy, True


def _snap(v: float, dist: Any, levels: int) -> float:
    """The centre of the one of ``levels`` bins of ``dist``'s range (log-spaced for a log
    one) that holds ``v``, on the distribution's step."""
    log = bool(getattr(dist, "log", False))
    lo, hi, x = (math.log(dist.low), math.log(dist.high), math.log(v)) if log else (dist.low, dist.high, v)
    width = (hi - lo) / levels
    if width <= 0:
        return v
    centre = lo + (min(int((x - lo) / width), levels - 1) + 0.5) * width
    out = math.exp(centre) if log else centre
    step = getattr(dist, "step", None)
    if step:
        out = dist.low + round((out - dist.low) / step) * step
    out = min(max(out, dist.low), dist.high)
    return round(out) if isinstance(dist.low, int) and isinstance(dist.high, int) else out


def _panels(obj: Objectives, histories: list[dict[str, Any]]) -> list[str]:
    """Metrics drawn, one panel each: every objective logged per epoch, then the loss."""
    bases: list[str] = []
    for name in [*obj.names, "loss"]:
        base = name.removeprefix("val_")
        if base not in bases and any(base in h or f"val_{base}" in h for h in histories):
            bases.append(base)
    return bases


def learning_curves(study: Any, obj: Objectives, top: int) -> Any:
    """Every trial's curves from ``automl:history`` (Optuna keeps no intermediate values for
    several objectives), pruned ones too; a trial's training and validation traces share its
    colour and its legend entry, the ``top`` best are drawn bolder."""
    from plotly.subplots import make_subplots

    from automl.engines._record import history_of
    from automl.storage import leaderboard

    trials = [t for t in study.get_trials(deepcopy=False)
              if t.state.name in ("COMPLETE", "PRUNED") and history_of(t)]
    if not trials:
        raise Skip("no complete or pruned trial recorded a history")
    histories = [history_of(t) for t in trials]
    panels = _panels(obj, histories)
    if not panels:
        raise Skip("the trials' histories hold none of the objectives nor the loss")
    complete = [r.number for r in leaderboard(study) if r.state == "COMPLETE"]
    ranked = complete[:top] if len(complete) > top else []  # none stands out when all are the top
    titles = []
    for base in panels:
        goal = [f"{n} ({'max' if up else 'min'})" for n, up in zip(obj.names, obj.maximize)
                if n.removeprefix("val_") == base]
        titles.append(f"{base}: " + (f"objective {', '.join(goal)}; " if goal else "")
                      + "validation solid, training dotted")
    fig = make_subplots(rows=len(panels), cols=1, shared_xaxes=True, vertical_spacing=0.12 / len(panels),
                        subplot_titles=titles)
    for i, (t, hist) in enumerate(zip(trials, histories)):
        first = min(t.intermediate_values) if t.intermediate_values else 1
        strong = t.number in ranked or (not ranked and t.state.name == "COMPLETE")
        label = (f"#{t.number}" + (" pruned" if t.state.name == "PRUNED" else "")
                 + (" (top)" if t.number in ranked else ""))
        shown = False
        for row, base in enumerate(panels, start=1):
            for key, dash in ((f"val_{base}", "solid"), (base, "dot")):
                ys = hist.get(key)
                if not isinstance(ys, list) or not ys:
                    continue
                fig.add_scatter(x=list(range(first, first + len(ys))), y=[_round(v) for v in ys],
                                mode="lines+markers", name=label,
                                legendgroup=str(t.number), showlegend=not shown, row=row, col=1,
                                line={"color": colour(i), "dash": dash, "width": 2.5 if strong else 1.2},
                                marker={"size": 5 if strong else 3}, opacity=1.0 if strong else 0.45,
                                hovertemplate=f"#{t.number} {esc(key)}<br>epoch %{{x}}: %{{y:.4g}}<extra></extra>")
                shown = True
            fig.update_yaxes(title_text=base, hoverformat=".4g", row=row, col=1)
    longest = max(len(v) for h in histories for v in h.values() if isinstance(v, list))
    fig.update_xaxes(dtick=max(1, -(-longest // 12)))  # whole epochs
    fig.update_xaxes(title_text="epoch", row=len(panels), col=1)
    fig.update_layout(height=140 + 300 * len(panels), legend={"title": {"text": "trial"}})
    return fig


def timeline(study: Any) -> Any:
    """When each trial ran, one row per device slot: trials on one device that overlap in
    time ran in separate workers, so each is put on the first row of its device then free."""
    import plotly.graph_objects as go

    trials = sorted((t for t in study.get_trials(deepcopy=False) if t.datetime_start is not None),
                    key=lambda t: t.datetime_start)
    if not trials:
        raise Skip("no trial has started")
    now = datetime.now()
    lanes: dict[str, list[datetime]] = {}
    placed = []
    for t in trials:
        end = t.datetime_complete or now
        device = str(t.user_attrs.get(f"{ATTR}device") or ("running" if t.state.name == "RUNNING" else "unknown"))
        ends = lanes.setdefault(device, [])
        lane = next((k for k, e in enumerate(ends) if e <= t.datetime_start), len(ends))
        ends[lane:lane + 1] = [end]
        placed.append((t, device, lane, end))

    def row(device: str, lane: int) -> str:
        return f"{device} · slot {lane + 1}" if len(lanes[device]) > 1 else device

    fig = go.Figure()
    for state, col in _STATE_COLOURS.items():
        bars = [p for p in placed if p[0].state.name == state]
        if not bars:
            continue
        fig.add_bar(name=state.lower(), orientation="h", marker={"color": col, "line": {"color": "white", "width": 1}},
                    x=[(end - t.datetime_start).total_seconds() * 1000 for t, _, _, end in bars],
                    base=[t.datetime_start.isoformat() for t, _, _, _ in bars],
                    y=[row(d, k) for _, d, k, _ in bars], text=[f"#{t.number}" for t, _, _, _ in bars],
                    textposition="inside", insidetextanchor="middle",
                    customdata=[f"#{t.number} {state.lower()}" + (f": {num(t.values[0])}" if t.values else "")
                                + f"<br>{seconds((end - t.datetime_start).total_seconds())}" for t, _, _, end in bars],
                    hovertemplate="%{customdata}<extra></extra>")
    rows = sorted({row(d, k) for _, d, k, _ in placed})
    fig.update_xaxes(type="date", title_text="time")
    fig.update_yaxes(categoryorder="array", categoryarray=rows[::-1], title_text="device")
    fig.update_layout(barmode="overlay", height=220 + 40 * len(rows), title="Trials by device over time")
    return fig


def importances(study: Any, obj: Objectives) -> dict[str, float]:
    """Optuna's parameter importances for the first objective, most important first."""
    import warnings

    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(complete) < 2:
        raise Skip(f"needs 2 complete trials (the study has {len(complete)})")
    target: Callable[[Any], float] | None = None
    if obj.multi:  # the evaluators rank params by how they lead to low targets: flip a maximized one
        target = (lambda t: -t.values[0]) if obj.maximize[0] else (lambda t: t.values[0])
    with warnings.catch_warnings():  # Optuna warns that a given target is minimized: flipped above
        warnings.simplefilter("ignore", UserWarning)
        found = optuna.importance.get_param_importances(study, target=target)
    if not found:
        raise Skip("no parameter was drawn by every complete trial")
    return dict(found)


def importance_bars(found: dict[str, float], obj: Objectives) -> Any:
    import plotly.graph_objects as go

    names = list(found)[::-1]
    fig = go.Figure(go.Bar(x=[found[n] for n in names], y=names, orientation="h", marker={"color": "#4c78a8"},
                           text=[num(found[n]) for n in names], textposition="outside",
                           hovertemplate="%{y}: %{x:.4g}<extra></extra>"))
    fig.update_layout(title=f"Importance for {obj.primary}", xaxis_title="importance",
                      height=160 + 28 * len(names))
    return fig
