"""The checks of a search's arguments: bad input is a :class:`UsageError` naming the
argument as the caller wrote it (the parameter in Python, the flag on the command line),
before anything is loaded or written."""

from __future__ import annotations

import math
import numbers
from typing import Any

from automl.engines._registry import engine_kind
from automl.errors import UsageError
from automl.space._task import TASKS

__all__ = ["check_search_arguments", "check_space_arguments", "check_data_arguments", "check_task", "MAX_SEED"]


def check_task(task: Any, flags: bool = False) -> None:
    if task is not None and task not in TASKS:
        raise UsageError(f"{'--task' if flags else 'task'} must be one of {', '.join(TASKS)} (got {task!r})")


# Seeds are offset by trial numbers and handed to NumPy, whose seeds are below 2**32.
MAX_SEED = 2 ** 31 - 1
# The command-line flag of each argument that has one under another name.
_FLAGS = {"n_trials": "--trials", "study_name": "--study", "heartbeat_s": "--heartbeat"}


class _Args:
    """Checks of ``automl.search``'s arguments, naming each as the caller wrote it (the
    parameter in Python, the flag on the command line: ``--epochs must be ≥ 1``)."""

    def __init__(self, flags: bool) -> None:
        self.flags = flags

    def name(self, key: str) -> str:
        return _FLAGS.get(key, "--" + key.replace("_", "-")) if self.flags else key

    def integer(self, key: str, value: Any, low: int, high: int | None = None, optional: bool = False) -> int | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise UsageError(f"{self.name(key)} must be an integer (got {value!r})")
        value = int(value)
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"≥ {low}"
            raise UsageError(f"{self.name(key)} must be {bound} (got {value})")
        return value

    def number(self, key: str, value: Any, *, above: float | None = None, at_least: float | None = None,
               below: float | None = None, optional: bool = False) -> float | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise UsageError(f"{self.name(key)} must be a finite number (got {value!r})")
        value = float(value)
        if ((above is not None and value <= above) or (at_least is not None and value < at_least)
                or (below is not None and value >= below)):
            low = f"above {above:g}" if above is not None else f"≥ {at_least:g}" if at_least is not None else ""
            high = f"below {below:g}" if below is not None else ""
            raise UsageError(f"{self.name(key)} must be {' and '.join(b for b in (low, high) if b)} (got {value:g})")
        return value

    def text(self, key: str, value: Any, optional: bool = True) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str):
            raise UsageError(f"{self.name(key)} must be a string (got {value!r})")
        return value


def check_data_arguments(*, val_split: Any = 0.2, test_split: Any = 0.0, data_seed: Any = 0,
                         label_column: Any = None, flags: bool = False) -> tuple[float, float, int, str | None]:
    """``val_split``, ``test_split``, ``data_seed`` and ``label_column`` checked (the test split
    is taken from all the samples, then the validation split from the rest), as
    ``(val_split, test_split, data_seed, label_column)``."""
    a = _Args(flags)
    val = a.number("val_split", val_split, above=0.0, below=1.0)
    test = a.number("test_split", test_split, at_least=0.0, below=1.0)
    assert val is not None and test is not None
    seed = a.integer("data_seed", data_seed, 0, MAX_SEED - 1)
    assert seed is not None
    return val, test, seed, a.text("label_column", label_column)


def check_space_arguments(*, epochs: Any = None, batch_size: Any = None, objective: Any = None,
                          direction: Any = None, flags: bool = False) -> None:
    """The overrides of the space, checked before it is resolved (so that a bad ``epochs``
    is the one error reported, not also what the space makes of it)."""
    a = _Args(flags)
    a.integer("epochs", epochs, 1, optional=True)
    a.integer("batch_size", batch_size, 1, optional=True)
    a.text("objective", objective)
    if direction is not None and direction not in ("maximize", "minimize"):
        raise UsageError(f"{a.name('direction')} must be maximize or minimize (got {direction!r})")


def check_search_arguments(*, n_trials: Any = 20, timeout: Any = None, engine: Any = "optuna", sampler: Any = "tpe",
                           pruner: Any = "none", algorithm: Any = None, seed: Any = None, storage: Any = None,
                           study_name: Any = None, backend: Any = None, gpus: Any = "auto",
                           trials_per_gpu: Any = "auto", workers: Any = None, retries: Any = 1,
                           trial_timeout: Any = None, heartbeat_s: Any = 10.0, keep_weights: Any = True,
                           cluster: Any = None, artifacts: Any = None, gpus_per_trial: Any = 1,
                           flags: bool = False) -> None:
    """The search's own arguments (budget, engine, seeds, slots), checked for type and range:
    bad input is a :class:`UsageError` naming the argument, before anything is loaded."""
    a = _Args(flags)
    a.integer("n_trials", n_trials, 1)
    a.number("timeout", timeout, above=0.0, optional=True)
    kind = engine_kind(engine)
    for key, value in (("sampler", sampler), ("pruner", pruner)):
        a.text(key, value, optional=False)
    for key, value in (("algorithm", algorithm), ("storage", storage), ("study_name", study_name),
                       ("backend", backend), ("cluster", cluster), ("artifacts", artifacts)):
        a.text(key, value)
    kind.options(algorithm=algorithm, sampler=sampler, pruner=pruner, flags=flags)
    a.integer("seed", seed, 0, MAX_SEED, optional=True)
    a.text("gpus", gpus, optional=False)
    if trials_per_gpu != "auto":
        a.integer("trials_per_gpu", trials_per_gpu, 1)
    a.integer("workers", workers, 1, optional=True)
    a.integer("gpus_per_trial", gpus_per_trial, 1)
    if gpus_per_trial != 1 and trials_per_gpu not in ("auto", 1):
        raise UsageError(f"{a.name('gpus_per_trial')} {gpus_per_trial} gives each trial {gpus_per_trial} whole "
                         f"GPUs: leave out {a.name('trials_per_gpu')} (several trials on one GPU and trials on "
                         f"several GPUs do not mix in one search)")
    if gpus_per_trial != 1:
        from automl.model._backend import resolve_backend

        if resolve_backend(backend) != "jax":
            raise UsageError(f"{a.name('gpus_per_trial')} {gpus_per_trial} trains each trial data-parallel with "
                             f"Keras's distribution API, which runs on the JAX backend only: add "
                             f"{a.name('backend')} jax")
    a.integer("retries", retries, 0)
    a.number("trial_timeout", trial_timeout, above=0.0, optional=True)
    a.number("heartbeat_s", heartbeat_s, above=0.0)
    if not isinstance(keep_weights, bool):
        raise UsageError(f"{a.name('keep_weights')} must be True or False (got {keep_weights!r})")
    if artifacts is not None:
        from automl.storage._artifacts import artifact_location

        artifact_location(artifacts, "sqlite://")  # a folder, not an object store
