"""A database lost mid-search (a real PostgreSQL database closed to connections, its sessions
terminated; an SQLite file overwritten) stops the search with one line, the URL's password
hidden, not a traceback; the trials recorded before stay."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import TINY_YAML, cli_env
from tests.storage.conftest import SERVERS

pytestmark = pytest.mark.slow

ADMIN = SERVERS["postgresql"][0]


@pytest.fixture
def pg_database() -> Iterator[tuple[str, sa.Engine]]:
    admin = sa.create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    db = f"automl_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as con:
            con.execute(sa.text(f"CREATE DATABASE {db}"))
    except sa.exc.OperationalError as e:
        if os.environ.get("AUTOML_REQUIRE_SERVERS"):
            raise
        pytest.skip(f"no postgresql server on 127.0.0.1 (run scripts/services.sh): {str(e).splitlines()[0]}")
    try:
        yield db, admin
    finally:
        with admin.connect() as con:
            con.execute(sa.text(f"ALTER DATABASE {db} ALLOW_CONNECTIONS true"))
            con.execute(sa.text(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        admin.dispose()


def _complete(url: str) -> int:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as con:
            return int(con.execute(sa.text("SELECT count(*) FROM trials WHERE state = 'COMPLETE'")).scalar() or 0)
    except sa.exc.DBAPIError:  # the schema is not there yet
        return 0
    finally:
        engine.dispose()


def test_a_database_lost_mid_search_stops_it_with_one_line(pg_database: tuple[str, sa.Engine],
                                                           tmp_path: Path) -> None:
    db, admin = pg_database
    # A password in the URL (trust authentication ignores it) must not be printed.
    url = f"postgresql://postgres:s3cret@127.0.0.1:5432/{db}"
    (tmp_path / "tiny.yaml").write_text(TINY_YAML)
    proc = subprocess.Popen([sys.executable, "-m", "automl", "search", "tiny.yaml", "--data", "digits", "--trials",
                             "200", "--epochs", "1", "--storage", url, "--study", "s", "--seed", "0"],
                            cwd=tmp_path, env=cli_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 240
        while _complete(url) < 1:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no trial completed"
            time.sleep(0.2)
        with admin.connect() as con:  # the outage: no new connection, every open one cut
            con.execute(sa.text(f"ALTER DATABASE {db} ALLOW_CONNECTIONS false"))
            con.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
                        {"d": db})
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 1, (out, err)
    assert "Traceback" not in err and "Traceback" not in out, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert "could not be written or read, so the search stopped" in errors[0], err
    # the cause as the driver saw it, which depends on where the search was when the
    # sessions were cut: the terminated session, the refused reconnection, or the
    # invalidated connection pool, or the socket closed under a read (each seen in a CI run)
    causes = ("terminating connection due to administrator command", "not currently accepting connections",
              "InvalidatePoolError", "server closed the connection unexpectedly")
    assert any(c in errors[0] for c in causes) and "run the same command to continue" in errors[0], errors[0]
    assert "s3cret" not in out + err
    with admin.connect() as con:
        con.execute(sa.text(f"ALTER DATABASE {db} ALLOW_CONNECTIONS true"))
    assert _complete(url) >= 1  # what was recorded before stays


def test_a_store_failing_after_it_opened_is_one_line_naming_it(tmp_path: Path) -> None:
    """The session helper: any database error inside becomes a StoreFailure naming the store."""
    import optuna

    from automl.storage import open_storage
    from automl.storage._errors import StoreFailure, store_failures

    db = tmp_path / "s.db"
    url = f"sqlite:///{db}"
    storage = open_storage(url)
    study = optuna.create_study(storage=storage, study_name="s")
    study.tell(study.ask(), 1.0)
    storage.engine.dispose()
    db.write_bytes(b"not a database, " * 512)  # the file replaced under the open store
    for f in tmp_path.glob("s.db-*"):
        f.unlink()
    with pytest.raises(StoreFailure) as e:
        with store_failures(url):
            study.ask()
    message = str(e.value)
    assert "\n" not in message and message.startswith(f"the store {url} could not be written or read"), message
    assert "file is not a database" in message or "malformed" in message, message


def test_the_password_of_a_store_is_never_in_its_failure(pg_database: tuple[str, sa.Engine]) -> None:
    from automl.storage._errors import StoreFailure, store_failures

    db, admin = pg_database
    url = f"postgresql://postgres:s3cret@127.0.0.1:5432/{db}"
    engine = sa.create_engine(url)
    with admin.connect() as con:
        con.execute(sa.text(f"ALTER DATABASE {db} ALLOW_CONNECTIONS false"))
    with pytest.raises(StoreFailure) as e:
        with store_failures(url):
            with engine.connect() as con:
                con.execute(sa.text(f"SELECT '{url}'"))
    engine.dispose()
    message = str(e.value)
    assert f"the store postgresql://postgres:***@127.0.0.1:5432/{db} could not" in message, message
    assert "s3cret" not in message and "not currently accepting connections" in message
