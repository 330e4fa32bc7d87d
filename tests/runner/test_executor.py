"""The in-process executor: checkpoints, parent weights, failure reasons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from automl.data import load_data
from automl.engines import Decision, TrialSpec
from automl.runner import InProcessExecutor, classify_error
from automl.space import parse_space
from tests.conftest import run_on_jax

CONFIG = {"layers": [{"type": "dense", "units": 8, "activation": "relu"}], "output_activation": "softmax",
          "optimizer": {"name": "adam", "learning_rate": 0.01}, "batch_size": 64, "epochs": 2,
          "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}


def _weights(path: Path) -> list[np.ndarray]:
    from automl.model import build_model

    m = build_model(CONFIG, (64,), 10)
    m.load_weights(path)
    return [w.copy() for w in m.get_weights()]


def test_child_starts_from_the_parent_checkpoint(tiny_space: dict[str, Any], tmp_path: Path) -> None:
    ex = InProcessExecutor(parse_space(tiny_space), load_data("digits"))
    seen: list[int] = []

    def hook(epoch: int, metrics: dict[str, float]) -> Decision:
        seen.append(epoch)
        return Decision.CONTINUE

    a = ex.run(TrialSpec(0, {}, CONFIG, epochs=2, checkpoint=str(tmp_path / "a.weights.h5")), hook)
    assert a.state == "complete" and seen == [1, 2]
    # A child asked to train no further epochs must hold exactly its parent's weights.
    b = ex.run(TrialSpec(1, {}, CONFIG, epochs=2, initial_epoch=2, checkpoint=str(tmp_path / "b.weights.h5"),
                         parent_checkpoint=str(tmp_path / "a.weights.h5")), hook)
    assert b.state in ("complete", "failed")
    for wa, wb in zip(_weights(tmp_path / "a.weights.h5"), _weights(tmp_path / "b.weights.h5")):
        np.testing.assert_array_equal(wa, wb)
    # And one that trains on numbers its epochs from the parent's last one.
    seen.clear()
    c = ex.run(TrialSpec(2, {}, CONFIG, epochs=3, initial_epoch=2, parent_checkpoint=str(tmp_path / "a.weights.h5")),
               hook)
    assert c.state == "complete" and seen == [3]
    assert c.history["loss"][0] < a.history["loss"][0]


def test_pruning_stops_fit_and_keeps_the_last_value(tiny_space: dict[str, Any]) -> None:
    ex = InProcessExecutor(parse_space(tiny_space), load_data("digits"))
    config = dict(CONFIG, epochs=5)
    out = ex.run(TrialSpec(0, {}, config, epochs=5), lambda e, m: Decision.PRUNE if e == 2 else Decision.CONTINUE)
    assert out.state == "pruned" and len(out.history["loss"]) == 2
    assert out.value == out.history["val_accuracy"][-1]


def test_failure_reasons() -> None:
    assert classify_error(MemoryError()).startswith("out of memory")
    assert classify_error(RuntimeError("RESOURCE_EXHAUSTED: OOM when allocating tensor")).startswith("out of memory")
    assert classify_error(ValueError("bad shape")) == "ValueError: bad shape"


def test_freezing_the_collector_still_frees_each_trials_model() -> None:
    """Worker executors gc.freeze() what survives clear_session: the finished trials'
    models (cyclic garbage) must still be collected, the next trial's clearing included."""
    import gc
    import weakref

    import keras

    from automl.space import FunctionSpace

    built: list[Any] = []

    def build(hp: Any) -> Any:
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(hp.int("units", 4, 8), activation="relu"),
                                  keras.layers.Dense(10, activation="softmax")])
        built.append(weakref.ref(model))
        return model

    ex = InProcessExecutor(FunctionSpace(build, epochs=1, batch_size=256), load_data("digits"), freeze_gc=True)
    try:
        for n in range(3):
            out = ex.run(TrialSpec(n, {"units": 4 + n}, {"batch_size": 256}, epochs=1),
                         lambda e, m: Decision.CONTINUE)
            assert out.state == "complete"
            assert gc.get_freeze_count() > 0
            # Every model but the one just trained is gone.
            assert [r() is None for r in built] == [True] * n + [False]
    finally:
        gc.unfreeze()


def test_fit_skips_the_per_batch_callback_work(monkeypatch: Any, tiny_space: dict[str, Any]) -> None:
    """Keras's default callback list converts every batch's metrics to floats (on JAX, a
    thread-pool task per batch waiting for the device) though no callback of a trial has a
    per-batch hook; the executor's list does it per epoch only, and the epochs still stream."""
    import keras
    from keras.src.utils import python_utils

    calls = [0]
    real = python_utils.pythonify_logs

    def counting(logs: Any) -> Any:
        calls[0] += 1
        return real(logs)

    monkeypatch.setattr(python_utils, "pythonify_logs", counting)
    data = load_data("digits")
    steps = len(data.x_train) // 64  # per epoch, at batch size 64
    epochs = 3

    from automl.model import build_model

    m = build_model(CONFIG, (64,), 10)
    m.fit(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val), batch_size=64, epochs=epochs,
          verbose=0, callbacks=[keras.callbacks.Callback()])
    assert calls[0] >= epochs * steps  # Keras's own list: at least once a batch

    calls[0] = 0
    ex = InProcessExecutor(parse_space(tiny_space), data)
    seen: list[int] = []
    out = ex.run(TrialSpec(0, {}, dict(CONFIG, epochs=epochs), epochs=epochs),
                 lambda e, metrics: seen.append(e) or Decision.CONTINUE)  # type: ignore[func-returns-value]
    assert out.state == "complete" and seen == [1, 2, 3] and len(out.history["val_accuracy"]) == epochs
    assert calls[0] <= 6 * epochs  # begin and end of the epoch and of its evaluation: not per batch


