"""How a trial's arrays are fed to ``fit``: one batch shape per trial on compiling backends.

With the JAX backend every new input shape is a new XLA compilation, and a training set
that the batch size does not divide ends each epoch with a smaller batch: a second
compilation of the train step (and of the eval step, for the validation set). For the
small models a search mostly trains, compiling costs more than training
(benchmarks/README.md), so on JAX:

* training draws full batches only: each epoch is a fresh random permutation of the
  training set cut into ``len // batch_size`` batches; the last ``len % batch_size``
  samples of that permutation sit out that epoch only (PyTorch's ``drop_last``);
* validation uses the largest batch size from ``batch_size / 2`` to ``4 × batch_size``
  that divides the validation set, when there is one (evaluating keeps no activations for
  gradients, so a larger batch than training's fits); every sample is scored. A validation
  set with no such divisor (a prime size) keeps a last smaller batch: one more, smaller,
  compilation of the eval step.

On TensorFlow (whose traced steps accept any batch size) and PyTorch (no compilation by
default), arrays go to ``fit`` as they are.

The arrays may already be on the device (JAX arrays, see ``InProcessExecutor``'s
``data_on_device``): each training batch is then gathered there by one small compiled
program (``take_batch``) instead of being copied out of host memory and sent over; the
validation arrays go to ``fit`` as they are and Keras slices them on the device.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

__all__ = ["fit_arguments", "validation_batch_size"]


def validation_batch_size(n: int, batch_size: int) -> int:
    """The largest divisor of ``n`` in [batch_size / 2, 4 × batch_size]; else ``batch_size``."""
    if n <= 4 * batch_size:
        return max(n, 1)
    for d in range(4 * batch_size, max(batch_size // 2, 1) - 1, -1):
        if n % d == 0:
            return d
    return batch_size


def fit_arguments(keras: Any, x: Any, y: Any, x_val: Any, y_val: Any, batch_size: int, seed: int) -> dict[str, Any]:
    """Keyword arguments for ``model.fit`` carrying the data, for the backend Keras runs on."""
    if keras.backend.backend() != "jax":
        return {"x": x, "y": y, "batch_size": batch_size, "validation_data": (x_val, y_val)}
    return {"x": _full_batches(keras, x, y, batch_size, seed), "validation_data": (x_val, y_val),
            "validation_batch_size": validation_batch_size(len(x_val), batch_size)}


@functools.cache
def _take_batch() -> Any:
    """One compiled program per batch shape: rows ``i`` of ``x`` and ``y``, on their device."""
    import jax
    import jax.numpy as jnp

    def take_batch(x: Any, y: Any, i: Any) -> tuple[Any, Any]:
        return jnp.take(x, i, axis=0), jnp.take(y, i, axis=0)

    return jax.jit(take_batch)


def _full_batches(keras: Any, x: Any, y: Any, batch_size: int, seed: int) -> Any:
    on_device = type(x).__module__.split(".")[0] in ("jax", "jaxlib")  # a jax.Array

    class FullBatches(keras.utils.PyDataset):  # type: ignore[misc, name-defined]
        """Shuffled full batches of (x, y), a new permutation every epoch."""

        def __init__(self) -> None:
            super().__init__()
            self.n = len(x)
            self.size = min(batch_size, self.n)
            self.rng = np.random.default_rng(seed)
            self.order = self.rng.permutation(self.n)

        def __len__(self) -> int:
            return self.n // self.size

        def __getitem__(self, i: int) -> tuple[Any, Any]:
            # Sorted indices read a memory-mapped array front to back; order within a batch is irrelevant.
            idx = np.sort(self.order[i * self.size:(i + 1) * self.size])
            if on_device:
                return _take_batch()(x, y, idx.astype(np.int32))  # type: ignore[no-any-return]
            return np.asarray(x[idx]), np.asarray(y[idx])

        def on_epoch_end(self) -> None:
            self.order = self.rng.permutation(self.n)

    return FullBatches()
