"""What a space may name: layer types, optimizers, losses, metrics and their arguments.

Plain data, no Keras import: the validator checks against it and the model builder maps
each entry onto its Keras class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ArgKind = Literal["int", "float", "str", "bool", "int_or_pair"]

ACTIVATIONS = ("relu", "gelu", "silu", "swish", "elu", "selu", "tanh", "sigmoid", "softplus",
               "leaky_relu", "relu6", "mish", "linear", "softmax")
PADDINGS = ("valid", "same")


@dataclass(frozen=True)
class Arg:
    """One argument of a layer or optimizer: its kind and the bounds of legal values."""

    kind: ArgKind
    required: bool = False
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class LayerType:
    """A layer type: its Keras class, arguments and the input rank it needs/produces.

    ``in_rank`` is the rank (without batch axis) the layer needs, ``None`` for any;
    ``out_rank`` the rank it produces, ``None`` for unchanged.
    """

    keras_class: str
    args: dict[str, Arg]
    in_rank: int | None = None
    out_rank: int | None = None


_POS_INT = Arg("int", ge=1)
_ACT = Arg("str", choices=ACTIVATIONS)
_PAD = Arg("str", choices=PADDINGS)
_POOL_ARGS = {"pool_size": Arg("int_or_pair", ge=1), "strides": Arg("int_or_pair", ge=1), "padding": _PAD}
_POOL1_ARGS = {"pool_size": _POS_INT, "strides": _POS_INT, "padding": _PAD}

LAYERS: dict[str, LayerType] = {
    "dense": LayerType("Dense", {"units": Arg("int", required=True, ge=1), "activation": _ACT,
                                 "use_bias": Arg("bool")}),
    "conv1d": LayerType("Conv1D", {"filters": Arg("int", required=True, ge=1),
                                   "kernel_size": Arg("int", required=True, ge=1),
                                   "strides": _POS_INT, "padding": _PAD, "activation": _ACT,
                                   "dilation_rate": _POS_INT}, in_rank=2),
    "conv2d": LayerType("Conv2D", {"filters": Arg("int", required=True, ge=1),
                                   "kernel_size": Arg("int_or_pair", required=True, ge=1),
                                   "strides": Arg("int_or_pair", ge=1), "padding": _PAD,
                                   "activation": _ACT}, in_rank=3),
    "max_pool1d": LayerType("MaxPooling1D", _POOL1_ARGS, in_rank=2),
    "avg_pool1d": LayerType("AveragePooling1D", _POOL1_ARGS, in_rank=2),
    "max_pool2d": LayerType("MaxPooling2D", _POOL_ARGS, in_rank=3),
    "avg_pool2d": LayerType("AveragePooling2D", _POOL_ARGS, in_rank=3),
    "global_max_pool1d": LayerType("GlobalMaxPooling1D", {}, in_rank=2, out_rank=1),
    "global_avg_pool1d": LayerType("GlobalAveragePooling1D", {}, in_rank=2, out_rank=1),
    "global_max_pool2d": LayerType("GlobalMaxPooling2D", {}, in_rank=3, out_rank=1),
    "global_avg_pool2d": LayerType("GlobalAveragePooling2D", {}, in_rank=3, out_rank=1),
    "flatten": LayerType("Flatten", {}, out_rank=1),
    "dropout": LayerType("Dropout", {"rate": Arg("float", required=True, ge=0.0, lt=1.0)}),
    "batch_norm": LayerType("BatchNormalization", {"momentum": Arg("float", gt=0.0, lt=1.0),
                                                   "epsilon": Arg("float", gt=0.0)}),
    "layer_norm": LayerType("LayerNormalization", {"epsilon": Arg("float", gt=0.0)}),
    "activation": LayerType("Activation", {"activation": Arg("str", required=True, choices=ACTIVATIONS)}),
}

# Other spellings people write, mapped onto the names above.
LAYER_ALIASES = {
    "maxpooling1d": "max_pool1d", "max_pooling1d": "max_pool1d",
    "maxpooling2d": "max_pool2d", "max_pooling2d": "max_pool2d",
    "averagepooling1d": "avg_pool1d", "average_pooling1d": "avg_pool1d",
    "averagepooling2d": "avg_pool2d", "average_pooling2d": "avg_pool2d",
    "globalmaxpooling1d": "global_max_pool1d", "globalaveragepooling1d": "global_avg_pool1d",
    "globalmaxpooling2d": "global_max_pool2d", "globalaveragepooling2d": "global_avg_pool2d",
    "batchnormalization": "batch_norm", "batch_normalization": "batch_norm",
    "layernormalization": "layer_norm",
}

_LR = Arg("float", gt=0.0)
_BETA = Arg("float", gt=0.0, lt=1.0)
_EPS = Arg("float", gt=0.0)
OPTIMIZERS: dict[str, tuple[str, dict[str, Arg]]] = {
    "adam": ("Adam", {"beta_1": _BETA, "beta_2": _BETA, "epsilon": _EPS, "amsgrad": Arg("bool")}),
    "adamw": ("AdamW", {"weight_decay": Arg("float", ge=0.0), "beta_1": _BETA, "beta_2": _BETA,
                        "epsilon": _EPS, "amsgrad": Arg("bool")}),
    "sgd": ("SGD", {"momentum": Arg("float", ge=0.0, lt=1.0), "nesterov": Arg("bool")}),
    "rmsprop": ("RMSprop", {"rho": _BETA, "momentum": Arg("float", ge=0.0, lt=1.0), "epsilon": _EPS,
                            "centered": Arg("bool")}),
    "adagrad": ("Adagrad", {"epsilon": _EPS}),
    "adamax": ("Adamax", {"beta_1": _BETA, "beta_2": _BETA, "epsilon": _EPS}),
    "nadam": ("Nadam", {"beta_1": _BETA, "beta_2": _BETA, "epsilon": _EPS}),
}
LEARNING_RATE = _LR

# Classification with integer labels is what the data layer produces.
LOSSES = ("sparse_categorical_crossentropy",)
METRICS = ("accuracy", "sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy",
           "sparse_categorical_crossentropy")
