"""Initial weights drawn on the host: Keras's distributions, no compiled program per shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from automl.model import build_model, import_keras
from automl.model._init import draw_on_host
from tests.conftest import run_on_jax

keras = import_keras()


@pytest.mark.parametrize("name", ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_normal",
                                  "lecun_uniform", "random_normal", "random_uniform", "truncated_normal"])
@pytest.mark.parametrize("shape", [(64, 128), (5, 5, 16, 32), (3, 8, 24)])
def test_same_distribution_as_keras(name: str, shape: tuple[int, ...]) -> None:
    init = keras.initializers.get(name)
    ours = draw_on_host(init, shape, np.random.default_rng(0))
    theirs = keras.ops.convert_to_numpy(keras.initializers.get({"class_name": name, "config": {"seed": 1}})(shape))
    assert ours is not None and ours.shape == theirs.shape
    assert ours.std() == pytest.approx(theirs.std(), rel=0.08)
    assert abs(ours.mean()) < 0.1 * theirs.std() + 0.01
    assert np.abs(ours).max() <= np.abs(theirs).max() * 1.15 + 1e-6


def test_constants_and_unknown_kinds() -> None:
    rng = np.random.default_rng(0)
    assert (draw_on_host(keras.initializers.Zeros(), (3,), rng) == 0).all()
    assert (draw_on_host(keras.initializers.Ones(), (2, 2), rng) == 1).all()
    assert (draw_on_host(keras.initializers.Constant(0.5), (4,), rng) == 0.5).all()
    assert draw_on_host(keras.initializers.Orthogonal(), (4, 4), rng) is None  # left to Keras
    assert draw_on_host(keras.initializers.Constant([1.0, 2.0]), (2,), rng) is None


def _config() -> dict[str, Any]:
    return {"layers": [{"type": "conv2d", "filters": 4, "kernel_size": 3, "activation": "relu"},
                       {"type": "batch_norm"}, {"type": "flatten"},
                       {"type": "dense", "units": 8, "kernel_initializer": "orthogonal"}],
            "optimizer": {"name": "adam", "learning_rate": 1e-3}, "loss": "sparse_categorical_crossentropy",
            "metrics": ["accuracy"], "batch_size": 8, "epochs": 1}


def test_seeded_models_match_and_keep_their_own_initializers_in_the_config() -> None:
    weights = []
    for _ in range(2):
        keras.utils.set_random_seed(7)
        model = build_model(_config(), (6, 6, 1), 3)
        weights.append([np.array(w) for w in model.get_weights()])
    assert all((a == b).all() for a, b in zip(*weights))
    keras.utils.set_random_seed(8)
    other = build_model(_config(), (6, 6, 1), 3).get_weights()
    assert not (other[0] == weights[0][0]).all()
    text = json.dumps(model.get_config())
    assert "GlorotUniform" in text and "Orthogonal" in text and "OnHost" not in text
    bn = model.get_layer("l1_batch_norm")
    assert (np.array(bn.gamma) == 1).all() and (np.array(bn.moving_variance) == 1).all()


_JAX_SCRIPT = """
    from automl.model import build_model, import_keras
    keras = import_keras("jax")
    config = {"layers": [{"type": "conv2d", "filters": 4, "kernel_size": 3, "activation": "relu"},
                         {"type": "batch_norm"}, {"type": "flatten"}, {"type": "dense", "units": 8}],
              "optimizer": {"name": "adam", "learning_rate": 1e-3}, "loss": "sparse_categorical_crossentropy",
              "metrics": ["accuracy"], "batch_size": 8, "epochs": 1}
    keras.utils.set_random_seed(0)
    model = build_model(config, (6, 6, 1), 3)
    print("RESULT" + json.dumps({"compiled": compiled, "params": model.count_params()}))
"""


@pytest.mark.slow
def test_building_on_jax_compiles_no_initializer(tmp_path: Path) -> None:
    out = run_on_jax(_JAX_SCRIPT, tmp_path)
    assert out["params"] > 0
    assert not [c for c in out["compiled"] if c in ("_uniform", "_normal", "_truncated_normal", "broadcast_in_dim")], \
        out["compiled"]


_JAX_FUNCTION_SCRIPT = """
    import numpy as np
    from automl.model import import_keras, seed_everything
    keras = import_keras("jax")
    from automl.data import load_data
    from automl.engines import TrialSpec
    from automl.runner import InProcessExecutor
    from automl.space import FunctionSpace

    def build(hp):  # a user's build_model: its layers are built here, not by automl
        model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(4, 3, kernel_initializer="he_normal"),
                                  keras.layers.BatchNormalization(), keras.layers.Flatten(),
                                  keras.layers.Dense(hp.int("units", 3, 3))])
        model.compile(optimizer="adam", loss="mse")
        return model

    ex = InProcessExecutor(FunctionSpace(build, epochs=1), load_data("digits"))
    weights = []
    for _ in range(2):
        seed_everything(keras, 3)
        model = ex._build(keras, TrialSpec(0, {"units": 3}, {}, epochs=1))
        weights.append([np.asarray(w) for w in model.get_weights()])
    seed_everything(keras, 4)
    other = [np.asarray(w) for w in ex._build(keras, TrialSpec(0, {"units": 3}, {}, epochs=1)).get_weights()]
    print("RESULT" + json.dumps({"compiled": compiled, "config": json.dumps(model.get_config()),
                                 "same": all((a == b).all() for a, b in zip(*weights)),
                                 "differs": not (other[0] == weights[0][0]).all(),
                                 "he_std": float(weights[0][0].std())}))
