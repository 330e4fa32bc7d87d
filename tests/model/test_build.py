"""Building real Keras models from configurations."""

from __future__ import annotations

import numpy as np
import pytest

from automl.errors import ModelBuildError
from automl.model import build_model
from automl.space import FixedHP, catalog, load_space


def _first_config(name: str):  # type: ignore[no-untyped-def]
    from tests.space.test_parse import RandomHP

    return load_space(catalog()[name]).sample(RandomHP(1))


@pytest.mark.parametrize("name,shape", [("demo", (64,)), ("seed-mlp", (100,)), ("seed-cnn", (32, 32, 3)),
                                        ("mnist1d-conv1d", (40,))])
def test_catalog_models_build_and_predict(name: str, shape: tuple[int, ...]) -> None:
    config = _first_config(name)
    model = build_model(config, shape, 10)
    out = model.predict(np.zeros((3, *shape), dtype=np.float32), verbose=0)
    assert out.shape == (3, 10)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    assert model.optimizer.__class__.__name__.lower() == config["optimizer"]["name"]


def test_seed_article_mlp_exactly() -> None:
    config = {"layers": [{"type": "dense", "units": 64, "activation": "relu"},
                         {"type": "dense", "units": 64, "activation": "relu"}],
              "optimizer": {"name": "adam", "learning_rate": 0.001}, "loss": "sparse_categorical_crossentropy",
              "metrics": ["accuracy"]}
    model = build_model(config, (100,), 10)
    # 100*64+64 + 64*64+64 + 64*10+10, as in the article's network.
    assert model.count_params() == 6464 + 4160 + 650


def test_optimizer_options_reach_keras() -> None:
    config = {"layers": [{"type": "dense", "units": 4}], "loss": "sparse_categorical_crossentropy",
              "metrics": ["accuracy"],
              "optimizer": {"name": "sgd", "learning_rate": 0.05, "momentum": 0.8, "nesterov": True}}
    opt = build_model(config, (3,), 2).optimizer
    assert float(opt.learning_rate) == pytest.approx(0.05) and opt.momentum == pytest.approx(0.8) and opt.nesterov


def test_unbuildable_config_is_a_model_build_error() -> None:
    config = {"layers": [{"type": "conv1d", "filters": 4, "kernel_size": 9}], "loss": "sparse_categorical_crossentropy",
              "metrics": [], "optimizer": {"name": "adam", "learning_rate": 0.001}}
    with pytest.raises(ModelBuildError, match="cannot be built"):
        build_model(config, (5,), 3)


def test_fixed_hp_replays_and_rejects_unknown_names() -> None:
    hp = FixedHP({"units": 16})
    assert hp.int("units", 1, 100) == 16
    with pytest.raises(KeyError, match="'depth' has no value"):
        hp.int("depth", 1, 3)
