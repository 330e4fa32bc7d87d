"""A validated search space and how it turns into one concrete model configuration."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Union

from automl.errors import SpaceError
from automl.space._catalog import RECURRENT, SCHEDULES
from automl.space._hp import HP
from automl.space._params import Choice, Fixed, IntRange, Param
from automl.space._shapes import RankError, Step, effective_input_shape, sequence_ranks, walk_ranks
from automl.space._sizes import DEFAULT_MAX_LAYER_PARAMS, oversized_layers, unbuildable_layers

__all__ = ["LayerSpec", "RepeatSpec", "ScheduleSpec", "OptimizerSpec", "TrainingSpec", "Objective", "Space",
           "effective_input_shape", "largest_count", "parameter_sites", "spec_steps"]

Direction = Literal["maximize", "minimize"]


@dataclass(frozen=True)
class LayerSpec:
    """One layer. Nested arguments (a regularizer's factors, a wrapped layer's arguments)
    are flattened under dotted keys (``kernel_regularizer.l2``, ``layer.units``), so that
    the key is the end of their field path and of their parameter name alike."""

    type: str
    args: dict[str, Param]


@dataclass(frozen=True)
class RepeatSpec:
    """A block of layers repeated ``times`` times; each repetition draws its own values.

    ``residual``: each repetition adds its input to its output (projected when the shapes
    differ), then applies ``norm`` and ``activation`` (drawn once for the block).
    """

    times: Param
    layers: tuple[LayerSpec, ...]
    residual: bool = False
    norm: Param | None = None
    activation: Param | None = None


Item = Union[LayerSpec, RepeatSpec]


@dataclass(frozen=True)
class ScheduleSpec:
    """A learning-rate schedule: its type (searchable) and the arguments of its types."""

    type: Param
    args: dict[str, Param]


@dataclass(frozen=True)
class OptimizerSpec:
    name: Param
    learning_rate: Param
    options: dict[str, dict[str, Param]]
    common: dict[str, Param] = field(default_factory=dict)  # weight_decay, clipnorm, clipvalue
    schedule: ScheduleSpec | None = None


@dataclass(frozen=True)
class TrainingSpec:
    batch_size: Param
    epochs: int
    loss: str
    metrics: tuple[str, ...]
    early_stopping: dict[str, Param] | None = None
    label_smoothing: Param | None = None
    max_layer_params: int = DEFAULT_MAX_LAYER_PARAMS  # see automl/space/_sizes.py
    precision: Param | None = None  # a Keras dtype policy (PRECISIONS); None: float32


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
    task: str | None = None  # as the space declares it (None: the data's task decides)
    # The model head the data needs (automl.data.Dataset.head): set by automl.space._task.for_task
    # once the data is loaded, copied into every configuration; None: classification's.
    head: dict[str, Any] | None = field(default=None, repr=False)

    kind = "yaml"

    def __post_init__(self) -> None:
        if not self.objectives:
            object.__setattr__(self, "objectives", (self.objective,))

    def _shared(self) -> list[tuple[str, Param]]:
        """The parameters the space draws in more than one place (by ``name:``)."""
        sites: dict[str, list[Param]] = {}
        for name, param, _path in parameter_sites(self.layers, self.optimizer, self.training):
            sites.setdefault(name, []).append(param)
        return [(name, params[0]) for name, params in sites.items() if len(params) > 1]

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
        for name, param in self._shared():
            # Drawn first, outside every condition: KerasTuner keeps one value per name, and
            # one use of the name under an inactive condition removed the value the others
            # read (every trial of resnet-small failed with "KeyError: 'l2'").
            param.sample(hp, name)
        layers: list[dict[str, Any]] = []
        for i, item in enumerate(self.layers):
            if isinstance(item, LayerSpec):
                layers.append(_sample_layer(item, hp, f"layer{i}"))
            else:
                layers.extend(_sample_block(item, i, hp, exhaustive))
        config: dict[str, Any] = {
            "layers": layers,
            "output_activation": self.output_activation,
            "optimizer": _sample_optimizer(self.optimizer, hp, exhaustive),
            "batch_size": self.training.batch_size.sample(hp, "batch_size"),
            "epochs": self.training.epochs,
            "loss": self.training.loss,
            "metrics": list(self.training.metrics),
        }
        # Only what the space defines: configurations of older spaces stay as they were.
        if self.head is not None:
            config["head"] = dict(self.head)
        if self.optimizer.schedule is not None:
            config["schedule"] = _sample_schedule(self.optimizer.schedule, hp, exhaustive)
        t = self.training
        if t.early_stopping is not None:
            config["early_stopping"] = {k: p.sample(hp, f"early_stopping.{k}") for k, p in t.early_stopping.items()}
        if t.label_smoothing is not None:
            config["label_smoothing"] = t.label_smoothing.sample(hp, "label_smoothing")
        if t.precision is not None:
            config["precision"] = t.precision.sample(hp, "precision")
        return config

    def check_data(self, input_shape: tuple[int, ...], num_classes: int) -> None:
        """Raise :class:`SpaceError` if this space cannot run on data of that shape."""
        try:
            shape = walk_ranks(spec_steps(self.layers), input_shape)
        except RankError as e:
            raise SpaceError([(e.path, e.message)]) from None
        too_small = unbuildable_layers(self.layers, shape)
        if too_small:
            raise SpaceError(too_small)
        too_big = list(oversized_layers(_layer_paths(self.layers), self.training.max_layer_params))
        if too_big:
            raise SpaceError(too_big)


def _layer_paths(items: Iterable[Item]) -> Iterator[tuple[str, str, dict[str, Param]]]:
    """(field path, type, arguments) of every layer, those inside blocks too."""
    for i, item in enumerate(items):
        if isinstance(item, LayerSpec):
            yield f"model.layers[{i}]", item.type, item.args
        else:
            for j, layer in enumerate(item.layers):
                yield f"model.layers[{i}].layers[{j}]", layer.type, layer.args


def spec_steps(items: Iterable[Item]) -> list[Step]:
    """The rank-check steps of a space's layers (every value a searched argument may take)."""
    out: list[Step] = []
    for i, item in enumerate(items):
        base = f"model.layers[{i}]"
        if isinstance(item, LayerSpec):
            out.append(_spec_step(item, base))
            continue
        inner = tuple(_spec_step(layer, f"{base}.layers[{j}]") for j, layer in enumerate(item.layers))
        if item.residual:
            out.append(Step("residual", base, block=inner))
        else:
            out.extend(inner)
    return out


