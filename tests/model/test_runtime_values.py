"""Rates and optimizer coefficients as runtime values (issue 23): the same masks and updates
as Keras's own classes, weights files interchangeable with theirs, and on JAX two trials of
one architecture that differ only in those values compile their programs once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from automl.model import build_model, build_optimizer
from tests.conftest import run_on_jax

_RUNTIME = "automl.model._runtime"  # where the runtime classes live (named as Keras's)

# A transformer block (branch and attention dropout), a dropout layer, an optimizer: every
# runtime value the builder makes, in one model.
_LAYERS = """[{"type": "conv1d", "filters": 8, "kernel_size": 3, "padding": "same"},
           {"type": "transformer_block", "num_heads": 2, "key_dim": 4, "ff_units": 8, "dropout": RATE,
            "attention_dropout": ATTENTION},
           {"type": "global_avg_pool1d"}, {"type": "dropout", "rate": RATE}]"""


def _config(rate: float, attention: float, optimizer: dict[str, Any]) -> dict[str, Any]:
    import json

    layers = json.loads(_LAYERS.replace("ATTENTION", str(attention)).replace("RATE", str(rate)))
    return {"layers": layers, "optimizer": optimizer, "loss": "sparse_categorical_crossentropy",
            "metrics": ["accuracy"], "batch_size": 8, "epochs": 2}


_TWO_TRIALS = """
    import tempfile
    import numpy as np
    # The persistent compilation cache, as automl's workers have it (configure_backend).
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", tempfile.mkdtemp())
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    from automl.model import build_model, import_keras, seed_everything
    from automl.model._compiles import count_compiles
    keras = import_keras("jax")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 10)).astype("float32"), np.arange(32) % 3
    configs = json.loads(CONFIGS)

    def trial(config, runtime):
        keras.backend.clear_session()
        seed_everything(keras, 7)
        model = build_model(config, (10,), 3, runtime_values=runtime)
        with count_compiles() as compiles:
            history = model.fit(x, y, validation_data=(x, y), epochs=2, batch_size=8, verbose=0)
        return {"history": history.history, "compiles": compiles.as_attr(),
                "weights": [np.asarray(w).tolist() for w in model.trainable_weights]}

    runtime = [trial(c, True) for c in configs]
    plain = [trial(c, False) for c in configs]  # Keras's Dropout and optimizers: the old way
    print("RESULT" + json.dumps({"runtime": runtime, "plain": plain}))
