"""A concrete configuration (from ``Space.sample``) → a compiled Keras model.

Backend-neutral: only ``keras.layers``/``keras.optimizers``, no backend-specific calls.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from automl.errors import ModelBuildError
from automl.model._backend import import_keras
from automl.model._init import host_initializers, trial_rng
from automl.space._catalog import LAYERS, OPTIMIZERS
from automl.space._space import effective_input_shape

__all__ = ["build_model", "build_optimizer", "count_params"]


def build_optimizer(config: dict[str, Any]) -> Any:
    """The Keras optimizer of ``config["optimizer"]`` (name, learning_rate, options)."""
    keras = import_keras()
    opt = dict(config)
    name = opt.pop("name")
    return getattr(keras.optimizers, OPTIMIZERS[name][0])(**opt)


def build_model(config: dict[str, Any], input_shape: tuple[int, ...], num_classes: int) -> Any:
    """Build and compile the model of one trial.

    A channel axis is added to the input where the first conv/pool layer needs one, and a
    ``Flatten`` before the output layer when the last feature map is not flat. The output
    layer is ``Dense(num_classes, output_activation)``. Raises :class:`ModelBuildError`
    when Keras rejects the configuration (a kernel larger than its input, say).
    """
    keras = import_keras()
    types = [layer["type"] for layer in config["layers"]]
    shape = effective_input_shape(types, tuple(input_shape))
    try:
        inputs = keras.Input(shape=tuple(input_shape))
        x = inputs
        if shape != tuple(input_shape):
            x = keras.layers.Reshape(shape)(x)
        rng = trial_rng()
        for i, layer in enumerate(config["layers"]):
            kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in layer.items() if k != "type"}
            cls = getattr(keras.layers, LAYERS[layer["type"]].keras_class)
            x = _call(cls(name=f"l{i}_{layer['type']}", **kwargs), x, rng)
        if len(x.shape) > 2:
            x = keras.layers.Flatten(name="head_flatten")(x)
        head = keras.layers.Dense(num_classes, activation=config.get("output_activation", "softmax"), name="head")
        outputs = _call(head, x, rng)
        model = keras.Model(inputs, outputs)
        model.compile(optimizer=build_optimizer(config["optimizer"]), loss=config["loss"],
                      metrics=list(config["metrics"]))
    except (ValueError, TypeError) as e:
        raise ModelBuildError(f"the model cannot be built: {e}") from e
    return model


def _call(layer: Any, x: Any, rng: np.random.Generator) -> Any:
    """``layer(x)``, its weights drawn on the host (no XLA program per weight shape on JAX)."""
    with host_initializers(layer, rng):
        return layer(x)


def count_params(model: Any) -> int:
    return int(model.count_params())
