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
import pytest

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


def test_an_image_model_exported_or_predicted_through_takes_raw_pixels(
        tiny_space: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The data path divides pixels by 255; the exported model once left that out, so that
    raw images (what a user has) were predicted as if every pixel were saturated."""
    import keras
    import numpy as np

    from automl._export import export_model
    from automl.data import load_data
    from automl.storage import load_study, open_storage
    from tests.data.fakes import image_folder

    folder = image_folder(tmp_path / "imgs", {"cats": 12, "dogs": 12}, size=(8, 8))
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("AUTOML_CACHE", str(tmp_path / "cache"))
    automl.search(tiny_space, str(folder), n_trials=1, epochs=2, storage=url, study_name="imgs", seed=0)
    study = load_study(open_storage(url), "imgs")
    export_model(study, url, tmp_path / "m.keras")
    ds = load_data(str(folder), val_split=0.2, seed=0)
    searched = trial_model(study, url)[0].predict(ds.x_val, verbose=0)
    raw = np.rint(np.asarray(ds.x_val) * 255).astype(np.uint8)  # the images' own pixels
    assert raw.max() > 1 and np.array_equal(raw / np.float32(255), ds.x_val)
    columns = automl.predict("imgs", raw, storage=url)
    model = keras.saving.load_model(tmp_path / "m.keras")
    assert model.layers[1].name == "input_scale"
    np.testing.assert_allclose(model.predict(raw, verbose=0), searched, atol=1e-5)
    scores = model.evaluate(raw, ds.y_val, verbose=0, return_dict=True)
    assert scores["accuracy"] == pytest.approx(study.best_value, abs=1e-6)
    np.testing.assert_allclose(columns["p_dogs"], searched[:, 0], atol=1e-5)  # two classes: binary, p(dogs)


def test_evaluate_on_other_data_scales_its_samples_as_the_study_did(
        tiny_space: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``evaluate --data`` reads other data as it is held: a study of an image folder (its
    pixels divided by 255 in the data path) once scored a ``.npz`` of the same images'
    raw pixels as they were, so every pixel looked saturated and the scores meant nothing."""
    import numpy as np

    from automl._export import evaluate_model, trial_model
    from automl.data import load_data
    from automl.storage import load_study, open_storage
    from tests.data.fakes import image_folder

    folder = image_folder(tmp_path / "imgs", {"cats": 16, "dogs": 16}, size=(8, 8))
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("AUTOML_CACHE", str(tmp_path / "cache"))
    automl.search(tiny_space, str(folder), n_trials=1, epochs=2, storage=url, study_name="imgs", seed=0,
                  test_split=0.25)
    study = load_study(open_storage(url), "imgs")
    ds = load_data(str(folder), val_split=0.2, test_split=0.25, seed=0)
    assert ds.x_test is not None and ds.y_test is not None

    def raw(x: Any) -> Any:
        return np.rint(np.asarray(x) * 255).astype(np.uint8)

    npz = tmp_path / "same.npz"
    np.savez(npz, x_train=raw(ds.x_train), y_train=ds.y_train, x_test=raw(ds.x_test), y_test=ds.y_test)
    own = evaluate_model(study, url, None)
    other = evaluate_model(study, url, str(npz))
    assert other["test_samples"] == own["test_samples"] == len(ds.y_test)
    assert other["loss"] == pytest.approx(own["loss"], rel=1e-5)
    assert other["accuracy"] == pytest.approx(own["accuracy"], abs=1e-6)

    # And the other way: a study of raw pixels in a .npz, scored on the folder (divided by
    # its loader) as its model scores the same images' raw pixels.
    np.savez(npz, x_train=raw(ds.x_train), y_train=ds.y_train)
    automl.search(tiny_space, str(npz), n_trials=1, epochs=2, storage=url, study_name="raw", seed=0,
                  test_split=0.25)
    study = load_study(open_storage(url), "raw")
    model, _, _ = trial_model(study, url)
    want = model.evaluate(raw(ds.x_test), ds.y_test, verbose=0, return_dict=True)
    other = evaluate_model(study, url, str(folder))
    assert other["test_samples"] == len(ds.y_test)
    assert other["loss"] == pytest.approx(want["loss"], rel=1e-5)
    assert other["accuracy"] == pytest.approx(want["accuracy"], abs=1e-6)