def test_epoch_only_callbacks_refuse_a_per_batch_hook() -> None:
    import keras
    import pytest

    from automl.model import build_model
    from automl.runner._executor import epoch_only_callbacks

    class PerBatch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            pass

    with pytest.raises(ValueError, match="on_train_batch_end"):
        epoch_only_callbacks(keras, [PerBatch()], build_model(CONFIG, (64,), 10), epochs=1)


def test_trials_of_one_architecture_share_compiled_programs_on_jax(tmp_path: Path) -> None:
    """Each trial compiled its own train and eval programs: its dropout rate and its
    optimizer's coefficients were constants inside them (issue 23). With them as runtime
    values, the persistent cache serves a later trial of the same architecture, and each
    trial records what it compiled (``automl:compiles``)."""
    out = run_on_jax(f"""
        jax.config.update("jax_enable_compilation_cache", True)
        jax.config.update("jax_compilation_cache_dir", {str(tmp_path / "xla")!r})
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        import automl, optuna
        space = {{"name": "one-arch", "model": {{"layers": [
                     {{"type": "dense", "units": 16, "activation": "relu"}},
                     {{"type": "dropout", "rate": {{"choice": [0.1, 0.3, 0.5]}}}}]}},
                 "optimizer": {{"name": "adam", "learning_rate": {{"low": 1e-3, "high": 3e-2, "log": True}}}},
                 "training": {{"batch_size": 64, "epochs": 1, "metrics": ["accuracy"]}}}}
        url = "sqlite:///{tmp_path / 's.db'}"
        automl.search(space, "digits", n_trials=3, storage=url, study_name="c", sampler="random", seed=2,
                      gpus="none")
        trials = optuna.load_study(study_name="c", storage=url).trials
        print("RESULT", json.dumps([[t.params, t.user_attrs["automl:compiles"], t.state.name] for t in trials]))
    """, tmp_path)
    assert [state for _, _, state in out] == ["COMPLETE"] * 3
    first, *later = out
    assert first[1]["programs"] > 0 and first[1]["compile_seconds"] > 0
    # a later trial with another dropout rate and learning rate compiled nothing
    [rate] = [k for k in first[0] if "rate" in k and "learning" not in k]
    other = [t for t in later if t[0][rate] != first[0][rate]]
    assert other, out
    for params, compiles, _ in other:
        assert compiles["programs"] == 0 and compiles["cache_hits"] > 0, (params, compiles)


_DATA_PARALLEL = """
import json
from automl.data import load_data
from automl.engines import Decision, TrialSpec
from automl.runner import InProcessExecutor
from automl.space import parse_space
from tests.conftest import TINY_SPACE

config = {"layers": [{"type": "dense", "units": 16, "activation": "relu"}], "output_activation": "softmax",
          "optimizer": {"name": "adam", "learning_rate": 0.01}, "batch_size": 64, "epochs": 2,
          "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}
out = {}
for n in (1, 2):
    ex = InProcessExecutor(parse_space(TINY_SPACE), load_data("digits"), backend="jax", devices=n)
    epochs = []
    o = ex.run(TrialSpec(0, {}, config, epochs=2), lambda e, m: epochs.append(e) or Decision.CONTINUE)
    out[n] = {"state": o.state, "value": o.value, "loss": o.history["loss"], "device": o.device, "epochs": epochs}
odd = InProcessExecutor(parse_space(TINY_SPACE), load_data("digits"), backend="jax", devices=2)
o = odd.run(TrialSpec(1, {}, dict(config, batch_size=63), epochs=1), lambda e, m: Decision.CONTINUE)
out["odd"] = {"state": o.state, "error": o.error}
print("RESULT" + json.dumps(out))
"""


def test_a_trial_on_two_devices_trains_and_scores_as_on_one() -> None:
    """Data-parallel over two virtual CPU devices (Keras's distribution API on JAX)."""
    import json
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, KERAS_BACKEND="jax", XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_ENABLE_COMPILATION_CACHE="false", PYTHONPATH=str(root))
    r = subprocess.run([sys.executable, "-c", _DATA_PARALLEL], cwd=root, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.split("RESULT", 1)[1])
    one, two = out["1"], out["2"]
    assert one["state"] == two["state"] == "complete" and one["epochs"] == two["epochs"] == [1, 2]
    assert two["device"] == "cpu (2 devices)" and one["device"] == "cpu"  # its weights were on both devices
    # the same batches, split in two: the same training, within float tolerance; the
    # validation split (359 samples) loses its odd last sample on two devices
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-4)
    assert abs(two["value"] - one["value"]) < 2 / 359
    assert out["odd"]["state"] == "failed" and "batch size 63 does not split evenly across 2" in out["odd"]["error"]
