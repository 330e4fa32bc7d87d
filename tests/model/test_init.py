"""Initial weights drawn on the host: Keras's distributions, no compiled program per shape."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from automl.model import build_model, import_keras
from automl.model._init import draw_on_host

ROOT = Path(__file__).resolve().parents[2]
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


_JAX_SCRIPT = textwrap.dedent("""
    import json, logging
    import jax
    jax.config.update("jax_log_compiles", True)
    compiled = []

    class Count(logging.Handler):
        def emit(self, record):
            if record.getMessage().startswith("Compiling"):
                compiled.append(record.getMessage()[:60])

    logging.getLogger("jax").addHandler(Count())
    logging.getLogger("jax").setLevel(logging.WARNING)
    from automl.model import build_model, import_keras
    keras = import_keras("jax")
    config = {"layers": [{"type": "conv2d", "filters": 4, "kernel_size": 3, "activation": "relu"},
                         {"type": "batch_norm"}, {"type": "flatten"}, {"type": "dense", "units": 8}],
              "optimizer": {"name": "adam", "learning_rate": 1e-3}, "loss": "sparse_categorical_crossentropy",
              "metrics": ["accuracy"], "batch_size": 8, "epochs": 1}
    keras.utils.set_random_seed(0)
    model = build_model(config, (6, 6, 1), 3)
    print("RESULT" + json.dumps({"compiled": compiled, "params": model.count_params()}))
""")


@pytest.mark.slow
def test_building_on_jax_compiles_no_initializer(tmp_path: Path) -> None:
    pytest.importorskip("jax")
    env = dict(os.environ, KERAS_BACKEND="jax", AUTOML_CACHE=str(tmp_path / "cache"),
               JAX_ENABLE_COMPILATION_CACHE="false", PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-c", _JAX_SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.split("RESULT", 1)[1])
    assert out["params"] > 0
    assert not [c for c in out["compiled"] if "_uniform" in c or "_normal" in c or "broadcast_in_dim" in c], \
        out["compiled"]
