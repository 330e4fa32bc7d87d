"""A study's WAITING trials (enqueued by the user, or retries): found by id, started atomically.

``study.ask()`` finds the next enqueued trial by loading every WAITING trial of the study
with its parameters and attributes; the coordinator did the same twice for each trial it
handed out (once for retries, once for enqueued trials), so with many trials enqueued its
time a trial grew with the queue (benchmarks/README.md, "Store overhead").
:func:`waiting_ids` reads only the ids, in the order Optuna takes them (trial id).

Starting one is Optuna's ``set_trial_state_values(id, RUNNING)``: it reads the state with
``SELECT … FOR UPDATE`` and writes it back. SQLite has no ``FOR UPDATE`` and Python's
sqlite3 reads outside the write transaction, so there two processes both read WAITING and
both start the trial (seen: 4 processes calling ``study.ask()`` on one SQLite file started
80 enqueued trials 110 times). :func:`start_waiting` does what Optuna's call does (state
RUNNING, start time now) as one conditional ``UPDATE … WHERE state = 'WAITING'``, which
exactly one process wins on SQLite, PostgreSQL and MySQL alike, and writes the budget
claim on the trial in the same transaction.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from automl.storage._budget import CLAIM_ATTR
from automl.storage._optuna_private import optuna_tables
from automl.storage._stale import rdb_of

__all__ = ["RETRY_ATTR", "rdb_of", "start_waiting", "waiting_ids"]

# The system attribute Optuna's retry callbacks put on a retry (the failed trial's number).
RETRY_ATTR = "failed_trial"


def _engine(storage: Any) -> Any:
    rdb = rdb_of(storage)
    if rdb is None:
        raise TypeError(f"an Optuna RDB storage is needed here, not {type(storage).__name__}")
    return rdb.engine


def waiting_ids(storage: Any, study_id: int, *, retries: bool, limit: int = 16) -> list[int]:
    """Ids of up to ``limit`` WAITING trials of the study, oldest first: retries of failed
    trials when ``retries``, else the others. ``storage`` must be an RDB storage."""
    import sqlalchemy as sa
    from optuna.trial import TrialState

    trials, attrs = optuna_tables().trials, optuna_tables().trial_system_attrs
    is_retry = sa.exists().where(attrs.c.trial_id == trials.c.trial_id, attrs.c.key == RETRY_ATTR)
    query = (sa.select(trials.c.trial_id)
             .where(trials.c.study_id == study_id, trials.c.state == TrialState.WAITING,
                    is_retry if retries else ~is_retry)
             .order_by(trials.c.trial_id).limit(limit))
    with _engine(storage).connect() as con:
        return [int(row[0]) for row in con.execute(query)]


def start_waiting(storage: Any, trial_id: int, *, claim: str | None = None) -> bool:
    """Make the WAITING trial RUNNING (its start time now), with the budget claim ``claim``
    on it when given, in one transaction. False when it was no longer WAITING (another
    process started it, or it finished): then nothing is written."""
    import sqlalchemy as sa
    from optuna.trial import TrialState

    trials, attrs = optuna_tables().trials, optuna_tables().trial_system_attrs
    with _engine(storage).begin() as con:
        started = con.execute(sa.update(trials)
                              .where(trials.c.trial_id == trial_id, trials.c.state == TrialState.WAITING)
                              .values(state=TrialState.RUNNING, datetime_start=datetime.now()))
        if started.rowcount != 1:
            return False
        if claim is not None:
            con.execute(sa.delete(attrs).where(attrs.c.trial_id == trial_id, attrs.c.key == CLAIM_ATTR))
            con.execute(sa.insert(attrs).values(trial_id=trial_id, key=CLAIM_ATTR, value_json=json.dumps(claim)))
    return True
