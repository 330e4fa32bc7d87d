"""Every function of the one module that touches Optuna's private API, against real stores:
when an Optuna upgrade moves one of them, this test says which."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import optuna
import sqlalchemy as sa

from automl.storage import open_storage
from automl.storage._optuna_private import (KNOWN_SCHEMAS, forget_cached_trials, optuna_tables, rdb_storage,
                                            read_schema, stale_trial_ids, study_id, study_storage, trial_id)


def test_each_private_touch_works_on_a_real_store(shared_store: str) -> None:
    storage = open_storage(shared_store, heartbeat_s=1)
    study = optuna.create_study(storage=storage, study_name="p")
    other = optuna.create_study(storage=storage, study_name="q")

    # the storage behind the study, and the RDB storage behind Optuna's cache
    assert rdb_storage(study_storage(study)) is storage and rdb_storage(storage) is storage
    assert rdb_storage(optuna.storages.InMemoryStorage()) is None

    # the study's and the trials' ids are the rows' ids in Optuna's tables
    t = optuna_tables()
    with storage.engine.connect() as con:
        ids = dict(con.execute(sa.select(t.studies.c.study_name, t.studies.c.study_id)).all())
    assert (study_id(study), study_id(other)) == (ids["p"], ids["q"]) and ids["p"] != ids["q"]
    trial, _ = study.ask(), other.ask()
    late = study.ask()
    with storage.engine.connect() as con:
        rows = dict(con.execute(sa.select(t.trials.c.number, t.trials.c.trial_id)
                                .where(t.trials.c.study_id == study_id(study))).all())
    assert (trial_id(trial), trial_id(late)) == (rows[0], rows[1])
    assert [trial_id(f) for f in study.get_trials(deepcopy=False)] == [rows[0], rows[1]]  # FrozenTrial too

    # the tables automl writes beside Optuna (system attributes, heartbeats) are Optuna's own
    storage.set_trial_system_attr(trial_id(trial), "automl:claim", "x")
    storage.set_study_system_attr(study_id(study), "automl:budget_key", "k")
    with storage.engine.connect() as con:
        assert con.execute(sa.select(t.trial_system_attrs.c.value_json)
                           .where(t.trial_system_attrs.c.trial_id == trial_id(trial))).scalar() == '"x"'
        assert con.execute(sa.select(t.study_system_attrs.c.value_json)
                           .where(t.study_system_attrs.c.study_id == study_id(study))).scalar() == '"k"'

    # Optuna's own rule for stale: a heartbeat older than the grace period
    storage.record_heartbeat(trial_id(trial))
    storage.record_heartbeat(trial_id(late))
    assert stale_trial_ids(study_storage(study), study_id(study)) == []
    with storage.engine.begin() as con:
        con.execute(sa.update(t.heartbeats).where(t.heartbeats.c.trial_id == trial_id(trial))
                    .values(heartbeat=dt.datetime(2000, 1, 1)))
    assert stale_trial_ids(study_storage(study), study_id(study)) == [trial_id(trial)]

    # the per-thread cache of trials study.ask() clears, so samplers see other processes' trials
    seen = len(study._get_trials(deepcopy=False, use_cache=True))  # noqa: SLF001 - fills the cache
    optuna.load_study(study_name="p", storage=shared_store).ask()  # another process's trial
    assert len(study._get_trials(deepcopy=False, use_cache=True)) == seen  # noqa: SLF001 - still cached
    forget_cached_trials(study)
    assert len(study._get_trials(deepcopy=False, use_cache=True)) == seen + 1  # noqa: SLF001

    # the schema this code was written for, in one query
    with storage.engine.connect() as con:
        schema = read_schema(con)
    assert schema is not None and schema.known and (schema.schema_version, schema.revision) in KNOWN_SCHEMAS
    assert schema.library_version == optuna.__version__
    storage.engine.dispose()


def test_a_database_without_optuna_schema_has_none(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path}/empty.db")
    with engine.connect() as con:
        assert read_schema(con) is None
    engine.dispose()
