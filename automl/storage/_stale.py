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

__all__ = ["first_heartbeat", "adopt_orphans"]

_log = get_logger("storage")


def _beating(storage: Any) -> bool:
    get_interval = getattr(storage, "get_heartbeat_interval", None)
    return get_interval is not None and get_interval() is not None


def first_heartbeat(storage: Any, trial_id: int) -> None:
    """Record a heartbeat for a trial just created (nothing when heartbeats are off)."""
    if _beating(storage):
        storage.record_heartbeat(trial_id)


def adopt_orphans(storage: Any, study_id: int) -> list[int]:
    """Give a heartbeat to every RUNNING trial of the study that has none; returns their ids."""
    rdb = getattr(storage, "_backend", storage)  # Optuna wraps its RDB storage in a cache
    if not _beating(storage) or not hasattr(rdb, "engine"):
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