"""


@pytest.mark.slow
def test_a_users_build_model_on_jax_compiles_no_initializer(tmp_path: Path) -> None:
    out = run_on_jax(_JAX_FUNCTION_SCRIPT, tmp_path)
    assert not [c for c in out["compiled"] if c in ("_uniform", "_normal", "_truncated_normal", "broadcast_in_dim")], \
        out["compiled"]
    assert out["same"] and out["differs"]
    # The layers still name their own initializers; He normal over fan-in 9: std sqrt(2/9) = 0.47.
    assert "HeNormal" in out["config"] and "GlorotUniform" in out["config"] and "OnHost" not in out["config"]
    assert 0.25 < out["he_std"] < 0.7


def test_host_constants_fill_with_numpy_and_restore_keras_afterwards() -> None:
    from automl.model._init import host_constants

    k = keras.initializers
    before = (k.Zeros.__call__, k.Ones.__call__, k.Constant.__call__)
    with host_constants():
        zeros = keras.ops.convert_to_numpy(k.Zeros()((2, 3), dtype="float32"))
        ones = keras.ops.convert_to_numpy(k.Ones()((4,), dtype="int32"))
        half = keras.ops.convert_to_numpy(k.Constant(np.float32(0.5))((3,)))
        # A constant that is an array is Keras's own business: still right.
        rows = keras.ops.convert_to_numpy(k.Constant([1.0, 2.0])((2,)))
        # bfloat16, which NumPy lacks: Keras's own initializer.
        half_precision = k.Zeros()((3,), dtype="bfloat16")
        # Optimizer slots, created while the block runs, start at zero.
        var = keras.Variable(np.ones((2, 2), "float32"))
        opt = keras.optimizers.Adam()
        opt.build([var])
        slots = [keras.ops.convert_to_numpy(v) for v in opt.variables[2:]]
    assert zeros.shape == (2, 3) and zeros.dtype == np.float32 and not zeros.any()
    assert ones.dtype == np.int32 and (ones == 1).all()
    assert half.dtype == np.float32 and (half == 0.5).all()
    assert rows.tolist() == [1.0, 2.0]
    assert keras.backend.standardize_dtype(half_precision.dtype) == "bfloat16"
    assert not keras.ops.convert_to_numpy(keras.ops.cast(half_precision, "float32")).any()
    assert slots and all(s.shape == (2, 2) and not s.any() for s in slots)
    assert (k.Zeros.__call__, k.Ones.__call__, k.Constant.__call__) == before


_JAX_TRIALS_SCRIPT = """
    from automl.data import load_data
    from automl.engines._base import Decision, TrialSpec
    from automl.model import import_keras
    from automl.runner._executor import InProcessExecutor
    from automl.space import FixedHP, load_space, resolve_space

    keras = import_keras("jax")
    space = resolve_space(load_space("search_spaces/seed-cnn.yaml"), epochs=1, batch_size=32)
    data = load_data("synthetic:16x16x3:4:320")
    ex = InProcessExecutor(space, data, backend="jax")
    per_trial = []
    base = {"layer0.kernel_size": 3, "layer2.filters": 32, "layer4.filters": 32, "layer6.units": 32,
            "layer7.rate": 0.1, "optimizer": "adam", "learning_rate": 1e-3, "batch_size": 32}
    # Every weight shape of the second model is new (other filter counts and dense width).
    for n, extra in enumerate(({"layer0.filters": 16}, {"layer0.filters": 48, "layer2.filters": 64,
                                                         "layer4.filters": 96, "layer6.units": 64})):
        params = dict(base, **extra)
        compiled.clear()
        out = ex.run(TrialSpec(n, params, space.sample(FixedHP(params)), epochs=1), lambda e, m: Decision.CONTINUE)
        per_trial.append({"state": out.state, "error": out.error, "compiled": list(compiled)})
    print("RESULT" + json.dumps(per_trial))
"""


@pytest.mark.slow
def test_on_jax_a_trial_of_new_shapes_compiles_its_two_steps_only(tmp_path: Path) -> None:
    first, second = run_on_jax(_JAX_TRIALS_SCRIPT, tmp_path)
    assert first["state"] == second["state"] == "complete", (first["error"], second["error"])
    # No program per weight shape for the optimizer's slots (Keras fills them with broadcasts).
    assert "broadcast_in_dim" not in first["compiled"], first["compiled"]
    assert sorted(second["compiled"]) == ["test_step", "train_step"], second["compiled"]


def test_host_weights_leave_dtypes_numpy_lacks_to_keras() -> None:
    from automl.model._init import host_weights

    with host_weights(np.random.default_rng(0)):
        layer = keras.layers.Dense(3, dtype="bfloat16")
        layer.build((None, 4))
    kernel = keras.ops.convert_to_numpy(keras.ops.cast(layer.kernel, "float32"))
    assert keras.backend.standardize_dtype(layer.kernel.dtype) == "bfloat16"
    assert kernel.shape == (4, 3) and kernel.std() > 0


def test_host_weights_keep_an_array_constant() -> None:
    from automl.model._init import host_weights

    with host_weights(np.random.default_rng(0)):
        layer = keras.layers.Dense(3, bias_initializer=keras.initializers.Constant([1.0, 2.0, 3.0]))
        layer.build((None, 4))
    assert keras.ops.convert_to_numpy(layer.bias).tolist() == [1.0, 2.0, 3.0]
