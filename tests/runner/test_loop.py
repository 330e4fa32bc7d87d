"""The loop's claim → ask → settle step against a real store."""

from __future__ import annotations

import time
from typing import Any

import optuna
import pytest
import sqlalchemy as sa

from automl._search import make_engine, prepare
from automl.engines import ATTR
from automl.engines._record import UNCLAIMED, finished_count
from automl.runner._loop import next_spec
from automl.storage._budget import Budget


def test_a_trial_whose_claim_was_given_back_with_no_unit_left_is_not_run(
        tiny_space: dict[str, Any], store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    prep = prepare(tiny_space, "digits", epochs=1)
    eng = make_engine("optuna", prep.space, prep.data, url=store, study_name="r", sampler="tpe", pruner="none",
                      algorithm=None, seed=0, n_trials=1, heartbeat_s=1)
    real_ask = eng.ask

    def slow_ask() -> Any:
        # Meanwhile, another process takes this claim for a dead one's: it gives the unit
        # back and takes it for its own trial.
        time.sleep(2.5)
        other = Budget(sa.create_engine(store), "r", claim_ttl=1.0)
        assert other.claim(1) and other.settle(1)
        return real_ask()

    monkeypatch.setattr(eng, "ask", slow_ask)
    assert next_spec(eng, 1) is None  # the budget is spent: the search ends
    study = optuna.load_study(study_name="r", storage=store)
    [t] = study.trials
    assert t.state == optuna.trial.TrialState.FAIL and t.system_attrs[UNCLAIMED]
    assert "budget was spent by other processes" in t.user_attrs[f"{ATTR}error"]
    assert finished_count(study) == 0  # it does not count: the other process's trial will
    assert eng.budget.claimed() == 1  # type: ignore[attr-defined]


def test_each_trial_settles_its_claim(tiny_space: dict[str, Any], store: str) -> None:
    prep = prepare(tiny_space, "digits", epochs=1)
    eng = make_engine("optuna", prep.space, prep.data, url=store, study_name="r", sampler="tpe", pruner="none",
                      algorithm=None, seed=0, n_trials=2, heartbeat_s=1)
    budget = eng.budget  # type: ignore[attr-defined]
    for n in range(2):
        spec = next_spec(eng, 2)
        assert spec is not None and spec.number == n
        assert budget.claimed() == n + 1 and budget.open_claims() == []
    assert next_spec(eng, 2) is None and budget.claimed() == 2
