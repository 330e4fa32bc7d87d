"""Training options at work: schedules change the learning rate, early stopping stops, the rest
reaches Keras."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from automl.data import load_data
from automl.engines import Decision, TrialSpec
from automl.model import build_model
from automl.runner import InProcessExecutor
from automl.space import parse_space
from tests.space.test_parse import RandomHP

STEPS = 4  # batches an epoch in the fits below: 64 samples, batches of 16


def _config(**extra: Any) -> dict[str, Any]:
    return {"layers": [{"type": "dense", "units": 4}], "optimizer": {"name": "sgd", "learning_rate": 0.1},
            "epochs": 4, "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"], **extra}


def _rates(config: dict[str, Any], epochs: int = 4) -> list[float]:
    """The optimizer's learning rate after each epoch of a fit of ``STEPS`` batches."""
    import keras

    model = build_model(config, (3,), 2, steps_per_epoch=STEPS)
    seen: list[float] = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: seen.append(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))))
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 3), dtype=np.float32), rng.integers(0, 2, 64)
    model.fit(x, y, epochs=epochs, batch_size=16, verbose=0, callbacks=[record], validation_data=(x, y))
    return seen


def test_cosine_with_warmup_rises_then_decays_to_the_floor() -> None:
    rates = _rates(_config(schedule={"type": "cosine", "warmup_epochs": 1, "alpha": 0.1}))
    assert rates[0] == pytest.approx(0.1)  # the end of the warm-up: the configured rate
    assert rates[0] > rates[1] > rates[2] > rates[3]
    assert rates[3] == pytest.approx(0.01)  # decayed over the 3 epochs left, to alpha x rate


def test_exponential_and_piecewise_count_in_epochs() -> None:
    rates = _rates(_config(schedule={"type": "exponential", "decay_rate": 0.5, "staircase": True}))
    assert rates == pytest.approx([0.05, 0.025, 0.0125, 0.00625])
    rates = _rates(_config(schedule={"type": "piecewise", "boundaries": [2], "factor": 0.1}))
    # PiecewiseConstantDecay switches after the boundary step: epoch 2's last step is still 0.1.
    assert rates[0] == pytest.approx(0.1) and rates[2:] == pytest.approx([0.01, 0.01])


def test_constant_and_plateau_keep_a_number_without_steps() -> None:
    model = build_model(_config(schedule={"type": "cosine"}), (3,), 2)  # no steps: rebuilt to load weights
    assert float(model.optimizer.learning_rate) == pytest.approx(0.1)


def test_optimizer_options_and_label_smoothing_reach_keras() -> None:
    config = _config(optimizer={"name": "adam", "learning_rate": 0.01, "weight_decay": 0.001,
                                "clipvalue": 0.5}, label_smoothing=0.2)
    model = build_model(config, (3,), 2)
    opt = model.optimizer
    assert (opt.weight_decay, opt.clipvalue) == pytest.approx((0.001, 0.5))
    import keras

    y_pred = keras.ops.convert_to_tensor(np.array([[0.9, 0.1]], dtype=np.float32))
    smoothed = float(model.loss(np.array([0]), y_pred))
    expected = -(0.9 * np.log(0.9) + 0.1 * np.log(0.1))  # targets [0.9, 0.1] after smoothing by 0.2
    assert smoothed == pytest.approx(expected, rel=1e-4)


def _executor(training: dict[str, Any], optimizer: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    space = parse_space({"model": {"layers": [{"type": "dense", "units": 8}]},
                         "optimizer": {"name": "adam", "learning_rate": 0.01, **(optimizer or {})},
                         "training": {"batch_size": 128, "epochs": 6, **training}})
    return InProcessExecutor(space, load_data("digits")), space.sample(RandomHP(0))


def _continue(epoch: int, metrics: dict[str, float]) -> Decision:
    return Decision.CONTINUE


def test_early_stopping_stops_a_plateau_and_the_trial_is_complete() -> None:
    # A learning rate of 1e-12: nothing improves, so the trial stops after patience epochs.
    ex, config = _executor({"early_stopping": {"patience": 1, "min_delta": 0.01}}, {"learning_rate": 1e-12})
    out = ex.run(TrialSpec(0, {}, config, epochs=6), _continue)
    assert out.state == "complete"
    assert len(out.history["loss"]) == 2 < 6
    assert out.stopped_early and "early stopping after epoch 2" in out.stopped_early
    assert out.value == out.history["val_accuracy"][0]  # the best epoch's weights were restored


def test_plateau_lowers_the_rate_when_the_objective_stalls() -> None:
    import keras

    from automl.model._training import training_callbacks

    # min_delta 10: no epoch counts as an improvement, so each epoch after the first halves the rate.
    config = _config(schedule={"type": "plateau", "factor": 0.5, "patience": 0, "min_delta": 10.0})
    model = build_model(config, (3,), 2, steps_per_epoch=STEPS)
    callbacks = training_callbacks(keras, config, "val_loss", "minimize")
    assert [type(c).__name__ for c in callbacks] == ["ReduceLROnPlateau"]
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 3), dtype=np.float32), rng.integers(0, 2, 64)
    model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=callbacks, validation_data=(x, y))
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.1 * 0.5**2)


def test_a_trial_that_improves_runs_all_its_epochs() -> None:
    ex, config = _executor({"epochs": 3, "early_stopping": {"patience": 5}})
    out = ex.run(TrialSpec(0, {}, config, epochs=3), _continue)
    assert out.state == "complete" and len(out.history["loss"]) == 3 and out.stopped_early is None


def test_a_trial_with_a_schedule_trains_through_the_executor() -> None:
    ex, config = _executor({"epochs": 2}, {"schedule": {"type": "cosine", "warmup_epochs": 1}})
    out = ex.run(TrialSpec(0, {}, config, epochs=2), _continue)
    assert out.state == "complete" and len(out.history["loss"]) == 2 and np.isfinite(out.value)
