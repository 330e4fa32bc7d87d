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

from automl._logging import get_logger
from automl.storage._clock import age_s, db_now

__all__ = ["first_heartbeat", "adopt_orphans", "live_running", "running_numbers", "explain_stale", "grace_seconds",
           "heartbeats_on", "rdb_of"]

_log = get_logger("storage")


def heartbeats_on(storage: Any) -> bool:
    """Whether ``storage`` records heartbeats (Optuna's RDB storage opened with an interval)."""
    get_interval = getattr(storage, "get_heartbeat_interval", None)
    return get_interval is not None and get_interval() is not None


def _rdb(storage: Any) -> Any:
    """Optuna's RDB storage itself (Optuna wraps it in a cache)."""
    return getattr(storage, "_backend", storage)


def rdb_of(storage: Any) -> Any | None:
    """Optuna's RDB storage behind ``storage``, or None when it is not one."""
    rdb = _rdb(storage)
    return rdb if hasattr(rdb, "engine") else None


def grace_seconds(storage: Any) -> float:
    """How long a trial may go without a heartbeat before Optuna finds it stale."""
    rdb = _rdb(storage)
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
    from optuna.storages._rdb import models
    from optuna.trial import TrialState

    trials, beats = models.TrialModel.__table__, models.TrialHeartbeatModel.__table__
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
    from optuna.storages._rdb import models
    from optuna.trial import TrialState

    trials, beats = models.TrialModel.__table__, models.TrialHeartbeatModel.__table__
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


def explain_stale(storage: Any, study_id: int) -> list[int]:
    """Write why on each RUNNING trial that Optuna is about to fail as stale (``automl:error``):
    otherwise it is recorded with no reason. Returns their numbers."""
    grace = grace_seconds(storage) if heartbeats_on(storage) else None
    found = []
    for tid, number, age in _beats(storage, study_id):
        if grace is None or age <= grace:
            continue
        try:
            storage.set_trial_user_attr(tid, "automl:error", f"its process stopped sending heartbeats (last beat "
                                                             f"{age:.0f} s ago, grace period {grace:.0f} s)")
        except Exception as e:  # noqa: BLE001 - it finished meanwhile: nothing to explain
            _log.debug("trial %d finished before it was failed as stale: %s", number, e)
            continue
        found.append(number)
    return found


def live_running(storage: Any, study_id: int) -> list[tuple[int, float]]:
    """(trial number, seconds since its last heartbeat) of every RUNNING trial of the study
    whose process is alive as far as heartbeats tell: one came within the grace period
    (Optuna's rule, on the database's clock). Empty when heartbeats are off."""
    beats = _beats(storage, study_id)
    grace = grace_seconds(storage) if beats else 0.0
    return [(number, age) for _, number, age in beats if age <= grace]
