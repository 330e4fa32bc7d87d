"""Attention layers built into Keras models whose structure is checked: self-attention on
the sequence, a transformer block's residual adds and layer norms, learned positions
added; each trained an epoch, saved and reloaded with plain Keras."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from automl.model import build_model
from tests.conftest import run_on_jax
from tests.model.test_layers import _config, _fit, _layer

BLOCK = {"type": "transformer_block", "num_heads": 2, "key_dim": 4, "ff_units": 12}


def _np(t: Any) -> np.ndarray:
    import keras

    return np.asarray(keras.ops.convert_to_numpy(t))


def _inputs(layer: Any) -> list[Any]:
    """The tensors ``layer`` was called on (its first call)."""
    return list(layer._inbound_nodes[0].input_tensors)


def _sub(model: Any, *names: str) -> Any:
    import keras

    return keras.Model(model.inputs[0], [model.get_layer(n).output for n in names])


def test_multi_head_attention_is_self_attention_that_keeps_the_shape() -> None:
    model = build_model(_config({"type": "conv1d", "filters": 6, "kernel_size": 3, "padding": "same"},
                                {"type": "multi_head_attention", "num_heads": 3, "key_dim": 5, "value_dim": 2,
                                 "dropout": 0.1, "kernel_regularizer": {"l2": 1e-3}},
                                {"type": "global_avg_pool1d"}), (10,), 3)
    mha = _layer(model, "MultiHeadAttention")
    assert (mha.num_heads, mha.key_dim, mha.value_dim, mha.dropout) == (3, 5, 2, 0.1)
    conv = model.get_layer("l0_conv1d").output
    assert all(t is conv for t in _inputs(mha)) and len(_inputs(mha)) == 2  # query and value: the sequence
    assert mha.output.shape[1:] == (10, 6)
    assert len(model.losses) == 4  # the regularizer on the query, key, value and output kernels
    assert np.isfinite(_fit(model, (10,)))


def test_a_transformer_block_adds_each_branch_to_its_input_then_normalizes() -> None:
    model = build_model(_config({"type": "conv1d", "filters": 8, "kernel_size": 1},
                                {**BLOCK, "dropout": 0.1, "activation": "gelu", "epsilon": 1e-5},
                                {"type": "global_avg_pool1d"}), (7,), 3)
    p = "l1_transformer_block"
    kinds = [type(layer).__name__ for layer in model.layers if layer.name.startswith(p)]
    assert kinds == ["MultiHeadAttention", "Dropout", "Add", "LayerNormalization", "Dense", "Dense", "Dropout",
                     "Add", "LayerNormalization"]
    ff1, ff2 = model.get_layer(f"{p}_ff1"), model.get_layer(f"{p}_ff2")
    assert (ff1.units, ff2.units, ff1.activation.__name__) == (12, 8, "gelu")  # its own width, back to 8
    assert model.get_layer(f"{p}_ff_norm").epsilon == pytest.approx(1e-5)
    # Post-norm: attention reads the block's input; each Add sums a branch and what it read.
    block_in = model.get_layer("l0_conv1d").output
    assert all(t is block_in for t in _inputs(model.get_layer(f"{p}_attention")))
    assert _inputs(model.get_layer(f"{p}_attention_add"))[0] is block_in
    assert _inputs(model.get_layer(f"{p}_ff_add"))[0] is model.get_layer(f"{p}_attention_norm").output
    # The sums are real: at inference (dropout off) add = input + branch, and norm(add) follows.
    x = np.random.default_rng(0).random((4, 7), dtype=np.float32)
    inp, att, add, norm, ff, out = (_np(t) for t in _sub(model, "l0_conv1d", f"{p}_attention", f"{p}_attention_add",
                                                       f"{p}_attention_norm", f"{p}_ff2", f"{p}_ff_norm")(x))
    np.testing.assert_allclose(add, inp + att, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(norm.mean(-1), 0.0, atol=1e-4)
    centred = norm + ff - (norm + ff).mean(-1, keepdims=True)
    np.testing.assert_allclose(out, centred / np.sqrt(centred.var(-1, keepdims=True) + 1e-5), rtol=1e-3, atol=1e-4)
    assert np.isfinite(_fit(model, (7,)))


def test_a_pre_norm_transformer_block_normalizes_each_branch_input_and_leaves_the_sum() -> None:
    model = build_model(_config({"type": "conv1d", "filters": 8, "kernel_size": 1},
                                {**BLOCK, "norm_first": True, "kernel_regularizer": {"l2": 1e-3}}), (6,), 3)
    p = "l1_transformer_block"
    kinds = [type(layer).__name__ for layer in model.layers if layer.name.startswith(p)]
    assert kinds == ["LayerNormalization", "MultiHeadAttention", "Add", "LayerNormalization", "Dense", "Dense", "Add"]
    normed = model.get_layer(f"{p}_attention_norm").output
    assert all(t is normed for t in _inputs(model.get_layer(f"{p}_attention")))
    assert _inputs(model.get_layer(f"{p}_attention_add"))[0] is model.get_layer("l0_conv1d").output
    assert _inputs(model.get_layer(f"{p}_ff1"))[0] is model.get_layer(f"{p}_ff_norm").output
    assert _inputs(model.get_layer("head_flatten"))[0] is model.get_layer(f"{p}_ff_add").output
    assert len(model.losses) == 6  # four attention kernels and two feed-forward kernels
    x = np.random.default_rng(1).random((3, 6), dtype=np.float32)
    h, ff, out = (_np(t) for t in _sub(model, f"{p}_attention_add", f"{p}_ff2", f"{p}_ff_add")(x))
    np.testing.assert_allclose(out, h + ff, rtol=1e-5, atol=1e-6)
    assert np.isfinite(_fit(model, (6,)))


def test_positional_embedding_adds_a_learned_table_of_positions() -> None:
    import keras

    model = build_model(_config({"type": "conv1d", "filters": 3, "kernel_size": 1}, {"type": "positional_embedding"},
                                BLOCK), (5,), 3)
    table = model.get_layer("l1_positional_embedding_table")
    assert tuple(table.kernel.shape) == (5, 3) and table.kernel.trainable
    x = np.random.default_rng(2).random((4, 5), dtype=np.float32)
    seq, out = (_np(t) for t in _sub(model, "l0_conv1d", "l1_positional_embedding")(x))
    kernel = _np(table.kernel)
    np.testing.assert_allclose(out - seq, np.broadcast_to(kernel, seq.shape), rtol=1e-5, atol=1e-6)
    assert 0 < np.abs(kernel).max() < 0.1  # small random positions (stddev 0.02)
    assert np.isfinite(_fit(model, (5,)))
    assert not np.allclose(_np(table.kernel), kernel)  # learned
    assert keras.saving.get_registered_name(type(table)) == "EinsumDense"  # Keras's own layer


def test_positions_after_an_embedding_of_tokens() -> None:
    model = build_model(_config({"type": "embedding", "input_dim": 20, "output_dim": 4},
                                {"type": "positional_embedding"}, BLOCK, {"type": "global_max_pool1d"}), (9,), 3)
    assert tuple(model.get_layer("l1_positional_embedding_table").kernel.shape) == (9, 4)
    assert np.isfinite(_fit(model, (9,), tokens=20))


def test_attention_models_reload_with_plain_keras_and_predict_the_same(tmp_path: Path) -> None:
    import keras

    model = build_model(_config({"type": "positional_embedding"},
                                {"type": "multi_head_attention", "num_heads": 2, "key_dim": 3},
                                {"type": "residual", "layers": [BLOCK]},
                                {**BLOCK, "norm_first": True}, {"type": "global_avg_pool1d"}), (8,), 3)
    _fit(model, (8,))
    model.save(tmp_path / "m.keras")
    x = np.random.default_rng(3).random((5, 8), dtype=np.float32)
    again = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(_np(again.predict(x, verbose=0)), _np(model.predict(x, verbose=0)), rtol=1e-5,
                               atol=1e-6)


_JAX = """
    import numpy as np
    from automl.model import build_model, import_keras
    keras = import_keras("jax")
    block = {"type": "transformer_block", "num_heads": 2, "key_dim": 4, "ff_units": 8, "dropout": 0.1}
    config = {"layers": [{"type": "conv1d", "filters": 4, "kernel_size": 3, "padding": "same"},
                         {"type": "positional_embedding"},
                         {"type": "multi_head_attention", "num_heads": 2, "key_dim": 2},
                         block, {**block, "norm_first": True}, {"type": "global_avg_pool1d"}],
              "optimizer": {"name": "adam", "learning_rate": 1e-2}, "loss": "sparse_categorical_crossentropy",
              "metrics": ["accuracy"], "batch_size": 8, "epochs": 1}
    x, y = np.random.default_rng(0).normal(size=(32, 10)).astype("float32"), np.arange(32) % 3
    model = build_model(config, (10,), 3)
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    print("RESULT" + json.dumps({"loss": history.history["loss"], "backend": keras.backend.backend()}))
"""


@pytest.mark.slow
def test_attention_layers_train_on_jax(tmp_path: Path) -> None:
    out = run_on_jax(_JAX, tmp_path)
    assert out["backend"] == "jax" and all(np.isfinite(out["loss"]))
