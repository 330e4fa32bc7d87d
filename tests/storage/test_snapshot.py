"""Reading a store straight from Optuna's tables gives what Optuna's own API gives.

``automl studies``, ``trials`` and ``best`` took 4.5–5 s each on 2 cores for a small store
(issue 19), then about 1 s, all of it Optuna's and Alembic's imports and schema checks; they
now read the tables with SQLAlchemy Core. Every field of every trial kind (complete,
pruned, failed, running, infinite and categorical values, attributes, several objectives)
must come back as Optuna returns it, on each server, and a schema this code was not
written for must go through Optuna's own check instead.
"""

from __future__ import annotations

import math
import subprocess
import sys

import optuna
import pytest
import sqlalchemy as sa

from automl.errors import StorageError, UsageError
from automl.storage import open_storage, read_store
from automl.storage._snapshot import read_studies, snapshot


def _fill(url: str) -> None:
    storage = open_storage(url)
    one = optuna.create_study(study_name="one", storage=storage, direction="maximize")
    one.set_user_attr("automl:objective", "val_accuracy")
    storage.set_study_system_attr(one._study_id, "automl:budget_key", "k1")

    def objective(trial: optuna.Trial) -> float:
        units = trial.suggest_int("units", 16, 128, step=16)
        trial.suggest_categorical("activation", ["relu", None, 3, True])
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        trial.set_user_attr("automl:history", {"val_accuracy": [0.1, 0.2]})
        trial.set_user_attr("automl:params_count", units * 10)
        trial.storage.set_trial_system_attr(trial._trial_id, "automl:config", {"a": [1, 2]})
        if trial.number == 1:
            trial.report(0.25, 0)
            trial.report(float("nan"), 1)
            raise optuna.TrialPruned()
        if trial.number == 2:
            raise ValueError("broken")
        return math.inf if trial.number == 3 else units * lr

    one.optimize(objective, n_trials=5, catch=(ValueError,))
    one.ask()  # left RUNNING
    two = optuna.create_study(study_name="two", storage=storage, directions=["maximize", "minimize"])
    for a, b in [(0.9, 5.0), (0.8, 3.0), (0.7, 6.0), (-math.inf, 1.0)]:
        t = two.ask()
        t.suggest_float("x", 0, 1)
        two.tell(t, [a, b])
    storage.engine.dispose()


@pytest.fixture
def filled(shared_store: str) -> str:
    _fill(shared_store)
    return shared_store


def _same(a: float | None, b: float | None) -> bool:
    return a == b or (a is not None and b is not None and math.isnan(a) and math.isnan(b))


def test_the_tables_read_directly_match_optunas_api(filled: str) -> None:
    direct = read_studies(filled)
    assert direct is not None, "a store Optuna just wrote has a schema this code reads directly"
    storage = open_storage(filled, must_exist=True)
    via_optuna = [snapshot(optuna.load_study(study_name=n, storage=storage)) for n in ("one", "two")]
    assert [s.name for s in direct] == ["one", "two"]
    for got, want in zip(direct, via_optuna):
        assert (got.directions, got.user_attrs, got.system_attrs) == (want.directions, want.user_attrs,
                                                                      want.system_attrs)
        assert len(got.trials) == len(want.trials)
        for g, w in zip(got.trials, want.trials):
            assert (g.number, g.state, g.params, g.user_attrs, g.system_attrs) == \
                (w.number, w.state, w.params, w.user_attrs, w.system_attrs)
            assert (g.values is None) == (w.values is None)
            assert all(_same(x, y) for x, y in zip(g.values or [], w.values or []))
            assert g.intermediate_values.keys() == w.intermediate_values.keys()
            assert all(_same(g.intermediate_values[k], w.intermediate_values[k]) for k in g.intermediate_values)
            assert (g.datetime_start, g.datetime_complete) == (w.datetime_start, w.datetime_complete)
    states = [t.state for t in direct[0].trials]
    assert states == ["COMPLETE", "PRUNED", "FAIL", "COMPLETE", "COMPLETE", "RUNNING"]
    assert direct[0].trials[3].values == [math.inf]
    assert direct[1].trials[3].values == [-math.inf, 1.0]
    assert {type(t.params["units"]) for t in direct[0].trials[:5]} == {int}
    storage.engine.dispose()


def test_one_study_by_name_and_a_missing_name(filled: str) -> None:
    (two,) = read_store(filled, "two")
    assert two.name == "two" and len(two.trials) == 4
    with pytest.raises(UsageError, match="no study named 'three' in this store; studies: one, two"):
        read_store(filled, "three")


def test_a_schema_this_code_was_not_written_for_goes_through_optunas_check(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 's.db'}"
    _fill(url)
    engine = sa.create_engine(url)
    with engine.begin() as con:
        con.execute(sa.text("UPDATE alembic_version SET version_num = 'v99.0.0.a'"))
    engine.dispose()
    assert read_studies(url) is None
    with pytest.raises(StorageError, match="cannot open the store"):
        read_store(url)


def test_the_read_commands_import_neither_optuna_nor_keras(tmp_path, run_cli) -> None:  # type: ignore[no-untyped-def]
    """Their imports were most of the time (the time itself: benchmarks/README.md)."""
    filled = f"sqlite:///{tmp_path / 'read.db'}"
    _fill(filled)
    code = ("import sys\nsys.argv = ['automl', 'trials', 'one', '--storage', %r]\nfrom automl.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "assert 'optuna' not in sys.modules and 'keras' not in sys.modules, sorted(sys.modules)\n") % filled
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "units" in done.stdout and "COMPLETE" in done.stdout
    for args in (["studies"], ["best", "one"]):
        r = run_cli(*args, "--storage", filled)
        assert r.returncode == 0, r.stderr
    assert '"number": 3' in r.stdout  # the infinite value is the best
