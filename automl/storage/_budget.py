"""A study's global trial budget, claimed atomically in the store.

Several coordinators (on one host or many) share one study. Before asking for a trial,
each claims one unit: ``UPDATE automl_budget SET claimed = claimed + 1 WHERE study = :s
AND claimed < :n`` succeeds for exactly ``n`` claims, whatever the number of processes,
on SQLite, PostgreSQL and MySQL alike. A failed trial that is retried gives its unit back
(its retry takes it again).

A claim is *open* until the trial it pays for exists in Optuna's tables (then the trial,
found stale if its process dies, carries the unit). A process killed between the two
would take its unit with it, so each open claim is also a row of ``automl_claims`` (in
the same transaction as the ``UPDATE``) naming its process (host and pid) and its time on
the database's clock. The row is deleted when the trial exists (:meth:`Budget.settle`).
Any process that claims gives back the units of open claims whose process is dead: on
the same host, a pid no longer running; from another host, older than ``claim_ttl``. A
``DELETE`` of the row decides who acts on it, so a unit is given back once; a live
process whose claim was taken for dead (slower than ``claim_ttl`` between claiming and
creating its trial) claims again when it settles, and is told when none is left.

Both tables are defined in automl/storage/_schema.py.
"""

from __future__ import annotations

import uuid
from typing import Any

from automl._logging import get_logger
from automl.storage._owner import dead_here, this_process
from automl.storage._schema import tables

__all__ = ["Budget", "CLAIM_TTL_S"]

# An open claim lasts milliseconds (two statements); a host is taken for dead after this.
CLAIM_TTL_S = 600.0

_log = get_logger("storage")


class Budget:
    """Claims and releases units of one study's budget."""

    def __init__(self, engine: Any, study_name: str, *, claim_ttl: float = CLAIM_TTL_S) -> None:
        self.engine = engine
        self.study_name = study_name
        self.claim_ttl = claim_ttl
        self.owner = this_process()
        self._open: str | None = None  # this object's claim not yet settled
        made = tables(engine)
        self.table, self.claims = made["budget"], made["claims"]

    def ensure(self, already: int) -> None:
        """Create the study's row, counting the ``already`` trials it holds (first use only)."""
        import sqlalchemy as sa

        with self.engine.begin() as con:
            row = con.execute(sa.select(self.table.c.claimed).where(self.table.c.study_name == self.study_name)).first()
            if row is not None:
                return
        try:
            with self.engine.begin() as con:
                con.execute(self.table.insert().values(study_name=self.study_name, claimed=already))
        except sa.exc.IntegrityError:
            pass  # created by another process in between

    def claim(self, total: int) -> bool:
        """Take one unit if fewer than ``total`` are taken; the claim stays open until
        :meth:`settle` (or :meth:`release`)."""
        import sqlalchemy as sa

        self.reap()
        t = self.table
        token = uuid.uuid4().hex
        with self.engine.begin() as con:
            res = con.execute(sa.update(t).where(t.c.study_name == self.study_name, t.c.claimed < total)
                              .values(claimed=t.c.claimed + 1))
            if res.rowcount != 1:
                return False
            con.execute(self.claims.insert().values(token=token, study_name=self.study_name, owner=self.owner,
                                                    created=sa.func.now()))
        self._open = token
        return True

    def settle(self, total: int) -> bool:
        """The open claim's trial exists: the trial holds the unit from now on. False when
        the claim had been given back as a dead process's and no unit is left to take again
        (the trial must then not count)."""
        import sqlalchemy as sa

        token, self._open = self._open, None
        if token is None:
            return True
        with self.engine.begin() as con:
            if con.execute(sa.delete(self.claims).where(self.claims.c.token == token)).rowcount == 1:
                return True
        _log.warning("this process's claim on the budget of study %s was given back by another process (more "
                     "than %.0f s passed between claiming and creating the trial); claiming again",
                     self.study_name, self.claim_ttl)
        t = self.table
        with self.engine.begin() as con:
            res = con.execute(sa.update(t).where(t.c.study_name == self.study_name, t.c.claimed < total)
                              .values(claimed=t.c.claimed + 1))
            return bool(res.rowcount == 1)

    def release(self) -> None:
        """Give one unit back: the open claim's, if there is one (its trial was never made),
        else a settled one (a claim that produced no counted trial)."""
        import sqlalchemy as sa

        t = self.table
        token, self._open = self._open, None
        with self.engine.begin() as con:
            if token is not None and \
                    con.execute(sa.delete(self.claims).where(self.claims.c.token == token)).rowcount != 1:
                return  # already given back by a process that took this one for dead
            con.execute(sa.update(t).where(t.c.study_name == self.study_name, t.c.claimed > 0)
                        .values(claimed=t.c.claimed - 1))

    def reap(self) -> int:
        """Give back the units of open claims whose process is dead; returns how many."""
        import sqlalchemy as sa

        c, t = self.claims, self.table
        with self.engine.connect() as con:
            rows = list(con.execute(sa.select(c.c.token, c.c.owner, c.c.created)
                                    .where(c.c.study_name == self.study_name)))
            if not rows:
                return 0
            now = con.execute(sa.select(sa.func.now())).scalar()
        given = 0
        for token, owner, created in rows:
            if token == self._open:
                continue
            age = (now.replace(tzinfo=None) - created.replace(tzinfo=None)).total_seconds()
            if not (dead_here(owner) or age > self.claim_ttl):
                continue
            with self.engine.begin() as con:
                if con.execute(sa.delete(c).where(c.c.token == token)).rowcount != 1:
                    continue  # another process gave it back first
                con.execute(sa.update(t).where(t.c.study_name == self.study_name, t.c.claimed > 0)
                            .values(claimed=t.c.claimed - 1))
            given += 1
            _log.warning("a unit of study %s's budget claimed %.0f s ago by process %s, which stopped before it "
                         "created its trial, is given back", self.study_name, max(0.0, age), owner)
        return given

    def reset(self, claimed: int) -> None:
        """Set the units taken to ``claimed`` (counted from the trials by a process that
        knows it is the study's only one) and forget every open claim."""
        import sqlalchemy as sa

        t = self.table
        self._open = None
        with self.engine.begin() as con:
            con.execute(sa.delete(self.claims).where(self.claims.c.study_name == self.study_name))
            con.execute(sa.update(t).where(t.c.study_name == self.study_name).values(claimed=max(0, claimed)))

    def claimed(self) -> int:
        import sqlalchemy as sa

        with self.engine.begin() as con:
            v = con.execute(sa.select(self.table.c.claimed).where(self.table.c.study_name == self.study_name)).scalar()
        return int(v or 0)

    def open_claims(self) -> list[str]:
        """Owners ("host:pid") of the study's open claims."""
        import sqlalchemy as sa

        with self.engine.connect() as con:
            return [str(r[0]) for r in con.execute(sa.select(self.claims.c.owner)
                                                   .where(self.claims.c.study_name == self.study_name))]
