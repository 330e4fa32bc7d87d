"""Feeding arrays to fit: one batch shape per trial on JAX, every sample seen or scored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from automl.runner._executor import device_data_limit
from automl.runner._feed import _full_batches, fit_arguments, validation_batch_size
from tests.conftest import run_on_jax


@pytest.mark.parametrize(("n", "batch", "expected"), [
    (200, 64, 200),      # up to 4 x batch: one batch
    (10, 64, 10),        # smaller than a batch: one batch
    (2000, 128, 500),    # the largest divisor up to 4 x batch
    (1200, 100, 400),
    (359, 64, 64),       # prime: no divisor, keep the batch size (one smaller last batch)
])
def test_validation_batch_size(n: int, batch: int, expected: int) -> None:
    assert validation_batch_size(n, batch) == expected


def test_full_batches_cover_the_data_and_reshuffle_every_epoch() -> None:
    from automl.model import import_keras

    keras = import_keras()
    x = np.arange(100, dtype="float32").reshape(100, 1)
    y = np.arange(100)
    feed = _full_batches(keras, x, y, 32, seed=0)
    assert len(feed) == 3  # 100 // 32: the 4 left over sit this epoch out

    def epoch() -> list[int]:
        seen = []
        for i in range(len(feed)):
            xb, yb = feed[i]
            assert xb.shape == (32, 1) and yb.shape == (32,)
            assert (xb[:, 0] == yb).all()  # samples stay paired with their labels
            seen += yb.tolist()
        return seen

    first = epoch()
    assert len(set(first)) == 96
    feed.on_epoch_end()
    second = epoch()
    assert len(set(second)) == 96 and first != second
    # over a few epochs, every sample is drawn
    seen = set(first) | set(second)
    for _ in range(5):
        feed.on_epoch_end()
        seen |= set(epoch())
    assert seen == set(range(100))


def test_small_training_sets_give_one_batch() -> None:
    from automl.model import import_keras

    feed = _full_batches(import_keras(), np.zeros((5, 2)), np.zeros(5), 32, seed=0)
    assert len(feed) == 1 and feed[0][0].shape == (5, 2)


def test_other_backends_get_the_arrays_as_they_are() -> None:
    from automl.model import import_keras

    keras = import_keras()
    x, y = np.zeros((10, 2)), np.zeros(10)
    args = fit_arguments(keras, x, y, x, y, 4, seed=0)
    assert args["x"] is x and args["batch_size"] == 4 and args["validation_data"][0] is x


_JAX_SCRIPT = """
    from automl.data import load_data
    from automl.engines._base import Decision, TrialSpec
    from automl.model import build_model, import_keras
    from automl.runner._executor import InProcessExecutor
    from automl.space import load_space, resolve_space

    keras = import_keras("jax")
    import optuna
    from automl.engines._optuna import OptunaHP

    data = load_data("synthetic:100:10:1000")  # 800 / 200: 64 divides neither
    space = resolve_space(load_space("search_spaces/seed-mlp.yaml"), epochs=3, batch_size=64)
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    config = space.sample(OptunaHP(trial))
    out = {"sizes": [len(data.x_train), len(data.x_val)]}
    run = InProcessExecutor(space, data, backend="jax").run(TrialSpec(0, {}, config, 3),
                                                             lambda e, m: Decision.CONTINUE)
    steps = ("train_step", "test_step")
    out["automl"] = {"state": run.state, "epochs": len(run.history["loss"]),
                     "compiled": [c for c in compiled if c in steps]}
    compiled.clear()
    keras.backend.clear_session()
    model = build_model(config, data.input_shape, data.num_classes)
    model.fit(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val), epochs=3, batch_size=64,
              verbose=0)
    out["plain_fit"] = {"compiled": [c for c in compiled if c in steps]}
    print("RESULT" + json.dumps(out))
