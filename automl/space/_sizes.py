"""The least number of weights each layer of a space can have, so that a space none of whose
configurations fits (a dense layer of 10^8 units) is refused before a search of failed or
out-of-memory trials; ``training.max_layer_params`` raises the bound (docs/spaces.md)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from automl.space._params import Choice, Fixed, IntRange, Param

__all__ = ["DEFAULT_MAX_LAYER_PARAMS", "oversized_layers"]

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
            yield (f"{path}.{key}", f"a {kind} layer this size has at least {n:,} weights in every configuration, "
                                    f"more than the {limit:,} a layer may have; make it smaller, or raise "
                                    f"training.max_layer_params")
