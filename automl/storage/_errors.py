"""Database failures as one line, the URL's password hidden: opening a store
(:func:`cannot_open`, a :class:`StorageError`), and once a search runs (:func:`store_failures`,
a :class:`StoreFailure`: a full disk or a lost server stops the search, and the chain of
SQLAlchemy and Optuna tracebacks says less than its first cause)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

from automl.errors import AutomlError, StorageError

__all__ = ["StoreFailure", "store_failures", "cannot_open", "no_driver", "no_store", "describe", "redact_text"]

_DRIVER_HINTS = {"postgresql": "pip install 'automl[postgres]' (psycopg 3)",
                 "mysql": "pip install 'automl[mysql]' (PyMySQL) and use mysql+pymysql://"}

# ``scheme://user:password@``: what of a URL must never be printed.
_CREDENTIALS = re.compile(r"\b([a-z][\w+.-]*://[^:/@\s]*):[^@\s]*@", re.IGNORECASE)


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


def redact_text(text: str, url: str | None = None) -> str:
    """``text`` with ``url`` shown redacted and any other URL's password as ``***``."""
    from automl.storage._url import redact

    if url:
        text = text.replace(url, redact(url))
    return _CREDENTIALS.sub(r"\1:***@", text)


def describe(e: BaseException, url: str | None = None) -> str:
    """The first cause of ``e`` in one line: ``OperationalError: database or disk is full``."""
    root = _root(e)
    text = str(getattr(root, "orig", None) or root).strip().splitlines()
    return f"{type(root).__name__}: {redact_text(text[0][:300], url) if text else ''}"


def cannot_open(url: str, e: BaseException, verb: str = "open") -> StorageError:
    """The error for a store that cannot be opened (or read): the URL redacted, the first line of why."""
    from automl.storage._url import redact

    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
    return StorageError(f"cannot {verb} the store {redact(url)}: {redact_text(msg, url)}")


def no_driver(url: str, e: ImportError) -> StorageError:
    """The error for a database whose driver is not installed, with how to install it."""
    from automl.storage._url import _parse, redact

    hint = _DRIVER_HINTS.get(_parse(url).get_backend_name(), "")
    return StorageError(f"no database driver for {redact(url)}: {e}. {hint}".strip())


def no_store(url: str, path: Path) -> StorageError:
    """The error for an SQLite store to read whose file is not there."""
    from automl.storage._url import redact

    return StorageError(f"no store at {redact(url)} (file {path} does not exist); run `automl search` first or "
                        f"pass --storage")


@contextlib.contextmanager
def store_failures(url: str | None = None) -> Iterator[None]:
    """Turn a database error raised inside (SQLAlchemy's, or Optuna's ``StorageInternalError``
    around one) into :class:`StoreFailure`, with its first cause and ``url`` redacted."""
    try:
        yield
    except Exception as e:
        if not _is_store_error(e) and not _is_store_error(_root(e)):
            raise
        raise StoreFailure(f"the store {_name(url)}could not be written or read, so the search stopped "
                           f"({describe(e, url)}); fix the store (free disk space, restart the server) and run "
                           f"the same command to continue: the trials it was running are retried") from None


def _name(url: str | None) -> str:
    from automl.storage._url import redact

    return f"{redact(url)} " if url else ""
