"""One process at a time on a study: a lease in the store (``automl_leases``).

A KerasTuner study takes one coordinator at a time (its Oracle lives in that process).
Running trials' heartbeats alone cannot tell that a study is being run: between two
trials, or before the first, a live coordinator has none (a second process started in
such a gap once failed a trial the first had just finished). So the coordinator holds a
lease row naming it, renewed by its heartbeat thread and deleted when it ends. Another
process takes the lease only when it is free, when its holder ran on this host and is
dead, or when its last beat is older than ``ttl`` (the heartbeat grace period), all on the
database's clock. The ``DELETE`` and ``INSERT`` that take a lease decide between two
processes that try at once: one wins.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from automl._logging import get_logger
from automl.storage._clock import age_s, db_now
from automl.storage._owner import dead_here, this_process
from automl.storage._schema import tables

__all__ = ["Lease", "Holder"]

_log = get_logger("storage")


@dataclass(frozen=True)
class Holder:
    """The live process that holds a lease: who, and seconds since its last beat."""

    owner: str
    age: float


class Lease:
    """The lease on one study for this process."""

    def __init__(self, engine: Any, study_name: str, ttl: float) -> None:
        self.engine, self.study_name, self.ttl = engine, study_name, ttl
        self.owner = this_process()
        self.token: str | None = None  # set while this object holds the lease
        self.replaced: str | None = None  # the dead holder whose lease acquire() took over
        self.table = tables(engine)["leases"]

    def _read(self) -> tuple[Any, Any]:
        import sqlalchemy as sa

        t = self.table
        with self.engine.connect() as con:
            row = con.execute(sa.select(t.c.token, t.c.owner, t.c.beat)
                              .where(t.c.study_name == self.study_name)).first()
            now = db_now(con)
        return row, now

    def acquire(self) -> Holder | None:
        """Take the lease; None when taken, else the live process that holds it."""
        import sqlalchemy as sa

        t = self.table
        for _ in range(5):
            row, now = self._read()
            if row is not None:
                token, owner, beat = row
                age = max(0.0, age_s(now, beat))
                if owner != self.owner and not dead_here(owner) and age <= self.ttl:
                    return Holder(owner, age)
                with self.engine.begin() as con:
                    if con.execute(sa.delete(t).where(t.c.study_name == self.study_name, t.c.token == token)) \
                            .rowcount != 1:
                        continue  # taken or renewed meanwhile: look again
                if owner != self.owner:
                    self.replaced = str(owner)
                    _log.info("study %s was held by process %s, which stopped %.0f s ago", self.study_name, owner,
                              age)
            token = uuid.uuid4().hex
            try:
                with self.engine.begin() as con:
                    con.execute(t.insert().values(study_name=self.study_name, token=token, owner=self.owner,
                                                  beat=sa.func.now()))
            except sa.exc.IntegrityError:
                continue  # another process took it first: look again
            self.token = token
            return None
        row, _ = self._read()
        return Holder(str(row[1]), 0.0) if row is not None else Holder("another process", 0.0)

    def renew(self) -> None:
        """Beat (from the heartbeat thread)."""
        import sqlalchemy as sa

        if self.token is None:
            return
        t = self.table
        with self.engine.begin() as con:
            n = con.execute(sa.update(t).where(t.c.study_name == self.study_name, t.c.token == self.token)
                            .values(beat=sa.func.now())).rowcount
        if n != 1:
            self.token = None
            _log.error("the lease on study %s was taken by another process (this one sent no heartbeat for %.0f s); "
                       "both may now run it", self.study_name, self.ttl)

    def release(self) -> None:
        import sqlalchemy as sa

        token, self.token = self.token, None
        if token is None:
            return
        t = self.table
        with self.engine.begin() as con:
            con.execute(sa.delete(t).where(t.c.study_name == self.study_name, t.c.token == token))
