"""``automl export --retrain``: the trial's training again, on train + validation.

Retraining once ignored the trial's learning-rate schedule (the model was rebuilt as for
loading weights, with the schedule's starting rate held constant) and trained for the
configuration's epochs even when early stopping had ended the trial long before.
"""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import optuna

import automl
from automl._export import retrain_epochs, trial_model
from automl.storage._snapshot import StoredTrial

_NOW = dt.datetime(2026, 12, 2)


def _trial(value: float, history: dict[str, list[float]], **attrs: Any) -> StoredTrial:
    return StoredTrial(0, "COMPLETE", [value], {}, _NOW, _NOW, {f"automl:{k}": v for k, v in attrs.items()},
                       {"automl:history": history})


def test_retraining_runs_as_many_epochs_as_the_kept_weights_had() -> None:
    history = {"val_accuracy": [0.5, 0.8, 0.7, 0.75, 0.6], "loss": [1.0, 0.5, 0.4, 0.3, 0.2]}
    stopped = "early stopping after epoch 5: val_accuracy did not improve by more than 0 for 3 epochs"
    es = {"epochs": 60, "early_stopping": {"patience": 3}}
    # early stopping restored epoch 2's weights: the trial's model had trained 2 epochs
    assert retrain_epochs(es, _trial(0.8, history, stopped_early=stopped, epochs=5)) == 2
    # without restoring, the model had trained all 5
    keep_last = {"epochs": 60, "early_stopping": {"patience": 3, "restore_best_weights": False}}
    assert retrain_epochs(keep_last, _trial(0.6, history, stopped_early=stopped, epochs=5)) == 5
    # a trial that ran to its end: the configuration's epochs
    assert retrain_epochs({"epochs": 5}, _trial(0.6, history, epochs=5)) == 5


def test_a_retrained_model_follows_the_trials_schedule(tiny_space: dict[str, Any], tmp_path: Path) -> None:
    space = copy.deepcopy(tiny_space)
    space["optimizer"]["schedule"] = {"type": "cosine", "alpha": 0.0}
    url = f"sqlite:///{tmp_path / 's.db'}"
    automl.search(space, "digits", n_trials=1, storage=url, study_name="s", seed=0, epochs=2)
    study = optuna.load_study(study_name="s", storage=url)
    seen: list[int] = []
    model, trial, _ = trial_model(study, url, retrain=True, on_epoch=lambda e, n, logs: seen.append(e))
    assert seen == [1, 2]
    # cosine decay to 0 over the retraining's steps: the rate at the end is 0, not the start's
    start = trial.params["learning_rate"]
    assert float(model.optimizer.learning_rate) < 0.01 * start


def test_predictions_are_written_in_the_fewest_digits_that_read_back_the_same(tmp_path: Path) -> None:
    """preds.csv held the float64 expansion of a float32 output: 326.89996337890625."""
    import csv

    import numpy as np

    from automl._predict import write_csv

    price = np.array([326.89996337890625, 0.1, 1e-8], dtype=np.float32)
    write_csv({"prediction": np.array(["a", "b", "c"]), "price": price, "exact": price.astype(np.float64)},
              tmp_path / "p.csv")
    rows = list(csv.DictReader((tmp_path / "p.csv").open()))
    assert [r["price"] for r in rows] == ["326.89996", "0.1", "1e-08"]
    assert np.array_equal(np.array([float(r["price"]) for r in rows], dtype=np.float32), price)
    assert [float(r["exact"]) for r in rows] == price.astype(np.float64).tolist()  # float64 keeps its digits
    assert [r["prediction"] for r in rows] == ["a", "b", "c"]
