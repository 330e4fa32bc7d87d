"""Storage URLs: the default, the environment, redaction, and opening Optuna's RDB storage."""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path
from typing import Any

from automl._logging import get_logger
from automl.errors import StorageError
from automl.storage._errors import cannot_open, no_driver, no_store
from automl.storage._optuna_private import check_schema, read_schema, schema_error

__all__ = ["DEFAULT_URL", "ENV_VAR", "resolve_url", "redact", "open_storage", "sqlite_path", "read_only"]

DEFAULT_URL = "sqlite:///automl.db"
ENV_VAR = "AUTOML_STORAGE"
SQLITE_TIMEOUT_S = 30
_log = get_logger("storage")


def resolve_url(url: str | None) -> str:
    """``url`` if given, else ``$AUTOML_STORAGE``, else ``sqlite:///automl.db``."""
    return url or os.environ.get(ENV_VAR) or DEFAULT_URL


# The password of a URL SQLAlchemy cannot parse (SQLAlchemy's own pattern: up to the "@").
_PASSWORD = re.compile(r"^([\w+]+://[^:/@]*):[^@]*@")


def _parse(url: str) -> Any:
    """``url`` as SQLAlchemy's URL; :class:`StorageError` saying what is wrong otherwise (a port
    that is not a number made SQLAlchemy raise a bare ValueError, printed as a traceback)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url)
    except ArgumentError:
        why = ""
    except ValueError as e:
        why = "; its port is not a number" if "int()" in str(e) else f"; {e}"
    raise StorageError(f"not a database URL: {redact(url)}{why} (expected e.g. sqlite:///automl.db or "
                       f"postgresql://user@host:5432/db)")


def redact(url: str) -> str:
    """The URL with its password replaced by ``***``; never print a URL any other way."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return _PASSWORD.sub(r"\1:***@", url)


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (None for other databases or in-memory SQLite)."""
    u = _parse(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def read_only(path: Path) -> bool:
    """Whether the SQLite file at ``path`` cannot be written here (read-only media, or the file
    or its folder without write permission: WAL mode writes a ``-shm`` file beside it)."""
    return not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK)


def _read_only_connect(path: Path) -> Any:
    """A connection factory opening ``path`` for reading only; ``immutable`` where SQLite could
    not even create the ``-shm`` file a WAL database needs (nothing can change the file then)."""
    import functools

    uri = path.resolve().as_uri() + "?mode=ro"
    if not os.access(path.parent, os.W_OK) and not Path(f"{path}-shm").exists():
        uri += "&immutable=1"
    return functools.partial(sqlite3.connect, uri, uri=True, timeout=SQLITE_TIMEOUT_S, check_same_thread=False)


def open_storage(url: str, *, must_exist: bool = False, heartbeat_s: float | None = None,
                 failed_trial_callback: Any = None) -> Any:
    """Open Optuna's RDB storage at ``url`` (creating the schema unless ``must_exist``).

    SQLite files get WAL mode, ``synchronous=NORMAL`` (see :func:`_sqlite_without_fsync_per_commit`)
    and a 30 s busy timeout; one that must exist and cannot be written here (:func:`read_only`)
    is opened for reading only. With ``heartbeat_s``, running trials
    send heartbeats and those silent for 3 intervals are failed (then passed to
    ``failed_trial_callback``). Raises :class:`StorageError` with the URL's password hidden.
    """
    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    from automl._logging import apply_optuna_verbosity

    apply_optuna_verbosity()
    backend = _parse(url).get_backend_name()
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    path = sqlite_path(url)
    kwargs: dict[str, Any] = {}
    reading = False
    if backend == "sqlite":
        engine_kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
        if path is not None:
            if must_exist and not path.is_file():
                raise no_store(url, path)
            if not path.parent.is_dir():
                raise StorageError(f"cannot create the store {path}: folder {path.parent} does not exist")
            # A store to read that cannot be written (read-only media): setting WAL mode, or
            # SQLite's own read-write open, would fail; Optuna's schema is there already.
            reading = must_exist and read_only(path)
            if reading:
                engine_kwargs = {"creator": _read_only_connect(path)}
                kwargs["skip_table_creation"] = True
                _log.info("store %s is read-only here: opened for reading", path)
            else:
                _enable_wal(path)
    try:
        storage = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)
        if heartbeat_s:
            with_heartbeat(storage, heartbeat_s, failed_trial_callback)
        check_schema(storage.engine, url)
    except ImportError as e:
        raise no_driver(url, e) from None
    except (SQLAlchemyError, RuntimeError, ValueError) as e:
        # Optuna refuses a schema other than its own head: say whose it is and what to do.
        raise _unknown_schema(url, engine_kwargs) or cannot_open(url, e) from None
    if path is not None and not reading:
        _sqlite_without_fsync_per_commit(storage.engine)
    return storage


def with_heartbeat(storage: Any, heartbeat_s: float, failed_trial_callback: Any = None) -> Any:
    """Make ``storage`` (opened already, for one process's every use) send heartbeats every
    ``heartbeat_s`` and fail trials silent for 3 intervals, passing them to the callback."""
    import warnings

    import optuna

    from automl.storage._optuna_private import set_heartbeat

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning, message=".*heartbeat.*")
    set_heartbeat(storage, max(1, int(round(heartbeat_s))), max(3, int(round(3 * heartbeat_s))),
                  failed_trial_callback)
    return storage


def _unknown_schema(url: str, engine_kwargs: dict[str, Any]) -> StorageError | None:
    """The error naming the store's schema when it is not one this code reads, else None
    (read only once opening failed: a store that opens costs no second connection)."""
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    try:
        engine = sa.create_engine(url, poolclass=NullPool,
                                  **{k: v for k, v in engine_kwargs.items() if k != "pool_pre_ping"})
        try:
            with engine.connect() as con:
                schema = read_schema(con)
        finally:
            engine.dispose()
    except (sa.exc.SQLAlchemyError, ImportError):  # the first error says more
        return None
    return schema_error(schema, url) if schema is not None and not schema.known else None


def _set_synchronous_normal(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _sqlite_without_fsync_per_commit(engine: Any) -> None:
    """Every later connection of ``engine`` (an SQLite file in WAL mode) uses
    ``synchronous=NORMAL``: a commit no longer waits for the disk, only WAL checkpoints do.

    With SQLite's default (FULL) each commit is an fsync, and a trial makes dozens (its
    creation, each epoch's report, the heartbeat, the budget, the result), a large share of
    a short trial's time in the store (benchmarks/README.md). A process killed at any point
    loses nothing: what it committed is in the operating system's hands. What NORMAL gives
    up is the last transactions before a power cut or an operating-system crash; the file
    stays consistent (those transactions are rolled back in order, the budget with its
    trials), and trials left RUNNING are failed and retried as stale.
    """
    from sqlalchemy import event

    event.listen(engine, "connect", _set_synchronous_normal)
    engine.dispose()  # the connections Optuna opened to create its schema were made before


def _enable_wal(path: Path) -> None:
    # journal_mode=WAL persists in the file: set it once, before Optuna's engine connects.
    try:
        con = sqlite3.connect(path, timeout=SQLITE_TIMEOUT_S)
        try:
            con.execute("PRAGMA journal_mode=WAL")
        finally:
            con.close()
    except sqlite3.Error as e:
        raise StorageError(f"cannot open SQLite file {path}: {e}") from None
