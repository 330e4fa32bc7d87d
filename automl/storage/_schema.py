"""automl's own small tables beside Optuna's schema, created on first use.

``automl_study_budget`` (units of a study's budget claimed; it replaces ``automl_budget``,
whose rows a study deleted outside automl left behind), ``automl_claims`` (claims whose
trial is not created yet) and ``automl_leases`` (the process running a study that takes
one process at a time). They hold nothing Optuna's tables hold.
"""

from __future__ import annotations

from typing import Any

__all__ = ["tables", "forget"]

def _define() -> dict[str, Any]:
    import sqlalchemy as sa

    md = sa.MetaData()
    return {
        # ``study_key``: the identity of the study the row counts for (its system attribute
        # automl:budget_key), so that a row left by a study deleted outside automl is noticed.
        "budget": sa.Table("automl_study_budget", md, sa.Column("study_name", sa.String(512), primary_key=True),
                           sa.Column("study_key", sa.String(32), nullable=False),
                           sa.Column("claimed", sa.Integer, nullable=False)),
        "claims": sa.Table("automl_claims", md, sa.Column("token", sa.String(32), primary_key=True),
                           sa.Column("study_name", sa.String(512), nullable=False),
                           sa.Column("owner", sa.String(300), nullable=False),
                           sa.Column("created", sa.DateTime, nullable=False),
                           sa.Column("released", sa.Boolean, nullable=False, default=False)),
        "leases": sa.Table("automl_leases", md, sa.Column("study_name", sa.String(512), primary_key=True),
                           sa.Column("token", sa.String(32), nullable=False),
                           sa.Column("owner", sa.String(300), nullable=False),
                           sa.Column("beat", sa.DateTime, nullable=False)),
    }


def tables(engine: Any) -> dict[str, Any]:
    """The tables, created in ``engine``'s database where missing."""
    import sqlalchemy as sa

    defined = _define()
    for table in defined.values():
        for attempt in range(3):
            try:
                table.create(engine, checkfirst=True)
                break
            except sa.exc.SQLAlchemyError:  # another process created it at the same moment
                if attempt == 2:
                    raise
    return defined


def forget(engine: Any, study_name: str) -> None:
    """Remove a deleted study's rows from every table (a new study of that name starts afresh)."""
    import sqlalchemy as sa

    with engine.begin() as con:
        for table in tables(engine).values():
            con.execute(sa.delete(table).where(table.c.study_name == study_name))
