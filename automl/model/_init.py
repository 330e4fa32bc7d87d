"""Drawing a layer's initial weights with NumPy on the host.

On JAX every random or constant initializer is a small XLA program compiled once per
weight shape: building a small CNN compiled about ten of them, 1.1-1.7 s on the CPU
(more with a GPU's compiler), more than a short trial's whole budget outside ``fit``.
NumPy draws the same distributions (Keras's definitions: fans, scales, the 2-sigma
truncation) and the arrays are copied to the device as they are: nothing to compile.
Initializers of other kinds are left to Keras.

The same holds for the variables Keras creates inside ``fit``: the optimizer's slots
(zeros of each weight's shape) and the metrics' totals: on a GPU each would be a program to
compile (benchmarks/README.md), so ``host_constants`` fills them with NumPy too.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = ["draw_on_host", "host_constants", "host_initializers", "host_weights", "trial_rng"]

# Keras's truncated normal: stddev of a unit normal truncated to [-2, 2].
_TRUNCATED_STDDEV = 0.87962566103423978


def _fans(shape: tuple[int, ...]) -> tuple[float, float]:
    """Keras's ``compute_fans``: dense (in, out); convolution kernels (..., in, out)."""
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    receptive = math.prod(shape[:-2])
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


def _truncated(rng: np.random.Generator, shape: tuple[int, ...], mean: float, stddev: float) -> np.ndarray:
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2
    return mean + stddev * out


def draw_on_host(init: Any, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray | None:
    """Values for ``init`` at ``shape`` drawn with NumPy, or None for a kind not handled here."""
    import keras

    k = keras.initializers
    if isinstance(init, k.Zeros):
        return np.zeros(shape)
    if isinstance(init, k.Ones):
        return np.ones(shape)
    if isinstance(init, k.Constant):  # a scalar; an array constant is left to Keras
        return np.full(shape, float(init.value)) if np.ndim(init.value) == 0 else None
    if isinstance(init, k.VarianceScaling):
        fan_in, fan_out = _fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[init.mode]
        scale = init.scale / max(1.0, fan)
        if init.distribution == "truncated_normal":
            return _truncated(rng, shape, 0.0, math.sqrt(scale) / _TRUNCATED_STDDEV)
        if init.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(scale), shape)
        limit = math.sqrt(3.0 * scale)
        return rng.uniform(-limit, limit, shape)
    if isinstance(init, k.RandomUniform):
        return rng.uniform(init.minval, init.maxval, shape)
    if isinstance(init, k.TruncatedNormal):
        return _truncated(rng, shape, init.mean, init.stddev)
    if isinstance(init, k.RandomNormal):
        return rng.normal(init.mean, init.stddev, shape)
    return None


def trial_rng() -> np.random.Generator:
    """A generator for one model's initial weights, drawn from NumPy's global state (which
    ``seed_everything`` sets for each trial), so that a seeded trial builds the same weights."""
    return np.random.default_rng(np.random.randint(0, 2**31 - 1))


def _on_host(base: Any, rng: np.random.Generator) -> Any:
    """An initializer that draws ``base``'s values with NumPy (``base`` itself for other kinds)."""
    import keras

    class OnHost(keras.initializers.Initializer):  # type: ignore[misc, name-defined]
        def __call__(self, shape: Any, dtype: Any = None) -> Any:
            tensor = _host_tensor(draw_on_host(base, tuple(int(s) for s in shape), rng), dtype)
            return base(shape, dtype=dtype) if tensor is None else tensor

    return OnHost()


def _host_tensor(values: np.ndarray | None, dtype: Any) -> Any:
    """``values`` as a Keras tensor of ``dtype`` (default floatx); None when there are no
    values or NumPy lacks the dtype (bfloat16): the caller leaves those to Keras."""
    import keras

    if values is None:
        return None
    name = keras.backend.standardize_dtype(dtype or keras.config.floatx())
    try:
        array = values.astype(np.dtype(name))
    except TypeError:
        return None
    return keras.ops.convert_to_tensor(array, dtype=name)


@contextlib.contextmanager
def host_initializers(layer: Any, rng: np.random.Generator) -> Iterator[None]:
    """While building the unbuilt ``layer``, its initializers draw with NumPy; afterwards its
    own initializers are back in place (so that its config, and a saved model, name them)."""
    import keras

    originals = {name: value for name, value in vars(layer).items()
                 if name.endswith("initializer") and isinstance(value, keras.initializers.Initializer)}
    for name, value in originals.items():
        setattr(layer, name, _on_host(value, rng))
    try:
        yield
    finally:
        for name, value in originals.items():
            setattr(layer, name, value)


@contextlib.contextmanager
def host_weights(rng: np.random.Generator) -> Iterator[None]:
    """While it runs, every weight a layer creates (``Layer.add_weight``) draws its initial
    values with NumPy: for a user's ``build_model``, whose layers automl does not build
    itself. The layers' own initializer attributes, and so their configs, are untouched.
    Weights created after the block (a subclassed model built in ``fit``) are Keras's."""
    import keras

    cls = keras.layers.Layer
    original = cls.add_weight

    def add_weight(self: Any, *args: Any, initializer: Any = None, **kwargs: Any) -> Any:
        if initializer is not None:
            try:
                initializer = _on_host(keras.initializers.get(initializer), rng)
            except (ValueError, TypeError):
                pass  # something Keras will reject or resolve itself: left as given
        return original(self, *args, initializer=initializer, **kwargs)

    cls.add_weight = add_weight
    try:
        yield
    finally:
        cls.add_weight = original


@contextlib.contextmanager
def host_constants() -> Iterator[None]:
    """While it runs, Keras's ``Zeros``, ``Ones`` and scalar ``Constant`` initializers fill
    their arrays with NumPy (the optimizer's slots and the metrics' variables that ``fit``
    creates): no compiled program per shape. Dtypes NumPy lacks (bfloat16) and
    non-scalar constants are left to Keras."""
    import keras

    k = keras.initializers
    originals = {cls: cls.__call__ for cls in (k.Zeros, k.Ones, k.Constant)}
    rng = np.random.default_rng(0)  # constants draw nothing from it

    def filled(cls: type) -> Callable[..., Any]:
        def call(self: Any, shape: Any, dtype: Any = None) -> Any:
            tensor = _host_tensor(draw_on_host(self, tuple(int(s) for s in shape), rng), dtype)
            return originals[cls](self, shape, dtype=dtype) if tensor is None else tensor

        return call

    for cls in originals:
        cls.__call__ = filled(cls)  # type: ignore[method-assign]
    try:
        yield
    finally:
        for cls, original in originals.items():
            cls.__call__ = original  # type: ignore[method-assign]
