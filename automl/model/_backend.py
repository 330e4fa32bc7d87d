"""Importing Keras once, quietly, on the backend asked for.

TensorFlow prints start-up lines to fd 2 that no log level silences (see PITFALLS); they
are swallowed here, while the import runs, and nowhere else.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

__all__ = ["import_keras", "configure_backend", "resolve_backend", "seed_everything", "BACKENDS", "TRITON_GEMM_FLAG"]

BACKENDS = ("tensorflow", "jax", "torch")


@contextlib.contextmanager
def _quiet_fd2() -> Iterator[None]:
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


# XLA's Triton GEMM autotuning compiles many candidate kernels for every matrix product,
# which costs first trials seconds and epochs nothing (cuBLAS runs the products instead;
# benchmarks/README.md).
TRITON_GEMM_FLAG = "--xla_gpu_enable_triton_gemm=false"


def resolve_backend(backend: str | None = None) -> str:
    """``backend``, else ``KERAS_BACKEND``, else tensorflow; an unknown name is a ValueError."""
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    return backend or os.environ.get("KERAS_BACKEND") or "tensorflow"


def configure_backend(backend: str) -> None:
    """Set the environment ``backend`` reads when it starts (before anything imports it).

    Every setting is a default: a value already in the environment wins. On JAX: the
    persistent compilation cache under ``$AUTOML_CACHE/xla`` and, unless ``XLA_FLAGS``
    names it, Triton GEMM autotuning off (``TRITON_GEMM_FLAG``).
    """
    os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    if backend == "jax":
        # Compiled XLA programs are reused across trials, workers and runs: compiling costs
        # more than training small models (benchmarks/README.md).
        from automl._paths import cache_dir

        os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(cache_dir() / "xla"))
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_gpu_enable_triton_gemm" not in flags:
            os.environ["XLA_FLAGS"] = f"{flags} {TRITON_GEMM_FLAG}".strip()


# Packages Keras imports only for optional integrations (its scikit-learn wrappers, image
# galleries, IPython display of saved files, pandas inputs), each in a try/except
# ImportError. scikit-learn is automl's own dependency and matplotlib comes with mnist1d,
# so Keras always found them, a third of ``import keras`` (benchmarks/README.md). Worker
# processes, which train on NumPy arrays only, skip them.
OPTIONAL_INTEGRATIONS = ("sklearn", "matplotlib", "IPython", "pandas")


class _SkipOptional(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the optional packages, with no origin, and fails to load them. Raising in
    ``find_spec`` instead broke code that probes with ``importlib.util.find_spec`` (PyTorch's
    ``torch._dynamo`` does, for pandas, while the torch backend of Keras imports)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if name.partition(".")[0] in OPTIONAL_INTEGRATIONS:
            return importlib.machinery.ModuleSpec(name, self)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        raise ModuleNotFoundError(f"{spec.name} is not imported while an automl worker imports Keras", name=spec.name)

    def exec_module(self, module: ModuleType) -> None:  # never reached: create_module raises
        raise ModuleNotFoundError(f"{module.__name__} is not imported while an automl worker imports Keras")


@contextlib.contextmanager
def _without_optional_integrations() -> Iterator[None]:
    """While it runs, importing one of ``OPTIONAL_INTEGRATIONS`` (not imported already) fails
    as if it were not installed; afterwards they import as usual."""
    finder = _SkipOptional()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def import_keras(backend: str | None = None, *, skip_optional: bool = False) -> ModuleType:
    """Import Keras on ``backend`` (default: ``KERAS_BACKEND``, else tensorflow).

    Must run before anything else imports Keras in this process; a second call with another
    backend is an error because Keras cannot switch backends in place. ``skip_optional``
    (worker processes): Keras's optional integrations are not imported
    (``OPTIONAL_INTEGRATIONS``); code can still import those packages afterwards.
    """
    wanted = resolve_backend(backend)
    if "keras" in sys.modules:
        keras = sys.modules["keras"]
        current = keras.backend.backend()
        if current != wanted:
            raise RuntimeError(f"Keras is already imported on {current!r}; cannot switch to {wanted!r} "
                               f"in this process")
        return keras
    configure_backend(wanted)
    with _quiet_fd2(), _without_optional_integrations() if skip_optional else contextlib.nullcontext():
        import keras as keras_module

        if wanted == "tensorflow":
            import tensorflow as tf

            for gpu in tf.config.list_physical_devices("GPU"):
                with contextlib.suppress(RuntimeError):
                    tf.config.experimental.set_memory_growth(gpu, True)
    return keras_module


def seed_everything(keras: ModuleType, seed: int) -> None:
    """``keras.utils.set_random_seed(seed)`` without importing TensorFlow on another backend.

    Keras's function also seeds TensorFlow whenever it is installed (it is a dependency of
    automl), so every JAX or PyTorch worker imported all of TensorFlow with its first trial:
    2 s and several hundred MB per worker. Off TensorFlow this sets the same state (Python's
    and NumPy's generators, Keras's global seed) and leaves TensorFlow alone, unless
    something already imported it.
    """
    if keras.backend.backend() == "tensorflow" or "tensorflow" in sys.modules:
        keras.utils.set_random_seed(seed)
        return
    try:
        from keras.src.backend.common import global_state
        from keras.src.random import seed_generator
        from keras.src.utils import rng_utils

        keys = (rng_utils.GLOBAL_RANDOM_SEED, seed_generator.GLOBAL_SEED_GENERATOR)
    except (ImportError, AttributeError):  # a Keras without these internals: its own function
        keras.utils.set_random_seed(seed)
        return
    import random

    import numpy as np

    global_state.set_global_attribute(keys[0], seed)
    global_state.set_global_attribute(keys[1], None)  # recreated from the seed on first use
    random.seed(seed)
    np.random.seed(seed)
    if keras.backend.backend() == "torch":
        import torch

        torch.manual_seed(seed)
