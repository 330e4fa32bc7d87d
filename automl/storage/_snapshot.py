"""A study read back as plain rows: from Optuna's objects, or straight from its tables.

The commands that only read a store (``studies``, ``trials``, ``best``) read Optuna's
tables with SQLAlchemy Core instead of opening :class:`optuna.storages.RDBStorage`, whose
imports (Optuna, Alembic) and schema checks cost most of their second
(benchmarks/README.md, "Reading a store"). That is done only for the schema this code was
written for (:data:`KNOWN_SCHEMAS`); any other store is read through Optuna, which checks it
and says what to do.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from automl.errors import UsageError
from automl.storage._errors import cannot_open, no_driver, no_store
from automl.storage._optuna_private import KNOWN_SCHEMAS, read_schema, study_id, study_storage

__all__ = ["StoredTrial", "StoredStudy", "KNOWN_SCHEMAS", "snapshot", "read_studies"]


@dataclass(frozen=True)
class StoredTrial:
    """What the tables hold of one trial, values in their external form (as Optuna returns them)."""

    number: int
    state: str  # Optuna's TrialState name: COMPLETE, PRUNED, FAIL, RUNNING, WAITING
    values: list[float] | None
    params: dict[str, Any]
    datetime_start: dt.datetime | None
    datetime_complete: dt.datetime | None
    user_attrs: dict[str, Any] = field(default_factory=dict)
    system_attrs: dict[str, Any] = field(default_factory=dict)
    intermediate_values: dict[int, float] = field(default_factory=dict)

    @property
    def duration(self) -> dt.timedelta | None:
        if self.datetime_start is None or self.datetime_complete is None:
            return None
        return self.datetime_complete - self.datetime_start


@dataclass(frozen=True)
class StoredStudy:
    name: str
    directions: list[str]  # "maximize" or "minimize", one per objective
    user_attrs: dict[str, Any]
    system_attrs: dict[str, Any]
    trials: list[StoredTrial]


def snapshot(study: Any) -> StoredStudy:
    """``study`` (an :class:`optuna.Study`) as plain rows."""
    trials = [StoredTrial(t.number, t.state.name, list(t.values) if t.values is not None else None, dict(t.params),
                          t.datetime_start, t.datetime_complete, dict(t.user_attrs), dict(t.system_attrs),
                          dict(t.intermediate_values))
              for t in study.get_trials(deepcopy=False)]
    return StoredStudy(study.study_name, [d.name.lower() for d in study.directions], dict(study.user_attrs),
                       dict(study_storage(study).get_study_system_attrs(study_id(study))), trials)


def read_studies(url: str, name: str | None = None) -> list[StoredStudy] | None:
    """The studies at ``url`` (only ``name``'s when given), read from Optuna's tables; None when
    the store's schema is not one of :data:`KNOWN_SCHEMAS` (read it through Optuna then).

    Raises :class:`StorageError` when the store cannot be reached and :class:`UsageError`
    when ``name`` is not there."""
    import sqlalchemy as sa

    engine = _engine(url)
    try:
        with engine.connect() as con:
            schema = read_schema(con)
            if schema is None or not schema.known:
                return None
            return _read(con, name)
    except sa.exc.SQLAlchemyError as e:
        raise cannot_open(url, e, "read") from None
    finally:
        engine.dispose()


def _engine(url: str) -> Any:
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    from automl.storage._url import SQLITE_TIMEOUT_S, _read_only_connect, read_only, sqlite_path

    kwargs: dict[str, Any] = {"poolclass": NullPool}
    path = sqlite_path(url)
    if path is not None:
        if not path.is_file():
            raise no_store(url, path)
        kwargs["creator"] = (_read_only_connect(path) if read_only(path)
                             else _connect(str(path), SQLITE_TIMEOUT_S))
    try:
        return sa.create_engine(url, **kwargs)
    except ImportError as e:
        raise no_driver(url, e) from None


def _connect(path: str, timeout: float) -> Any:
    import functools
    import sqlite3

    return functools.partial(sqlite3.connect, path, timeout=timeout, check_same_thread=False)


def _read(con: Any, name: str | None) -> list[StoredStudy]:
    import sqlalchemy as sa

    studies = con.execute(sa.text("SELECT study_id, study_name FROM studies ORDER BY study_id")).all()
    if name is not None:
        chosen = [s for s in studies if s.study_name == name]
        if not chosen:
            names = ", ".join(s.study_name for s in studies) or "none"
            raise UsageError(f"no study named {name!r} in this store; studies: {names}")
        studies = chosen
    ids = [s.study_id for s in studies]
    directions = _by(con.execute(_in("SELECT study_id, objective, direction FROM study_directions "
                                     "WHERE study_id IN :ids ORDER BY objective"), {"ids": ids}))
    study_user = _attrs(con, "study_user_attributes", "study_id", ids)
    study_system = _attrs(con, "study_system_attributes", "study_id", ids)
    trials = _trials(con, ids)
    return [StoredStudy(s.study_name, [r.direction.lower() for r in directions.get(s.study_id, [])],
                        study_user.get(s.study_id, {}), study_system.get(s.study_id, {}), trials.get(s.study_id, []))
            for s in studies]


_TRIAL_IDS = "SELECT trial_id FROM trials WHERE study_id IN :ids"


def _trials(con: Any, ids: list[int]) -> dict[int, list[StoredTrial]]:
    import sqlalchemy as sa

    rows = con.execute(_in("SELECT trial_id, study_id, number, state, datetime_start, datetime_complete FROM trials "
                           "WHERE study_id IN :ids ORDER BY study_id, number")
                       .columns(sa.column("trial_id", sa.Integer), sa.column("study_id", sa.Integer),
                                sa.column("number", sa.Integer), sa.column("state", sa.String),
                                sa.column("datetime_start", sa.DateTime),
                                sa.column("datetime_complete", sa.DateTime)), {"ids": ids}).all()
    values = _by(con.execute(_in(f"SELECT trial_id, objective, value, value_type FROM trial_values "
                                 f"WHERE trial_id IN ({_TRIAL_IDS}) ORDER BY objective"), {"ids": ids}))
    params = _by(con.execute(_in(f"SELECT trial_id, param_name, param_value, distribution_json FROM trial_params "
                                 f"WHERE trial_id IN ({_TRIAL_IDS}) ORDER BY param_id"), {"ids": ids}))
    steps = _by(con.execute(_in(f"SELECT trial_id, step, intermediate_value, intermediate_value_type "
                                f"FROM trial_intermediate_values WHERE trial_id IN ({_TRIAL_IDS}) ORDER BY step"),
                            {"ids": ids}))
    user = _attrs(con, "trial_user_attributes", "trial_id", ids, of_trials=True)
    system = _attrs(con, "trial_system_attributes", "trial_id", ids, of_trials=True)
    out: dict[int, list[StoredTrial]] = {}
    for t in rows:
        vals = [_float(v.value, v.value_type) for v in values.get(t.trial_id, [])]
        out.setdefault(t.study_id, []).append(StoredTrial(
            t.number, t.state, vals or None,
            {p.param_name: _external(p.param_value, p.distribution_json) for p in params.get(t.trial_id, [])},
            _utc(t.datetime_start), _utc(t.datetime_complete), user.get(t.trial_id, {}), system.get(t.trial_id, {}),
            {s.step: _float(s.intermediate_value, s.intermediate_value_type) for s in steps.get(t.trial_id, [])}))
    return out


def _attrs(con: Any, table: str, key: str, ids: list[int], *, of_trials: bool = False) -> dict[int, dict[str, Any]]:
    where = f"({_TRIAL_IDS})" if of_trials else ":ids"
    out: dict[int, dict[str, Any]] = {}
    # ``a.key``: KEY is reserved in MySQL, but not after a period in a qualified name.
    query = f"SELECT a.{key}, a.key AS name, a.value_json FROM {table} a WHERE a.{key} IN {where}"
    for r in con.execute(_in(query), {"ids": ids}):
        out.setdefault(r[0], {})[r.name] = json.loads(r.value_json)
    return out


def _in(query: str) -> Any:
    import sqlalchemy as sa

    return sa.text(query).bindparams(sa.bindparam("ids", expanding=True))


def _by(rows: Iterable[Any]) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for r in rows:
        out.setdefault(r[0], []).append(r)
    return out


def _float(value: float | None, kind: str) -> float:
    # Optuna stores infinities (and intermediate NaN) as a NULL value with a type beside it.
    return {"INF_POS": math.inf, "INF_NEG": -math.inf, "NAN": math.nan}.get(kind, value)  # type: ignore[return-value]


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    # Optuna 5 stores naive UTC and returns it in local time, as datetime.fromtimestamp does.
    if value is None:
        return None
    return value.replace(tzinfo=dt.timezone.utc).astimezone().replace(tzinfo=None)


def _external(value: float, distribution_json: str) -> Any:
    """A parameter's internal (float) value as Optuna returns it: a choice for a categorical
    index, an int for an integer distribution."""
    d = json.loads(distribution_json)
    name, attrs = d.get("name"), d.get("attributes", {})
    if name == "CategoricalDistribution":
        return attrs["choices"][int(value)]
    if name in ("IntDistribution", "IntUniformDistribution", "IntLogUniformDistribution"):
        return int(value)
    if name in ("FloatDistribution", "UniformDistribution", "LogUniformDistribution", "DiscreteUniformDistribution"):
        return float(value)
    import optuna

    return optuna.distributions.json_to_distribution(distribution_json).to_external_repr(value)


def pareto(trials: Sequence[StoredTrial], directions: Sequence[str]) -> list[StoredTrial]:
    """The complete trials no other complete trial dominates (Optuna's ``best_trials``)."""
    signs = [1.0 if d == "maximize" else -1.0 for d in directions]
    done = [t for t in trials if t.state == "COMPLETE" and t.values is not None]
    scored = [(t, [s * v for s, v in zip(signs, t.values or [])]) for t in done]

    def dominated(a: list[float]) -> bool:
        return any(all(x >= y for x, y in zip(b, a)) and any(x > y for x, y in zip(b, a)) for _, b in scored)

    return [t for t, a in scored if not dominated(a)]
