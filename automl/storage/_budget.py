"""A study's global trial budget, claimed atomically in the store.

Several coordinators (on one host or many) share one study. Before making a trial, each
claims one unit: ``UPDATE automl_study_budget SET claimed = claimed + 1 WHERE study = :s AND
claimed < :n`` succeeds for exactly ``n`` claims, whatever the number of processes, on
SQLite, PostgreSQL and MySQL alike. A failed trial that is retried hands its unit to its
retry (a WAITING trial), which starts without claiming.

A claim is *open* until its trial exists. A process killed in between would take its
unit with it, so each open claim is also a row of ``automl_claims`` (written in the same
transaction as the ``UPDATE``) naming its process (host and pid) and its time on the
database's clock, and the trial is created carrying the claim's token (system attribute
``automl:claim``, in the trial's own transaction). The row is deleted when the trial
exists (:meth:`Budget.settle`). Any process that claims looks at the open claims of dead
processes (on this host, a pid no longer running; from another host, a claim older than
``claim_ttl``): one whose token is on a trial was used (that trial holds the unit, and is
failed and retried like any trial of a dead process); one whose token is on none gives its
unit back. The ``DELETE``/``UPDATE`` of the row decides who acts on it, so a unit comes back
once. A live process whose claim was taken for dead (slower than ``claim_ttl`` between
claiming and creating its trial) finds it marked released when it settles and claims
again; when none is left its trial must not count.

The tables are defined in automl/storage/_schema.py.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from automl._keys import attr
from automl._logging import get_logger
from automl.storage._clock import age_s, db_now
from automl.storage._optuna_private import optuna_tables
from automl.storage._owner import dead_here, this_process
from automl.storage._schema import tables

__all__ = ["Budget", "CLAIM_TTL_S", "CLAIM_ATTR"]

# An open claim lasts milliseconds (a few statements); another host is taken for dead after this.
CLAIM_TTL_S = 600.0
CLAIM_ATTR = attr("trial", "claim", system=True)  # the trial's system attribute naming its claim
KEY_ATTR = attr("study", "budget_key", system=True)  # which study the budget row counts for

_log = get_logger("storage")


class Budget:
    """Claims and releases units of one study's budget."""

    def __init__(self, engine: Any, study_name: str, *, claim_ttl: float = CLAIM_TTL_S) -> None:
        self.engine = engine
        self.study_name = study_name
        self.claim_ttl = claim_ttl
        self.owner = this_process()
        self.token: str | None = None  # this object's open claim
        made = tables(engine)
        self.table, self.claims = made["budget"], made["claims"]

    def ensure(self, already: int) -> None:
        """Create the study's row, counting the ``already`` trials it holds (first use only).
        A row left by a deleted study of the same name (optuna-dashboard's delete button,
        ``optuna.delete_study``) is found by its key and counted afresh, its open claims
        forgotten."""
        import sqlalchemy as sa

        t, key = self.table, self._study_key()
        with self.engine.begin() as con:
            row = con.execute(sa.select(t.c.study_key).where(t.c.study_name == self.study_name)).first()
        if row is not None and row[0] == key:
            return
        if row is not None:
            with self.engine.begin() as con:
                if con.execute(sa.update(t).where(t.c.study_name == self.study_name, t.c.study_key == row[0])
                               .values(study_key=key, claimed=already)).rowcount == 1:
                    con.execute(sa.delete(self.claims).where(self.claims.c.study_name == self.study_name))
                    _log.warning("study %s's budget was left by a deleted study of that name: counted afresh from "
                                 "its %d trials", self.study_name, already)
            return
        try:
            with self.engine.begin() as con:
                con.execute(t.insert().values(study_name=self.study_name, study_key=key, claimed=already))
        except sa.exc.IntegrityError:
            pass  # created by another process in between

    def _study_key(self) -> str:
        """The study's identity (system attribute ``automl:budget_key``, made once: the first
        of several processes to insert it wins, the others read it)."""
        import sqlalchemy as sa

        studies, attrs = optuna_tables().studies, optuna_tables().study_system_attrs
        with self.engine.connect() as con:
            study_id = con.execute(sa.select(studies.c.study_id)
                                   .where(studies.c.study_name == self.study_name)).scalar()
        if study_id is None:
            raise LookupError(f"no study {self.study_name!r} in the store")
        mine = attrs.c.study_id == study_id, attrs.c.key == KEY_ATTR
        for _ in range(2):
            with self.engine.connect() as con:
                value = con.execute(sa.select(attrs.c.value_json).where(*mine)).scalar()
            if value is not None:
                return str(json.loads(value))
            try:
                with self.engine.begin() as con:
                    con.execute(attrs.insert().values(study_id=study_id, key=KEY_ATTR,
                                                      value_json=json.dumps(uuid.uuid4().hex)))
            except sa.exc.IntegrityError:
                pass  # another process made it first: read it
        raise RuntimeError(f"study {self.study_name!r} has no budget key after inserting one")

    def _take(self, con: Any, total: int) -> bool:
        import sqlalchemy as sa

        t = self.table
        res = con.execute(sa.update(t).where(t.c.study_name == self.study_name, t.c.claimed < total)
                          .values(claimed=t.c.claimed + 1))
        return bool(res.rowcount == 1)

    def _give(self, con: Any) -> None:
        import sqlalchemy as sa

        t = self.table
        con.execute(sa.update(t).where(t.c.study_name == self.study_name, t.c.claimed > 0)
                    .values(claimed=t.c.claimed - 1))

    def claim(self, total: int) -> bool:
        """Take one unit if fewer than ``total`` are taken; the claim stays open (its token
        in :attr:`token`, for the trial) until :meth:`settle` or :meth:`release`."""
        self.reap()
        token = uuid.uuid4().hex
        # Every transaction here touches automl_claims before automl_study_budget: no two wait on
        # each other in opposite orders.
        with self.engine.connect() as con:
            with con.begin() as txn:
                con.execute(self.claims.insert().values(token=token, study_name=self.study_name, owner=self.owner,
                                                        created=_now(), released=False))
                if not self._take(con, total):
                    txn.rollback()
                    return False
        self.token = token
        return True

    def settle(self, total: int) -> bool:
        """The open claim's trial exists (carrying its token): the trial holds the unit
        from now on. False when the claim had been given back and no unit is left to take
        again (the trial must then not count)."""
        import sqlalchemy as sa

        c = self.claims
        token, self.token = self.token, None
        if token is None:
            return True
        with self.engine.begin() as con:
            if con.execute(sa.delete(c).where(c.c.token == token, c.c.released.is_(False))).rowcount == 1:
                return True
            if con.execute(sa.delete(c).where(c.c.token == token)).rowcount == 0:
                return True  # a process that took this one for dead saw the trial: the unit is its
        _log.warning("this process's claim on the budget of study %s was given back by another process (more "
                     "than %.0f s passed between claiming and creating the trial); claiming again",
                     self.study_name, self.claim_ttl)
        with self.engine.begin() as con:
            return self._take(con, total)

    def release(self) -> None:
        """Give one unit back: the open claim's, if there is one (no trial was made with
        it), else a settled one (a claim that produced no counted trial)."""
        import sqlalchemy as sa

        c = self.claims
        token, self.token = self.token, None
        with self.engine.begin() as con:
            if token is not None:
                if con.execute(sa.delete(c).where(c.c.token == token, c.c.released.is_(False))).rowcount != 1:
                    con.execute(sa.delete(c).where(c.c.token == token))
                    return  # already given back by a process that took this one for dead
            self._give(con)

    def forget_open(self) -> None:
        """Leave the open claim to the processes that reap (whether its trial was made is
        unknown: they tell from the trials)."""
        self.token = None

    def reap(self) -> int:
        """Settle the open claims of dead processes: a unit comes back for each whose
        token is on no trial. Returns how many came back."""
        import sqlalchemy as sa

        c = self.claims
        with self.engine.connect() as con:
            rows = list(con.execute(sa.select(c.c.token, c.c.owner, c.c.created, c.c.released)
                                    .where(c.c.study_name == self.study_name)))
            if not rows:
                return 0
            now = db_now(con)
        given = 0
        for token, owner, created, released in rows:
            if token == self.token:
                continue
            dead = dead_here(owner)
            age = age_s(now, created)
            if released:  # kept for its owner to find when it settles
                if dead or age > 2 * self.claim_ttl:
                    with self.engine.begin() as con:
                        con.execute(sa.delete(c).where(c.c.token == token))
                continue
            if not (dead or age > self.claim_ttl):
                continue
            used = self._on_a_trial(token)
            with self.engine.begin() as con:
                mine = c.c.token == token, c.c.released.is_(False)
                if used or dead:
                    if con.execute(sa.delete(c).where(*mine)).rowcount != 1:
                        continue  # another process settled it first
                elif con.execute(sa.update(c).where(*mine).values(released=True)).rowcount != 1:
                    continue
                if used:
                    continue
                self._give(con)
            given += 1
            _log.warning("a unit of study %s's budget claimed %.0f s ago by process %s, which stopped before it "
                         "created its trial, is given back", self.study_name, max(0.0, age), owner)
        return given

    def _on_a_trial(self, token: str) -> bool:
        """Whether a trial carries the claim ``token``."""
        import sqlalchemy as sa

        attrs = optuna_tables().trial_system_attrs
        with self.engine.connect() as con:
            row = con.execute(sa.select(attrs.c.trial_id).where(attrs.c.key == CLAIM_ATTR,
                                                                attrs.c.value_json == json.dumps(token))).first()
        return row is not None

    def reset(self, claimed: int) -> None:
        """Set the units taken to ``claimed`` (counted from the trials by a process that
        knows it is the study's only one) and forget every open claim."""
        import sqlalchemy as sa

        t = self.table
        self.token = None
        with self.engine.begin() as con:
            con.execute(sa.delete(self.claims).where(self.claims.c.study_name == self.study_name))
            con.execute(sa.update(t).where(t.c.study_name == self.study_name).values(claimed=max(0, claimed)))

    def claimed(self) -> int:
        import sqlalchemy as sa

        with self.engine.begin() as con:
            v = con.execute(sa.select(self.table.c.claimed).where(self.table.c.study_name == self.study_name)).scalar()
        return int(v or 0)

    def open_claims(self) -> list[str]:
        """Owners ("host:pid") of the study's open claims (released ones left out)."""
        import sqlalchemy as sa

        c = self.claims
        with self.engine.connect() as con:
            return [str(r[0]) for r in con.execute(sa.select(c.c.owner).where(c.c.study_name == self.study_name,
                                                                              c.c.released.is_(False)))]


def _now() -> Any:
    import sqlalchemy as sa

    return sa.func.now()
