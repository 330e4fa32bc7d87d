"""One conformance suite over every engine: the same space, data and store checks for each."""

from __future__ import annotations

from typing import Any

import optuna
import pytest

import automl
from automl.engines import ATTR
from automl.engines._record import history_of

ENGINES = [("optuna", None), ("kerastuner", "random"), ("kerastuner", "bayesian"), ("kerastuner", "hyperband"),
           ("kerastuner", "grid")]
IDS = [f"{e}-{a}" if a else e for e, a in ENGINES]


def _run(space: Any, store: str, engine: str, algorithm: str | None, n: int, name: str = "c", **kw: Any) -> Any:
    return automl.search(space, "digits", engine=engine, algorithm=algorithm, n_trials=n, storage=store,
                         study_name=name, seed=2, **kw)


def _check_params(t: Any) -> None:
    p = t.params
    assert 8 <= p["layer0.units"] <= 32 and p["layer0.units"] % 8 == 0
    assert p["layer0.activation"] in ("relu", "tanh")
    assert 0.0 <= p["layer1.rate"] <= 0.3
    assert 1e-3 <= p["learning_rate"] <= 3e-2
    assert p["optimizer"] in ("adam", "sgd")
    assert ("sgd.momentum" in p) == (p["optimizer"] == "sgd")
    for name, dist in t.distributions.items():
        assert dist._contains(dist.to_internal_repr(p[name])), (name, p[name], dist)  # noqa: SLF001


@pytest.mark.parametrize("engine,algorithm", ENGINES, ids=IDS)
def test_trials_in_the_store(tiny_space: dict[str, Any], store: str, engine: str, algorithm: str | None) -> None:
    result = _run(tiny_space, store, engine, algorithm, 4)
    study = optuna.load_study(study_name="c", storage=store)
    assert len(study.trials) == 4 and result.ran == 4
    assert study.user_attrs[f"{ATTR}engine"] == engine
    assert study.user_attrs[f"{ATTR}algorithm"] == (algorithm or "tpe")
    for t in study.trials:
        assert t.state == optuna.trial.TrialState.COMPLETE, t.user_attrs.get(f"{ATTR}error")
        _check_params(t)
        hist = history_of(t)
        steps = sorted(t.intermediate_values)
        assert steps and steps == list(range(steps[0], steps[-1] + 1)) and steps[-1] <= 2
        assert [t.intermediate_values[s] for s in steps] == pytest.approx(hist["val_accuracy"])
        assert t.value == pytest.approx(hist["val_accuracy"][-1])
        assert t.user_attrs[f"{ATTR}params_count"] > 0
        assert t.system_attrs[f"{ATTR}config"]["layers"][0]["units"] == t.params["layer0.units"]
    # Every tool reads it the same way.
    assert result.best is not None and result.best.value == pytest.approx(study.best_value)
    assert [r.number for r in result.leaderboard if r.state == "COMPLETE"][0] == study.best_trial.number


@pytest.mark.parametrize("engine,algorithm", ENGINES, ids=IDS)
def test_resume_runs_nothing_twice(tiny_space: dict[str, Any], store: str, engine: str, algorithm: str | None) -> None:
    _run(tiny_space, store, engine, algorithm, 2)
    r = _run(tiny_space, store, engine, algorithm, 4)
    assert r.ran == 2
    study = optuna.load_study(study_name="c", storage=store)
    assert [t.number for t in study.trials] == [0, 1, 2, 3]
    assert all(t.state.is_finished() for t in study.trials)
    if engine == "kerastuner":
        ids = [t.user_attrs[f"{ATTR}kt_trial_id"] for t in study.trials]
        assert len(set(ids)) == 4, ids
        if algorithm != "hyperband":  # Hyperband may promote a config: same values, more epochs
            keys = [tuple(sorted(t.params.items())) for t in study.trials]
            assert len(set(keys)) == 4, "a configuration was tried twice"
    assert _run(tiny_space, store, engine, algorithm, 4).ran == 0


@pytest.mark.parametrize("engine,algorithm", [ENGINES[0], ENGINES[1]], ids=IDS[:2])
def test_failing_model_function(store: str, engine: str, algorithm: str | None) -> None:
    from tests.fixtures.user_spaces import build_failing

    r = automl.search(build_failing, "digits", engine=engine, algorithm=algorithm, n_trials=4, storage=store,
                      study_name="f", epochs=1)
    study = optuna.load_study(study_name="f", storage=store)
    assert [t.state.name for t in study.trials] == ["FAIL"] * 4
    assert all("this model function is broken" in t.user_attrs[f"{ATTR}error"] for t in study.trials)
    assert r.best is None and r.ran == 4


