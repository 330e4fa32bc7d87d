"""What a space may name: layer types, optimizers, losses, metrics and their arguments.

Plain data, no Keras import: the validator checks against it and the model builder maps
each entry onto its Keras class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# "float_pair": two numbers (a value range); "shape": a list of positive integers or one -1
# (fixed only); "regularizer": {l1: ..., l2: ...}; "layer": a wrapped layer's mapping.
ArgKind = Literal["int", "float", "str", "bool", "int_or_pair", "float_pair", "shape", "regularizer", "layer"]

ACTIVATIONS = ("relu", "gelu", "silu", "swish", "elu", "selu", "tanh", "sigmoid", "softplus",
               "leaky_relu", "relu6", "mish", "linear", "softmax")
PADDINGS = ("valid", "same")
FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("bilinear", "nearest")
FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")
MERGE_MODES = ("concat", "sum", "mul", "ave")
NORMS = ("batch_norm", "layer_norm", "none")
# Layers a bidirectional layer may wrap.
RECURRENT = ("lstm", "gru")


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
    ``out_rank`` the rank it produces, ``None`` for unchanged (recurrent layers and
    ``reshape`` decide it from their arguments: see ``_shapes.py``). ``regularizes``: the
    Keras arguments ``kernel_regularizer`` goes to (empty: the layer has no kernel);
    ``same_shape``: the output has exactly the input's shape (checks can see through it).
    ``keras_class`` is empty for a block that automl composes of Keras layers
    (``automl/model/_layers.py``).
    """

    keras_class: str
    args: dict[str, Arg]
    in_rank: int | None = None
    out_rank: int | None = None
    regularizes: tuple[str, ...] = ()
    same_shape: bool = False


_POS_INT = Arg("int", ge=1)
_ACT = Arg("str", choices=ACTIVATIONS)
_PAD = Arg("str", choices=PADDINGS)
_RATE = Arg("float", ge=0.0, lt=1.0)
_FACTOR = Arg("float", required=True, ge=0.0, le=1.0)
_POOL_ARGS = {"pool_size": Arg("int_or_pair", ge=1), "strides": Arg("int_or_pair", ge=1), "padding": _PAD}
_POOL1_ARGS = {"pool_size": _POS_INT, "strides": _POS_INT, "padding": _PAD}
_REG = Arg("regularizer")
_KERNEL = ("kernel_regularizer",)
_FILL = {"fill_mode": Arg("str", choices=FILL_MODES), "interpolation": Arg("str", choices=INTERPOLATIONS),
         "fill_value": Arg("float")}
_RNN_ARGS = {"units": Arg("int", required=True, ge=1), "return_sequences": Arg("bool"), "dropout": _RATE,
             "recurrent_dropout": _RATE, "activation": _ACT, "kernel_regularizer": _REG}

_HEADS = {"num_heads": Arg("int", required=True, ge=1), "key_dim": Arg("int", required=True, ge=1)}

