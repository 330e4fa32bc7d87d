"""Residual blocks: the input really is added, projected when the block changes the shape."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from automl.errors import ModelBuildError
from automl.model import build_model
from automl.space import parse_space
from tests.space.test_parse import RandomHP


def _config(*layers: Any) -> dict[str, Any]:
    return {"layers": list(layers), "optimizer": {"name": "adam", "learning_rate": 0.01}, "epochs": 1,
            "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}


def test_a_residual_block_adds_its_input_to_its_output() -> None:
    import keras

    model = build_model(_config({"type": "dense", "units": 5},
                                {"type": "residual", "layers": [{"type": "dense", "units": 5, "activation": "relu"}]}),
                        (3,), 2)
    names = [l.name for l in model.layers]
    assert "l1_add" in names and "l1_projection" not in names
    x = np.random.default_rng(0).random((4, 3), dtype=np.float32)
    before = keras.Model(model.inputs, model.get_layer("l0_dense").output)(x)
    inner = model.get_layer("l1_0_dense")(before)
    added = keras.Model(model.inputs, model.get_layer("l1_add").output)(x)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(added), keras.ops.convert_to_numpy(before + inner),
                               rtol=1e-5)


def test_a_projection_matches_channels_and_strides_then_norm_and_activation() -> None:
    model = build_model(_config({"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same"},
                                {"type": "residual", "norm": "batch_norm", "activation": "relu",
                                 "layers": [{"type": "conv2d", "filters": 8, "kernel_size": 3, "strides": 2,
                                             "padding": "same"}]}), (9, 9, 3), 2)
    proj = model.get_layer("l1_projection")
    assert type(proj).__name__ == "Conv2D" and proj.kernel_size == (1, 1) and proj.strides == (2, 2)
    assert proj.output.shape[1:] == (5, 5, 8) == model.get_layer("l1_0_conv2d").output.shape[1:]
    assert [model.get_layer(n).__class__.__name__ for n in ("l1_add", "l1_batch_norm", "l1_activation")] == [
        "Add", "BatchNormalization", "Activation"]
    flat = build_model(_config({"type": "residual", "layers": [{"type": "dense", "units": 6}]}), (4,), 2)
    assert type(flat.get_layer("l0_projection")).__name__ == "Dense"


def test_a_block_whose_shape_cannot_be_projected_fails_to_build() -> None:
    # 'valid' padding takes 8 steps to 6: no stride of a 1x1 projection gives 6 from 8.
    with pytest.raises(ModelBuildError, match="no strided 1x1 projection"):
        build_model(_config({"type": "residual", "layers": [{"type": "conv1d", "filters": 4, "kernel_size": 3}]}),
                    (8, 2), 2)
    with pytest.raises(ModelBuildError, match="adds its input to its output"):
        build_model(_config({"type": "residual", "layers": [{"type": "flatten"}]}), (8, 2), 2)


def test_a_residual_space_trains_an_epoch() -> None:
    space = parse_space({"model": {"layers": [
        {"type": "conv1d", "filters": 8, "kernel_size": 3, "padding": "same"},
        {"repeat": {"low": 1, "high": 2}, "residual": {"norm": "layer_norm", "activation": "relu"},
         "layers": [{"type": "conv1d", "filters": 8, "kernel_size": 3, "padding": "same", "activation": "relu"},
                    {"type": "conv1d", "filters": {"choice": [8, 16]}, "kernel_size": 3, "padding": "same"}]},
        {"type": "global_avg_pool1d"}]}})
    space.check_data((20,), 3)
    model = build_model(space.sample(RandomHP(2)), (20,), 3)
    assert any(l.name.endswith("_add") for l in model.layers)
    rng = np.random.default_rng(0)
    history = model.fit(rng.random((32, 20), dtype=np.float32), rng.integers(0, 3, 32), epochs=1, batch_size=16,
                        verbose=0)
    assert np.isfinite(history.history["loss"][0])
