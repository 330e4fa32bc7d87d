"""The Optuna engine over a real store, in-process, with real (tiny) Keras training."""

from __future__ import annotations

from typing import Any

import optuna
import pytest

import automl
from automl.engines import ATTR
from automl.engines._record import history_of, state_of
from automl.errors import StudyConflictError, UsageError


def test_search_records_trials_with_attributes(tiny_space: dict[str, Any], store: str) -> None:
    result = automl.search(tiny_space, "digits", n_trials=3, storage=store, study_name="s", seed=0)
    assert result.ran == 3 and result.best is not None
    study = optuna.load_study(study_name="s", storage=store)
    assert len(study.trials) == 3
    assert study.user_attrs[f"{ATTR}engine"] == "optuna"
    assert study.user_attrs[f"{ATTR}sampler"] == "tpe"
    assert study.user_attrs[f"{ATTR}space"]["model"] == tiny_space["model"]
    assert study.user_attrs[f"{ATTR}data"]["source"] == "digits"
    for t in study.trials:
        assert t.state == optuna.trial.TrialState.COMPLETE
        hist = history_of(t)
        assert len(hist["val_accuracy"]) == 2 and len(hist["loss"]) == 2
        assert sorted(t.intermediate_values) == [1, 2]
        assert t.intermediate_values[2] == pytest.approx(hist["val_accuracy"][-1])
        assert t.value == pytest.approx(hist["val_accuracy"][-1])
        assert t.user_attrs[f"{ATTR}params_count"] > 0 and t.user_attrs[f"{ATTR}fit_seconds"] > 0
        epochs = state_of(t, "epoch_seconds")
        assert len(epochs) == 2 and all(e > 0 for e in epochs)
        assert sum(epochs) <= t.user_attrs[f"{ATTR}fit_seconds"]
        assert 8 <= t.params["layer0.units"] <= 32
        assert ("sgd.momentum" in t.params) == (t.params["optimizer"] == "sgd")
    assert result.best_value == max(t.value for t in study.trials)


def test_rerun_continues_to_the_total_and_other_space_is_refused(tiny_space: dict[str, Any], store: str) -> None:
    automl.search(tiny_space, "digits", n_trials=2, storage=store, study_name="s")
    r = automl.search(tiny_space, "digits", n_trials=3, storage=store, study_name="s")
    assert r.ran == 1 and len(r.leaderboard) == 3
    r = automl.search(tiny_space, "digits", n_trials=3, storage=store, study_name="s")
    assert r.ran == 0
    other = dict(tiny_space, training={"batch_size": 32, "epochs": 2})
    with pytest.raises(StudyConflictError, match="another search space"):
        automl.search(other, "digits", n_trials=4, storage=store, study_name="s")
    assert len(optuna.load_study(study_name="s", storage=store).trials) == 3


def test_resume_from_the_store_alone(tiny_space: dict[str, Any], store: str) -> None:
    automl.search(tiny_space, "digits", n_trials=1, storage=store, study_name="s")
    r = automl.search(None, None, n_trials=2, storage=store, study_name="s")
    assert r.ran == 1 and len(r.leaderboard) == 2


def test_failing_model_function_gives_fail_trials_and_a_finished_search(store: str) -> None:
    from tests.fixtures.user_spaces import build_failing

    r = automl.search(build_failing, "digits", n_trials=2, storage=store, study_name="f", epochs=1)
    study = optuna.load_study(study_name="f", storage=store)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL] * 2
    assert "this model function is broken" in study.trials[0].user_attrs[f"{ATTR}error"]
    assert r.best is None


def test_nan_loss_fails_the_trial_with_its_reason(store: str) -> None:
    from tests.fixtures.user_spaces import build_nan

    automl.search(build_nan, "digits", n_trials=1, storage=store, study_name="n", epochs=3)
    t = optuna.load_study(study_name="n", storage=store).trials[0]
    assert t.state == optuna.trial.TrialState.FAIL
    assert "NaN or infinite loss at epoch 1" in t.user_attrs[f"{ATTR}error"]


def test_function_space_with_conditional_params(store: str) -> None:
    from tests.fixtures.user_spaces import build_model, build_uncompiled

    automl.search(build_model, "digits", n_trials=3, storage=store, study_name="fn", epochs=1, seed=1)
    for t in optuna.load_study(study_name="fn", storage=store).trials:
        assert t.state == optuna.trial.TrialState.COMPLETE
        assert ("momentum" in t.params) == (t.params["optimizer"] == "sgd")
    automl.search(build_uncompiled, "digits", n_trials=1, storage=store, study_name="unc", epochs=1)
    assert optuna.load_study(study_name="unc", storage=store).trials[0].state == optuna.trial.TrialState.COMPLETE


