"""A configuration's training options → Keras objects: the optimizer with its learning-rate
schedule, the loss (label smoothing), the callbacks (early stopping, reduce on plateau), and
the dtype policy its model is built under (mixed precision).

Schedules are written in epochs and run in steps: ``steps_per_epoch`` is the number of
training batches an epoch of the trial has, which the executor knows.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

from automl.model._backend import import_keras
from automl.model._runtime import runtime_optimizer_class
from automl.space._catalog import OPTIMIZERS

__all__ = ["build_optimizer", "build_loss", "build_metrics", "custom_objects", "learning_rate", "precision_policy",
           "training_callbacks", "early_stopping_result"]

# Defaults of the options a space leaves out (Keras's own where they suit a search).
_PATIENCE = 3


@contextlib.contextmanager
def precision_policy(keras: Any, precision: str | None) -> Iterator[None]:
    """Keras's global dtype policy is ``precision`` (default float32) while a trial's model
    is built, and the one before it afterwards: each layer keeps the policy it was made
    with, and a persistent worker's next trial may ask for another.

    A mixed policy computes in 16 bits and keeps float32 variables; Keras wraps the
    optimizer of a ``mixed_float16`` model in a ``LossScaleOptimizer`` when it compiles.
    The caller keeps the output layer in float32 (a numerically safe softmax and loss)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision or "float32")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_optimizer(config: dict[str, Any], learning_rate: Any = None, *, runtime_values: bool = False) -> Any:
    """The Keras optimizer of ``config["optimizer"]`` (name, learning_rate, options);
    ``learning_rate`` (a schedule) replaces the configuration's number when given.
    ``runtime_values``: its subclass whose coefficients are variables (``_runtime.py``), so
    that they are not constants of the compiled program."""
    keras = import_keras()
    opt = dict(config)
    name = opt.pop("name")
    if learning_rate is not None:
        opt["learning_rate"] = learning_rate
    keras_class = OPTIMIZERS[name][0]
    if runtime_values:
        return runtime_optimizer_class(keras_class)(**opt)
    return getattr(keras.optimizers, keras_class)(**opt)


def learning_rate(config: dict[str, Any], steps_per_epoch: int | None) -> Any:
    """The optimizer's learning rate: the configuration's number, or a Keras schedule.

    Without ``steps_per_epoch`` (a model rebuilt only to load weights into) the schedule is
    left out: it matters only to training.
    """
    keras = import_keras()
    lr = float(config["optimizer"]["learning_rate"])
    sch = config.get("schedule") or {}
    kind = sch.get("type", "constant")
    if kind in ("constant", "plateau") or not steps_per_epoch:
        return lr
    steps = int(steps_per_epoch)
    s = keras.optimizers.schedules
    if kind == "cosine":
        warmup = int(sch.get("warmup_epochs", 0)) * steps
        decay = int(sch.get("decay_epochs", max(int(config["epochs"]) - int(sch.get("warmup_epochs", 0)), 1))) * steps
        if warmup:
            return s.CosineDecay(0.0, decay, alpha=float(sch.get("alpha", 0.0)), warmup_target=lr, warmup_steps=warmup)
        return s.CosineDecay(lr, decay, alpha=float(sch.get("alpha", 0.0)))
    if kind == "exponential":
        return s.ExponentialDecay(lr, int(sch.get("decay_epochs", 1)) * steps, float(sch.get("decay_rate", 0.9)),
                                  staircase=bool(sch.get("staircase", False)))
    if kind == "piecewise":
        bounds = [int(b) * steps for b in sch["boundaries"]]
        factor = float(sch.get("factor", 0.1))
        return s.PiecewiseConstantDecay(bounds, [lr * factor**i for i in range(len(bounds) + 1)])
    raise ValueError(f"unknown learning-rate schedule {kind!r}")


# Regression losses by the names a space gives them, as Keras's functions.
_REGRESSION_LOSSES = {"mse": "mean_squared_error", "mae": "mean_absolute_error", "huber": "huber"}


def build_loss(config: dict[str, Any], *, plain: bool = False) -> Any:
    """The configuration's loss: its name, sparse cross-entropy with label smoothing, or a
    regression loss computed on standardized targets (``config["head"]``'s std), which
    is what the network learns whatever the targets' units.

    ``plain``: Keras's own loss without automl's classes (in the targets' units for
    regression): what an exported model is compiled with, so that plain
    ``keras.saving.load_model`` reads it.
    """
    head = config.get("head") or {}
    if head.get("task") == "regression":
        name = _REGRESSION_LOSSES[config["loss"]]
        return name if plain else _standardized_loss_class()(name, [float(s) for s in head["std"]])
    smoothing = float(config.get("label_smoothing") or 0.0)
    if not smoothing or plain:
        return config["loss"]
    return _smoothed_loss_class()(label_smoothing=smoothing)


def build_metrics(config: dict[str, Any]) -> list[Any]:
    """The configuration's metrics as Keras metrics, logged under their names: ``accuracy``
    and ``auc`` on sigmoid outputs (binary, multi-label), ``mae`` and ``rmse`` in the
    targets' units (regression); classification's names as Keras reads them."""
    keras = import_keras()
    task = (config.get("head") or {}).get("task", "classification")
    if task == "classification":
        return list(config["metrics"])
    made = {"accuracy": lambda: keras.metrics.BinaryAccuracy(name="accuracy"),
            "auc": lambda: keras.metrics.AUC(name="auc", multi_label=task == "multilabel"),
            "mae": lambda: keras.metrics.MeanAbsoluteError(name="mae"),
            "rmse": lambda: keras.metrics.RootMeanSquaredError(name="rmse")}
    return [made[m]() for m in config["metrics"]]


