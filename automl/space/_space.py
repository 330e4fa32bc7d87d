"""A validated search space and how it turns into one concrete model configuration."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Union

from automl.errors import SpaceError
from automl.space._catalog import LAYERS
from automl.space._hp import HP
from automl.space._params import Choice, Fixed, IntRange, Param

__all__ = ["LayerSpec", "RepeatSpec", "OptimizerSpec", "TrainingSpec", "Objective", "Space",
           "effective_input_shape", "largest_count", "parameter_sites"]

Direction = Literal["maximize", "minimize"]


@dataclass(frozen=True)
class LayerSpec:
    type: str
    args: dict[str, Param]


@dataclass(frozen=True)
class RepeatSpec:
    """A block of layers repeated ``times`` times; each repetition draws its own values."""

    times: Param
    layers: tuple[LayerSpec, ...]


Item = Union[LayerSpec, RepeatSpec]


@dataclass(frozen=True)
class OptimizerSpec:
    name: Param
    learning_rate: Param
    options: dict[str, dict[str, Param]]


@dataclass(frozen=True)
class TrainingSpec:
    batch_size: Param
    epochs: int
    loss: str
    metrics: tuple[str, ...]


@dataclass(frozen=True)
class Objective:
    """A metric the search optimizes: a Keras log key such as ``val_accuracy``, or one that
    automl measures after training (``params_count``, ``latency_ms``)."""

    metric: str
    direction: Direction


def largest_count(times: Param) -> int:
    """The largest value of a repeat count, computed without listing a range's values."""
    if isinstance(times, Fixed):
        return int(times.value)
    if isinstance(times, Choice):
        return int(max(times.values))
    if isinstance(times, IntRange):
        return times.low + (times.high - times.low) // times.step * times.step
    raise TypeError(times)


def repeat_param_name(item: RepeatSpec, index: int) -> str:
    """The name a repeat count is drawn under: its own ``name:`` or its position."""
    return getattr(item.times, "name", None) or f"block{index}.repeat"


def block_prefix(index: int, rep: int, layer: int, n_layers: int) -> str:
    """The name prefix of a layer inside a repeated block (``block0.rep1[.layer2]``)."""
    return f"block{index}.rep{rep}" + (f".layer{layer}" if n_layers > 1 else "")


def optimizer_param_name(opt: OptimizerSpec) -> str:
    """The name the optimizer's choice is drawn under."""
    return getattr(opt.name, "name", None) or "optimizer"


def _param_values(p: Param) -> list[Any]:
    if isinstance(p, Fixed):
        return [p.value]
    if isinstance(p, Choice):
        return list(p.values)
    if isinstance(p, IntRange):
        return list(range(p.low, p.high + 1, p.step))
    raise TypeError(p)