"""


# Pairs of one architecture and optimizer kind: dropout, momentum or betas, learning rate differ.
_PAIRS = [_config(0.1, 0.2, {"name": "sgd", "learning_rate": 0.05, "momentum": 0.9}),
          _config(0.3, 0.05, {"name": "sgd", "learning_rate": 0.01, "momentum": 0.5}),
          _config(0.2, 0.1, {"name": "adam", "learning_rate": 0.01, "beta_1": 0.8}),
          _config(0.4, 0.3, {"name": "adam", "learning_rate": 0.003, "beta_1": 0.95, "beta_2": 0.99, "epsilon": 1e-6})]


@pytest.mark.slow
def test_two_trials_of_one_architecture_compile_once_on_jax(tmp_path: Path) -> None:
    import json

    out = run_on_jax(_TWO_TRIALS.replace("CONFIGS", repr(json.dumps(_PAIRS))), tmp_path)
    runtime, plain = out["runtime"], out["plain"]
    print({k: [t["compiles"] for t in v] for k, v in out.items()})  # shown with -s or on failure
    assert runtime[0]["compiles"]["programs"] >= 2  # the train and evaluation programs, compiled
    assert runtime[2]["compiles"]["programs"] >= 1  # another optimizer: its train program
    for second in (1, 3):
        # The second trial runs the first one's programs: the persistent cache serves them all.
        assert runtime[second]["compiles"]["programs"] == 0, runtime[second]["compiles"]
        assert runtime[second]["compiles"]["cache_hits"] >= 2
        # The old way, the train program has the trial's constants: compiled again.
        assert plain[second]["compiles"]["programs"] >= 1, plain[second]["compiles"]
    for new, old in zip(runtime, plain):
        for key in ("loss", "val_loss", "accuracy"):
            np.testing.assert_allclose(new["history"][key], old["history"][key], rtol=1e-5, atol=1e-6)
        # atol: the attention's key bias has a zero gradient (softmax ignores it): rounding moves it, by ~1e-5.
        for a, b in zip(new["weights"], old["weights"], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


_MASKS = """
    import numpy as np
    from automl.model import import_keras
    from automl.model._runtime import runtime_attention_class, runtime_dropout_class
    keras = import_keras("jax")
    x = np.random.default_rng(0).normal(size=(4, 5, 6)).astype("float32")
    out = {}
    for rate, noise in ((0.3, None), (0.5, (None, 1, 6)), (0.0, None)):
        keras.utils.set_random_seed(1)
        plain = keras.layers.Dropout(rate, noise_shape=noise)
        keras.utils.set_random_seed(1)
        runtime = runtime_dropout_class()(rate, noise_shape=noise)
        runtime.build(x.shape)
        state = [v.value for v in runtime.non_trainable_variables]

        def step(state, x):
            return runtime.stateless_call([], state, x, training=True)[0]

        jitted = np.asarray(jax.jit(step)(state, x))  # the rate an argument of the program
        calls = [(np.asarray(plain(x, training=True)), np.asarray(runtime(x, training=True))) for _ in range(2)]
        calls.append((np.asarray(plain(x, training=False)), np.asarray(runtime(x, training=False))))
        out[str(rate)] = {"calls": [[a.tolist(), b.tolist()] for a, b in calls],
                          "jitted": [calls[0][0].tolist(), jitted.tolist()],
                          "seeds": [hasattr(plain, "seed_generator"), hasattr(runtime, "seed_generator")],
                          "state": len(runtime.non_trainable_variables)}
    q = np.random.default_rng(1).normal(size=(2, 5, 6)).astype("float32")
    keras.utils.set_random_seed(2)
    plain = keras.layers.MultiHeadAttention(2, 3, dropout=0.2)(q, q, training=True)
    keras.utils.set_random_seed(2)
    attention = runtime_attention_class()(2, 3, dropout=0.2)
    runtime = attention(q, q, training=True)
    out["attention"] = [np.asarray(plain).tolist(), np.asarray(runtime).tolist(),
                        type(attention._dropout_layer).__module__, len(attention.non_trainable_variables)]
    print("RESULT" + json.dumps(out))
