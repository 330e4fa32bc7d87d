"""Running trials whose process died before their first heartbeat.

Optuna finds a trial stale when its last heartbeat is older than the grace period; a
RUNNING trial with no heartbeat at all is never stale. A coordinator killed between
creating a trial and recording its first heartbeat would leave it RUNNING for good
(seen in a test: the kill landed while the sampler drew the trial's values, tens of
milliseconds). So the engine records the first heartbeat right after ``study.ask()``
(:func:`first_heartbeat`), and before looking for stale trials each process gives a
heartbeat to any RUNNING trial that has none (:func:`adopt_orphans`): a live owner
overwrites it with its own at once; a dead one's trial goes stale one grace period later
and is failed and retried like any other.
"""

from __future__ import annotations

from typing import Any

from automl._keys import attr
from automl._logging import get_logger
from automl.storage._clock import age_s, db_now
from automl.storage._optuna_private import optuna_tables, rdb_storage, stale_trial_ids, study_id, study_storage

__all__ = ["first_heartbeat", "adopt_orphans", "live_running", "running_numbers", "fail_stale", "grace_seconds",
           "heartbeats_on", "rdb_of"]

_log = get_logger("storage")


def heartbeats_on(storage: Any) -> bool:
    """Whether ``storage`` records heartbeats (Optuna's RDB storage opened with an interval)."""
    get_interval = getattr(storage, "get_heartbeat_interval", None)
    return get_interval is not None and get_interval() is not None


def rdb_of(storage: Any) -> Any | None:
    """Optuna's RDB storage behind ``storage``, or None when it is not one."""
    return rdb_storage(storage)


def grace_seconds(storage: Any) -> float:
    """How long a trial may go without a heartbeat before Optuna finds it stale."""
    rdb = rdb_storage(storage)
    if rdb is None or rdb.heartbeat_interval is None:
        raise TypeError("heartbeats are off in this storage: no grace period")
    return float(rdb.grace_period if rdb.grace_period is not None else 2 * rdb.heartbeat_interval)


def first_heartbeat(storage: Any, trial_id: int) -> None:
    """Record a heartbeat for a trial just created (nothing when heartbeats are off)."""
    if heartbeats_on(storage):
        storage.record_heartbeat(trial_id)


def adopt_orphans(storage: Any, study_id: int) -> list[int]:
    """Give a heartbeat to every RUNNING trial of the study that has none; returns their ids."""
    rdb = rdb_of(storage)
    if not heartbeats_on(storage) or rdb is None:
        return []
    import sqlalchemy as sa
    from optuna.trial import TrialState

    trials, beats = optuna_tables().trials, optuna_tables().heartbeats
    query = (sa.select(trials.c.trial_id)
             .select_from(trials.outerjoin(beats, beats.c.trial_id == trials.c.trial_id))
             .where(trials.c.study_id == study_id, trials.c.state == TrialState.RUNNING.name,
                    beats.c.trial_heartbeat_id.is_(None)))
    with rdb.engine.connect() as con:
        orphans = [int(row[0]) for row in con.execute(query)]
    for tid in orphans:
        storage.record_heartbeat(tid)
    if orphans:
        _log.info("%d running trial(s) had no heartbeat yet (ids %s): they are failed as stale if none comes",
                  len(orphans), ", ".join(map(str, orphans)))
    return orphans


def _beats(storage: Any, study_id: int) -> list[tuple[int, int, float]]:
    """(trial id, number, seconds since its last heartbeat) of every RUNNING trial of the
    study that has a heartbeat, on the database's clock; empty when heartbeats are off."""
    rdb = rdb_of(storage)
    if not heartbeats_on(storage) or rdb is None:
        return []
    import sqlalchemy as sa
    from optuna.trial import TrialState

    trials, beats = optuna_tables().trials, optuna_tables().heartbeats
    query = (sa.select(trials.c.trial_id, trials.c.number, beats.c.heartbeat)
             .select_from(trials.join(beats, beats.c.trial_id == trials.c.trial_id))
             .where(trials.c.study_id == study_id, trials.c.state == TrialState.RUNNING.name))
    with rdb.engine.connect() as con:
        now = db_now(con)
        rows = list(con.execute(query))
    return [(int(tid), int(number), max(0.0, age_s(now, beat))) for tid, number, beat in rows]


def running_numbers(storage: Any, study_id: int) -> list[int]:
    """Numbers of the study's RUNNING trials that beat, alive or stale (a stale one is
    failed and retried by the next process that reaps); empty when heartbeats are off."""
    return [number for _, number, _ in _beats(storage, study_id)]


def fail_stale(study: Any) -> list[int]:
    """Fail the study's stale trials, each with why (``automl:error``), then pass each to the
    storage's stale-trial callback (the retry): what ``optuna.storages.fail_stale_trials``
    does, which records no reason. The reason is written just before the trial is failed,
    once Optuna's own query found it stale. Returns the numbers of the trials failed."""
    import copy

    import optuna
    from optuna.trial import TrialState

    storage: Any = study_storage(study)  # Optuna's cache, a heartbeat storage too
    sid = study_id(study)
    if not heartbeats_on(storage):
        return []
    stale = stale_trial_ids(storage, sid)
    if not stale:
        return []
    grace = grace_seconds(storage)
    ages = {tid: age for tid, _, age in _beats(storage, sid)}
    failed = []
    for tid in stale:
        age = f"{ages[tid]:.0f} s ago" if tid in ages else "long ago"
        try:
            storage.set_trial_user_attr(tid, attr("trial", "error"), f"its process stopped sending heartbeats (last "
                                                                      f"beat {age}, grace period {grace:.0f} s)")
            if storage.set_trial_state_values(tid, state=TrialState.FAIL):
                failed.append(tid)
        except optuna.exceptions.UpdateFinishedTrialError:  # its owner, or another process, ended it first
            continue
    callback = storage.get_heartbeat_stale_trial_callback()
    numbers = []
    for tid in failed:
        frozen = copy.deepcopy(storage.get_trial(tid))
        numbers.append(frozen.number)
        if callback is not None:
            callback(study, frozen)
    return numbers


def live_running(storage: Any, study_id: int) -> list[tuple[int, float]]:
    """(trial number, seconds since its last heartbeat) of every RUNNING trial of the study
    whose process is alive as far as heartbeats tell: one came within the grace period
    (Optuna's rule, on the database's clock). Empty when heartbeats are off."""
    beats = _beats(storage, study_id)
    grace = grace_seconds(storage) if beats else 0.0
    return [(number, age) for _, number, age in beats if age <= grace]
