"""Writing trial results into Optuna's schema: shared by every engine."""

from __future__ import annotations

import json
import math
from typing import Any

from automl._keys import ATTR, attr
from automl._logging import get_logger
from automl._text import strip_ansi
from automl.engines._base import TrialOutcome
from automl.storage._budget import CLAIM_ATTR
from automl.storage._optuna_private import forget_cached_trials, link_artifact, study_id, study_storage, trial_id

__all__ = ["plain", "set_state", "state_of", "history_of", "epochs_of", "set_study_state", "study_state", "new_trial",
           "pop_retry", "finish_trial", "finished_count", "pending_count", "retried_numbers", "mark_unclaimed",
           "UNCLAIMED", "CLAIM"]

# System attribute of a trial ended unrun because it held no unit of the budget.
UNCLAIMED = attr("trial", "unclaimed", system=True)
# System attribute: the budget claim a trial was made with (automl/storage/_budget.py).
CLAIM = CLAIM_ATTR


def plain(obj: Any) -> Any:
    """``obj`` as JSON-compatible data (what Optuna's attribute columns accept)."""
    return json.loads(json.dumps(obj, default=str))


# Machine state (a trial's concrete configuration and per-epoch history, KerasTuner's trial
# and Oracle) is kept in system attributes: the dashboard shows user attributes, and these
# are kilobytes of JSON nobody reads there. Stores written before kept them as user
# attributes: read both.


def set_state(trial: Any, key: str, value: Any) -> None:
    """Keep ``value`` on the running Optuna ``trial`` as system attribute ``automl:KEY``."""
    study_storage(trial.study).set_trial_system_attr(trial_id(trial), attr("trial", key, system=True), plain(value))


def state_of(trial: Any, key: str) -> Any:
    """What :func:`set_state` kept on ``trial`` (a FrozenTrial), else None."""
    name = f"{ATTR}{key}"
    return trial.system_attrs[name] if name in trial.system_attrs else trial.user_attrs.get(name)


def history_of(trial: Any) -> dict[str, list[float]]:
    """Every metric of every epoch a finished ``trial`` (a FrozenTrial) trained, by Keras
    log key (``automl:history``); empty when it trained none."""
    history = state_of(trial, "history")
    return history if isinstance(history, dict) else {}


def epochs_of(trial: Any) -> int:
    """Epochs a finished ``trial`` trained: ``automl:epochs``, else (stores written before)
    its history's length, else its reported steps."""
    n = trial.user_attrs.get(attr("trial", "epochs"))
    if isinstance(n, int):
        return n
    return max((len(v) for v in history_of(trial).values() if isinstance(v, list)),
               default=len(trial.intermediate_values))


def set_study_state(study: Any, key: str, value: Any) -> None:
    study_storage(study).set_study_system_attr(study_id(study), attr("study", key, system=True), plain(value))


def study_state(study: Any, key: str) -> Any:
    name = f"{ATTR}{key}"
    attrs = study_storage(study).get_study_system_attrs(study_id(study))
    return attrs[name] if name in attrs else study.user_attrs.get(name)


def _template(token: str) -> Any:
    """A new RUNNING trial carrying the budget claim ``token`` (written with the trial, in
    one transaction: a process that finds the claim of a dead one can tell that it was used)."""
    from datetime import datetime

    import optuna

    return optuna.trial.FrozenTrial(number=-1, state=optuna.trial.TrialState.RUNNING, value=None,
                                    datetime_start=datetime.now(), datetime_complete=None, params={},
                                    distributions={}, user_attrs={}, system_attrs={CLAIM: token},
                                    intermediate_values={}, trial_id=-1)


def _pop_waiting(study: Any, *, retries: bool, token: str | None) -> int | None:
    """Start a WAITING trial (as ``study.ask()`` does): a retry of a failed trial when
    ``retries``, else one enqueued by the user, which gets the claim ``token`` as it starts."""
    from automl.storage._waiting import rdb_of, start_waiting, waiting_ids

    storage, sid = study_storage(study), study_id(study)
    if rdb_of(storage) is None:
        return _pop_waiting_in_memory(study, retries=retries, token=token)
    # Each batch of ids read is tried in order; ids another process started meanwhile are
    # skipped (not WAITING any more), and once a whole batch is gone the next is read.
    while ids := waiting_ids(storage, sid, retries=retries):
        for tid in ids:
            if start_waiting(storage, tid, claim=token):
                return tid
    return None