def _spec_step(layer: LayerSpec, path: str) -> Step:
    key = {"bidirectional": "layer.return_sequences"}.get(layer.type, "return_sequences")
    if layer.type in RECURRENT or layer.type == "bidirectional":
        seq = layer.args.get(key)
        return Step(layer.type, path, sequence_ranks(_param_values(seq) if seq is not None else [False]))
    if layer.type == "reshape":
        target = tuple(layer.args["target_shape"].value)  # type: ignore[union-attr]
        return Step("reshape", path, frozenset([len(target)]), target)
    return Step(layer.type, path)


def _sample_block(item: RepeatSpec, i: int, hp: HP, exhaustive: bool) -> list[dict[str, Any]]:
    """A repeated block's layers, each repetition drawn under its condition; a residual
    block gives one ``{"type": "residual", ...}`` entry per repetition."""
    out: list[dict[str, Any]] = []
    repeat_name = repeat_param_name(item, i)
    n = int(item.times.sample(hp, repeat_name))
    after = {k: p.sample(hp, f"block{i}.residual.{k}") for k, p in
             (("norm", item.norm), ("activation", item.activation)) if p is not None}
    counts = _param_values(item.times)
    for r in range(max(counts) if exhaustive else n):
        active = None if isinstance(item.times, Fixed) else [v for v in counts if v > r]
        rep: list[dict[str, Any]] = []
        for j, layer in enumerate(item.layers):
            prefix = block_prefix(i, r, j, len(item.layers))
            with hp.conditional(repeat_name, active) if active is not None else contextlib.nullcontext():
                rep.append(_sample_layer(layer, hp, prefix))
        out.extend([{"type": "residual", "layers": rep, **after}] if item.residual else rep)
    return out


