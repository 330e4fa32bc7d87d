"""Running one trial in this process: build the model, fit it, stream each epoch out."""

from __future__ import annotations

import contextlib
import gc
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from automl._logging import get_logger
from automl.data import Dataset
from automl.data._mapped import as_float32
from automl.engines._base import Decision, TrialOutcome, TrialSpec
from automl.errors import ModelBuildError
from automl.model import build_model, import_keras, seed_everything
from automl.model._compiles import count_compiles
from automl.model._distribute import data_parallel, replicas
from automl.model._init import host_constants, host_weights, trial_rng
from automl.model._training import early_stopping_result, training_callbacks
from automl.runner._feed import fit_arguments
from automl.space import FixedHP, SearchSpace

__all__ = ["InProcessExecutor", "EpochHook", "classify_error", "epoch_only_callbacks"]

EpochHook = Callable[[int, dict[str, float]], Decision]
DEVICE_DATA_LIMIT = 2**30  # bytes of data a worker copies to its device (data_on_device)
_log = get_logger("runner")


def device_data_limit(device_memory: int | None) -> int:
    """Bytes of data a worker may copy to its device: ``DEVICE_DATA_LIMIT``, and no more than a
    twentieth of the device's memory where it is known (several workers share a GPU, and
    their models need the rest)."""
    return min(DEVICE_DATA_LIMIT, device_memory // 20) if device_memory else DEVICE_DATA_LIMIT


def _memory_limit(jax: Any) -> int | None:
    """The default device's memory in bytes, as its allocator reports it (None on the CPU)."""
    try:
        stats = jax.devices()[0].memory_stats()
    except Exception:  # noqa: BLE001 - a backend without memory statistics
        return None
    return int(stats["bytes_limit"]) if stats and stats.get("bytes_limit") else None


def steps_per_epoch(keras: Any, n: int, batch_size: int) -> int:
    """Training batches an epoch, as ``fit_arguments`` feeds them: full batches only on JAX."""
    if keras.backend.backend() == "jax":
        return max(n // max(min(batch_size, n), 1), 1)
    return max(math.ceil(n / batch_size), 1)


def classify_error(e: BaseException) -> str:
    """A one-line reason for a trial's failure; out-of-memory errors say so first."""
    text = f"{type(e).__name__}: {e}".strip()
    low = text.lower()
    if (isinstance(e, MemoryError) or "resourceexhausted" in low or "resource_exhausted" in low
            or "out of memory" in low or "oom" in low.split()):
        return f"out of memory: {text.splitlines()[0][:300]}"
    return text.splitlines()[0][:500] if text else type(e).__name__


class InProcessExecutor:
    """Runs trials one after another in the calling process.

    Keras is imported on first use (on ``backend``); the session is cleared before each
    trial; every trial is seeded with ``seed + trial number``. With ``freeze_gc`` (worker
    processes, which run nothing else) what survives the clearing is moved out of the
    garbage collector's sight (``gc.freeze``): Keras's ``clear_session`` runs a full
    collection, which otherwise walks every object of Keras and JAX each trial to find the
    last trial's model.

    With ``data_on_device`` (JAX only), the training and validation arrays are copied to
    JAX's default device once, at the first trial, and every trial's batches are cut there
    (``automl/runner/_feed.py``); data larger than ``device_data_limit`` (1 GiB, at most a
    twentieth of the GPU's memory), or that the device has no room for, stays in host
    memory, with a warning. Memory-mapped data (``.npy``/``.npz`` files) stays in its file:
    batches are read from it as they are drawn (``automl/runner/_feed.py``).
    """

    def __init__(self, space: SearchSpace, data: Dataset, *, backend: str | None = None, seed: int = 0,
                 device: str = "cpu", freeze_gc: bool = False, data_on_device: bool = False,
                 share_programs: bool = True, devices: int = 1) -> None:
        self.space = space
        self.data = data
        self.backend = backend
        self.seed = seed
        self.device = device
        self.freeze_gc = freeze_gc
        self.data_on_device = data_on_device
        self.share_programs = share_programs
        # A trial on several devices trains data-parallel (Keras's distribution API, JAX only),
        # its batches cut from host memory: Keras shards each one across the devices.
        self.devices = devices
        self.data_on_device = data_on_device and devices == 1
        self._arrays: tuple[Any, Any, Any, Any] | None = None

    def _fit_arrays(self, keras: Any) -> tuple[Any, Any, Any, Any]:
        """(x_train, y_train, x_val, y_val): in host memory, or on the device once asked for."""
        d = self.data
        host = (d.x_train, d.y_train, d.x_val, d.y_val)
        if not self.data_on_device or keras.backend.backend() != "jax":
            return host
        if self._arrays is None:
            self._arrays = self._to_device(host)
        return self._arrays

    def place_data(self) -> None:
        """Copy the data to the device now rather than at the first trial (with
        ``data_on_device``, on JAX). Needs only JAX, not Keras: a worker does it from its
        warm-up thread while the main thread imports Keras."""
        from automl.model._backend import resolve_backend

        if self.data_on_device and self._arrays is None and resolve_backend(self.backend) == "jax":
            d = self.data
            self._arrays = self._to_device((d.x_train, d.y_train, d.x_val, d.y_val))

    def _to_device(self, host: tuple[Any, Any, Any, Any]) -> tuple[Any, Any, Any, Any]:
        import jax

        size = sum(int(np.prod(a.shape)) * 4 for a in host)  # float32 samples, int32/float32 labels
        limit = device_data_limit(_memory_limit(jax))
        if size > limit:
            _log.warning("the data (%.0f MiB) is larger than %.0f MiB: it stays in host memory", size / 2**20,
                         limit / 2**20)
            return host
        try:
            # A memory map (of any numeric dtype) small enough is read here, as float32.
            x, y, xv, yv = (jax.device_put(as_float32(np.asarray(a)) if i % 2 == 0 else np.asarray(a))
                            for i, a in enumerate(host))
        except Exception as e:  # noqa: BLE001 - out of device memory: train from host memory
            _log.warning("the data could not be copied to %s (%s): it stays in host memory", self.device,
                         classify_error(e))
            return host
        return x, y, xv, yv

    def _measure(self, metric: str, history: dict[str, list[float]], params_count: int, model: Any) -> float:
        if metric == "params_count":
            return float(params_count)
        if metric == "latency_ms":
            return latency_ms(model, self.data.x_val, devices=self.devices)
        return history[metric][-1] if history.get(metric) else math.nan

    def _build(self, keras: Any, spec: TrialSpec) -> Any:
        if self.space.kind == "yaml":
            steps = steps_per_epoch(keras, len(self.data.x_train), int(spec.config.get("batch_size", 32)))
            # On JAX, dropout rates and optimizer coefficients are variables, so that trials of one
            # architecture run the same compiled programs (automl/model/_runtime.py).
            return build_model(spec.config, self.data.input_shape, self.data.num_classes, steps_per_epoch=steps,
                               runtime_values=self.share_programs and keras.backend.backend() == "jax")
        with host_weights(trial_rng()):
            model = self.space.build_model(FixedHP(spec.params))  # type: ignore[union-attr]
        if not isinstance(model, keras.Model):
            raise ModelBuildError(f"build_model must return a keras.Model (got {type(model).__name__})")
        if not getattr(model, "compiled", False) and getattr(model, "optimizer", None) is None:
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    def run(self, spec: TrialSpec, on_epoch: EpochHook) -> TrialOutcome:
        """Build, fit and score one trial; the process's resident memory afterwards is recorded."""
        from automl.runner._worker import rss_bytes

        keras = import_keras(self.backend)
        jax = keras.backend.backend() == "jax"
        # On JAX, the variables fit creates (optimizer slots, metric totals) are filled on
        # the host: otherwise each new weight shape is a program to compile.
        with host_constants() if jax else contextlib.nullcontext(), \
                count_compiles() if jax else contextlib.nullcontext() as compiles:
            outcome = self._run(spec, on_epoch)
        outcome.memory_mb = rss_bytes() / 2**20 or None
        outcome.compiles = compiles.as_attr() if compiles is not None else None
        return outcome

    def _run(self, spec: TrialSpec, on_epoch: EpochHook) -> TrialOutcome:
        keras = import_keras(self.backend)
        keras.backend.clear_session()  # which also forgets a distribution: entered after it
        if self.freeze_gc:
            gc.freeze()
        seed_everything(keras, self.seed + spec.number)
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(data_parallel(keras, self.devices))
            except ModelBuildError as e:
                return TrialOutcome("failed", error=str(e), device=self.device)
            return self._train(keras, spec, on_epoch)

    def _train(self, keras: Any, spec: TrialSpec, on_epoch: EpochHook) -> TrialOutcome:
        try:
            model = self._build(keras, spec)
            if spec.parent_checkpoint:
                _parent_weights_here(spec)
                with warnings.catch_warnings():
                    # Keras warns that the optimizer's state is not in a weights file: expected.
                    warnings.simplefilter("ignore")
                    model.load_weights(spec.parent_checkpoint)
        except ModelBuildError as e:
            return TrialOutcome("failed", error=str(e), device=self.device)
        except Exception as e:  # noqa: BLE001 - user code: record and go on
            return TrialOutcome("failed", error=f"building the model failed: {classify_error(e)}", device=self.device)
        params_count = int(model.count_params())
        device = self.device if self.devices == 1 else f"{self.device} ({replicas(model)} devices)"
        cb = _make_callback(keras, on_epoch, self.space.objective.metric)
        objective = self.space.objective
        extra = training_callbacks(keras, spec.config, objective.metric, objective.direction) \
            if self.space.kind == "yaml" else []
        callbacks = epoch_only_callbacks(keras, [cb, *extra], model, epochs=spec.epochs)
        t0 = time.perf_counter()
        try:
            batch_size = int(spec.config.get("batch_size", 32))
            if batch_size % self.devices:
                raise ModelBuildError(f"batch size {batch_size} does not split evenly across {self.devices} "
                                      f"devices: search batch sizes that are multiples of {self.devices}")
            feed = fit_arguments(keras, *self._fit_arrays(keras), batch_size, self.seed + spec.number, self.devices)
            model.fit(**feed, epochs=spec.epochs, initial_epoch=spec.initial_epoch, verbose=0, callbacks=callbacks)
        except Exception as e:  # noqa: BLE001 - anything fit raises ends this trial only
            return TrialOutcome("failed", history=cb.history, params_count=params_count,
                                fit_seconds=time.perf_counter() - t0, epoch_seconds=cb.epoch_seconds,
                                error=classify_error(e), device=device)
        fit_seconds = time.perf_counter() - t0
        out = TrialOutcome("complete", history=cb.history, params_count=params_count, fit_seconds=fit_seconds,
                           epoch_seconds=cb.epoch_seconds, device=device)
        if cb.nan_epoch is not None:
            out.state, out.error = "failed", f"NaN or infinite loss at epoch {cb.nan_epoch}"
            return out
        out.value = cb.last_objective
        out.stopped_early, best = early_stopping_result(keras, extra, cb.history, objective.metric, spec.initial_epoch)
        out.value = best if best is not None else out.value  # the weights it has are those of its best epoch
        if cb.pruned:
            out.state = "pruned"
        elif len(self.space.objectives) > 1:
            out.values = [self._measure(o.metric, cb.history, params_count, model) for o in self.space.objectives]
        if spec.checkpoint:
            out.warning = _save_weights(model, spec.checkpoint)
            if out.warning is None and spec.artifacts and spec.artifact_id:
                from automl.storage._artifacts import here, put_weights

                out.warning = put_weights(here(spec.artifacts), spec.artifact_id, spec.checkpoint)
                out.artifact = None if out.warning else (spec.artifact_id, Path(spec.checkpoint).name)
        return out


def _parent_weights_here(spec: TrialSpec) -> None:
    """A parent trained on another host: its weights come from the artifact store first."""
    from automl.storage._artifacts import fetch_artifact, here

    assert spec.parent_checkpoint is not None
    if Path(spec.parent_checkpoint).is_file() or not (spec.artifacts and spec.parent_artifact_id):
        return
    fetch_artifact(here(spec.artifacts), spec.parent_artifact_id, Path(spec.parent_checkpoint))


def _save_weights(model: Any, path: str) -> str | None:
    """Save the trial's weights; a failed write (a full disk) costs the weights, not the
    trained result: the reason is returned, the partial file removed."""
    import os

    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)  # a Ray node's own copy of the cache
        model.save_weights(path)
    except Exception as e:  # noqa: BLE001 - OSError mostly, wrapped variously by h5py
        with contextlib.suppress(OSError):
            os.remove(path)
        _log.warning("the weights of this trial were not kept (%s: %s)", type(e).__name__, e)
        return f"weights not kept: {classify_error(e)}"
    return None


def latency_ms(model: Any, x: Any, batch: int = 256, repeats: int = 5, devices: int = 1) -> float:
    """Median milliseconds per sample of ``model.predict_on_batch`` on ``batch`` samples (a
    multiple of ``devices``: a data-parallel batch splits evenly)."""
    batch = min(batch, len(x)) // devices * devices
    if batch < 1:
        return math.nan
    xb = as_float32(np.asarray(x[:batch]))  # a memory map's first rows, read
    model.predict_on_batch(xb)  # warm-up (compilation)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.predict_on_batch(xb)
        times.append(time.perf_counter() - t0)
    return 1000.0 * sorted(times)[len(times) // 2] / len(xb)


_BATCH_HOOKS = ("on_batch_begin", "on_batch_end", "on_train_batch_begin", "on_train_batch_end",
                "on_test_batch_begin", "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end")


def epoch_only_callbacks(keras: Any, callbacks: list[Any], model: Any, *, epochs: int) -> Any:
    """A ``keras.callbacks.CallbackList`` of ``callbacks`` (and a ``History``) that skips the
    per-batch hooks, for callbacks that have none.

    Keras's own list converts every batch's metrics to Python floats before calling the
    per-batch hooks, even when no callback overrides them: on JAX, a task on a thread pool
    per batch that waits for the device and copies the metrics to the host; skipping it makes
    epochs shorter (benchmarks/README.md). A callback that overrides a per-batch
    hook is refused (it would never be called).
    """
    base = keras.callbacks.Callback
    for cb in callbacks:
        hooked = [h for h in _BATCH_HOOKS if getattr(type(cb), h) is not getattr(base, h)]
        if hooked:
            raise ValueError(f"{type(cb).__name__} overrides {', '.join(hooked)}: per-batch hooks are not called here")

    class EpochOnly(keras.callbacks.CallbackList):  # type: ignore[misc, name-defined]
        def _skip(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            return None

        on_batch_begin = on_batch_end = on_train_batch_begin = on_train_batch_end = _skip
        on_test_batch_begin = on_test_batch_end = on_predict_batch_begin = on_predict_batch_end = _skip

    return EpochOnly(callbacks, add_history=True, add_progbar=False, model=model, verbose=0, epochs=epochs)


def _make_callback(keras: Any, on_epoch: EpochHook, objective: str) -> Any:
    class _Stream(keras.callbacks.Callback):  # type: ignore[misc, name-defined]
        """Carries each epoch's logs out, stops on NaN loss or when the engine prunes, and
        times each epoch."""

        def __init__(self) -> None:
            super().__init__()
            self.history: dict[str, list[float]] = {}
            self.epoch_seconds: list[float] = []
            self._t = time.perf_counter()
            self.nan_epoch: int | None = None
            self.pruned = False
            self.last_objective: float | None = None

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self._t = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            metrics = {k: float(v) for k, v in (logs or {}).items()}
            self.epoch_seconds.append(time.perf_counter() - self._t)
            for k, v in metrics.items():
                self.history.setdefault(k, []).append(v)
            if not math.isfinite(metrics.get("loss", 0.0)):
                self.nan_epoch = epoch + 1
                self.model.stop_training = True
                return
            if objective in metrics:
                self.last_objective = metrics[objective]
            decision = on_epoch(epoch + 1, metrics)
            if decision == Decision.PRUNE:
                self.pruned = True
                self.model.stop_training = True

    return _Stream()