def custom_objects() -> dict[str, Any]:
    """automl's own Keras objects, for ``keras.saving.load_model(path, custom_objects=...)``
    in a process that has not built an automl model (label smoothing's loss, the
    standardized regression loss of a trial's model; exported models need neither)."""
    return {"automl>SparseCategoricalCrossentropyWithSmoothing": _smoothed_loss_class(),
            "automl>StandardizedLoss": _standardized_loss_class()}


@functools.cache
def _standardized_loss_class() -> type:
    """A regression loss on standardized targets: ``loss(y / std, y_pred / std)``. The
    model predicts in the targets' units; the mean cancels in the difference, so only the
    scale is needed. Registered, so that a saved trial's model names it."""
    keras = import_keras()

    @keras.saving.register_keras_serializable(package="automl")
    class StandardizedLoss(keras.losses.Loss):  # type: ignore[misc, name-defined]
        def __init__(self, base: str = "mean_squared_error", scale: list[float] | None = None,
                     name: str | None = None, **kwargs: Any) -> None:
            super().__init__(name=name or base, **kwargs)
            self.base, self.scale = base, [float(s) for s in (scale or [1.0])]

        def call(self, y_true: Any, y_pred: Any) -> Any:
            ops = keras.ops
            scale = ops.convert_to_tensor(self.scale, dtype=y_pred.dtype)
            y_true = ops.reshape(ops.cast(y_true, y_pred.dtype), ops.shape(y_pred))
            return getattr(keras.losses, self.base)(y_true / scale, y_pred / scale)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "base": self.base, "scale": self.scale}

    return StandardizedLoss


@functools.cache
def _smoothed_loss_class() -> type:
    """Keras's sparse cross-entropy has no label smoothing: one-hot labels through the
    categorical one that has. Registered, so that a saved model names it."""
    keras = import_keras()

    @keras.saving.register_keras_serializable(package="automl")
    class SparseCategoricalCrossentropyWithSmoothing(keras.losses.Loss):  # type: ignore[misc, name-defined]
        def __init__(self, label_smoothing: float = 0.0, name: str = "sparse_categorical_crossentropy",
                     **kwargs: Any) -> None:
            super().__init__(name=name, **kwargs)
            self.label_smoothing = float(label_smoothing)

        def call(self, y_true: Any, y_pred: Any) -> Any:
            ops = keras.ops
            labels = ops.reshape(ops.cast(y_true, "int32"), (-1,))
            one_hot = ops.one_hot(labels, ops.shape(y_pred)[-1], dtype=y_pred.dtype)
            return keras.losses.categorical_crossentropy(one_hot, y_pred, label_smoothing=self.label_smoothing)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "label_smoothing": self.label_smoothing}

    return SparseCategoricalCrossentropyWithSmoothing


def training_callbacks(keras: Any, config: dict[str, Any], monitor: str, direction: str) -> list[Any]:
    """Early stopping and reduce-on-plateau, as the configuration asks, watching ``monitor``
    (the objective) in ``direction``."""
    mode = "max" if direction == "maximize" else "min"
    out: list[Any] = []
    es = config.get("early_stopping")
    if es is not None:
        out.append(keras.callbacks.EarlyStopping(
            monitor=monitor, mode=mode, patience=int(es.get("patience", _PATIENCE)),
            min_delta=float(es.get("min_delta", 0.0)), restore_best_weights=bool(es.get("restore_best_weights", True)),
            start_from_epoch=int(es.get("start_from_epoch", 0))))
    sch = config.get("schedule") or {}
    if sch.get("type") == "plateau":
        out.append(keras.callbacks.ReduceLROnPlateau(
            monitor=monitor, mode=mode, factor=float(sch.get("factor", 0.5)), patience=int(sch.get("patience", 2)),
            min_lr=float(sch.get("min_lr", 0.0)), cooldown=int(sch.get("cooldown", 0)),
            min_delta=float(sch.get("min_delta", 1e-4))))
    return out


def early_stopping_result(keras: Any, callbacks: list[Any], history: dict[str, list[float]], objective: str,
                          initial_epoch: int = 0) -> tuple[str | None, float | None]:
    """(why training stopped early or None, the objective of the weights the model now has
    when early stopping restored its best epoch's, else None)."""
    for cb in callbacks:
        if not isinstance(cb, keras.callbacks.EarlyStopping):
            continue
        reason = None
        if cb.stopped_epoch > 0:
            reason = (f"early stopping after epoch {cb.stopped_epoch + 1}: {cb.monitor} did not improve by more "
                      f"than {abs(cb.min_delta):g} for {cb.patience} epochs (best at epoch {cb.best_epoch + 1})")
        values = history.get(objective) or []
        k = cb.best_epoch - initial_epoch
        restored = cb.restore_best_weights and cb.best_weights is not None and 0 <= k < len(values)
        return reason, values[k] if restored else None
    return None, None
