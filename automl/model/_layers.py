"""One configuration entry → Keras layers: plain layers, wrapped layers and residual blocks.

Only Keras's own layers are used (``Add`` for the residual sum, 1×1 convolutions and
``Dense`` for projections), so a saved model reloads with plain ``keras.saving.load_model``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from automl.errors import ModelBuildError
from automl.model._init import host_initializers, host_weights
from automl.space._catalog import LAYERS

__all__ = ["apply_entry", "make_layer"]


def make_layer(keras: Any, layer: dict[str, Any], name: str) -> Any:
    """The Keras layer of one configuration entry (``{"type": ..., args}``)."""
    lt = LAYERS[layer["type"]]
    kwargs: dict[str, Any] = {}
    for k, v in layer.items():
        if k == "type":
            continue
        if k == "kernel_regularizer":
            # One regularizer object per weight it applies to (Keras serializes each).
            kwargs.update({target: keras.regularizers.L1L2(l1=float(v.get("l1", 0.0)), l2=float(v.get("l2", 0.0)))
                           for target in lt.regularizes})
        elif k == "layer":
            kwargs["layer"] = make_layer(keras, v, f"{name}_{v['type']}")
        else:
            kwargs[k] = tuple(v) if isinstance(v, list) else v
    return getattr(keras.layers, lt.keras_class)(name=name, **kwargs)


def call_layer(keras: Any, layer: Any, x: Any, rng: np.random.Generator) -> Any:
    """``layer(x)``, its weights drawn on the host (no XLA program per weight shape on JAX).

    Recurrent and wrapping layers keep their initializers in inner cells: every weight
    they add is drawn on the host instead (``host_weights``)."""
    if isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional)):
        with host_weights(rng):
            return layer(x)
    with host_initializers(layer, rng):
        return layer(x)


def apply_entry(keras: Any, entry: dict[str, Any], x: Any, name: str, rng: np.random.Generator) -> Any:
    """Apply one configuration entry to the tensor ``x``: a layer, or a residual block."""
    if entry["type"] == "random_crop":
        return _random_crop(keras, entry, x, f"{name}_random_crop")
    if entry["type"] != "residual":
        return call_layer(keras, make_layer(keras, entry, f"{name}_{entry['type']}"), x, rng)
    y = x
    for j, layer in enumerate(entry["layers"]):
        y = call_layer(keras, make_layer(keras, layer, f"{name}_{j}_{layer['type']}"), y, rng)
    shortcut = _projection(keras, tuple(x.shape[1:]), tuple(y.shape[1:]), name, rng, x)
    out = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    norm = entry.get("norm")
    if norm in ("batch_norm", "layer_norm"):
        out = call_layer(keras, make_layer(keras, {"type": norm}, f"{name}_{norm}"), out, rng)
    if entry.get("activation"):
        out = keras.layers.Activation(entry["activation"], name=f"{name}_activation")(out)
    return out


def _random_crop(keras: Any, entry: dict[str, Any], x: Any, name: str) -> Any:
    """A random window of ``height`` × ``width`` in training, the centre one at inference.

    Built as a whole-pixel ``RandomTranslation`` of at most the margin, then ``CenterCrop``:
    Keras 3.15's ``RandomCrop`` returns the uncropped image at inference (its static shape
    says cropped), which breaks every layer after it when the model predicts.
    """
    height, width = int(entry["height"]), int(entry["width"])
    size_h, size_w = int(x.shape[1]), int(x.shape[2])
    factor_h, factor_w = max(size_h - height, 0) / (2 * size_h), max(size_w - width, 0) / (2 * size_w)
    if factor_h or factor_w:
        x = keras.layers.RandomTranslation(factor_h, factor_w, fill_mode="constant", interpolation="nearest",
                                           name=f"{name}_shift")(x)
    return keras.layers.CenterCrop(height, width, name=name)(x)


def _projection(keras: Any, shape_in: tuple[int, ...], shape_out: tuple[int, ...], name: str,
                rng: np.random.Generator, x: Any) -> Any:
    """``x`` itself when the block kept its shape; else a 1×1 convolution (a ``Dense`` on flat
    features) with the strides that give the block's output shape."""
    if shape_in == shape_out:
        return x
    if len(shape_in) != len(shape_out):
        raise ModelBuildError(f"the residual block {name} takes shape {shape_in} and gives {shape_out}: "
                              f"a different rank cannot be added")
    if len(shape_in) == 1:
        proj = keras.layers.Dense(shape_out[-1], use_bias=False, name=f"{name}_projection")
        return call_layer(keras, proj, x, rng)
    strides = tuple(_stride(a, b) for a, b in zip(shape_in[:-1], shape_out[:-1]))
    if any(s is None for s in strides):
        raise ModelBuildError(f"the residual block {name} takes shape {shape_in} and gives {shape_out}: no strided "
                              f"1x1 projection maps one onto the other (the block grows a spatial axis)")
    cls = keras.layers.Conv1D if len(shape_in) == 2 else keras.layers.Conv2D
    proj = cls(shape_out[-1], 1, strides=strides, padding="same", use_bias=False, name=f"{name}_projection")
    return call_layer(keras, proj, x, rng)


def _stride(size_in: int | None, size_out: int | None) -> int | None:
    """The smallest stride ``s`` with ``ceil(size_in / s) == size_out`` (``same`` padding)."""
    if size_in is None or size_out is None or size_out > size_in:
        return None
    for s in range(max(size_in // size_out, 1), size_in + 1):
        if math.ceil(size_in / s) == size_out:
            return s
        if math.ceil(size_in / s) < size_out:
            break
    return None
