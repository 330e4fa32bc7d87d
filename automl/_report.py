"""``automl report``: one self-contained HTML page per study, drawn by Optuna's visualization."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from automl._logging import get_logger
from automl.engines._base import ATTR
from automl.storage import leaderboard

__all__ = ["write_report"]

_log = get_logger("report")


def _learning_curves(study: Any, top: int) -> Any:
    import plotly.graph_objects as go

    metric = study.user_attrs.get(f"{ATTR}objective", "value")
    fig = go.Figure()
    for row in [r for r in leaderboard(study) if r.state == "COMPLETE"][:top]:
        t = study.trials[row.number]
        hist = t.user_attrs.get(f"{ATTR}history") or {}
        for key, dash in ((metric, "solid"), (metric.removeprefix("val_") if metric.startswith("val_") else "", "dot")):
            if key and key in hist:
                first = min(t.intermediate_values) if t.intermediate_values else 1
                xs = list(range(first, first + len(hist[key])))
                fig.add_trace(go.Scatter(x=xs, y=hist[key], mode="lines+markers", line={"dash": dash},
                                         name=f"#{t.number} {key}"))
    fig.update_layout(title=f"Learning curves of the top {top} trials ({metric}: solid, training: dotted)",
                      xaxis_title="epoch", yaxis_title=metric)
    return fig


def write_report(study: Any, out: Path, top: int = 5) -> list[str]:
    """Write the report of ``study`` to ``out``; returns the titles of the sections drawn."""
    import optuna
    import optuna.visualization as vis

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    sections: list[tuple[str, Any]] = []
    kw: dict[str, Any] = {}
    imp_kw: dict[str, Any] = {}
    if len(study.directions) > 1:
        primary = (study.user_attrs.get(f"{ATTR}objective") or "objective 0").split(",")[0]
        kw = {"target": lambda t: t.values[0], "target_name": primary}
        # Importance evaluators rank params by how they lead to low targets: flip a maximized one.
        flip = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
        imp_kw = {"target": (lambda t: -t.values[0]) if flip else kw["target"], "target_name": primary}
    plots = [("Optimization history", lambda: vis.plot_optimization_history(study, **kw)),
             ("Parameter importances", lambda: vis.plot_param_importances(study, **imp_kw)),
             ("Parallel coordinates", lambda: vis.plot_parallel_coordinate(study, **kw)),
             ("Learning curves", lambda: _learning_curves(study, top))]
    if len(study.directions) > 1:
        names = (study.user_attrs.get(f"{ATTR}objective") or "").split(",")
        plots.append(("Pareto front", lambda: vis.plot_pareto_front(
            study, target_names=names if len(names) == len(study.directions) else None)))
    for title, make in plots:
        if title == "Parameter importances" and len(complete) < 2:
            continue
        try:
            sections.append((title, make()))
        except (ValueError, RuntimeError, ZeroDivisionError) as e:
            _log.warning("report: %s not drawn: %s", title, e)
    attrs = study.user_attrs
    settings = {k.removeprefix(ATTR): v for k, v in attrs.items()
                if k.startswith(ATTR) and k not in (f"{ATTR}space", f"{ATTR}kt_state")}
    counts: dict[str, int] = {}
    for t in study.trials:
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    parts = [f"<h1>automl report: study {html.escape(study.study_name)}</h1>",
             "<h2>Search</h2><table>" + "".join(
                 f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(json.dumps(v, default=str))}</td></tr>"
                 for k, v in sorted(settings.items())) + "</table>",
             "<p>Trials: " + ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())) + "</p>"]
    best = [r for r in leaderboard(study, top) if r.state == "COMPLETE"]
    if best:
        parts.append("<h2>Top trials</h2><table><tr><th>#</th><th>value</th><th>params</th></tr>" + "".join(
            f"<tr><td>{r.number}</td><td>{' / '.join(f'{v:.4g}' for v in (r.values or [r.value or 0.0]))}</td>"
            f"<td>{html.escape(json.dumps(r.params))}</td></tr>"
            for r in best) + "</table>")
    for i, (title, fig) in enumerate(sections):
        parts.append(f"<h2>{html.escape(title)}</h2>")
        parts.append(fig.to_html(full_html=False, include_plotlyjs="inline" if i == 0 else False))
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>automl report: "
            f"{html.escape(study.study_name)}</title><style>body{{font-family:sans-serif;margin:2em}}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style>"
            "</head><body>" + "\n".join(parts) + "</body></html>")
    out.write_text(page, encoding="utf-8")
    return [t for t, _ in sections]
