"""Database failures once a search runs, as one line: a full disk or a lost server stops the
search, and the chain of SQLAlchemy and Optuna tracebacks says less than its first cause."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from automl.errors import AutomlError

__all__ = ["StoreFailure", "store_failures"]


class StoreFailure(AutomlError):
    """The store could not be read or written while the search ran; nothing is lost that
    was recorded before, and running the same command again continues the study."""


def _is_store_error(e: BaseException) -> bool:
    import optuna
    import sqlalchemy as sa

    return isinstance(e, (sa.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError))


def _root(e: BaseException) -> BaseException:
    """The deepest cause: for SQLite, ``sqlite3.OperationalError: database or disk is full``."""
    seen = {id(e)}
    while (nxt := e.__cause__ or e.__context__) is not None and id(nxt) not in seen:
        seen.add(id(nxt))
        e = nxt
    return e


def describe(e: BaseException) -> str:
    root = _root(e)
    text = str(getattr(root, "orig", None) or root).strip().splitlines()
    return f"{type(root).__name__}: {text[0][:300] if text else ''}"


@contextlib.contextmanager
def store_failures() -> Iterator[None]:
    """Turn a database error raised inside into :class:`StoreFailure`, with its first cause."""
    try:
        yield
    except Exception as e:
        if not _is_store_error(e) and not _is_store_error(_root(e)):
            raise
        raise StoreFailure(f"the store could not be written or read, so the search stopped ({describe(e)}); "
                           f"fix the store (free disk space, restart the server) and run the same command to "
                           f"continue: the trials it was running are retried") from None
