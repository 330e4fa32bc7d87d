"""Every use of Optuna's private API, in one place.

Optuna's public API has no trial or study id accessor, no way to reach the RDB storage
behind its cache, and no public model of its tables; automl needs all three (its budget,
heartbeats and WAITING trials are SQL on Optuna's own tables). Each such touch is one
small function here, so the whole private surface shows in one file and an Optuna upgrade
is checked against this file alone. The tables are read only for the schemas in
:data:`KNOWN_SCHEMAS`: :func:`check_schema` refuses any other when a store is opened.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from automl.errors import StorageError

if TYPE_CHECKING:
    import optuna
    import sqlalchemy as sa

__all__ = ["KNOWN_SCHEMAS", "OptunaTables", "StoreSchema", "artifact_metas", "check_schema", "forget_cached_trials",
           "link_artifact", "optuna_tables", "rdb_storage", "set_heartbeat",
           "read_schema", "stale_trial_ids", "study_id", "study_storage", "trial_id"]

# (version_info.schema_version, alembic_version.version_num) of the Optuna releases whose
# tables this code reads and writes directly (Optuna 3.2 to 5.0 at least): one more is added
# only after checking its tables' columns against the queries of automl/storage.
KNOWN_SCHEMAS = frozenset({(12, "v3.2.0.a")})


def study_storage(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The storage ``study`` reads and writes through (Optuna's cache around the RDB storage)."""
    return study._storage  # noqa: SLF001 - Study has no public storage accessor


def study_id(study: optuna.Study) -> int:
    """The study's id in the store (``studies.study_id``)."""
    return int(study._study_id)  # noqa: SLF001 - Study has no public id accessor


def trial_id(trial: optuna.Trial | optuna.trial.FrozenTrial) -> int:
    """The trial's id in the store (``trials.trial_id``, not its number), of a running
    :class:`optuna.Trial` or a :class:`~optuna.trial.FrozenTrial`."""
    return int(trial._trial_id)  # noqa: SLF001 - neither has a public id accessor


def rdb_storage(storage: Any) -> optuna.storages.RDBStorage | None:
    """Optuna's RDB storage behind ``storage`` (Optuna wraps it in ``_CachedStorage``), or
    None when ``storage`` is not one (Optuna's in-memory storage)."""
    import optuna

    rdb = getattr(storage, "_backend", storage)  # _CachedStorage._backend: no public accessor
    return rdb if isinstance(rdb, optuna.storages.RDBStorage) else None


def stale_trial_ids(storage: Any, study_id: int) -> list[int]:
    """Ids of the study's RUNNING trials whose heartbeat is older than the grace period:
    Optuna's own rule for "stale" (what ``optuna.storages.fail_stale_trials`` uses)."""
    return list(storage._get_stale_trial_ids(study_id))  # noqa: SLF001 - the rule has no public form


def forget_cached_trials(study: optuna.Study) -> None:
    """Drop the study's per-thread cache of its trials, as ``study.ask()`` does, so that the
    sampler sees the trials other processes added meanwhile."""
    local = getattr(study, "_thread_local", None)  # Study._thread_local: set by Optuna 3.x to 5.x
    if local is not None:
        local.cached_all_trials = None


@dataclass(frozen=True)
class OptunaTables:
    """The tables of Optuna's RDB schema that automl queries directly."""

    studies: sa.Table
    study_system_attrs: sa.Table
    trials: sa.Table
    trial_system_attrs: sa.Table
    heartbeats: sa.Table


@functools.cache
def optuna_tables() -> OptunaTables:
    """Optuna's own definitions of its tables (``optuna.storages._rdb.models``)."""
    from optuna.storages._rdb import models

    return OptunaTables(models.StudyModel.__table__, models.StudySystemAttributeModel.__table__,
                        models.TrialModel.__table__, models.TrialSystemAttributeModel.__table__,
                        models.TrialHeartbeatModel.__table__)


@dataclass(frozen=True)
class StoreSchema:
    """The schema a store was written with: Optuna's schema number, its Alembic revision and
    the Optuna release that created the store."""

    schema_version: int
    revision: str
    library_version: str

    @property
    def known(self) -> bool:
        return (self.schema_version, self.revision) in KNOWN_SCHEMAS