def _sample_optimizer(opt: OptimizerSpec, hp: HP, exhaustive: bool) -> dict[str, Any]:
    opt_param = optimizer_param_name(opt)
    name = opt.name.sample(hp, opt_param)
    optimizer: dict[str, Any] = {"name": name, "learning_rate": opt.learning_rate.sample(hp, "learning_rate")}
    optimizer.update({k: p.sample(hp, k) for k, p in opt.common.items()})
    for candidate in (_param_values(opt.name) if exhaustive else [name]):
        options = opt.options.get(str(candidate), {})
        if not options:
            continue
        with hp.conditional(opt_param, [candidate]) if not isinstance(opt.name, Fixed) else contextlib.nullcontext():
            optimizer.update({k: p.sample(hp, f"{candidate}.{k}") for k, p in options.items()})
    return optimizer


def _sample_schedule(schedule: ScheduleSpec, hp: HP, exhaustive: bool) -> dict[str, Any]:
    """The schedule's type, then the arguments of that type (conditional when it is searched)."""
    kind = schedule.type.sample(hp, "schedule")
    out: dict[str, Any] = {"type": kind}
    types = _param_values(schedule.type)
    for k, p in schedule.args.items():
        having = [t for t in types if k in SCHEDULES[t]]
        if not exhaustive and kind not in having:
            continue
        with hp.conditional("schedule", having) if len(types) > 1 else contextlib.nullcontext():
            value = p.sample(hp, f"schedule.{k}")
        if kind in having:
            out[k] = value
    return out


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
        for key, p in (("norm", item.norm), ("activation", item.activation)):
            if p is not None:
                yield from _site(p, f"block{i}.residual.{key}", f"{base}.residual.{key}")
        for r in range(largest_count(item.times)):
            for j, layer in enumerate(item.layers):
                yield from _layer_sites(layer, block_prefix(i, r, j, len(item.layers)), f"{base}.layers[{j}]")
    yield from _site(optimizer.name, optimizer_param_name(optimizer), "optimizer.name")
    yield from _site(optimizer.learning_rate, "learning_rate", "optimizer.learning_rate")
    for k, p in optimizer.common.items():
        yield from _site(p, k, f"optimizer.{k}")
    if optimizer.schedule is not None:
        yield from _site(optimizer.schedule.type, "schedule", "optimizer.schedule.type")
        for k, p in optimizer.schedule.args.items():
            yield from _site(p, f"schedule.{k}", f"optimizer.schedule.{k}")
    for candidate, options in optimizer.options.items():
        for k, p in options.items():
            yield from _site(p, f"{candidate}.{k}", f"optimizer.options.{candidate}.{k}")
    yield from _site(training.batch_size, "batch_size", "training.batch_size")
    for k, p in (training.early_stopping or {}).items():
        yield from _site(p, f"early_stopping.{k}", f"training.early_stopping.{k}")
    if training.label_smoothing is not None:
        yield from _site(training.label_smoothing, "label_smoothing", "training.label_smoothing")
    if training.precision is not None:
        yield from _site(training.precision, "precision", "training.precision")


def _layer_sites(layer: LayerSpec, prefix: str, path: str) -> Iterator[tuple[str, Param, str]]:
    for arg, p in layer.args.items():
        yield from _site(p, f"{prefix}.{arg}", f"{path}.{arg}")


def _site(p: Param, default: str, path: str) -> Iterator[tuple[str, Param, str]]:
    if not isinstance(p, Fixed):
        yield getattr(p, "name", None) or default, p, path


def _sample_layer(layer: LayerSpec, hp: HP, prefix: str) -> dict[str, Any]:
    """A layer's values; dotted arguments become nested mappings (``{"layer": {...}}``)."""
    out: dict[str, Any] = {"type": layer.type}
    for arg, p in layer.args.items():
        *parents, last = arg.split(".")
        node = out
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = p.sample(hp, f"{prefix}.{arg}")
    return out
