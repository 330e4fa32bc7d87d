"""Reading studies back: summaries, leaderboards, the best trial. Optuna's API only."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from automl.engines._base import ATTR
from automl.errors import UsageError

__all__ = ["TrialRow", "StudyRow", "load_study", "list_studies", "leaderboard", "best_trial", "pareto_front",
           "trial_row"]


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


def trial_row(t: Any) -> TrialRow:
    value = t.values[0] if t.values else None
    from automl.engines._record import epochs_of  # imports this package

    epochs = epochs_of(t)
    duration = t.duration.total_seconds() if t.duration is not None else None
    return TrialRow(t.number, t.state.name, value, dict(t.params), duration, epochs,
                    t.user_attrs.get(f"{ATTR}params_count"), t.user_attrs.get(f"{ATTR}error"),
                    list(t.values) if t.values and len(t.values) > 1 else None)


def leaderboard(study: Any, top: int | None = None) -> list[TrialRow]:
    """Complete trials best first, then pruned (by their last value), then failed and running."""
    import optuna

    sign = -1.0 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1.0
    order = {"COMPLETE": 0, "PRUNED": 1, "FAIL": 2, "RUNNING": 3, "WAITING": 4}
    trials = study.get_trials(deepcopy=False)
    rows = [trial_row(t) for t in trials]
    by_kt_id = {t.user_attrs.get(f"{ATTR}kt_trial_id"): t.number for t in trials}
    for r, t in zip(rows, trials):
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
    if len(study.directions) < 2:
        return []
    return sorted((trial_row(t) for t in study.best_trials), key=lambda r: r.number)


def best_trial(study: Any) -> TrialRow | None:
    """The best complete trial (None without one, and for several objectives: see pareto_front)."""
    import optuna

    if len(study.directions) > 1:
        return None
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return None
    return trial_row(study.best_trial)


def list_studies(storage: Any) -> list[StudyRow]:
    import optuna

    rows = []
    for s in optuna.get_all_study_summaries(storage, include_best_trial=False):
        study = optuna.load_study(study_name=s.study_name, storage=storage)
        counts = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0, "RUNNING": 0}
        for t in study.get_trials(deepcopy=False):
            counts[t.state.name] = counts.get(t.state.name, 0) + 1
        best = best_trial(study)
        attrs = s.user_attrs
        rows.append(StudyRow(s.study_name, attrs.get(f"{ATTR}engine", "?"), attrs.get(f"{ATTR}algorithm", ""),
                             s.direction.name.lower() if len(s.directions) == 1 else "multi",
                             attrs.get(f"{ATTR}objective", ""), counts["COMPLETE"], counts["PRUNED"],
                             counts["FAIL"], counts["RUNNING"], best.value if best else None))
    return rows


def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, default=str)