def read_schema(con: sa.Connection) -> StoreSchema | None:
    """The schema of the store ``con`` is connected to, in one query; None when the store has
    no Optuna schema yet, or one with no single version."""
    import sqlalchemy as sa

    query = sa.text("SELECT v.schema_version, v.library_version, a.version_num FROM version_info v, alembic_version a")
    try:
        rows = con.execute(query).all()
    except (sa.exc.OperationalError, sa.exc.ProgrammingError):  # no such table: a new or foreign database
        con.rollback()
        return None
    if len(rows) != 1 or rows[0][0] is None:
        return None
    version, library, revision = rows[0]
    return StoreSchema(int(version), str(revision), str(library))


def check_schema(engine: sa.Engine, url: str) -> None:
    """Raise :class:`StorageError` unless the store's schema is one this code was written for
    (:data:`KNOWN_SCHEMAS`); a store without Optuna's schema passes (Optuna creates it)."""
    with engine.connect() as con:
        schema = read_schema(con)
    if schema is not None and not schema.known:
        raise schema_error(schema, url)


def schema_error(schema: StoreSchema, url: str) -> StorageError:
    """What to say about a store of an unknown schema: whose it is and what to do."""
    import optuna

    from automl.storage._url import redact

    ours = ", ".join(f"{r} (schema {v})" for v, r in sorted(KNOWN_SCHEMAS))
    if (schema.schema_version, schema.revision) < max(KNOWN_SCHEMAS):
        todo = f"upgrade it with `optuna storage upgrade --storage {redact(url)}` (back it up first)"
    else:
        todo = "use a release of automl written for that schema" + (
            f", with the Optuna that wrote it (pip install 'optuna=={schema.library_version}')"
            if schema.library_version != optuna.__version__ else "")
    return StorageError(f"cannot open the store {redact(url)}: it has Optuna schema {schema.revision} (schema "
                        f"{schema.schema_version}, written by Optuna {schema.library_version}), but this automl, "
                        f"with Optuna {optuna.__version__} installed, reads only {ours}: {todo}")


# Optuna links an artifact to a trial as the system attribute "artifacts:<id>" holding its
# ArtifactMeta as JSON (optuna/artifacts/_upload.py); ``upload_artifact`` would also write
# the file, which here the process that trained the trial has done already.
_ARTIFACT_PREFIX = "artifacts:"


def link_artifact(trial: Any, artifact_id: str, filename: str) -> None:
    """Link the artifact ``artifact_id`` (already in the artifact store) to the running ``trial``."""
    import dataclasses
    import json
    import mimetypes

    import optuna

    mimetype, encoding = mimetypes.guess_type(filename)
    meta = optuna.artifacts.ArtifactMeta(artifact_id=artifact_id, filename=filename,
                                         mimetype=mimetype or "application/octet-stream", encoding=encoding)
    study_storage(trial.study).set_trial_system_attr(trial_id(trial), _ARTIFACT_PREFIX + artifact_id,
                                                     json.dumps(dataclasses.asdict(meta)))


def artifact_metas(trial: Any) -> list[Any]:
    """The artifacts linked to ``trial`` (a FrozenTrial), as Optuna's ArtifactMeta."""
    import json

    import optuna

    return [optuna.artifacts.ArtifactMeta(**json.loads(v)) for k, v in trial.system_attrs.items()
            if k.startswith(_ARTIFACT_PREFIX)]


def set_heartbeat(storage: Any, interval: int, grace: int, callback: Any) -> None:
    """Turn on heartbeats of an opened RDBStorage: what its constructor's ``heartbeat_interval``,
    ``grace_period`` and stale-trial callback set (attributes of the same names; the callback
    was ``failed_trial_callback`` before Optuna 4.9), so that a process opens its store once."""
    storage.heartbeat_interval, storage.grace_period = interval, grace
    storage.failed_trial_callback = callback
    if hasattr(storage, "heartbeat_stale_trial_callback"):
        storage.heartbeat_stale_trial_callback = callback