@dataclass(frozen=True)
class Space:
    """A search space read from YAML (or a dict) and validated.

    ``sample(hp)`` draws one configuration through any :class:`~automl.space.HP`;
    ``definition`` is the plain-data form stored with the study so it can be resumed.
    """

    name: str
    description: str
    input_shape: tuple[int, ...] | None
    num_classes: int | None
    layers: tuple[Item, ...]
    output_activation: str
    optimizer: OptimizerSpec
    training: TrainingSpec
    objective: Objective
    definition: dict[str, Any] = field(repr=False)
    objectives: tuple[Objective, ...] = ()

    kind = "yaml"

    def __post_init__(self) -> None:
        if not self.objectives:
            object.__setattr__(self, "objectives", (self.objective,))

    @property
    def fingerprint(self) -> str:
        """A hash of the definition (name and description excluded): equal spaces, equal hash."""
        core = {k: v for k, v in self.definition.items() if k not in ("name", "description")}
        return hashlib.sha256(json.dumps(core, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def sample(self, hp: HP) -> dict[str, Any]:
        """Draw one concrete configuration (plain data, JSON-serialisable)."""
        return self._walk(hp, exhaustive=False)

    def declare(self, hp: HP) -> None:
        """Draw every value of every branch once, under its condition.

        Engines with a static space (KerasTuner) call this to learn the whole space up
        front: every repetition up to the largest count, every optimizer's options.
        """
        self._walk(hp, exhaustive=True)

    def _walk(self, hp: HP, exhaustive: bool) -> dict[str, Any]:
        layers: list[dict[str, Any]] = []
        for i, item in enumerate(self.layers):
            if isinstance(item, LayerSpec):
                layers.append(_sample_layer(item, hp, f"layer{i}"))
                continue
            repeat_name = repeat_param_name(item, i)
            n = int(item.times.sample(hp, repeat_name))
            counts = _param_values(item.times)
            for r in range(max(counts) if exhaustive else n):
                active = None if isinstance(item.times, Fixed) else [v for v in counts if v > r]
                for j, layer in enumerate(item.layers):
                    prefix = block_prefix(i, r, j, len(item.layers))
                    if active is None:
                        layers.append(_sample_layer(layer, hp, prefix))
                    else:
                        with hp.conditional(repeat_name, active):
                            layers.append(_sample_layer(layer, hp, prefix))
        opt = self.optimizer
        opt_param = optimizer_param_name(opt)
        name = opt.name.sample(hp, opt_param)
        optimizer: dict[str, Any] = {"name": name,
                                     "learning_rate": opt.learning_rate.sample(hp, "learning_rate")}
        for candidate in (_param_values(opt.name) if exhaustive else [name]):
            options = opt.options.get(str(candidate), {})
            if not options:
                continue
            if isinstance(opt.name, Fixed):
                optimizer.update({k: p.sample(hp, f"{candidate}.{k}") for k, p in options.items()})
            else:
                with hp.conditional(opt_param, [candidate]):
                    optimizer.update({k: p.sample(hp, f"{candidate}.{k}") for k, p in options.items()})
        return {
            "layers": layers,
            "output_activation": self.output_activation,
            "optimizer": optimizer,
            "batch_size": self.training.batch_size.sample(hp, "batch_size"),
            "epochs": self.training.epochs,
            "loss": self.training.loss,
            "metrics": list(self.training.metrics),
        }

    def check_data(self, input_shape: tuple[int, ...], num_classes: int) -> None:
        """Raise :class:`SpaceError` if this space cannot run on data of that shape."""
        items: list[tuple[str, str]] = []
        for i, item in enumerate(self.layers):
            if isinstance(item, LayerSpec):
                items.append((f"model.layers[{i}].type", item.type))
            else:
                items.extend((f"model.layers[{i}].layers[{j}].type", l.type) for j, l in enumerate(item.layers))
        try:
            effective_input_shape([t for _, t in items], input_shape, paths=[p for p, _ in items])
        except _RankError as e:
            raise SpaceError([(e.path, e.message)]) from None


class _RankError(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path, self.message = path, message


_RANK_WORDS = {1: "1-D input (features,)", 2: "1-D sequence input (steps[, channels])",
               3: "2-D image input (height, width[, channels])"}


def effective_input_shape(layer_types: list[str], data_shape: tuple[int, ...],
                          paths: list[str] | None = None) -> tuple[int, ...]:
    """The input shape the model uses for data of ``data_shape``.

    A channel axis is added when the first layer that needs a rank gets one axis less
    (conv1d on ``(40,)`` data sees ``(40, 1)``). Raises on a rank that cannot work.
    """
    rank = len(data_shape)
    shape = tuple(data_shape)
    changed = False
    for k, t in enumerate(layer_types):
        lt = LAYERS[t]
        if lt.in_rank is not None and lt.in_rank != rank:
            if not changed and lt.in_rank == rank + 1:
                shape, rank = shape + (1,), rank + 1
            else:
                where = "the data has shape " + str(tuple(data_shape)) if not changed else \
                    f"the layers before it give rank-{rank} output"
                raise _RankError(paths[k] if paths else f"layers[{k}]",
                                 f"{t} needs {_RANK_WORDS.get(lt.in_rank, f'rank-{lt.in_rank} input')}, "
                                 f"but {where}")
        if lt.out_rank is not None:
            changed = changed or lt.out_rank != rank
            rank = lt.out_rank
    return shape


def parameter_sites(layers: Iterable[Item], optimizer: OptimizerSpec,
                    training: TrainingSpec) -> Iterator[tuple[str, Param, str]]:
    """Every value a trial can draw, as (parameter name, definition, field path), every branch.

    The names are the ones :meth:`Space.declare` uses, so a clash found here is one the
    engines would hit.
    """
    for i, item in enumerate(layers):
        base = f"model.layers[{i}]"
        if isinstance(item, LayerSpec):
            yield from _layer_sites(item, f"layer{i}", base)
            continue
        yield from _site(item.times, repeat_param_name(item, i), f"{base}.repeat")
        for r in range(largest_count(item.times)):
            for j, layer in enumerate(item.layers):
                yield from _layer_sites(layer, block_prefix(i, r, j, len(item.layers)), f"{base}.layers[{j}]")
    yield from _site(optimizer.name, optimizer_param_name(optimizer), "optimizer.name")
    yield from _site(optimizer.learning_rate, "learning_rate", "optimizer.learning_rate")
    for candidate, options in optimizer.options.items():
        for k, p in options.items():
            yield from _site(p, f"{candidate}.{k}", f"optimizer.options.{candidate}.{k}")
    yield from _site(training.batch_size, "batch_size", "training.batch_size")


def _layer_sites(layer: LayerSpec, prefix: str, path: str) -> Iterator[tuple[str, Param, str]]:
    for arg, p in layer.args.items():
        yield from _site(p, f"{prefix}.{arg}", f"{path}.{arg}")


def _site(p: Param, default: str, path: str) -> Iterator[tuple[str, Param, str]]:
    if not isinstance(p, Fixed):
        yield getattr(p, "name", None) or default, p, path


def _sample_layer(layer: LayerSpec, hp: HP, prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {"type": layer.type}
    for arg, p in layer.args.items():
        out[arg] = p.sample(hp, f"{prefix}.{arg}")
    return out
