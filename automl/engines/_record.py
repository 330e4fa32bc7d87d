"""Writing trial results into Optuna's schema: shared by every engine."""

from __future__ import annotations

import json
import math
from typing import Any

from automl.engines._base import ATTR, TrialOutcome

__all__ = ["plain", "new_trial", "finish_trial", "finished_count", "pending_count", "retried_numbers",
           "mark_unclaimed", "UNCLAIMED"]

# System attribute of a trial ended unrun because it held no unit of the budget.
UNCLAIMED = f"{ATTR}unclaimed"


def plain(obj: Any) -> Any:
    """``obj`` as JSON-compatible data (what Optuna's attribute columns accept)."""
    return json.loads(json.dumps(obj, default=str))


def new_trial(study: Any) -> Any:
    """``study.ask()``, with the trial's first heartbeat recorded at once: a process killed
    before it would leave a trial with no heartbeat, which Optuna never finds stale
    (automl/storage/_stale.py)."""
    import warnings

    from automl.storage._stale import first_heartbeat

    with warnings.catch_warnings():
        # automl records heartbeats itself (runner/_heartbeat.py); Optuna's optimize() is not used.
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed")
        trial = study.ask()
    first_heartbeat(study._storage, trial._trial_id)  # noqa: SLF001
    return trial


def finish_trial(study: Any, trial: Any, outcome: TrialOutcome, objective: str) -> None:
    """Record the ``automl:*`` attributes of ``trial`` and finish it with its state.

    A "complete" outcome without a finite value is recorded as FAIL with that reason.
    """
    import optuna

    multi = len(study.directions) > 1
    final = outcome.values if multi else [outcome.value]
    if outcome.state == "complete" and (not final or any(v is None or not math.isfinite(v) for v in final)):
        outcome.state, outcome.error = "failed", outcome.error or f"objective {objective} was not logged or not finite"
    attrs = {"history": outcome.history, "params_count": outcome.params_count,
             "fit_seconds": round(outcome.fit_seconds, 4), "device": outcome.device,
             "epoch_seconds": [round(x, 4) for x in outcome.epoch_seconds]}
    if outcome.memory_mb is not None:
        attrs["memory_mb"] = round(outcome.memory_mb, 1)
    # Always written: a retry starts with a copy of its failed original's attributes.
    attrs["error"] = outcome.error
    for k, v in attrs.items():
        trial.set_user_attr(f"{ATTR}{k}", plain(v))
    if outcome.state == "complete":
        study.tell(trial, final if multi else outcome.value)
    elif outcome.state == "pruned":
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    else:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)


def retried_numbers(trials: list[Any]) -> set[int]:
    """Numbers of failed trials that were retried (another trial names them as its original)."""
    return {t.system_attrs["failed_trial"] for t in trials if "failed_trial" in t.system_attrs}


def mark_unclaimed(trial: Any) -> None:
    """Mark the running Optuna ``trial`` as one that holds no unit of the budget."""
    trial.study._storage.set_trial_system_attr(trial._trial_id, UNCLAIMED, True)  # noqa: SLF001


def finished_count(study: Any) -> int:
    """Trials that count against the budget: complete, pruned, and failed ones not retried
    (nor ended unrun for want of a unit)."""
    import optuna

    S = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    retried = retried_numbers(trials)
    return sum(1 for t in trials if t.state in (S.COMPLETE, S.PRUNED)
               or (t.state == S.FAIL and t.number not in retried and not t.system_attrs.get(UNCLAIMED)))


def pending_count(study: Any) -> int:
    """Trials running or waiting to run (each holds a unit of the budget)."""
    import optuna

    S = optuna.trial.TrialState
    return len(study.get_trials(deepcopy=False, states=(S.RUNNING, S.WAITING)))
