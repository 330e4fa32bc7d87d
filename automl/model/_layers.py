"""One configuration entry → Keras layers: plain layers, wrapped layers, residual blocks,
and the blocks automl composes (transformer blocks, positional embeddings, random crops).

Only Keras's own layers are used (``Add`` for the residual sum, 1×1 convolutions and
``Dense`` for projections, ``MultiHeadAttention`` and ``LayerNormalization`` in a
transformer block, an ``EinsumDense`` table of positions), so a saved model reloads with
plain ``keras.saving.load_model``, in a process that has never imported automl. With
``runtime`` (training only), dropout and attention layers are ``_runtime.py``'s, whose
rates are variables.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from automl.errors import ModelBuildError
from automl.model._init import host_initializers, host_weights
from automl.model._runtime import runtime_attention_class, runtime_dropout_class
from automl.space._catalog import LAYERS

__all__ = ["apply_entry", "layer_class", "make_layer"]


def make_layer(keras: Any, layer: dict[str, Any], name: str, runtime: bool = False) -> Any:
    """The Keras layer of one configuration entry (``{"type": ..., args}``); with ``runtime``
    a dropout rate is a variable (:func:`layer_class`)."""
    lt = LAYERS[layer["type"]]
    kwargs: dict[str, Any] = {}
    for k, v in layer.items():
        if k == "type":
            continue
        if k == "kernel_regularizer":
            # One regularizer object per weight it applies to (Keras serializes each).
            kwargs.update({target: _l1l2(keras, v) for target in lt.regularizes})
        elif k == "layer":
            kwargs["layer"] = make_layer(keras, v, f"{name}_{v['type']}", runtime)
        else:
            kwargs[k] = tuple(v) if isinstance(v, list) else v
    return layer_class(keras, lt.keras_class, runtime)(name=name, **kwargs)


def layer_class(keras: Any, keras_class: str, runtime: bool = False) -> Any:
    """``keras.layers.<keras_class>``, or with ``runtime`` its subclass whose dropout rate is a
    variable (``Dropout``, ``MultiHeadAttention``): on JAX, trials that differ only in rates
    then share compiled programs. Recurrent layers' dropout stays Keras's constant."""
    if runtime and keras_class == "Dropout":
        return runtime_dropout_class()
    if runtime and keras_class == "MultiHeadAttention":
        return runtime_attention_class()
    return getattr(keras.layers, keras_class)


def _l1l2(keras: Any, factors: dict[str, Any]) -> Any:
    return keras.regularizers.L1L2(l1=float(factors.get("l1", 0.0)), l2=float(factors.get("l2", 0.0)))


def call_layer(keras: Any, layer: Any, x: Any, rng: np.random.Generator, *more: Any) -> Any:
    """``layer(x, *more)``, its weights drawn on the host (no XLA program per weight shape on JAX).

    Recurrent, wrapping and attention layers keep their initializers in inner layers: every
    weight they add is drawn on the host instead (``host_weights``)."""
    if isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional, keras.layers.MultiHeadAttention)):
        with host_weights(rng):
            return layer(x, *more)
    with host_initializers(layer, rng):
        return layer(x, *more)


def apply_entry(keras: Any, entry: dict[str, Any], x: Any, name: str, rng: np.random.Generator,
                runtime: bool = False) -> Any:
    """Apply one configuration entry to the tensor ``x``: a layer, a composed block, or a
    residual block; ``runtime``: rates as variables (:func:`layer_class`)."""
    compose = _COMPOSED.get(entry["type"])
    if compose is not None:
        return compose(keras, entry, x, f"{name}_{entry['type']}", rng, runtime)
    if entry["type"] != "residual":
        return call_layer(keras, make_layer(keras, entry, f"{name}_{entry['type']}", runtime), x, rng)
    y = x
    for j, layer in enumerate(entry["layers"]):
        y = apply_entry(keras, layer, y, f"{name}_{j}", rng, runtime)
    shortcut = _projection(keras, tuple(x.shape[1:]), tuple(y.shape[1:]), name, rng, x)
    out = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    norm = entry.get("norm")
    if norm in ("batch_norm", "layer_norm"):
        out = call_layer(keras, make_layer(keras, {"type": norm}, f"{name}_{norm}"), out, rng)
    if entry.get("activation"):
        out = keras.layers.Activation(entry["activation"], name=f"{name}_activation")(out)
    return out


def _self_attention(keras: Any, entry: dict[str, Any], x: Any, name: str, rng: np.random.Generator,
                    runtime: bool) -> Any:
    """Keras's ``MultiHeadAttention`` with the sequence as query, key and value; its output
    has the input's shape (the output projection maps back to the input's features)."""
    return call_layer(keras, make_layer(keras, entry, name, runtime), x, rng, x)


def _transformer_block(keras: Any, entry: dict[str, Any], x: Any, name: str, rng: np.random.Generator,
                       runtime: bool) -> Any:
    """Self-attention, then a two-layer feed-forward network (``ff_units`` wide, back to the
    input's features), each added to its input and layer-normalized: after the add
    (Vaswani et al.'s post-norm, the default) or, with ``norm_first``, before the branch
    (pre-norm: the sum itself is left unnormalized). ``dropout`` acts on each branch's
    output, ``attention_dropout`` on the attention weights."""
    features = int(x.shape[-1])
    reg = entry.get("kernel_regularizer")
    kernel = (lambda: {"kernel_regularizer": _l1l2(keras, reg)}) if reg else dict
    norm_args = {"epsilon": float(entry["epsilon"])} if "epsilon" in entry else {}
    rate, pre = float(entry.get("dropout", 0.0)), bool(entry.get("norm_first", False))

    def norm(t: Any, part: str) -> Any:
        return call_layer(keras, keras.layers.LayerNormalization(name=f"{name}_{part}_norm", **norm_args), t, rng)

    def residual(t: Any, branch: Any, part: str) -> Any:
        if rate:
            branch = layer_class(keras, "Dropout", runtime)(rate, name=f"{name}_{part}_dropout")(branch)
        out = keras.layers.Add(name=f"{name}_{part}_add")([t, branch])
        return out if pre else norm(out, part)

    attention = layer_class(keras, "MultiHeadAttention", runtime)(
        int(entry["num_heads"]), int(entry["key_dim"]), dropout=float(entry.get("attention_dropout", 0.0)),
        name=f"{name}_attention", **kernel())
    q = norm(x, "attention") if pre else x
    h = residual(x, call_layer(keras, attention, q, rng, q), "attention")
    f = norm(h, "ff") if pre else h
    f = call_layer(keras, keras.layers.Dense(int(entry["ff_units"]), activation=entry.get("activation", "relu"),
                                             name=f"{name}_ff1", **kernel()), f, rng)
    f = call_layer(keras, keras.layers.Dense(features, name=f"{name}_ff2", **kernel()), f, rng)
    return residual(h, f, "ff")


def _positional_embedding(keras: Any, entry: dict[str, Any], x: Any, name: str, rng: np.random.Generator,
                          runtime: bool) -> Any:
    """A learned (steps, features) table added to the sequence (BERT's position embedding).

    Keras has no such layer (``keras_hub.layers.PositionEmbedding`` is one, outside Keras):
    the table is the kernel of an ``EinsumDense`` applied to ones (``Rescaling(0, offset=1)``
    of the input), so the model holds only Keras layers and reloads without automl."""
    steps, features = x.shape[1], x.shape[2]
    if steps is None or features is None:
        raise ModelBuildError(f"{name} needs a sequence of a fixed length (got shape {tuple(x.shape[1:])})")
    ones = keras.layers.Rescaling(0.0, offset=1.0, name=f"{name}_ones")(x)
    table = keras.layers.EinsumDense("btf,tf->btf", output_shape=(int(steps), int(features)),
                                     kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
                                     name=f"{name}_table")
    return keras.layers.Add(name=name)([x, call_layer(keras, table, ones, rng)])


def _random_crop(keras: Any, entry: dict[str, Any], x: Any, name: str, rng: np.random.Generator,
                 runtime: bool) -> Any:
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


# Entries built from several Keras layers (or one called in its own way), by type.
_COMPOSED = {"random_crop": _random_crop, "multi_head_attention": _self_attention,
             "transformer_block": _transformer_block, "positional_embedding": _positional_embedding}


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
