"""Which trial backend runs a search: the one rule, for the API, the CLI and ``automl worker``."""

from __future__ import annotations

from automl.data import Dataset
from automl.runner._backend import TrialBackend
from automl.runner._slots import Slot, runs_in_process
from automl.space import SearchSpace

__all__ = ["make_backend"]


def make_backend(slots: list[Slot], space: SearchSpace, data: Dataset, *, backend: str | None, seed: int,
                 trial_timeout: float | None, cluster: str | None = None, trials_per_gpu: int | str = "auto",
                 workers: int | None = None, gpus_per_trial: int = 1) -> TrialBackend:
    """Actors on the Ray cluster at ``cluster`` (slots from its resources: ``trials_per_gpu``
    on each GPU, at most ``workers``); else in this process for one CPU slot without a time
    limit (:func:`runs_in_process`); else a pool of worker processes, one per slot. Workers
    start now."""
    if cluster:
        from automl.runner._pool import PoolSettings
        from automl.runner._ray import RayBackend

        return RayBackend(cluster, space, data, PoolSettings(backend=backend, seed=seed),
                          trials_per_gpu=trials_per_gpu, workers=workers, gpus_per_trial=gpus_per_trial)
    if runs_in_process(slots, trial_timeout):
        from automl.runner._executor import InProcessExecutor
        from automl.runner._inprocess import InProcessBackend

        return InProcessBackend(InProcessExecutor(space, data, backend=backend, seed=seed), slots[0])
    from automl.runner._pool import PoolSettings, ProcessPoolBackend

    return ProcessPoolBackend(slots, space, data, PoolSettings(backend=backend, seed=seed))
