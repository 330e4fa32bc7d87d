"""Time on the database's clock: every process of a multi-host study compares ages there,
never with its own clock."""

from __future__ import annotations

from datetime import datetime
from typing import Any

__all__ = ["db_now", "age_s"]


def db_now(con: Any) -> datetime:
    """The database server's current time, through connection ``con``."""
    import sqlalchemy as sa

    return con.execute(sa.select(sa.func.now())).scalar()  # type: ignore[no-any-return]


def age_s(now: datetime, then: datetime) -> float:
    """Seconds from ``then`` to ``now``, both read from the database (with or without a time
    zone, as the server returns them: both are on its clock)."""
    return (now.replace(tzinfo=None) - then.replace(tzinfo=None)).total_seconds()
