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

Samples read from ``.npy``/``.npz`` files (:class:`~automl.data._mapped.Rows`: a memory
map, or a split's rows of one) are never handed to ``fit`` whole, which would copy them
into memory (TensorFlow makes a tensor of them): on every backend each batch is read from
the map as it is drawn (training: a fresh permutation every epoch, every sample seen, on JAX
full batches only as above; validation: consecutive batches), and made float32. The
coordinator's own copy of in-memory data, which workers map, goes to ``fit`` as arrays do.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from automl.data._mapped import Rows, as_float32

__all__ = ["fit_arguments", "validation_batch_size", "streamed", "feed"]


def streamed(x: Any) -> bool:
    """Whether ``x`` is fed batch by batch from its file rather than to ``fit`` whole."""
    return isinstance(x, Rows)


def validation_batch_size(n: int, batch_size: int, multiple: int = 1) -> int:
    """The largest divisor of ``n`` in [batch_size / 2, 4 × batch_size] that is a multiple of
    ``multiple``; else ``batch_size``."""
    if n <= 4 * batch_size:
        return max(n, 1)
    for d in range(4 * batch_size, max(batch_size // 2, 1) - 1, -1):
        if n % d == 0 and d % multiple == 0:
            return d
    return batch_size


def fit_arguments(keras: Any, x: Any, y: Any, x_val: Any, y_val: Any, batch_size: int, seed: int,
                  devices: int = 1) -> dict[str, Any]:
    """Keyword arguments for ``model.fit`` carrying the data, for the backend Keras runs on.

    On ``devices`` > 1 (data-parallel, JAX) every batch must split evenly across them: the
    last ``len(x_val) % devices`` validation samples (fewer than the devices) sit out."""
    jax = keras.backend.backend() == "jax"
    out: dict[str, Any] = {"x": _batches(keras, x, y, batch_size, seed, full=jax)} if jax or streamed(x) else \
        {"x": x, "y": y, "batch_size": batch_size}
    if devices > 1 and len(x_val) % devices:
        keep = len(x_val) - len(x_val) % devices
        x_val, y_val = x_val[:keep], y_val[:keep]
    val_size = validation_batch_size(len(x_val), batch_size, devices) if jax else batch_size
    if streamed(x_val):
        out["validation_data"] = _in_order(keras, x_val, y_val, val_size)
    else:
        out["validation_data"] = (x_val, y_val)
        if jax:
            out["validation_batch_size"] = val_size
    return out


def feed(keras: Any, x: Any, y: Any, batch_size: int, *, seed: int | None = None) -> dict[str, Any]:
    """Keyword arguments carrying ``(x, y)`` to ``fit`` (``seed``: shuffled as a trial's
    training set is) or to ``evaluate``: the arrays as they are, or samples read from their
    file batch by batch (retraining, evaluating a test split of a mapped file)."""
    if not streamed(x):
        return {"x": x, "y": y, "batch_size": batch_size}
    if seed is None:
        return {"x": _in_order(keras, x, y, batch_size)}
    return {"x": _batches(keras, x, y, batch_size, seed, full=False)}


@functools.cache
def _take_batch() -> Any:
    """One compiled program per batch shape: rows ``i`` of ``x`` and ``y``, on their device."""
    import jax
    import jax.numpy as jnp

    def take_batch(x: Any, y: Any, i: Any) -> tuple[Any, Any]:
        return jnp.take(x, i, axis=0), jnp.take(y, i, axis=0)

    return jax.jit(take_batch)


def _full_batches(keras: Any, x: Any, y: Any, batch_size: int, seed: int) -> Any:
    return _batches(keras, x, y, batch_size, seed, full=True)


def _batches(keras: Any, x: Any, y: Any, batch_size: int, seed: int, *, full: bool) -> Any:
    on_device = type(x).__module__.split(".")[0] in ("jax", "jaxlib")  # a jax.Array

    class Batches(keras.utils.PyDataset):  # type: ignore[misc, name-defined]
        """Shuffled batches of (x, y), a new permutation every epoch; with ``full``, full
        batches only (the permutation's last ``n % batch_size`` samples sit that epoch out)."""

        def __init__(self) -> None:
            super().__init__()
            self.n = len(x)
            self.size = min(batch_size, self.n)
            self.rng = np.random.default_rng(seed)
            self.order = self.rng.permutation(self.n)

        def __len__(self) -> int:
            return self.n // self.size if full else -(-self.n // self.size)

        def __getitem__(self, i: int) -> tuple[Any, Any]:
            # Sorted indices read a memory-mapped array front to back; order within a batch is irrelevant.
            idx = np.sort(self.order[i * self.size:(i + 1) * self.size])
            if on_device:
                return _take_batch()(x, y, idx.astype(np.int32))  # type: ignore[no-any-return]
            return as_float32(np.asarray(x[idx])), np.asarray(y[idx])

        def on_epoch_end(self) -> None:
            self.order = self.rng.permutation(self.n)

    return Batches()


def _in_order(keras: Any, x: Any, y: Any, batch_size: int) -> Any:
    """Consecutive batches of (x, y), each read from the map as it is asked for (validation)."""

    class InOrder(keras.utils.PyDataset):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.size = min(batch_size, len(x))

        def __len__(self) -> int:
            return -(-len(x) // self.size)

        def __getitem__(self, i: int) -> tuple[Any, Any]:
            rows = slice(i * self.size, (i + 1) * self.size)
            return as_float32(np.asarray(x[rows])), np.asarray(y[rows])

    return InOrder()