def test_median_pruner_prunes_bad_trials(tiny_space: dict[str, Any], store: str) -> None:
    space = dict(tiny_space, training={"batch_size": 64, "epochs": 4, "metrics": ["accuracy"]})
    # Half the learning rates are tiny: those trials fall behind the median and get pruned.
    space["optimizer"] = {"name": "sgd", "learning_rate": {"choice": [1e-6, 0.05]}}
    automl.search(space, "digits", n_trials=10, storage=store, study_name="p", pruner="median", sampler="random",
                  seed=3)
    trials = optuna.load_study(study_name="p", storage=store).trials
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned, "the median pruner pruned nothing"
    for t in pruned:
        assert len(history_of(t)["loss"]) < 4
    slow = [t for t in trials[4:] if t.params["learning_rate"] == 1e-6]
    assert slow and all(t.state == optuna.trial.TrialState.PRUNED for t in slow), \
        "every hopeless trial after the startup trials must be pruned"


@pytest.mark.parametrize("sampler", ["random", "cmaes", "qmc"])
def test_other_samplers_run(tiny_space: dict[str, Any], store: str, sampler: str) -> None:
    r = automl.search(tiny_space, "digits", n_trials=2, storage=store, sampler=sampler, seed=0, epochs=1)
    assert len(r.leaderboard) == 2


def test_bad_arguments_write_nothing(tiny_space: dict[str, Any], tmp_path: Any) -> None:
    db = tmp_path / "x.db"
    url = f"sqlite:///{db}"
    for kwargs in ({"n_trials": 0}, {"sampler": "grid"}, {"pruner": "asha"}, {"engine": "ray"},
                   {"timeout": -1.0}):
        with pytest.raises(UsageError):
            automl.search(tiny_space, "digits", storage=url, **{"n_trials": 2, **kwargs})
    assert not db.exists()


def test_multi_objective_accuracy_and_size(tiny_space: dict[str, Any], store: str, tmp_path: Any) -> None:
    from automl.storage import pareto_front

    space = dict(tiny_space, objective=[{"metric": "val_accuracy", "direction": "maximize"},
                                        {"metric": "params_count"}, {"metric": "latency_ms"}])
    r = automl.search(space, "digits", n_trials=6, storage=store, study_name="mo", sampler="nsga2", seed=0)
    study = optuna.load_study(study_name="mo", storage=store)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE", "MINIMIZE"]
    for t in study.trials:
        assert t.state == optuna.trial.TrialState.COMPLETE
        acc, size, latency = t.values
        assert acc == pytest.approx(history_of(t)["val_accuracy"][-1])
        assert size == t.user_attrs[f"{ATTR}params_count"] and latency > 0
    front = pareto_front(study)
    assert r.best is None and [x.number for x in r.pareto] == [x.number for x in front]
    complete = study.trials

    def dominates(a: Any, b: Any) -> bool:
        better_or_equal = a.values[0] >= b.values[0] and a.values[1] <= b.values[1] and a.values[2] <= b.values[2]
        return better_or_equal and tuple(a.values) != tuple(b.values)

    front_numbers = {x.number for x in front}
    for t in complete:
        dominated = any(dominates(o, t) for o in complete)
        assert (t.number in front_numbers) == (not dominated)
    from automl._report import write_report

    drawn = write_report(study, tmp_path / "mo.html")
    assert "Pareto front" in drawn


def test_multi_objective_settings_that_cannot_work(tiny_space: dict[str, Any], tmp_path: Any) -> None:
    from automl.errors import SpaceError

    url = f"sqlite:///{tmp_path / 'none.db'}"
    space = dict(tiny_space, objective=[{"metric": "val_accuracy"}, {"metric": "params_count"}])
    for kwargs in ({"pruner": "median"}, {"engine": "kerastuner"}, {"sampler": "cmaes"}):
        with pytest.raises(UsageError):
            automl.search(space, "digits", n_trials=1, storage=url, **kwargs)
    with pytest.raises(SpaceError, match="first objective must be a logged metric"):
        automl.search(dict(tiny_space, objective=[{"metric": "params_count"}, {"metric": "val_accuracy"}]),
                      "digits", n_trials=1, storage=url)
    assert not (tmp_path / "none.db").exists()


