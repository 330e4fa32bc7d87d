"""A study's global trial budget, claimed atomically in the store.

Several coordinators (on one host or many) share one study. Before asking for a trial,
each claims one unit: ``UPDATE automl_budget SET claimed = claimed + 1 WHERE study = :s
AND claimed < :n`` succeeds for exactly ``n`` claims, whatever the number of processes,
on SQLite, PostgreSQL and MySQL alike. A failed trial that is retried gives its unit back
(its retry takes it again). This one small table sits beside Optuna's schema; it holds
nothing Optuna's tables hold.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Budget"]

_TABLE = "automl_budget"


class Budget:
    """Claims and releases units of one study's budget."""

    def __init__(self, engine: Any, study_name: str) -> None:
        import sqlalchemy as sa

        self.engine = engine
        self.study_name = study_name
        self.table = sa.Table(_TABLE, sa.MetaData(), sa.Column("study_name", sa.String(512), primary_key=True),
                              sa.Column("claimed", sa.Integer, nullable=False))
        for attempt in range(3):
            try:
                self.table.create(engine, checkfirst=True)
                break
            except sa.exc.SQLAlchemyError:  # another process created it at the same moment
                if attempt == 2:
                    raise

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
        """Take one unit if fewer than ``total`` are taken."""
        import sqlalchemy as sa

        t = self.table
        with self.engine.begin() as con:
            res = con.execute(sa.update(t).where(t.c.study_name == self.study_name, t.c.claimed < total)
                              .values(claimed=t.c.claimed + 1))
            return bool(res.rowcount == 1)

    def release(self) -> None:
        """Give one unit back (a claim that produced no counted trial)."""
        import sqlalchemy as sa

        t = self.table
        with self.engine.begin() as con:
            con.execute(sa.update(t).where(t.c.study_name == self.study_name, t.c.claimed > 0)
                        .values(claimed=t.c.claimed - 1))

    def reset(self, claimed: int) -> None:
        """Set the units taken to ``claimed`` (counted from the trials by a process that
        knows it is the study's only one: a claim whose process died before it made its
        trial is otherwise never given back)."""
        import sqlalchemy as sa

        t = self.table
        with self.engine.begin() as con:
            con.execute(sa.update(t).where(t.c.study_name == self.study_name).values(claimed=max(0, claimed)))

    def claimed(self) -> int:
        import sqlalchemy as sa

        with self.engine.begin() as con:
            v = con.execute(sa.select(self.table.c.claimed).where(self.table.c.study_name == self.study_name)).scalar()
        return int(v or 0)

    def delete(self) -> None:
        import sqlalchemy as sa

        with self.engine.begin() as con:
            con.execute(sa.delete(self.table).where(self.table.c.study_name == self.study_name))
