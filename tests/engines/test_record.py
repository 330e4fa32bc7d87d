"""What a trial's record keeps where: per-epoch history out of the dashboard's attribute list,
and stores written before (history as a user attribute) still read by every reader."""

from __future__ import annotations

from typing import Any

import optuna

import automl
from automl._report._format import Objectives
from automl._report._plots import learning_curves
from automl.engines import ATTR
from automl.engines._record import epochs_of, history_of
from automl.storage import leaderboard


def test_history_is_machine_state_and_old_studies_history_still_reads(tiny_space: dict[str, Any],
                                                                      store: str) -> None:
    """``automl:history`` (about 700 characters a trial) once stretched the dashboard's trial page."""
    automl.search(tiny_space, "digits", n_trials=1, storage=store, study_name="s", seed=0)
    study = optuna.load_study(study_name="s", storage=store)
    (new,) = study.trials
    assert f"{ATTR}history" not in new.user_attrs and f"{ATTR}history" in new.system_attrs
    assert len(history_of(new)["loss"]) == len(history_of(new)["val_accuracy"]) == 2
    # the small facts stay where the dashboard shows them; no "automl:error" on a complete trial
    assert new.user_attrs[f"{ATTR}epochs"] == epochs_of(new) == 2
    assert f"{ATTR}error" not in new.user_attrs and new.user_attrs[f"{ATTR}device"]

    # a trial as stores written before hold it: the history a user attribute, no epochs
    old_history = {"loss": [2.0, 1.5, 1.0], "val_loss": [2.1, 1.6, 1.2], "val_accuracy": [0.2, 0.4, 0.6]}
    study.add_trial(optuna.trial.create_trial(
        state=optuna.trial.TrialState.COMPLETE, value=0.6, params=new.params, distributions=new.distributions,
        user_attrs={f"{ATTR}history": old_history, f"{ATTR}error": None}, intermediate_values={1: 0.2, 2: 0.4, 3: 0.6}))
    old = study.trials[-1]
    assert history_of(old) == old_history and epochs_of(old) == 3
    assert {r.number: r.epochs for r in leaderboard(study)} == {new.number: 2, old.number: 3}
    fig = learning_curves(study, Objectives(study), top=5)
    drawn = {(tr.legendgroup, tuple(tr.y)) for tr in fig.data}
    assert {(str(old.number), tuple(old_history[k])) for k in ("val_accuracy", "loss", "val_loss")} <= drawn
    assert {g for g, _ in drawn} == {str(new.number), str(old.number)}