@pytest.mark.parametrize("name", ["median", "sha", "hyperband"])
def test_pruners_wait_a_tenth_of_the_epoch_budget(name: str) -> None:
    from automl.engines._optuna import make_pruner, pruner_warmup

    assert [pruner_warmup(e) for e in (1, 9, 10, 40, 100)] == [1, 1, 1, 4, 10]
    # A fixed study name: Hyperband puts a trial in the bracket of crc32("<study>_<number>"),
    # and with a random name the hopeless trial sometimes had no good one in its bracket to be
    # compared with (never pruned: 14 of 200 random names).
    study = optuna.create_study(direction="maximize", pruner=make_pruner(name, 40), study_name="pruners",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(6):  # good trials, asked after every epoch as the runner does
        t = study.ask()
        for epoch in range(1, 41):
            t.report(0.9 + epoch / 1000, epoch)
            assert not t.should_prune()
        study.tell(t, 0.94)
    hopeless = study.ask()
    first_cut = None
    for epoch in range(1, 41):
        hopeless.report(0.1, epoch)
        if hopeless.should_prune():
            first_cut = epoch
            break
    # Never before epoch 4 (a tenth of 40). The median pruner and successive halving cut a
    # trial this far behind right there; Hyperband at the first rung of the trial's bracket.
    assert first_cut is not None and first_cut >= 4
    if name != "hyperband":
        assert first_cut == 4


# A coordinator killed after it claimed a unit of the budget and before it created the
# trial (seen in CI: the kill landed in those milliseconds), or just after.
_CLAIM_AND_EXIT = """
import os, sys
from automl._search import make_engine, prepare
from tests.conftest import TINY_SPACE
prep = prepare(TINY_SPACE, "digits", epochs=1)
eng = make_engine("optuna", prep.space, prep.data, url=sys.argv[1], study_name="r", sampler="tpe", pruner="none",
                  algorithm=None, seed=0, n_trials=4, heartbeat_s=1)
assert eng.claim(4)
if sys.argv[2] == "ask":
    eng.ask()
os._exit(0)
"""


@pytest.mark.parametrize("killed_after", ["claim", "ask"])
def test_a_coordinator_killed_between_claiming_and_settling_loses_no_unit(tiny_space: dict[str, Any], store: str,
                                                                           killed_after: str) -> None:
    import subprocess
    import sys
    import time
    from pathlib import Path

    import sqlalchemy as sa

    from automl.storage._budget import Budget

    def run(n: int) -> Any:
        return automl.search(tiny_space, "digits", n_trials=n, storage=store, study_name="r", seed=0, epochs=1,
                             heartbeat_s=1)

    run(2)
    subprocess.run([sys.executable, "-c", _CLAIM_AND_EXIT, store, killed_after], check=True, timeout=120,
                   cwd=Path(__file__).resolve().parents[2])
    budget = Budget(sa.create_engine(store), "r")
    assert budget.claimed() == 3
    time.sleep(3.5)  # a trial it made is stale after 3 heartbeats
    r = run(4)
    study = optuna.load_study(study_name="r", storage=store)
    states = [t.state.name for t in study.trials]
    if killed_after == "claim":  # its unit came back
        assert r.ran == 2 and states == ["COMPLETE"] * 4
    else:  # its trial was failed and retried, with the unit it was made with, and one more ran
        assert r.ran == 2 and states == ["COMPLETE", "COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
        assert [t.system_attrs.get("failed_trial") for t in study.trials[3:]] in ([2, None], [None, 2])
    assert budget.claimed() == 4 and budget.open_claims() == []


def test_a_study_deleted_with_optuna_starts_afresh_under_its_name(tiny_space: dict[str, Any], store: str) -> None:
    def run(n: int) -> Any:
        return automl.search(tiny_space, "digits", n_trials=n, storage=store, study_name="d", seed=0, epochs=1)

    assert run(2).ran == 2
    optuna.delete_study(study_name="d", storage=store)
    assert run(2).ran == 2  # it ran 0 when the deleted study's budget row was inherited
    assert len(optuna.load_study(study_name="d", storage=store).trials) == 2


def test_the_budget_spent_a_search_waits_for_another_process_trial_and_retries_it(tiny_space: dict[str, Any],
                                                                                   store: str) -> None:
    """A process that found the budget handed out exited 0 while another process's trial
    still ran: when that process died, the study ended short (38 of 40, 2 RUNNING)."""
    import threading
    import time

    from automl._search import make_engine, prepare
    from automl.runner import SearchObserver

    automl.search(tiny_space, "digits", n_trials=2, storage=store, study_name="o", seed=0, epochs=1, heartbeat_s=1)
    # another coordinator's trial, holding the last unit: it beats for a while, then its process dies
    prep = prepare(tiny_space, "digits", epochs=1)
    other = make_engine("optuna", prep.space, prep.data, url=store, study_name="o", sampler="tpe", pruner="none",
                        algorithm=None, seed=0, n_trials=3, heartbeat_s=1)
    assert other.claim(3)
    spec = other.ask()
    assert spec is not None and other.settle(3)
    tid = spec.handle._trial_id
    looping = threading.Event()

    class Started(SearchObserver):
        def on_search_start(self, total: int, done: int, slots: list[str] | None = None) -> None:
            looping.set()

    def beat() -> None:
        # alive until 4 s after the search's loop began (then its process "dies"), however
        # slowly the search got there: it must find the trial running, whatever the machine
        stop = None
        while stop is None or time.monotonic() < stop:
            other.storage.record_heartbeat(tid)  # type: ignore[attr-defined]
            if stop is None and looping.is_set():
                stop = time.monotonic() + 4
            time.sleep(0.3)

    beating = threading.Thread(target=beat, daemon=True)
    beating.start()
    r = automl.search(tiny_space, "digits", n_trials=3, storage=store, study_name="o", seed=0, epochs=1,
                      heartbeat_s=1, observer=Started())
    beating.join()
    trials = optuna.load_study(study_name="o", storage=store).trials
    assert r.ran == 1 and [t.state.name for t in trials] == ["COMPLETE", "COMPLETE", "FAIL", "COMPLETE"]
    assert trials[3].system_attrs["failed_trial"] == 2 and trials[3].params == trials[2].params
    # the stale trial says why it failed
    assert trials[2].user_attrs[f"{ATTR}error"].startswith("its process stopped sending heartbeats (last beat")
    assert f"{ATTR}error" not in trials[3].user_attrs


def test_a_trial_is_never_pruned_at_its_last_epoch(tiny_space: dict[str, Any], store: str) -> None:
    """A trial pruned at its final report read 'PRUNED … epochs 8/8': it had trained in full."""
    from automl._search import make_engine, prepare
    from automl.engines import Decision

    class PruneAll(optuna.pruners.BasePruner):
        def prune(self, study: Any, trial: Any) -> bool:
            return True

    prep = prepare(tiny_space, "digits", epochs=3)
    eng = make_engine("optuna", prep.space, prep.data, url=store, study_name="p", sampler="random", pruner="none",
                      algorithm=None, seed=0, n_trials=2)
    eng.study.pruner = PruneAll()  # type: ignore[attr-defined]
    assert eng.claim(2)
    spec = eng.ask()
    assert spec is not None and spec.epochs == 3
    assert eng.report(spec, 1, {"val_accuracy": 0.5}) == Decision.PRUNE
    assert eng.report(spec, 3, {"val_accuracy": 0.6}) == Decision.CONTINUE
    assert spec.handle.storage.get_trial(spec.handle._trial_id).intermediate_values == {1: 0.5, 3: 0.6}


def test_a_trial_another_process_ended_as_stale_is_neither_crashed_on_nor_retried_twice(
        tiny_space: dict[str, Any], store: str) -> None:
    """Seen in benchmarks/store_scale.py at 256 coordinators on 2 cores: heartbeats came late,
    another process failed a running trial as stale (and retried it), and the owner's own
    report and tell then raised UpdateFinishedTrialError, killing its search."""
    from automl._search import make_engine
    from automl.data import load_data
    from automl.engines import Decision, TrialOutcome
    from automl.space import parse_space

    space = parse_space(tiny_space)
    engine = make_engine("optuna", space, load_data("digits"), url=store, study_name="s", sampler="tpe",
                         pruner="median", algorithm=None, seed=0, n_trials=3)
    assert engine.claim(3)
    spec = engine.ask()
    assert spec is not None and engine.settle(3)
    study = engine.study  # type: ignore[attr-defined]
    # another process fails it as stale, as optuna's heartbeat reaper does
    study._storage.set_trial_state_values(spec.handle._trial_id, state=optuna.trial.TrialState.FAIL)
    assert engine.report(spec, 1, {"val_accuracy": 0.5}) == Decision.PRUNE  # stop training it
    assert engine.tell(spec, TrialOutcome("failed", error="worker died", retryable=True)) is False
    trials = optuna.load_study(study_name="s", storage=store).trials
    assert [t.state.name for t in trials] == ["FAIL"] and "automl:error" not in trials[0].user_attrs
