"""Mixed precision as a training option: parsed and drawn, applied while a trial's model is
built (the output layer kept float32) and restored after, refused where it cannot help."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import automl
from automl.errors import ModelBuildError, SpaceError
from automl.model import build_model
from automl.space import parse_space
from automl.space._parse_training import check_precision
from tests.model.test_layers import _config, _fit
from tests.space.test_parse import RandomHP

LAYERS = [{"type": "conv1d", "filters": 4, "kernel_size": 3, "padding": "same"}, {"type": "positional_embedding"},
          {"type": "transformer_block", "num_heads": 2, "key_dim": 4, "ff_units": 8}, {"type": "batch_norm"},
          {"type": "global_avg_pool1d"}, {"type": "dense", "units": 8, "activation": "relu"}]


def _space(precision: Any) -> dict[str, Any]:
    return {"model": {"layers": LAYERS}, "training": {"precision": precision, "batch_size": 16}}


def test_precision_is_parsed_drawn_and_refused_with_its_path() -> None:
    assert "precision" not in parse_space({"model": {"layers": LAYERS}}).sample(RandomHP(0))
    assert parse_space(_space("mixed_bfloat16")).sample(RandomHP(0))["precision"] == "mixed_bfloat16"
    hp = RandomHP(1)
    config = parse_space(_space({"choice": ["float32", "mixed_bfloat16"]})).sample(hp)
    assert config["precision"] == hp.values["precision"]
    with pytest.raises(SpaceError) as e:
        parse_space(_space("bfloat16"))
    assert e.value.problems[0][0] == "training.precision" and "mixed_bfloat16" in e.value.problems[0][1]


def test_mixed_float16_without_a_gpu_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    fp16 = parse_space(_space({"choice": ["float32", "mixed_float16"]})).training
    with pytest.raises(SpaceError) as e:
        check_precision(fp16, on_gpu=False)
    assert e.value.problems[0][0] == "training.precision" and "needs a GPU" in e.value.problems[0][1]
    check_precision(fp16, on_gpu=True)
    check_precision(parse_space(_space("mixed_bfloat16")).training, on_gpu=False)
    store = tmp_path / "s.db"
    with pytest.raises(SpaceError, match="mixed_float16 needs a GPU"):
        automl.search(_space("mixed_float16"), "synthetic:12:3:40", n_trials=1, epochs=1, gpus="none",
                      storage=f"sqlite:///{store}")
    assert not store.exists()


def _dtypes(model: Any) -> dict[str, tuple[str, str]]:
    return {layer.name: (layer.compute_dtype, layer.variable_dtype) for layer in model.layers if layer.weights}


def test_a_mixed_bfloat16_model_computes_in_bfloat16_keeps_float32_weights_and_output() -> None:
    import keras

    model = build_model(_config(*LAYERS, precision="mixed_bfloat16"), (12,), 3)
    assert keras.config.dtype_policy().name == "float32"  # restored once the model is built
    dtypes = _dtypes(model)
    assert dtypes.pop("head") == ("float32", "float32")
    assert dtypes and set(dtypes.values()) == {("bfloat16", "float32")}
    assert all(w.dtype == "float32" for w in model.weights)
    assert model.get_layer("l2_transformer_block_attention").compute_dtype == "bfloat16"
    assert model.get_layer("l0_conv1d").output.dtype == "bfloat16" and model.output.dtype == "float32"
    assert np.isfinite(_fit(model, (12,)))
    x = np.random.default_rng(0).random((4, 12), dtype=np.float32)
    out = model.predict(x, verbose=0)
    assert out.dtype == np.float32 and np.allclose(out.sum(-1), 1.0, atol=1e-5)
    # The next trial of a persistent worker, in float32, is float32 again.
    assert set(_dtypes(build_model(_config(*LAYERS), (12,), 3)).values()) == {("float32", "float32")}


def test_mixed_float16_scales_the_loss_and_a_failed_build_restores_the_policy() -> None:
    import keras

    model = build_model(_config(*LAYERS, precision="mixed_float16"), (12,), 3)
    assert type(model.optimizer).__name__ == "LossScaleOptimizer"
    assert model.get_layer("l5_dense").compute_dtype == "float16" and model.output.dtype == "float32"
    with pytest.raises(ModelBuildError):
        build_model(_config({"type": "conv1d", "filters": 4, "kernel_size": 50}, precision="mixed_bfloat16"),
                    (12,), 3)
    assert keras.config.dtype_policy().name == "float32"


def test_a_mixed_bfloat16_search_trains_on_the_cpu_and_exports_its_precision(tmp_path: Path) -> None:
    import keras

    from automl._export import export_model
    from automl.data import load_data
    from automl.storage import load_study, open_storage

    url = f"sqlite:///{tmp_path / 's.db'}"
    space = {**_space("mixed_bfloat16"), "num_classes": 3}
    result = automl.search(space, "synthetic:12:3:80", n_trials=1, epochs=1, gpus="none", storage=url,
                           study_name="bf16", seed=0)
    assert result.best is not None and np.isfinite(result.best.value)  # type: ignore[arg-type]
    assert keras.config.dtype_policy().name == "float32"
    export_model(load_study(open_storage(url), "bf16"), url, tmp_path / "m.keras")
    model = keras.saving.load_model(tmp_path / "m.keras")
    assert model.get_layer("l0_conv1d").compute_dtype == "bfloat16"
    assert model.get_layer("head").compute_dtype == "float32"
    ds = load_data("synthetic:12:3:80")
    scores = model.evaluate(ds.x_val, ds.y_val, verbose=0, return_dict=True)
    assert scores["accuracy"] == pytest.approx(float(result.best.value), abs=1e-6)  # type: ignore[arg-type]