@pytest.mark.parametrize("engine,algorithm", [ENGINES[0], ENGINES[1]], ids=IDS[:2])
def test_function_space_on_both_engines(store: str, engine: str, algorithm: str | None) -> None:
    from tests.fixtures.user_spaces import build_model

    automl.search(build_model, "digits", engine=engine, algorithm=algorithm, n_trials=3, storage=store,
                  study_name="fn", epochs=1, seed=3)
    study = optuna.load_study(study_name="fn", storage=store)
    for t in study.trials:
        assert t.state == optuna.trial.TrialState.COMPLETE
        assert 8 <= t.params["units"] <= 32
        assert ("momentum" in t.params) == (t.params["optimizer"] == "sgd")


def test_hyperband_promoted_trials_start_from_their_parents_weights(tiny_space: dict[str, Any], store: str,
                                                                    tmp_path: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("AUTOML_CACHE", str(tmp_path / "cache"))
    space = dict(tiny_space, training={"batch_size": 64, "epochs": 9, "metrics": ["accuracy"]})
    space["optimizer"] = {"name": "adam", "learning_rate": {"low": 1e-3, "high": 3e-3, "log": True}}
    _run(space, store, "kerastuner", "hyperband", 13, name="hb")
    study = optuna.load_study(study_name="hb", storage=store)
    by_number = {t.number: t for t in study.trials}
    children = [t for t in study.trials if t.user_attrs[f"{ATTR}budget"].get("trial_id")]
    assert children, "Hyperband promoted no trial"
    ckpt = list((tmp_path / "cache" / "checkpoints").glob("hb-*/trial_*.weights.h5"))
    assert len(ckpt) == len(study.trials)
    for child in children:
        budget = child.user_attrs[f"{ATTR}budget"]
        kt_parent = budget["trial_id"]
        parent = next(t for t in study.trials if t.user_attrs[f"{ATTR}kt_trial_id"] == kt_parent)
        assert parent.params == child.params
        # The child trains only the epochs after its parent's, numbered from there on.
        assert min(child.intermediate_values) == budget["initial_epoch"] + 1
        assert max(child.intermediate_values) == budget["epochs"]
        p_loss = history_of(parent)["loss"]
        c_loss = history_of(child)["loss"]
        parent_budget = by_number[parent.number].user_attrs[f"{ATTR}budget"]
        assert len(p_loss) == budget["initial_epoch"] - parent_budget["initial_epoch"]
        # Starting from the parent's weights, the child's first epoch continues the parent's
        # curve: its loss is below the parent's first epoch, far from a fresh start.
        assert c_loss[0] < p_loss[0]
        assert c_loss[0] < p_loss[-1] * 1.5


def _task_data(task: str) -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4)).astype("float32")
    if task == "binary":
        return x, np.where(x[:, 0] > 0, "yes", "no")
    if task == "multilabel":
        return x, np.stack([x[:, 0] > 0, x[:, 1] > 0], axis=1).astype(int)
    return x, 50.0 + 10.0 * x[:, 0] + 0.37 * x[:, 1]  # regression


TASK_METRICS = {"binary": ("val_accuracy", "maximize", {"val_auc"}),
                "multilabel": ("val_accuracy", "maximize", {"val_auc"}),
                "regression": ("val_loss", "minimize", {"val_mae", "val_rmse"})}


@pytest.mark.parametrize("task", sorted(TASK_METRICS))
@pytest.mark.parametrize("engine,algorithm", [ENGINES[0], ENGINES[1]], ids=IDS[:2])
def test_every_task_on_both_engines(tiny_space: dict[str, Any], store: str, engine: str, algorithm: str | None,
                                    task: str) -> None:
    from automl.engines._record import state_of, study_state

    tiny_space["training"]["epochs"] = 1
    result = automl.search(tiny_space, _task_data(task), engine=engine, algorithm=algorithm, n_trials=2,
                           storage=store, study_name="t", seed=2)
    objective, direction, metrics = TASK_METRICS[task]
    study = optuna.load_study(study_name="t", storage=store)
    assert study_state(study, "task")["task"] == task
    assert study.user_attrs[f"{ATTR}objective"] == objective and result.direction == direction
    assert study.direction.name.lower() == direction and study.metric_names == [objective]
    for t in study.trials:
        assert t.state == optuna.trial.TrialState.COMPLETE, t.user_attrs.get(f"{ATTR}error")
        history = state_of(t, "history")
        assert metrics <= set(history) and t.value == pytest.approx(history[objective][-1])
        assert state_of(t, "config")["head"]["task"] == task
    values = [t.value for t in study.trials]
    assert result.best is not None and result.best.value == (min(values) if direction == "minimize" else max(values))
