"""The stores multi-process tests run on: SQLite, and real PostgreSQL and MariaDB servers.

The servers are expected on 127.0.0.1 (``scripts/services.sh`` starts them; ``.ci/run``
calls it and sets AUTOML_REQUIRE_SERVERS=1, so a missing server fails there instead of
skipping).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

SERVERS = {"postgresql": ("postgresql://postgres@127.0.0.1:5432/postgres", "postgresql://postgres@127.0.0.1:5432/{db}"),
           "mysql": ("mysql+pymysql://root@127.0.0.1:3306/", "mysql+pymysql://root@127.0.0.1:3306/{db}")}


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    kind = request.param
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.db'}"
        return
    import sqlalchemy as sa

    admin_url, template = SERVERS[kind]
    db = f"automl_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as con:
            con.execute(sa.text(f"CREATE DATABASE {db}"))
    except sa.exc.OperationalError as e:
        if os.environ.get("AUTOML_REQUIRE_SERVERS"):
            raise
        pytest.skip(f"no {kind} server on 127.0.0.1 (run scripts/services.sh): {str(e).splitlines()[0]}")
    try:
        yield template.format(db=db)
    finally:
        with admin.connect() as con:
            if kind == "postgresql":
                con.execute(sa.text(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
            else:
                con.execute(sa.text(f"DROP DATABASE IF EXISTS {db}"))
        admin.dispose()
