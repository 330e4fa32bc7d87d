"""A search's settings, in four groups, as the API, the CLI and ``automl worker`` pass them
to :func:`automl._search.plan_search`, which validates them once into a plan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["SearchSettings", "ParallelSettings", "SpaceOverrides", "DataOptions"]


@dataclass(frozen=True)
class SearchSettings:
    """The search itself: the engine and its options, the budget (``n_trials``, a global
    count in the store; ``timeout`` in seconds), seeds, the store, the Keras backend,
    retries of trials whose worker died, heartbeats, and whether trials keep weights."""

    engine: str = "optuna"
    n_trials: int = 20
    timeout: float | None = None
    sampler: str = "tpe"
    pruner: str = "none"
    algorithm: str | None = None
    seed: int | None = None
    storage: str | None = None
    study_name: str | None = None
    backend: str | None = None
    retries: int = 1
    heartbeat_s: float = 10.0
    keep_weights: bool = True
    artifacts: str | None = None


@dataclass(frozen=True)
class ParallelSettings:
    """Where trials run: ``gpus`` (``auto``, ``none``, ``"0,1"``), ``trials_per_gpu``,
    ``workers``, the per-trial time limit, or a Ray ``cluster`` (docs/parallel.md)."""

    gpus: str = "auto"
    trials_per_gpu: int | str = "auto"
    workers: int | None = None
    trial_timeout: float | None = None
    cluster: str | None = None
    gpus_per_trial: int = 1


@dataclass(frozen=True)
class SpaceOverrides:
    """What replaces the space's own ``training`` values and objective."""

    epochs: int | None = None
    batch_size: int | None = None
    objective: str | None = None
    direction: str | None = None


@dataclass(frozen=True)
class DataOptions:
    """How the data is read and split (docs/data.md): splits and their seed, the label
    column, an image folder's size and colours, the task, a table's column kinds."""

    val_split: float = 0.2
    test_split: float = 0.0
    data_seed: int = 0
    label_column: str | None = None
    image_size: str | tuple[int, int] | None = None
    color_mode: str | None = None
    task: str | None = None
    categorical: Any = None
    numeric: Any = None
    ignore: Any = None
