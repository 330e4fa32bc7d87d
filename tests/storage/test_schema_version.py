"""A store whose Optuna schema is not one automl was written for is refused when it is opened,
with a message naming its version, the installed Optuna's and what to do."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import optuna
import pytest

from automl.errors import StorageError
from automl.storage import open_storage, read_store


def _store(tmp_path: Path, *, schema: int | None = None, revision: str | None = None,
           library: str | None = None) -> str:
    db = tmp_path / "s.db"
    url = f"sqlite:///{db}"
    optuna.create_study(storage=open_storage(url), study_name="s")
    con = sqlite3.connect(db)
    with con:
        if schema is not None:
            con.execute("UPDATE version_info SET schema_version = ?", (schema,))
        if revision is not None:
            con.execute("UPDATE alembic_version SET version_num = ?", (revision,))
        if library is not None:
            con.execute("UPDATE version_info SET library_version = ?", (library,))
    con.close()
    return url


def test_the_schema_written_by_this_optuna_opens(tmp_path: Path) -> None:
    url = _store(tmp_path)
    open_storage(url, must_exist=True)
    assert [s.name for s in read_store(url)] == ["s"]


def test_a_newer_schema_names_both_versions_and_what_to_do(tmp_path: Path) -> None:
    url = _store(tmp_path, schema=13, revision="v9.0.0.a", library="9.0.0")
    for must_exist in (False, True):
        with pytest.raises(StorageError) as e:
            open_storage(url, must_exist=must_exist)
        message = str(e.value)
        assert "\n" not in message
        assert message.startswith(f"cannot open the store {url}: it has Optuna schema v9.0.0.a (schema 13, written "
                                  f"by Optuna 9.0.0)"), message
        assert f"Optuna {optuna.__version__} installed, reads only v3.2.0.a (schema 12)" in message, message
        assert "pip install 'optuna==9.0.0'" in message
    with pytest.raises(StorageError, match="v9.0.0.a"):  # `automl studies` reads the tables, then Optuna
        read_store(url)


def test_a_schema_optuna_accepts_but_automl_does_not_know_is_refused(tmp_path: Path) -> None:
    """Optuna checks only the Alembic revision: its own opening accepts this store."""
    url = _store(tmp_path, schema=13)
    optuna.storages.RDBStorage(url)
    with pytest.raises(StorageError, match=r"it has Optuna schema v3\.2\.0\.a \(schema 13.*: use a release of "
                                           r"automl written for that schema$"):
        open_storage(url)


def test_an_older_schema_says_to_upgrade_it(tmp_path: Path) -> None:
    url = _store(tmp_path, revision="v3.0.0.d", library="3.0.0")
    with pytest.raises(StorageError) as e:
        open_storage(url, must_exist=True)
    message = str(e.value)
    assert "has Optuna schema v3.0.0.d (schema 12, written by Optuna 3.0.0)" in message, message
    assert f"`optuna storage upgrade --storage {url}`" in message
