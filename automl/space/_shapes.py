"""The input rank each layer needs and gives: checked before a search starts and again
when a trial's model is built, so that a stack that cannot take the data is refused with
its field path instead of failing every trial.

Ranks are counted without the batch axis: ``(features,)`` is 1, ``(steps, channels)`` 2,
``(height, width, channels)`` 3. A searched argument that changes the rank (a recurrent
layer's ``return_sequences``) gives a set of possible ranks; a later layer is refused only
when none of them can work (the other values fail at build time, that trial only).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from automl.space._catalog import LAYERS, RECURRENT

__all__ = ["RankError", "Step", "effective_input_shape", "steps_of_config", "walk_ranks"]

_RANK_WORDS = {1: "1-D input (features,)", 2: "1-D sequence input (steps[, channels])",
               3: "2-D image input (height, width[, channels])"}


class RankError(Exception):
    """A layer cannot take what reaches it; ``path`` is its field path (or position)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path, self.message = path, message


@dataclass(frozen=True)
class Step:
    """One layer as the rank check sees it; ``block`` holds a residual block's layers."""

    type: str
    path: str
    out_ranks: frozenset[int] | None = None  # None: the layer's catalog rule
    target: tuple[int, ...] | None = None  # a reshape's fixed target shape
    block: tuple[Step, ...] | None = None


@dataclass
class _State:
    data_shape: tuple[int, ...]
    shape: tuple[int, ...]
    ranks: frozenset[int]
    exact: tuple[int, ...] | None  # the full shape, while only shape-keeping layers ran
    changed: bool = False
    seen: list[str] = field(default_factory=list)


def sequence_ranks(values: Iterable[Any]) -> frozenset[int]:
    """Output ranks of a recurrent layer for these values of ``return_sequences``."""
    return frozenset(2 if v else 1 for v in values)


def steps_of_config(layers: Sequence[Any], prefix: str = "layers") -> list[Step]:
    """Steps of a concrete configuration's layers (dicts from ``Space.sample``, or type names)."""
    out: list[Step] = []
    for k, layer in enumerate(layers):
        path = f"{prefix}[{k}]"
        if isinstance(layer, str):
            out.append(Step(layer, path))
        elif layer["type"] == "residual":
            out.append(Step("residual", path, block=tuple(steps_of_config(layer["layers"], f"{path}.layers"))))
        elif layer["type"] in RECURRENT:
            out.append(Step(layer["type"], path, sequence_ranks([layer.get("return_sequences", False)])))
        elif layer["type"] == "bidirectional":
            inner = layer["layer"].get("return_sequences", False)
            out.append(Step("bidirectional", path, sequence_ranks([inner])))
        elif layer["type"] == "reshape":
            target = tuple(layer["target_shape"])
            out.append(Step("reshape", path, frozenset([len(target)]), target))
        else:
            out.append(Step(layer["type"], path))
    return out


def effective_input_shape(layers: Sequence[Any], data_shape: tuple[int, ...],
                          paths: list[str] | None = None) -> tuple[int, ...]:
    """The input shape the model uses for data of ``data_shape``.

    ``layers``: layer type names or a configuration's layer dicts. A channel axis is added
    when the first layer that needs a rank gets one axis less (conv1d on ``(40,)`` data
    sees ``(40, 1)``). Raises :class:`RankError` on a rank that cannot work.
    """
    steps = steps_of_config(layers)
    if paths is not None:
        steps = [Step(s.type, p, s.out_ranks, s.target, s.block) for s, p in zip(steps, paths)]
    return walk_ranks(steps, data_shape)


def walk_ranks(steps: Sequence[Step], data_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Follow the ranks through ``steps``; the (possibly channel-extended) input shape."""
    shape = tuple(data_shape)
    state = _State(shape, shape, frozenset([len(shape)]), shape)
    _walk(steps, state)
    return state.shape


def _walk(steps: Sequence[Step], state: _State) -> None:
    for step in steps:
        if step.block is not None:
            _walk_block(step, state)
            continue
        lt = LAYERS[step.type]
        if lt.in_rank is not None:
            _need(step, lt.in_rank, state)
        _reshape_check(step, state)
        out = step.out_ranks if step.out_ranks is not None else (
            frozenset([lt.out_rank]) if lt.out_rank is not None else None)
        if step.type in RECURRENT + ("bidirectional",) and out is None:
            out = frozenset([1])
        if out is not None:
            state.ranks = out
        # The channel axis is added to the data, so only before the first layer that
        # needs or sets a rank (a flatten before it would undo it).
        state.changed = state.changed or out is not None or lt.in_rank is not None
        if not lt.same_shape and step.type != "reshape":
            state.exact = None


def _need(step: Step, rank: int, state: _State) -> None:
    if rank in state.ranks:
        state.ranks = frozenset([rank])
        return
    only = next(iter(state.ranks)) if len(state.ranks) == 1 else None
    if not state.changed and only is not None and rank == only + 1:
        state.shape, state.ranks = state.shape + (1,), frozenset([rank])
        state.exact = state.exact + (1,) if state.exact is not None else None
        return
    if not state.changed:
        where = f"the data has shape {tuple(state.data_shape)}"
    else:
        got = " or ".join(f"rank-{r}" for r in sorted(state.ranks))
        where = f"the layers before it give {got} output"
    needs = _RANK_WORDS.get(rank, f"rank-{rank} input")
    raise RankError(f"{step.path}.type", f"{step.type} needs {needs}, but {where}")


def _reshape_check(step: Step, state: _State) -> None:
    """A reshape of a shape known exactly must keep the number of values."""
    if step.target is None:
        return
    known = state.exact
    state.exact = None
    if known is None:
        return
    size, fixed = math.prod(known), math.prod(d for d in step.target if d != -1)
    if (-1 in step.target and size % fixed) or (-1 not in step.target and size != fixed):
        raise RankError(f"{step.path}.target_shape",
                        f"cannot reshape {known} ({size} values) into {list(step.target)}")
    state.exact = tuple(size // fixed if d == -1 else d for d in step.target)


def _walk_block(step: Step, state: _State) -> None:
    """A residual block must give the rank it takes: its input is added to its output."""
    before_ranks, before_shape, before_exact = state.ranks, state.shape, state.exact
    _walk(step.block or (), state)
    if state.shape != before_shape:  # the block's first layer added the channel axis
        before_ranks, before_exact = frozenset([len(state.shape)]), None
    if not state.ranks & before_ranks:
        got = " or ".join(f"rank-{r}" for r in sorted(state.ranks))
        took = " or ".join(f"rank-{r}" for r in sorted(before_ranks))
        raise RankError(f"{step.path}.residual",
                        f"a residual block adds its input to its output, but it takes {took} input and gives "
                        f"{got} output; remove the layers that change the rank (flatten, global pooling, "
                        f"recurrent layers without return_sequences)")
    state.ranks = before_ranks
    state.exact = before_exact if state.exact == before_exact else None
