"""Reading studies back: summaries, leaderboards, the best trial, from a study's rows
(:mod:`automl.storage._snapshot`: Optuna's objects, or its tables read directly)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from automl._keys import ATTR
from automl.errors import UsageError
from automl.storage._snapshot import StoredStudy, StoredTrial, pareto, read_studies, snapshot

__all__ = ["TrialRow", "StudyRow", "load_study", "read_store", "list_studies", "leaderboard", "best_trial",
           "pareto_front", "trial_row"]


@dataclass
class TrialRow:
    """One trial as the leaderboard shows it."""

    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    duration_s: float | None
    epochs: int
    params_count: int | None
    error: str | None
    values: list[float] | None = None
    continues: int | None = None  # a Hyperband promotion: the trial whose training it continues
    retry_of: int | None = None  # a retry: the failed trial whose values it runs again
    metrics: dict[str, float] = field(default_factory=dict)  # the task's other validation metrics

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StudyRow:
    name: str
    engine: str
    algorithm: str
    direction: str
    objective: str
    complete: int
    pruned: int
    failed: int
    running: int
    best_value: float | None


def load_study(storage: Any, name: str) -> Any:
    import optuna

    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]
        raise UsageError(f"no study named {name!r} in this store; studies: {', '.join(names) or 'none'}") from None


def read_store(url: str, name: str | None = None) -> list[StoredStudy]:
    """The studies at ``url`` (only ``name``, or :class:`UsageError`), as rows: from Optuna's
    tables where their schema is one this code reads directly, else through Optuna."""
    studies = read_studies(url, name)
    if studies is not None:
        return studies
    import optuna

    from automl.storage._url import open_storage

    storage = open_storage(url, must_exist=True)
    if name is not None:
        return [snapshot(load_study(storage, name))]
    return [snapshot(optuna.load_study(study_name=s.study_name, storage=storage))
            for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]


def _rows(study: Any) -> StoredStudy:
    return study if isinstance(study, StoredStudy) else snapshot(study)


def trial_row(t: StoredTrial) -> TrialRow:
    value = t.values[0] if t.values else None
    from automl.engines._record import epochs_of, history_of  # imports this package

    epochs = epochs_of(t)
    duration = t.duration.total_seconds() if t.duration is not None else None
    return TrialRow(t.number, t.state, value, dict(t.params), duration, epochs,
                    t.user_attrs.get(f"{ATTR}params_count"), t.user_attrs.get(f"{ATTR}error"),
                    list(t.values) if t.values and len(t.values) > 1 else None,
                    metrics=_metrics(history_of(t), value))


def _metrics(history: dict[str, list[float]], value: float | None) -> dict[str, float]:
    """The validation metrics other than the loss, at the epoch the trial's value came from
    (regression's MAE and RMSE beside its loss, a binary task's AUC beside its accuracy). The
    objective is among them; the leaderboard leaves it out."""
    names = [k for k, v in history.items() if k.startswith("val_") and k != "val_loss" and isinstance(v, list) and v]
    if not names:
        return {}
    at = -1
    for series in history.values():
        if isinstance(series, list) and value is not None and value in series:
            at = series.index(value)
            break
    return {k: float(history[k][at]) for k in names if -len(history[k]) <= at < len(history[k])}


def leaderboard(study: Any, top: int | None = None) -> list[TrialRow]:
    """Complete trials best first, then pruned (by their last value), then failed and running."""
    st = _rows(study)
    sign = -1.0 if st.directions[0] == "maximize" else 1.0
    order = {"COMPLETE": 0, "PRUNED": 1, "FAIL": 2, "RUNNING": 3, "WAITING": 4}
    rows = [trial_row(t) for t in st.trials]
    by_kt_id = {t.user_attrs.get(f"{ATTR}kt_trial_id"): t.number for t in st.trials}
    for r, t in zip(rows, st.trials):
        if r.state == "PRUNED" and r.value is None and t.intermediate_values:
            r.value = t.intermediate_values[max(t.intermediate_values)]
        parent = (t.user_attrs.get(f"{ATTR}budget") or {}).get("trial_id")
        r.continues = by_kt_id.get(str(parent)) if parent else None
        r.retry_of = t.system_attrs.get("failed_trial")

    def key(r: TrialRow) -> tuple[int, int, float, int]:
        has = r.value is not None and not math.isnan(r.value)
        return order.get(r.state, 5), 0 if has else 1, sign * r.value if has else 0.0, r.number  # type: ignore[operator]

    rows.sort(key=key)
    return rows[:top] if top else rows


def pareto_front(study: Any) -> list[TrialRow]:
    """The non-dominated complete trials of a multi-objective study (empty for one objective)."""
    st = _rows(study)
    if len(st.directions) < 2:
        return []
    return sorted((trial_row(t) for t in pareto(st.trials, st.directions)), key=lambda r: r.number)


def best_trial(study: Any) -> TrialRow | None:
    """The best complete trial (None without one, and for several objectives: see pareto_front)."""
    st = _rows(study)
    if len(st.directions) > 1:
        return None
    sign = -1.0 if st.directions[0] == "maximize" else 1.0
    complete = [t for t in st.trials if t.state == "COMPLETE" and t.values]
    if not complete:
        return None
    return trial_row(min(complete, key=lambda t: (sign * t.values[0], t.number)))  # type: ignore[index]


def list_studies(studies: Sequence[StoredStudy]) -> list[StudyRow]:
    rows = []
    for s in studies:
        counts = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0, "RUNNING": 0}
        for t in s.trials:
            counts[t.state] = counts.get(t.state, 0) + 1
        best = best_trial(s)
        attrs = s.user_attrs
        rows.append(StudyRow(s.name, attrs.get(f"{ATTR}engine", "?"), attrs.get(f"{ATTR}algorithm", ""),
                             s.directions[0] if len(s.directions) == 1 else "multi",
                             attrs.get(f"{ATTR}objective", ""), counts["COMPLETE"], counts["PRUNED"],
                             counts["FAIL"], counts["RUNNING"], best.value if best else None))
    return rows


def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, default=str)