"""


@pytest.mark.slow
def test_the_runtime_dropout_draws_keras_masks_on_jax(tmp_path: Path) -> None:
    out = run_on_jax(_MASKS, tmp_path)
    for rate in ("0.3", "0.5", "0.0"):
        for plain, runtime in [*out[rate]["calls"], out[rate]["jitted"]]:
            plain, runtime = np.asarray(plain), np.asarray(runtime)
            np.testing.assert_array_equal(plain == 0, runtime == 0)  # the same mask
            np.testing.assert_allclose(runtime, plain, rtol=1e-6)  # x / keep (XLA may multiply by 1/keep)
    assert out["0.3"]["seeds"] == [True, True] and out["0.3"]["state"] == 2  # the seeds' state, and keep
    assert out["0.0"]["seeds"] == [False, False]  # none at rate 0: later layers draw the seeds they drew
    plain, runtime, kind, state = out["attention"]
    np.testing.assert_allclose(runtime, plain, rtol=1e-6, atol=1e-7)
    assert kind == "automl.model._runtime" and state == 2  # its one seed generator (taken over) and keep


_OPTIMIZERS = [{"name": "adam", "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-5, "weight_decay": 0.01},
               {"name": "adamw", "weight_decay": 0.05, "amsgrad": True},
               {"name": "sgd", "momentum": 0.7, "nesterov": True}, {"name": "sgd"},
               {"name": "rmsprop", "rho": 0.8, "momentum": 0.5, "centered": True}, {"name": "rmsprop", "rho": 0.7},
               {"name": "adagrad", "epsilon": 1e-4}, {"name": "adamax", "beta_1": 0.7},
               {"name": "nadam", "beta_2": 0.9}]


@pytest.mark.parametrize("options", _OPTIMIZERS, ids=lambda o: "-".join(map(str, o.values())))
def test_runtime_optimizers_update_as_keras_does(options: dict[str, Any]) -> None:
    import keras

    config = {"learning_rate": 0.01, **options}
    rng = np.random.default_rng(0)
    start = [rng.normal(size=(3, 4)).astype("float32"), rng.normal(size=(4,)).astype("float32")]
    grads = [[rng.normal(size=w.shape).astype("float32") for w in start] for _ in range(5)]
    results = []
    for runtime in (False, True):
        opt = build_optimizer(config, runtime_values=runtime)
        weights = [keras.Variable(w) for w in start]
        for g in grads:
            opt.apply_gradients(zip([keras.ops.convert_to_tensor(x) for x in g], weights))
        results.append([keras.ops.convert_to_numpy(w) for w in weights])
        assert {k: v for k, v in opt.get_config().items() if k in options and k != "name"} == \
            {k: v for k, v in options.items() if k != "name"}  # floats in its config, as Keras's
    for plain, runtime in zip(*results):
        np.testing.assert_allclose(runtime, plain, rtol=1e-5, atol=1e-6)


def test_weights_files_load_both_ways_and_the_default_model_is_plain_keras(tmp_path: Path) -> None:
    import keras

    config = _config(0.2, 0.1, {"name": "adamw", "learning_rate": 0.01, "weight_decay": 0.01})
    x, y = np.random.default_rng(0).normal(size=(16, 10)).astype("float32"), np.arange(16) % 3
    runtime = build_model(config, (10,), 3, runtime_values=True)
    plain = build_model(config, (10,), 3)
    automl = {type(layer).__name__ for layer in runtime.layers if type(layer).__module__ == _RUNTIME}
    assert automl == {"Dropout", "MultiHeadAttention"} and type(runtime.optimizer).__module__ == _RUNTIME
    # The default (what export builds): Keras's classes only, so plain Keras reads a saved model.
    assert all(type(obj).__module__.startswith("keras.") for obj in [*plain.layers, plain.optimizer])
    runtime.fit(x, y, epochs=1, batch_size=8, verbose=0)
    plain.fit(x, y, epochs=1, batch_size=8, verbose=0)
    runtime.save_weights(tmp_path / "runtime.weights.h5")
    plain.save_weights(tmp_path / "plain.weights.h5")
    expected, plain_before = runtime.predict(x, verbose=0), plain.predict(x, verbose=0)
    plain.load_weights(tmp_path / "runtime.weights.h5")  # the trial's weights into export's model
    np.testing.assert_allclose(plain.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    slots = runtime.optimizer._state()  # its variables less the coefficients: Keras's AdamW's
    assert len(slots) == len(plain.optimizer.variables) > 2
    for a, b in zip(slots, plain.optimizer.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    runtime.load_weights(tmp_path / "plain.weights.h5")
    np.testing.assert_allclose(runtime.predict(x, verbose=0), plain_before, rtol=1e-5, atol=1e-6)
    # A whole runtime model reloads where automl is imported (its classes are registered).
    runtime.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    assert type(again.optimizer).__module__ == _RUNTIME and type(again.optimizer).__name__ == "AdamW"
    np.testing.assert_allclose(again.predict(x, verbose=0), runtime.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_the_architecture_key_ignores_exactly_the_runtime_values() -> None:
    from automl.model._runtime import architecture_key

    def config(units: int = 8, rate: float = 0.2, lr: float = 1e-3, momentum: float = 0.9,
               epochs: int = 3) -> dict[str, Any]:
        return {"layers": [{"type": "dense", "units": units}, {"type": "dropout", "rate": rate}],
                "optimizer": {"name": "sgd", "learning_rate": lr, "momentum": momentum}, "epochs": epochs,
                "batch_size": 32}

    key = architecture_key(config())
    assert key == architecture_key(config(rate=0.4, lr=0.1, momentum=0.5, epochs=9))
    for other in (config(units=16), config(rate=0.0), config(momentum=0.0), {**config(), "batch_size": 64}):
        assert architecture_key(other) != key
    assert architecture_key({"epochs": 2}) is None  # a build_model space: nothing to read
