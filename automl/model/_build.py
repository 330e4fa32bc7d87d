"""A concrete configuration (from ``Space.sample``) → a compiled Keras model.

Backend-neutral: only ``keras.layers``/``keras.optimizers``, no backend-specific calls.
The functional API, so that a residual block can add its input to its output.
"""

from __future__ import annotations

from typing import Any

from automl.errors import ModelBuildError
from automl.model._backend import import_keras
from automl.model._init import trial_rng
from automl.model._layers import apply_entry, call_layer
from automl.model._training import build_loss, build_metrics, build_optimizer, learning_rate, precision_policy
from automl.space._shapes import RankError, effective_input_shape

__all__ = ["build_model", "build_optimizer", "count_params"]


def build_model(config: dict[str, Any], input_shape: tuple[int, ...], num_classes: int, *,
                steps_per_epoch: int | None = None, runtime_values: bool = False) -> Any:
    """Build and compile the model of one trial.

    A channel axis is added to the input where the first conv/pool layer needs one, and a
    ``Flatten`` before the output layer when the last feature map is not flat. The output
    layer is ``Dense(num_classes, output_activation)``, or the head of the configuration's
    task (``config["head"]``: binary, multi-label, regression). A table's model starts with
    a Keras ``Normalization`` (``config["head"]["inputs"]``: the training split's mean and
    variance per encoded column), so that it takes encoded rows on every backend. ``steps_per_epoch`` (training
    batches an epoch) turns a schedule written in epochs into steps; without it the
    learning rate is the configuration's constant (enough to load weights and predict).
    Raises :class:`ModelBuildError` when Keras rejects the configuration (a kernel larger
    than its input, say). ``config["precision"]`` (a Keras dtype policy) is the policy its
    layers are made with, the output layer's float32.

    ``runtime_values``: dropout rates and the optimizer's coefficients are variables, not
    constants of the compiled program (``_runtime.py``), so that on JAX trials which differ
    only in them share compiled programs; the results are the same. For training: a model
    saved whole then names automl's classes, and plain Keras reads only the default one.
    """
    keras = import_keras()
    with precision_policy(keras, config.get("precision")):
        return _compiled(keras, config, input_shape, num_classes, steps_per_epoch, runtime_values)


def _compiled(keras: Any, config: dict[str, Any], input_shape: tuple[int, ...], num_classes: int,
              steps_per_epoch: int | None, runtime: bool) -> Any:
    try:
        shape = effective_input_shape(config["layers"], tuple(input_shape))
    except RankError as e:
        raise ModelBuildError(f"the model cannot be built: {e.path}: {e.message}") from None
    try:
        inputs = keras.Input(shape=tuple(input_shape))
        x = inputs
        norm = (config.get("head") or {}).get("inputs")
        if norm:  # a table's numeric columns, standardized by the training split's statistics
            x = keras.layers.Normalization(mean=norm["mean"], variance=norm["variance"], name="standardize")(x)
        if shape != tuple(input_shape):
            x = keras.layers.Reshape(shape)(x)
        rng = trial_rng()
        for i, layer in enumerate(config["layers"]):
            x = apply_entry(keras, layer, x, f"l{i}", rng, runtime)
        if len(x.shape) > 2:
            x = keras.layers.Flatten(name="head_flatten")(x)
        outputs = _head(keras, config, x, num_classes, rng)
        model = keras.Model(inputs, outputs)
        _jit_augmentation(keras, model)
        optimizer = build_optimizer(config["optimizer"], learning_rate(config, steps_per_epoch),
                                    runtime_values=runtime)
        model.compile(optimizer=optimizer, loss=build_loss(config), metrics=build_metrics(config))
    except (ValueError, TypeError) as e:
        raise ModelBuildError(f"the model cannot be built: {e}") from e
    return model


# Augmentation layers Keras marks ``supports_jit = False`` on every backend (TensorFlow's
# projective transform is not XLA's), which makes ``compile(jit_compile="auto")`` train the
# whole model op by op; on JAX their transform is jax.scipy's and compiles
# (tests/model/test_layers.py; speed: benchmarks/README.md).
_JIT_ON_JAX = ("RandomTranslation", "RandomRotation", "RandomZoom")


def _jit_augmentation(keras: Any, model: Any) -> None:
    if keras.backend.backend() != "jax":
        return
    for layer in model._flatten_layers():  # noqa: SLF001 - what Keras's own model_supports_jit walks
        if type(layer).__name__ in _JIT_ON_JAX:
            layer.supports_jit = True


# The head's activation per task; classification's is the configuration's (softmax by default).
_ACTIVATIONS = {"binary": "sigmoid", "multilabel": "sigmoid", "regression": "linear"}


def _head(keras: Any, config: dict[str, Any], x: Any, num_classes: int, rng: Any) -> Any:
    """The output layer of the configuration's task (``config["head"]``, absent for
    classification): ``Dense(num_classes, output_activation)``; one sigmoid unit (binary);
    a sigmoid unit per label (multi-label); a linear unit per target, followed by a Keras
    ``Normalization(invert=True)`` that turns the standardized outputs into the targets'
    own units (regression: the network learns standardized targets, the model predicts
    values in the data's units, and runs on every backend)."""
    head = config.get("head") or {}
    task = head.get("task", "classification")
    units = int(head.get("units", num_classes))
    activation = _ACTIVATIONS.get(task) or config.get("output_activation", "softmax")
    out = call_layer(keras, keras.layers.Dense(units, activation=activation, name="head", dtype="float32"), x, rng)
    if task == "regression":
        std = [float(s) for s in head["std"]]
        out = keras.layers.Normalization(mean=[float(m) for m in head["mean"]], variance=[s * s for s in std],
                                         invert=True, name="target_units", dtype="float32")(out)
    return out


def count_params(model: Any) -> int:
    return int(model.count_params())
