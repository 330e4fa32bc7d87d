"""Starting a GPU worker's device while Keras is still being imported.

A fresh JAX process pays, once, for the CUDA context and for the first use of the GPU
compiler and its libraries (cuDNN, cuBLAS, the autotuner), seconds of a worker's first
trial (benchmarks/README.md). Those are mostly native code that
runs without Python's lock, so a thread can do them while the main thread imports Keras
(2-4 s of Python). ``start_warmup`` starts that thread; the worker joins it before it
takes its first trial. What the first trial still pays is mostly XLA autotuning its own
convolution shapes, longer when several workers on a GPU do it at once, which a warm-up
network closer to a trial does not shorten (benchmarks/README.md). A worker that
keeps its data on the GPU copies it there in another thread, started once the device is up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from automl._logging import get_logger

__all__ = ["start_warmup", "warm_device"]

_log = get_logger("runner")


def warm_device(mark: Callable[[str], None] | None = None, on_device: Callable[[], None] | None = None) -> None:
    """Initialise JAX's default device, then compile and run the gradient of a tiny
    convolution and matrix product on it (what every trial of a CNN search needs first).
    ``mark(name)`` is called after each step: ``jax`` (imported), ``device`` (started),
    ``warmed`` (the gradient ran); ``on_device()`` once the device is started."""
    mark = mark or (lambda name: None)
    import jax
    import jax.numpy as jnp
    from jax import lax

    mark("jax")
    jax.devices()
    mark("device")
    if on_device is not None:
        on_device()

    def loss(w: dict[str, jax.Array], x: jax.Array) -> jax.Array:
        y = lax.conv_general_dilated(x, w["kernel"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        y = jax.nn.relu(y).mean(axis=(1, 2)) @ w["dense"]
        return jnp.mean(jax.nn.log_softmax(y))

    w = {"kernel": jnp.full((3, 3, 3, 8), 0.1), "dense": jnp.full((8, 4), 0.1)}
    jax.block_until_ready(jax.jit(jax.grad(loss))(w, jnp.ones((4, 8, 8, 3))))
    mark("warmed")


def start_warmup(backend: str, then: Callable[[], None] | None = None,
                 mark: Callable[[str], None] | None = None) -> threading.Thread | None:
    """A started thread running :func:`warm_device` on JAX (None on other backends: nothing
    is started and ``then`` is not called).

    ``then`` (a worker copies its data to the device there) runs in a thread of its own,
    started as soon as the device is up, while the warm-up compiles, so that copying the data
    never keeps a worker waiting (benchmarks/README.md). The returned
    thread ends after both. Call it after
    :func:`automl.model.configure_backend` (JAX reads its settings when it starts). A
    failure of the warm-up is only logged: the first trial meets the same error and
    records it. ``then`` runs even when the warm-up failed, and must handle its own
    errors. ``mark`` is passed to :func:`warm_device`.
    """
    if backend != "jax":
        return None
    started: list[threading.Thread] = []

    def start_then() -> None:
        if then is not None:
            started.append(threading.Thread(target=then, name="automl-data", daemon=True))
            started[0].start()

    def run() -> None:
        try:
            warm_device(mark, on_device=start_then)
        except Exception as e:  # noqa: BLE001 - the first trial reports what is wrong
            _log.debug("warming the device up failed: %s: %s", type(e).__name__, e)
        if started:
            started[0].join()
        elif then is not None:  # the device never came up
            then()

    thread = threading.Thread(target=run, name="automl-warmup", daemon=True)
    thread.start()
    return thread
