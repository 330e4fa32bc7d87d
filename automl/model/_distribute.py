"""A trial on several devices trains data-parallel through Keras's distribution API, which
runs on the JAX backend only (as Keras documents); the batch is split across the devices
and the metrics are one model's."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from automl.errors import ModelBuildError

__all__ = ["data_parallel", "replicas"]


@contextlib.contextmanager
def data_parallel(keras: Any, devices: int) -> Iterator[None]:
    """Within: models built and trained are replicated over the first ``devices`` devices
    this process sees (nothing changes for one)."""
    if devices <= 1:
        yield
        return
    if keras.backend.backend() != "jax":
        raise ModelBuildError(f"a trial on {devices} devices needs the JAX backend (Keras's distribution API), "
                              f"not {keras.backend.backend()}")
    found = keras.distribution.list_devices()
    if len(found) < devices:
        raise ModelBuildError(f"a trial on {devices} devices found only {len(found)}: {', '.join(found)}")
    with keras.distribution.DataParallel(devices=found[:devices]).scope():
        yield


def replicas(model: Any) -> int:
    """On how many devices ``model``'s weights are (what data-parallel training really used)."""
    for v in model.weights:
        sharding = getattr(getattr(v, "value", None), "sharding", None)
        if sharding is not None:
            return len(sharding.device_set)
    return 1