"""


@pytest.mark.slow
def test_on_jax_each_step_compiles_once_per_trial(tmp_path: Path) -> None:
    out = run_on_jax(_JAX_SCRIPT, tmp_path)
    assert out["sizes"] == [800, 200]
    assert out["automl"]["state"] == "complete" and out["automl"]["epochs"] == 3
    assert sorted(out["automl"]["compiled"]) == ["test_step", "train_step"]
    # The same model fitted on the arrays as they are: the last partial batches compile again.
    assert sorted(out["plain_fit"]["compiled"]) == ["test_step", "test_step", "train_step", "train_step"]


def test_batches_of_arrays_on_the_device_are_the_host_batches() -> None:
    import jax

    from automl.model import import_keras

    keras = import_keras()
    x = np.arange(300, dtype="float32").reshape(100, 3)
    y = np.arange(100)
    host = _full_batches(keras, x, y, 32, seed=3)
    device = _full_batches(keras, jax.device_put(x), jax.device_put(y), 32, seed=3)
    assert len(device) == len(host) == 3
    for _ in range(2):
        for i in range(len(host)):
            (hx, hy), (dx, dy) = host[i], device[i]
            assert isinstance(dx, jax.Array) and isinstance(dy, jax.Array)
            np.testing.assert_array_equal(np.asarray(dx), hx)
            np.testing.assert_array_equal(np.asarray(dy), hy)
        host.on_epoch_end()
        device.on_epoch_end()


_DEVICE_SCRIPT = """
    from automl.data import load_data
    from automl.engines._base import Decision, TrialSpec
    from automl.model import import_keras
    from automl.runner import _executor
    from automl.runner._executor import InProcessExecutor
    from automl.space import load_space, resolve_space

    keras = import_keras("jax")
    import optuna
    from automl.engines._optuna import OptunaHP

    data = load_data("synthetic:100:10:1000")
    space = resolve_space(load_space("search_spaces/seed-mlp.yaml"), epochs=2, batch_size=64)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    configs = [space.sample(OptunaHP(study.ask())) for _ in range(2)]
    for c in configs:
        c["batch_size"] = 64
    go = lambda e, m: Decision.CONTINUE
    out = {}
    host = InProcessExecutor(space, data, backend="jax")
    out["host"] = [host.run(TrialSpec(n, {}, c, 2), go).history for n, c in enumerate(configs)]
    compiled.clear()
    dev = InProcessExecutor(space, data, backend="jax", data_on_device=True)
    runs = [dev.run(TrialSpec(n, {}, c, 2), go) for n, c in enumerate(configs)]
    out["device"] = [r.history for r in runs]
    out["states"] = [r.state for r in runs]
    out["on_device"] = [isinstance(a, jax.Array) for a in dev._arrays]
    out["take_batch"] = compiled.count("take_batch")
    placed = InProcessExecutor(space, data, backend="jax", data_on_device=True)
    placed.place_data()  # before any trial, without Keras's help (a worker's warm-up thread)
    out["placed"] = [isinstance(a, jax.Array) for a in placed._arrays]
    out["placed_history"] = placed.run(TrialSpec(0, {}, configs[0], 2), go).history
    kept = InProcessExecutor(space, data, backend="jax")
    kept.place_data()  # data_on_device off: nothing to do
    out["kept"] = kept._arrays is None
    _executor.DEVICE_DATA_LIMIT = 1000  # bytes: this data no longer fits
    big = InProcessExecutor(space, data, backend="jax", data_on_device=True)
    out["big_state"] = big.run(TrialSpec(0, {}, configs[0], 2), go).state
    out["big_arrays"] = [isinstance(a, jax.Array) for a in big._arrays]
    _executor.DEVICE_DATA_LIMIT = 2**30
    def full(*a, **k):  # a device without room for the data, as jax reports it
        raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1228800 bytes.")
    jax.device_put = full
    full_dev = InProcessExecutor(space, data, backend="jax", data_on_device=True)
    out["full_state"] = full_dev.run(TrialSpec(0, {}, configs[0], 2), go).state
    out["full_arrays"] = [isinstance(a, jax.Array) for a in full_dev._arrays]
    print("RESULT" + json.dumps(out))
"""


@pytest.mark.slow
def test_data_on_the_device_trains_as_from_host_memory(tmp_path: Path) -> None:
    out = run_on_jax(_DEVICE_SCRIPT, tmp_path)
    assert out["states"] == ["complete", "complete"]
    assert out["on_device"] == [True] * 4
    # the same batches, so the same training: the same histories, trial by trial
    assert out["device"] == out["host"]
    assert out["take_batch"] == 1  # one batch shape: compiled once for both trials
    # copied ahead of the first trial: on the device, and the trial trains the same
    assert out["placed"] == [True] * 4 and out["placed_history"] == out["device"][0]
    assert out["kept"]
    # data over the limit stays in host memory and trains as before
    assert out["big_state"] == "complete" and out["big_arrays"] == [False] * 4
    # so does data that the device has no room for
    assert out["full_state"] == "complete" and out["full_arrays"] == [False] * 4


def test_data_kept_on_a_gpu_is_bounded_by_its_memory() -> None:
    gib = 2**30
    assert device_data_limit(None) == gib  # memory unknown (CPU): the fixed bound
    assert device_data_limit(80 * gib) == gib  # an 80 GB card: the fixed bound
    assert device_data_limit(16 * gib) == 16 * gib // 20  # a 16 GB card: a twentieth of it
