"""Storage URLs: defaults, redaction, SQLite setup, errors."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pytest

from automl.errors import StorageError
from automl.storage import DEFAULT_URL, open_storage, redact, resolve_url


def test_resolve_url_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUTOML_STORAGE", raising=False)
    assert resolve_url(None) == DEFAULT_URL == "sqlite:///automl.db"
    monkeypatch.setenv("AUTOML_STORAGE", "sqlite:///env.db")
    assert resolve_url(None) == "sqlite:///env.db"
    assert resolve_url("sqlite:///arg.db") == "sqlite:///arg.db"


def test_redact_hides_passwords() -> None:
    assert redact("postgresql://bob:s3cret@db.example/x") == "postgresql://bob:***@db.example/x"
    assert "s3cret" not in redact("mysql+pymysql://root:s3cret@127.0.0.1:3306/t")
    assert redact("sqlite:///a.db") == "sqlite:///a.db"


def test_sqlite_store_is_wal_with_optuna_schema(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    open_storage(f"sqlite:///{db}")
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"studies", "trials", "trial_params", "trial_values", "trial_intermediate_values"} <= tables


def test_sqlite_store_commits_without_a_disk_flush_each(tmp_path: Path) -> None:
    import sqlalchemy as sa

    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}")
    with storage.engine.connect() as a, storage.engine.connect() as b:  # two connections of the pool
        assert [c.execute(sa.text("PRAGMA synchronous")).scalar() for c in (a, b)] == [1, 1]  # NORMAL


def test_a_process_killed_right_after_its_commit_loses_nothing(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    script = textwrap.dedent(f"""
        import os, signal, optuna
        from automl.storage import open_storage
        study = optuna.create_study(storage=open_storage("sqlite:///{db}"), study_name="k")
        for i in range(3):
            trial = study.ask()
            trial.report(0.5, 0)
            study.tell(trial, float(i))
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    study = optuna.load_study(storage=open_storage(f"sqlite:///{db}", must_exist=True), study_name="k")
    complete = optuna.trial.TrialState.COMPLETE
    assert [(t.state, t.value) for t in study.trials] == [(complete, float(i)) for i in range(3)]
    assert study.trials[2].intermediate_values == {0: 0.5}


def test_missing_store_is_not_created_for_reading(tmp_path: Path) -> None:
    db = tmp_path / "none.db"
    with pytest.raises(StorageError, match="no store at"):
        open_storage(f"sqlite:///{db}", must_exist=True)
    assert not db.exists()


def test_unreachable_server_error_hides_the_password() -> None:
    with pytest.raises(StorageError) as e:
        open_storage("postgresql://bob:s3cret@127.0.0.1:1/x")
    assert "s3cret" not in str(e.value) and "***" in str(e.value)


def test_not_a_url() -> None:
    with pytest.raises(StorageError, match="not a database URL"):
        open_storage("automl.db")


def test_a_port_that_is_not_a_number_is_a_usage_error_not_a_traceback() -> None:
    with pytest.raises(StorageError, match="its port is not a number") as e:
        open_storage("postgresql://bob:s3cret@host:abc/db")
    assert "s3cret" not in str(e.value) and "bob:***@host:abc" in str(e.value)
    assert redact("postgresql://bob:s3cret@host:abc/db") == "postgresql://bob:***@host:abc/db"


def _filled_store(db: Path) -> None:
    storage = open_storage(f"sqlite:///{db}")
    study = optuna.create_study(storage=storage, study_name="ro")
    study.tell(study.ask(), 1.0)
    storage.engine.dispose()  # the last connection closed checkpoints the WAL away, as after a search


def test_a_store_that_cannot_be_written_is_opened_for_reading_only(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    import sqlalchemy as sa

    from automl.storage import _url

    db = tmp_path / "s.db"
    _filled_store(db)
    assert not _url.read_only(db)
    # What read-only media or chmod look like to os.access, for any user (root ignores chmod).
    monkeypatch.setattr(_url.os, "access", lambda p, mode: mode != os.W_OK)
    assert _url.read_only(db)
    storage = open_storage(f"sqlite:///{db}", must_exist=True)
    assert [t.value for t in optuna.load_study(study_name="ro", storage=storage).trials] == [1.0]
    with storage.engine.connect() as con, pytest.raises(sa.exc.OperationalError, match="readonly"):
        con.execute(sa.text("UPDATE studies SET study_name = 'x'"))


def test_automl_trials_reads_a_store_on_read_only_media(tmp_path: Path) -> None:
    import os

    from tests.conftest import cli_env

    src = tmp_path / "src"
    src.mkdir()
    _filled_store(src / "automl.db")
    cmd = [sys.executable, "-m", "automl", "trials", "ro", "--format", "json"]
    env = cli_env(tmp_path)
    if os.geteuid() != 0:  # a file and a folder without write permission
        (src / "automl.db").chmod(0o444)
        src.chmod(0o555)
        try:
            r = subprocess.run(cmd, cwd=src, env=env, capture_output=True, text=True, timeout=120)
        finally:
            src.chmod(0o755)
    else:  # root writes through chmod: a read-only bind mount in a mount namespace of its own
        ro = tmp_path / "ro"
        ro.mkdir()
        script = (f"{{ mount --bind {src} {ro} && mount -o remount,ro,bind {ro} && ! touch {ro}/x; }} 2>/dev/null "
                  f"|| exit 97; cd {ro} && exec " + " ".join(cmd))
        r = subprocess.run(["unshare", "-m", "sh", "-c", script], env=env, capture_output=True, text=True,
                           timeout=120) if shutil.which("unshare") else None
        if r is None or r.returncode == 97 or (r.returncode == 1 and "unshare" in r.stderr):
            pytest.skip("running as root, and no read-only mount can be made here (unshare -m / mount refused)")
    assert r.returncode == 0, r.stderr
    assert [t["value"] for t in json.loads(r.stdout)] == [1.0]
    assert sorted(p.name for p in src.iterdir()) == ["automl.db"]  # nothing written beside it
