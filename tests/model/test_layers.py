"""The new layer types built into Keras models whose structure is checked, and trained an epoch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from automl.errors import ModelBuildError
from automl.model import build_model


def _config(*layers: Any, **extra: Any) -> dict[str, Any]:
    return {"layers": list(layers), "optimizer": {"name": "adam", "learning_rate": 0.01}, "epochs": 1,
            "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"], **extra}


def _fit(model: Any, shape: tuple[int, ...], n: int = 32, tokens: int | None = None) -> float:
    rng = np.random.default_rng(0)
    x = rng.integers(0, tokens, (n, *shape)) if tokens else rng.random((n, *shape), dtype=np.float32)
    y = rng.integers(0, 3, n)
    history = model.fit(x, y, epochs=1, batch_size=16, verbose=0, validation_data=(x, y))
    return float(history.history["loss"][-1])


def _layer(model: Any, cls: str) -> Any:
    return next(l for l in model.layers if type(l).__name__ == cls)


def test_recurrent_layers_over_a_1d_signal() -> None:
    model = build_model(_config(
        {"type": "bidirectional", "merge_mode": "concat",
         "layer": {"type": "gru", "units": 4, "return_sequences": True, "dropout": 0.1, "recurrent_dropout": 0.1,
                   "kernel_regularizer": {"l2": 1e-4}}},
        {"type": "lstm", "units": 3}), (12,), 3)
    bi = _layer(model, "Bidirectional")
    assert type(bi.forward_layer).__name__ == "GRU" and bi.forward_layer.return_sequences
    assert bi.output.shape[1:] == (12, 8)  # the signal got a feature axis: (12,) -> (12, 1)
    assert _layer(model, "LSTM").output.shape[1:] == (3,)
    assert bi.forward_layer.cell.kernel_regularizer is not None
    assert np.isfinite(_fit(model, (12,)))


def test_embedding_reads_integer_tokens() -> None:
    model = build_model(_config({"type": "embedding", "input_dim": 20, "output_dim": 4},
                                {"type": "gru", "units": 4}), (7,), 3)
    assert _layer(model, "Embedding").output.shape[1:] == (7, 4)
    assert np.isfinite(_fit(model, (7,), tokens=20))


def test_convolutions_groups_and_regularizers() -> None:
    model = build_model(_config(
        {"type": "conv2d", "filters": 4, "kernel_size": 3, "groups": 1, "kernel_regularizer": {"l1": 1e-5}},
        {"type": "conv2d", "filters": 4, "kernel_size": 1, "groups": 2},
        {"type": "separable_conv2d", "filters": 6, "kernel_size": 3, "depth_multiplier": 2,
         "kernel_regularizer": {"l1": 1e-5, "l2": 1e-4}},
        {"type": "depthwise_conv2d", "kernel_size": 2, "kernel_regularizer": {"l2": 1e-4}},
        {"type": "flatten"},
        {"type": "dense", "units": 4, "kernel_regularizer": {"l2": 0.1}}), (9, 9), 3)
    convs = [l for l in model.layers if type(l).__name__ == "Conv2D"]
    assert [c.groups for c in convs] == [1, 2]
    sep = _layer(model, "SeparableConv2D")
    assert sep.depthwise_regularizer is not None and sep.pointwise_regularizer is not None
    assert float(sep.pointwise_regularizer.l2) == pytest.approx(1e-4)
    assert _layer(model, "DepthwiseConv2D").depthwise_regularizer is not None
    # Each regularized kernel adds its penalty to the loss.
    assert len(model.losses) == 5
    assert np.isfinite(_fit(model, (9, 9)))


def test_grouped_conv1d_trains() -> None:
    model = build_model(_config({"type": "conv1d", "filters": 6, "kernel_size": 3, "groups": 3},
                                {"type": "reshape", "target_shape": [-1]}), (10, 3), 3)
    assert _layer(model, "Conv1D").groups == 3
    assert np.isfinite(_fit(model, (10, 3)))


AUGMENT = [{"type": "rescaling", "scale": 0.5, "offset": 0.1},
           {"type": "random_flip", "mode": "horizontal_and_vertical"},
           {"type": "random_rotation", "factor": 0.2},
           {"type": "random_translation", "height_factor": 0.2, "width_factor": 0.2, "fill_mode": "constant"},
           {"type": "random_zoom", "height_factor": 0.2, "width_factor": 0.2},
           {"type": "random_contrast", "factor": 0.5, "value_range": [0, 1]},
           {"type": "random_crop", "height": 6, "width": 6},
           {"type": "gaussian_noise", "stddev": 0.5}]


def test_augmentation_is_active_in_training_only() -> None:
    import keras

    model = build_model(_config(*AUGMENT, {"type": "conv2d", "filters": 2, "kernel_size": 3}), (8, 8, 1), 3)
    # random_crop is a whole-pixel shift and a centre crop (Keras's RandomCrop does not crop at inference).
    assert [type(l).__name__ for l in model.layers[1:10]] == [
        "Rescaling", "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "RandomContrast",
        "RandomTranslation", "CenterCrop", "GaussianNoise"]
    x = np.random.default_rng(1).random((4, 8, 8, 1), dtype=np.float32)
    augment = keras.Model(model.inputs, model.layers[9].output)
    inference = keras.ops.convert_to_numpy(augment(x, training=False))
    # At inference nothing random acts: the same output twice, and the data itself where
    # only the random layers that keep the shape stand between (the crop resizes).
    np.testing.assert_array_equal(inference, keras.ops.convert_to_numpy(augment(x, training=False)))
    keep = keras.Model(model.inputs, model.layers[7].output)  # up to RandomContrast
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keep(x, training=False)), x * 0.5 + 0.1, rtol=1e-5)
    assert inference.shape == (4, 6, 6, 1)
    trained = keras.ops.convert_to_numpy(augment(x, training=True))
    assert trained.shape == inference.shape and not np.allclose(trained, inference)
    assert np.isfinite(_fit(model, (8, 8, 1)))


def test_random_crop_takes_a_window_in_training_and_the_centre_at_inference() -> None:
    import keras

    model = build_model(_config({"type": "random_crop", "height": 5, "width": 4}), (7, 8, 1), 3)
    crop = keras.Model(model.inputs, model.get_layer("l0_random_crop").output)
    x = np.random.default_rng(2).random((3, 7, 8, 1), dtype=np.float32)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(crop(x, training=False)), x[:, 1:6, 2:6])
    out = keras.ops.convert_to_numpy(crop(x, training=True))
    for k in range(3):
        assert any(np.array_equal(out[k], x[k, r:r + 5, c:c + 4]) for r in range(3) for c in range(5))


def test_a_config_keras_rejects_is_a_model_build_error() -> None:
    with pytest.raises(ModelBuildError, match="cannot be built"):
        build_model(_config({"type": "conv1d", "filters": 4, "kernel_size": 3, "groups": 3}), (10, 2), 3)
    with pytest.raises(ModelBuildError, match="gru needs"):
        build_model(_config({"type": "flatten"}, {"type": "gru", "units": 4}), (4, 4), 3)


def test_augmentation_compiles_into_the_train_step_on_jax(tmp_path: Any) -> None:
    """Keras marks RandomTranslation, RandomRotation and RandomZoom as not XLA-compatible on
    every backend, so a model holding one trained op by op on JAX: resnet-small's first trial
    compiled over a thousand small programs and its epochs took 10-50 s on an H200 (run 41).
    On JAX their transform compiles: the train step is one program, as without them."""
    from tests.conftest import run_on_jax

    out = run_on_jax(f"""
        import numpy as np
        from automl.model import build_model
        config = {_config(*AUGMENT, {"type": "conv2d", "filters": 2, "kernel_size": 3})!r}
        model = build_model(config, (8, 8, 1), 3)
        x = np.random.default_rng(0).random((64, 8, 8, 1), dtype=np.float32)
        y = np.random.default_rng(1).integers(0, 3, 64)
        before = len(compiled)
        model.fit(x, y, epochs=2, batch_size=16, verbose=0)
        print("RESULT" + json.dumps({{"jit": bool(model.jit_compile), "programs": len(compiled) - before}}))
    """, tmp_path)
    assert out["jit"] is True
    assert out["programs"] < 20, out  # op by op it was several hundred
