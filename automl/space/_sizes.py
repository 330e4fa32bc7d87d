"""Bounds a space can be refused on before a search of failed or out-of-memory trials.

The least number of weights each layer can have (a dense layer of 10^8 units never fits;
``training.max_layer_params`` raises the bound, docs/spaces.md), and the largest input each
convolution or pooling window can get (a kernel of 64 steps on 40-step data never builds).
Both take the most favourable value of every searched argument, so a space is refused only
when no configuration can work.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from automl.space._params import Choice, Fixed, IntRange, Param

if TYPE_CHECKING:
    from automl.space._space import Item, LayerSpec, RepeatSpec

__all__ = ["DEFAULT_MAX_LAYER_PARAMS", "oversized_layers", "unbuildable_layers"]

DEFAULT_MAX_LAYER_PARAMS = 100_000_000


def _least(p: Param | None) -> int | None:
    """The smallest integer ``p`` may take (None when it is not an integer)."""
    if isinstance(p, Fixed):
        values: list[Any] = [p.value]
    elif isinstance(p, Choice):
        values = list(p.values)
    elif isinstance(p, IntRange):
        values = [p.low]
    else:
        return None
    ints = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
    return min(ints) if len(ints) == len(values) and ints else None


def _least_weights(kind: str, args: dict[str, Param], prefix: str = "") -> tuple[str, int] | None:
    """(the field that sizes it, the fewest weights) of one layer: a fan-in of 1 at the least."""
    def arg(name: str) -> int | None:
        return _least(args.get(prefix + name))

    if kind in ("dense", "conv1d", "conv2d", "separable_conv2d"):
        key = "units" if kind == "dense" else "filters"
        n = arg(key)
        return (prefix + key, 2 * n) if n is not None else None  # one input and a bias for each
    if kind in ("lstm", "gru"):
        n = arg("units")
        return (prefix + "units", (4 if kind == "lstm" else 3) * n * (n + 2)) if n is not None else None
    if kind == "embedding":
        a, b = arg("input_dim"), arg("output_dim")
        return (prefix + "input_dim", a * b) if a is not None and b is not None else None
    if kind in ("multi_head_attention", "transformer_block"):
        # The query and key projections, one weight per head and key dimension each; a
        # transformer block's feed-forward layers add a weight and a bias per unit.
        h, k = arg("num_heads"), arg("key_dim")
        if h is None or k is None:
            return None
        ff = arg("ff_units") if kind == "transformer_block" else 0
        if ff is None:
            return None
        return (prefix + ("ff_units" if ff > h * k else "key_dim"), 2 * h * k + 2 * ff)
    return None


def oversized_layers(layers: Iterable[tuple[str, str, dict[str, Param]]], limit: int) -> Iterator[tuple[str, str]]:
    """(field path, message) for each ``(path, type, args)`` layer whose every configuration
    has more than ``limit`` weights."""
    for path, kind, args in layers:
        if kind == "bidirectional":
            inner = args.get("layer.type")
            found = _least_weights(inner.value, args, "layer.") if isinstance(inner, Fixed) else None
            found = (found[0], 2 * found[1]) if found else None
        else:
            found = _least_weights(kind, args)
        if found is not None and found[1] > limit:
            key, n = found
            yield (f"{path}.{key}", (f"a {kind} layer this size has at least {n:,} weights in every "
                                     f"configuration, more than the {limit:,} a layer may have; make it smaller, "
                                     f"or raise training.max_layer_params"))


# The largest input each layer can get --------------------------------------------------

Dims = tuple[int | None, ...] | None  # the largest size of each axis (no batch axis); None: unknown
_CONVS = ("conv1d", "conv2d", "separable_conv2d", "depthwise_conv2d")
_POOLS = ("max_pool1d", "avg_pool1d", "max_pool2d", "avg_pool2d")
_FLAT = ("flatten", "global_max_pool1d", "global_avg_pool1d", "global_max_pool2d", "global_avg_pool2d")
_MAX_FOLLOWED = 64  # repetitions of a block followed past its least count; beyond, the end is not known


class _Unbuildable(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path, self.message = path, message


def unbuildable_layers(items: Sequence[Item], input_shape: tuple[int, ...]) -> list[tuple[str, str]]:
    """(field path, message) of a convolution or pooling layer whose window is larger than
    the largest input it can get, in every configuration (``padding: valid``).

    ``input_shape`` is the model's (the channel axis added, ``effective_input_shape``). Each
    layer is taken at its most favourable values (the smallest kernel, pool and stride,
    ``same`` padding when searched) with the largest input the layers before can give, and a
    repeated block at its least count: a space passes as soon as one configuration might
    build. Shapes that cannot be followed (a block whose count changes the rank) end the walk.
    """
    from automl.space._space import RepeatSpec

    dims: Dims = tuple(input_shape)
    try:
        for i, item in enumerate(items):
            if dims is None:
                break
            base = f"model.layers[{i}]"
            if isinstance(item, RepeatSpec):
                dims = _block(item, base, dims, input_shape)
            else:
                dims = _layer(item, base, dims, input_shape)
    except _Unbuildable as e:
        return [(e.path, e.message)]
    return []


def _block(item: RepeatSpec, base: str, dims: Dims, data: tuple[int, ...]) -> Dims:
    """The largest shape after a repeated block, over the counts that can build; raises when
    even its least count cannot."""
    allowed, least, most = _counts(item.times)
    ends: list[Dims] = [dims] if least == 0 else []
    for r in range(1, most + 1):
        if r > least + _MAX_FOLLOWED:
            return None
        try:
            for j, layer in enumerate(item.layers):
                where = f" in repetition {r} of at least {least}" if r > 1 else ""
                dims = _layer(layer, f"{base}.layers[{j}]", dims, data, where)
        except _Unbuildable:
            if r <= least:
                raise
            break
        if allowed(r):
            ends.append(dims)
        if dims is None:
            return None
    return _merge(ends)


def _counts(times: Param) -> tuple[Any, int, int]:
    """(is this a count the block may have, the least count, the largest)."""
    if isinstance(times, Fixed):
        n = int(times.value)
        return (lambda r: r == n), n, n
    if isinstance(times, Choice):
        values = {int(v) for v in times.values}
        return values.__contains__, min(values), max(values)
    if isinstance(times, IntRange):
        low, step = times.low, times.step
        return (lambda r: low <= r <= times.high and (r - low) % step == 0), low, \
            low + (times.high - low) // step * step
    raise TypeError(times)


def _merge(ends: list[Dims]) -> Dims:
    """A shape no smaller than each of ``ends`` on every axis (None where they differ in rank)."""
    if not ends or any(d is None for d in ends) or len({len(d) for d in ends if d is not None}) != 1:
        return None
    axes = zip(*[d for d in ends if d is not None])
    return tuple(None if None in ax else max(a for a in ax if a is not None) for ax in axes)


def _layer(layer: LayerSpec, path: str, dims: Dims, data: tuple[int, ...], where: str = "") -> Dims:
    """The largest shape after ``layer`` given the largest shape before it."""
    from automl.space._catalog import LAYERS

    kind, args = layer.type, layer.args
    if dims is None:
        return None
    if kind in _CONVS or kind in _POOLS:
        return _window(kind, args, path, dims, data, where)
    if kind == "dense":
        return dims[:-1] + (None,)
    if kind in ("lstm", "gru", "bidirectional"):
        seq = _values(args.get("layer.return_sequences" if kind == "bidirectional" else "return_sequences"))
        return None if len(dims) != 2 else (dims[0], None) if True in seq else (None,)
    if kind == "embedding":
        return (dims[0], None) if len(dims) == 1 else None
    if kind == "reshape":
        target = args["target_shape"]
        return tuple(None if d == -1 else int(d) for d in target.value) if isinstance(target, Fixed) else None
    if kind == "random_crop":  # the output is height x width (a smaller input is resized)
        h, w = _most(args.get("height")), _most(args.get("width"))
        return (h, w, dims[2]) if len(dims) == 3 else None
    if kind in _FLAT:
        return (None,)
    return dims if LAYERS[kind].same_shape else None


def _window(kind: str, args: dict[str, Param], path: str, dims: tuple[int | None, ...],
            data: tuple[int, ...], where: str) -> Dims:
    """A convolution or pooling layer: raise when its least window exceeds its largest input."""
    n_axes = 2 if kind.endswith("2d") else 1
    if len(dims) != n_axes + 1:
        return None  # the rank check's business
    pool = kind in _POOLS
    key = "pool_size" if pool else "kernel_size"
    unknown: tuple[int | None, ...] = (None,) * n_axes
    window = _least_axes(args.get(key), n_axes) if key in args else (2,) * n_axes if pool else unknown
    # Keras's pooling strides default to the pool size (the same value: the least of both).
    strides = _least_axes(args["strides"], n_axes) if "strides" in args else window if pool else (1,) * n_axes
    dilation = (1,) * n_axes if pool or "dilation_rate" not in args else _least_axes(args["dilation_rate"], n_axes)
    same = "same" in _values(args.get("padding", Fixed("valid")))
    out: list[int | None] = []
    for axis, (n, k, s, d) in enumerate(zip(dims[:-1], window, strides, dilation)):
        if n is None or s is None:
            out.append(None)
        elif same:
            out.append(-(-n // s))
        elif k is None or d is None:
            out.append(None)
        elif n < (span := d * (k - 1) + 1):
            unit = "steps" if n_axes == 1 else ("rows", "columns")[axis]
            taps = f"{k}" if d == 1 else f"{k} with dilation_rate {d}"
            reach = (f"the data has {n}" if dims == tuple(data) else
                     f"the layers before it leave at most {n} of the data's shape {data}")
            raise _Unbuildable(f"{path}.{key}",
                               f"{kind} needs {span} {unit} for its smallest {key}, {taps}, with padding 'valid', "
                               f"but {reach}{where}: no configuration can be built; use a smaller {key}, "
                               f"fewer or 'same'-padded layers before it, or padding: same")
        else:
            out.append((n - span) // s + 1)
    return (*out, None if not pool and kind != "depthwise_conv2d" else dims[-1])


def _least_axes(p: Param | None, n_axes: int) -> tuple[int | None, ...]:
    """The least value of an integer-or-pair argument on each axis (None where not known)."""
    if isinstance(p, Fixed) and isinstance(p.value, (list, tuple)) and len(p.value) == n_axes:
        return tuple(int(v) for v in p.value)
    return (_least(p),) * n_axes


def _most(p: Param | None) -> int | None:
    if isinstance(p, Fixed):
        return int(p.value)
    if isinstance(p, Choice):
        return int(max(p.values))
    if isinstance(p, IntRange):
        return p.low + (p.high - p.low) // p.step * p.step
    return None


def _values(p: Param | None) -> list[Any]:
    """The values a fixed or chosen argument may take (none known for others)."""
    if isinstance(p, Fixed):
        return [p.value]
    if isinstance(p, Choice):
        return list(p.values)
    return []