LAYERS: dict[str, LayerType] = {
    "dense": LayerType("Dense", {"units": Arg("int", required=True, ge=1), "activation": _ACT,
                                 "use_bias": Arg("bool"), "kernel_regularizer": _REG}, regularizes=_KERNEL),
    "conv1d": LayerType("Conv1D", {"filters": Arg("int", required=True, ge=1),
                                   "kernel_size": Arg("int", required=True, ge=1),
                                   "strides": _POS_INT, "padding": _PAD, "activation": _ACT,
                                   "dilation_rate": _POS_INT, "groups": _POS_INT, "kernel_regularizer": _REG},
                        in_rank=2, regularizes=_KERNEL),
    "conv2d": LayerType("Conv2D", {"filters": Arg("int", required=True, ge=1),
                                   "kernel_size": Arg("int_or_pair", required=True, ge=1),
                                   "strides": Arg("int_or_pair", ge=1), "padding": _PAD,
                                   "activation": _ACT, "dilation_rate": Arg("int_or_pair", ge=1),
                                   "groups": _POS_INT, "kernel_regularizer": _REG},
                        in_rank=3, regularizes=_KERNEL),
    "separable_conv2d": LayerType("SeparableConv2D", {
        "filters": Arg("int", required=True, ge=1), "kernel_size": Arg("int_or_pair", required=True, ge=1),
        "strides": Arg("int_or_pair", ge=1), "padding": _PAD, "activation": _ACT,
        "depth_multiplier": _POS_INT, "dilation_rate": Arg("int_or_pair", ge=1), "kernel_regularizer": _REG},
        in_rank=3, regularizes=("depthwise_regularizer", "pointwise_regularizer")),
    "depthwise_conv2d": LayerType("DepthwiseConv2D", {
        "kernel_size": Arg("int_or_pair", required=True, ge=1), "strides": Arg("int_or_pair", ge=1),
        "padding": _PAD, "activation": _ACT, "depth_multiplier": _POS_INT,
        "dilation_rate": Arg("int_or_pair", ge=1), "kernel_regularizer": _REG},
        in_rank=3, regularizes=("depthwise_regularizer",)),
    "lstm": LayerType("LSTM", _RNN_ARGS, in_rank=2, regularizes=_KERNEL),
    "gru": LayerType("GRU", _RNN_ARGS, in_rank=2, regularizes=_KERNEL),
    "bidirectional": LayerType("Bidirectional", {"layer": Arg("layer", required=True),
                                                 "merge_mode": Arg("str", choices=MERGE_MODES)}, in_rank=2),
    "embedding": LayerType("Embedding", {"input_dim": Arg("int", required=True, ge=1),
                                         "output_dim": Arg("int", required=True, ge=1),
                                         "kernel_regularizer": _REG},
                           in_rank=1, out_rank=2, regularizes=("embeddings_regularizer",)),
    # Attention over (steps, features): self-attention keeps the shape.
    "multi_head_attention": LayerType("MultiHeadAttention", {
        **_HEADS, "value_dim": _POS_INT, "dropout": _RATE, "use_bias": Arg("bool"), "kernel_regularizer": _REG},
        in_rank=2, regularizes=_KERNEL, same_shape=True),
    "transformer_block": LayerType("", {
        **_HEADS, "ff_units": Arg("int", required=True, ge=1), "dropout": _RATE, "attention_dropout": _RATE,
        "activation": _ACT, "norm_first": Arg("bool"), "epsilon": Arg("float", gt=0.0), "kernel_regularizer": _REG},
        in_rank=2, regularizes=_KERNEL, same_shape=True),
    "positional_embedding": LayerType("", {}, in_rank=2, same_shape=True),
    "reshape": LayerType("Reshape", {"target_shape": Arg("shape", required=True)}),
    "max_pool1d": LayerType("MaxPooling1D", _POOL1_ARGS, in_rank=2),
    "avg_pool1d": LayerType("AveragePooling1D", _POOL1_ARGS, in_rank=2),
    "max_pool2d": LayerType("MaxPooling2D", _POOL_ARGS, in_rank=3),
    "avg_pool2d": LayerType("AveragePooling2D", _POOL_ARGS, in_rank=3),
    "global_max_pool1d": LayerType("GlobalMaxPooling1D", {}, in_rank=2, out_rank=1),
    "global_avg_pool1d": LayerType("GlobalAveragePooling1D", {}, in_rank=2, out_rank=1),
    "global_max_pool2d": LayerType("GlobalMaxPooling2D", {}, in_rank=3, out_rank=1),
    "global_avg_pool2d": LayerType("GlobalAveragePooling2D", {}, in_rank=3, out_rank=1),
    "flatten": LayerType("Flatten", {}, out_rank=1),
    "dropout": LayerType("Dropout", {"rate": Arg("float", required=True, ge=0.0, lt=1.0)}, same_shape=True),
    "batch_norm": LayerType("BatchNormalization", {"momentum": Arg("float", gt=0.0, lt=1.0),
                                                   "epsilon": Arg("float", gt=0.0)}, same_shape=True),
    "layer_norm": LayerType("LayerNormalization", {"epsilon": Arg("float", gt=0.0)}, same_shape=True),
    "activation": LayerType("Activation", {"activation": Arg("str", required=True, choices=ACTIVATIONS)},
                            same_shape=True),
    # Preprocessing and augmentation: Keras applies the random ones in training only.
    "rescaling": LayerType("Rescaling", {"scale": Arg("float", required=True), "offset": Arg("float")},
                           same_shape=True),
    "gaussian_noise": LayerType("GaussianNoise", {"stddev": Arg("float", required=True, ge=0.0)}, same_shape=True),
    "random_flip": LayerType("RandomFlip", {"mode": Arg("str", choices=FLIP_MODES)}, in_rank=3, same_shape=True),
    "random_rotation": LayerType("RandomRotation", {"factor": _FACTOR, **_FILL}, in_rank=3, same_shape=True),
    "random_translation": LayerType("RandomTranslation", {"height_factor": _FACTOR, "width_factor": _FACTOR,
                                                          **_FILL}, in_rank=3, same_shape=True),
    "random_zoom": LayerType("RandomZoom", {"height_factor": _FACTOR, "width_factor": Arg("float", ge=0.0, le=1.0),
                                            **_FILL}, in_rank=3, same_shape=True),
    "random_crop": LayerType("RandomCrop", {"height": Arg("int", required=True, ge=1),
                                            "width": Arg("int", required=True, ge=1)}, in_rank=3),
    "random_contrast": LayerType("RandomContrast", {"factor": _FACTOR, "value_range": Arg("float_pair")},
                                 in_rank=3, same_shape=True),
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
    "separableconv2d": "separable_conv2d", "depthwiseconv2d": "depthwise_conv2d",
    "randomflip": "random_flip", "randomrotation": "random_rotation", "randomtranslation": "random_translation",
    "randomzoom": "random_zoom", "randomcrop": "random_crop", "randomcontrast": "random_contrast",
    "gaussiannoise": "gaussian_noise",
    "multiheadattention": "multi_head_attention",
    "transformer": "transformer_block", "transformerblock": "transformer_block",
    "positionembedding": "positional_embedding", "position_embedding": "positional_embedding",
    "positionalembedding": "positional_embedding",
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

# Arguments every Keras optimizer takes, written next to learning_rate (not under options).
OPTIMIZER_COMMON: dict[str, Arg] = {"weight_decay": Arg("float", ge=0.0), "clipnorm": Arg("float", gt=0.0),
                                    "clipvalue": Arg("float", gt=0.0)}

# Learning-rate schedules and their arguments; durations are in epochs (converted to steps
# with the trial's batches per epoch). ``plateau`` is Keras's ReduceLROnPlateau callback.
_EPOCHS = Arg("int", ge=1)
SCHEDULES: dict[str, dict[str, Arg]] = {
    "constant": {},
    "cosine": {"warmup_epochs": Arg("int", ge=0), "decay_epochs": _EPOCHS, "alpha": Arg("float", ge=0.0, le=1.0)},
    "exponential": {"decay_rate": Arg("float", gt=0.0, le=1.0), "decay_epochs": _EPOCHS, "staircase": Arg("bool")},
    "piecewise": {"boundaries": Arg("shape"), "factor": Arg("float", gt=0.0, lt=1.0)},
    "plateau": {"factor": Arg("float", gt=0.0, lt=1.0), "patience": Arg("int", ge=0), "min_lr": Arg("float", ge=0.0),
                "cooldown": Arg("int", ge=0), "min_delta": Arg("float", ge=0.0)},
}

# training.precision: Keras's dtype policies (mixed: 16-bit compute, float32 variables).
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")

EARLY_STOPPING: dict[str, Arg] = {"patience": Arg("int", ge=0), "min_delta": Arg("float", ge=0.0),
                                  "restore_best_weights": Arg("bool"), "start_from_epoch": Arg("int", ge=0)}
