"""Each task's head, loss and metrics, trained for real on tiny data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from automl.data import load_data
from automl.model import build_model, import_keras
from automl.space import parse_space
from automl.space._hp import FixedHP
from automl.space._task import for_task

SPACE: dict[str, Any] = {"name": "t", "model": {"layers": [{"type": "dense", "units": 16, "activation": "relu"}]},
                         "optimizer": {"name": "adam", "learning_rate": 0.01},
                         "training": {"batch_size": 32, "epochs": 2, "metrics": ["accuracy"]},
                         "objective": {"metric": "val_accuracy", "direction": "maximize"}}


def _model(data: Any, **space: Any) -> tuple[Any, dict[str, Any], Any]:
    s = for_task(parse_space({**SPACE, **space}), data.task, data.head())
    config = s.sample(FixedHP({}))
    return build_model(config, data.input_shape, data.num_classes), config, s


def _regression(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    y = 1000.0 + 250.0 * x[:, 0] - 80.0 * x[:, 1]  # far from unit scale: standardization matters
    return x, y.astype("float32")


def test_regression_head_predicts_in_target_units_and_metrics_are_in_those_units() -> None:
    keras = import_keras()
    data = load_data(_regression())
    assert data.task == "regression" and data.num_classes == 1
    model, config, space = _model(data)
    assert config["loss"] == "mse" and config["metrics"] == ["mae", "rmse"]
    assert space.objective.metric == "val_loss" and space.objective.direction == "minimize"
    assert model.layers[-1].name == "target_units" and model.output_shape == (None, 1)
    keras.utils.set_random_seed(0)
    hist = model.fit(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val), epochs=30,
                     batch_size=32, verbose=0).history
    pred = model.predict(data.x_val, verbose=0)
    err = pred - data.y_val
    # The logged metrics are the errors of the predictions, in the target's units.
    assert hist["val_mae"][-1] == pytest.approx(float(np.abs(err).mean()), rel=1e-3)
    assert hist["val_rmse"][-1] == pytest.approx(float(np.sqrt((err ** 2).mean())), rel=1e-3)
    # The loss is the standardized MSE: the RMSE over the target's std, squared.
    std = data.options["target_std"][0]
    assert hist["val_loss"][-1] == pytest.approx((hist["val_rmse"][-1] / std) ** 2, rel=1e-2)
    # It learned a linear function: errors far below the target's spread.
    assert hist["val_rmse"][-1] < 0.2 * std
    assert abs(float(pred.mean()) - float(data.y_val.mean())) < 0.2 * std


def test_several_regression_targets_and_selectable_loss() -> None:
    x, y = _regression()
    data = load_data((x, np.stack([y, -0.01 * y], axis=1)))
    assert data.task == "regression" and data.num_classes == 2 and data.y_train.shape[1] == 2
    model, config, _ = _model(data, training={"epochs": 1, "loss": "huber"})
    assert config["loss"] == "huber" and model.output_shape == (None, 2)
    hist = model.fit(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val), epochs=2,
                     verbose=0).history
    assert set(hist) >= {"loss", "mae", "rmse", "val_loss", "val_mae", "val_rmse"}
    assert np.isfinite(hist["val_loss"]).all()


def test_binary_head_is_one_sigmoid_unit_with_accuracy_and_auc() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 4)).astype("float32")
    y = np.where(x[:, 0] + x[:, 1] > 0, "spam", "ham")
    data = load_data((x, y))
    assert data.task == "binary" and data.options["class_names"] == ["ham", "spam"]
    model, config, space = _model(data)
    assert model.output_shape == (None, 1) and config["loss"] == "binary_crossentropy"
    assert config["metrics"] == ["accuracy", "auc"] and space.objective.metric == "val_accuracy"
    hist = model.fit(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val), epochs=20,
                     verbose=0).history
    prob = model.predict(data.x_val, verbose=0)[:, 0]
    assert ((prob > 0.5) == data.y_val).mean() == pytest.approx(hist["val_accuracy"][-1], abs=1e-6)
    assert hist["val_accuracy"][-1] > 0.85 and hist["val_auc"][-1] > 0.9


def test_multilabel_head_is_a_sigmoid_per_label() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 4)).astype("float32")
    y = np.stack([x[:, 0] > 0, x[:, 1] > 0, x[:, 2] + x[:, 3] > 0], axis=1).astype(int)
    data = load_data((x, y))
    assert data.task == "multilabel" and data.num_classes == 3
    model, config, _ = _model(data)
    assert model.output_shape == (None, 3) and model.layers[-1].activation.__name__ == "sigmoid"
    hist = model.fit(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val), epochs=20,
                     verbose=0).history
    pred = model.predict(data.x_val, verbose=0) > 0.5
    assert (pred == data.y_val).mean() == pytest.approx(hist["val_accuracy"][-1], abs=1e-6)
    assert hist["val_accuracy"][-1] > 0.8


def test_classification_configs_are_unchanged() -> None:
    data = load_data("digits")
    s = for_task(parse_space(SPACE), data.task, data.head())
    assert "head" not in s.sample(FixedHP({})) and s.objective.metric == "val_accuracy"