def _pop_waiting_in_memory(study: Any, *, retries: bool, token: str | None) -> int | None:
    """:func:`_pop_waiting` on a storage of one process (Optuna's in-memory storage)."""
    import optuna

    from automl.storage._waiting import RETRY_ATTR

    storage = study_storage(study)
    S = optuna.trial.TrialState
    for frozen in storage.get_all_trials(study_id(study), deepcopy=False, states=(S.WAITING,)):
        if (RETRY_ATTR in frozen.system_attrs) != retries:
            continue
        tid = trial_id(frozen)
        if token is not None:
            storage.set_trial_system_attr(tid, CLAIM, token)
        if storage.set_trial_state_values(tid, state=S.RUNNING):
            return int(tid)
    return None


def _start(study: Any, tid: int) -> Any:
    import optuna

    from automl.storage._stale import first_heartbeat

    # A process killed now would leave a trial with no heartbeat, which Optuna never finds
    # stale (automl/storage/_stale.py): the first is recorded at once.
    first_heartbeat(study_storage(study), tid)
    return optuna.Trial(study, tid)


def new_trial(study: Any, token: str | None = None) -> Any:
    """What ``study.ask()`` does (a trial the user enqueued first, else a new one), with the
    budget claim ``token`` on the trial and its first heartbeat recorded."""
    forget_cached_trials(study)  # as study.ask(): samplers see the latest trials
    tid = _pop_waiting(study, retries=False, token=token)
    if tid is None:
        tid = study_storage(study).create_new_trial(study_id(study),
                                                    template_trial=_template(token) if token is not None else None)
    return _start(study, tid)


def pop_retry(study: Any) -> Any | None:
    """Start a retry waiting to run (it holds its failed original's unit of the budget)."""
    tid = _pop_waiting(study, retries=True, token=None)
    return None if tid is None else _start(study, tid)


def finish_trial(study: Any, trial: Any, outcome: TrialOutcome, objective: str) -> bool:
    """Record the ``automl:*`` attributes of ``trial`` and finish it with its state; False
    when another process had ended it meanwhile (it took the trial for stale: its heartbeats
    came late, on a host too busy), whose retry then holds the trial's unit of the budget.

    A "complete" outcome without a finite value is recorded as FAIL with that reason.
    """
    import optuna

    try:
        _finish(study, trial, outcome, objective)
    except optuna.exceptions.UpdateFinishedTrialError:
        get_logger("engine").warning("trial %d was ended by another process meanwhile (its heartbeats came late, "
                                     "so it was taken for stale and retried); its result is not recorded",
                                     trial.number)
        return False
    return True


def _finish(study: Any, trial: Any, outcome: TrialOutcome, objective: str) -> None:
    import optuna

    multi = len(study.directions) > 1
    final = outcome.values if multi else [outcome.value]
    if outcome.state == "complete" and (not final or any(v is None or not math.isfinite(v) for v in final)):
        outcome.state, outcome.error = "failed", outcome.error or f"objective {objective} was not logged or not finite"
    set_state(trial, "history", outcome.history)
    set_state(trial, "epoch_seconds", [round(x, 4) for x in outcome.epoch_seconds])  # one per epoch: bulky too
    attrs: dict[str, Any] = {"epochs": max((len(v) for v in outcome.history.values()), default=0),
                             "params_count": outcome.params_count, "fit_seconds": round(outcome.fit_seconds, 4),
                             "device": outcome.device}
    if outcome.memory_mb is not None:
        attrs["memory_mb"] = round(outcome.memory_mb, 1)
    if outcome.warning is not None:
        attrs["warning"] = outcome.warning
    if outcome.stopped_early is not None:
        attrs["stopped_early"] = outcome.stopped_early
    if outcome.compiles is not None:
        attrs["compiles"] = outcome.compiles
    if outcome.error is not None:  # only when there is one (a retry starts without its original's)
        attrs["error"] = strip_ansi(outcome.error)  # Keras colours its messages; the store is read as text
    for k, v in attrs.items():
        trial.set_user_attr(attr("trial", k), plain(v))
    if outcome.artifact is not None:
        link_artifact(trial, *outcome.artifact)
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
    study_storage(trial.study).set_trial_system_attr(trial_id(trial), UNCLAIMED, True)


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
    """Trials that hold a unit of the budget and are not finished: running ones, and
    retries waiting to run (a trial the user enqueued claims its unit when it starts)."""
    import optuna

    S = optuna.trial.TrialState
    return sum(1 for t in study.get_trials(deepcopy=False, states=(S.RUNNING, S.WAITING))
               if t.state == S.RUNNING or "failed_trial" in t.system_attrs)
