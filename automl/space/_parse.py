"""Read a search space from YAML text, a file or a dict, validating it once.

Every problem is reported with its field path (``model.layers[2].units.low``); nothing
else in automl runs before this has passed.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

from automl.errors import SpaceError
from automl.space._limits import MAX_DESCRIPTION, MAX_LAYERS, MAX_NAME, check_size, key_text, show
from automl.space._params import Choice, Fixed, IntRange, Param, Problems, mapping
from automl.space._parse_layers import parse_layers
from automl.space._parse_training import parse_optimizer, parse_training
from automl.space._task import TASKS, default_direction
from automl.space._space import (Item, Objective, OptimizerSpec, RepeatSpec, Space, TrainingSpec, largest_count,
                                 parameter_sites)
from automl.space._yaml import read_space_text, yaml_load

__all__ = ["load_space", "parse_space", "yaml_load"]

_TOP_KEYS = ("name", "description", "task", "input_shape", "num_classes", "model", "optimizer", "training",
             "objective")


def load_space(path: str | Path) -> Space:
    """Read and validate a YAML space file."""
    p = Path(path)
    raw = yaml_load(read_space_text(p), source=str(p))
    return parse_space(raw, default_name=p.stem, source=str(p))


def parse_space(raw: Any, *, default_name: str = "space", source: str = "search space",
                task: str | None = None) -> Space:
    """Validate a space given as plain data (the YAML document as a dict), for its own
    ``task:`` or else ``task`` (default classification: the data decides later, see
    :func:`automl.space._task.for_task`)."""
    check_size(raw, source)
    problems = Problems()
    if not isinstance(raw, dict):
        raise SpaceError([("", f"must be a mapping with keys {', '.join(_TOP_KEYS)}")], source)
    for k in raw:
        if k not in _TOP_KEYS:
            problems.add(key_text(k), f"unknown key; allowed: {', '.join(_TOP_KEYS)}")
    name = _text(raw.get("name", default_name), "name", MAX_NAME, problems, required=True)
    description = _text(raw.get("description", ""), "description", MAX_DESCRIPTION, problems)
    input_shape = _shape(raw.get("input_shape"), problems)
    declared = raw.get("task")
    if declared is not None and declared not in TASKS:
        problems.add("task", f"unknown task {show(declared)}; expected one of: {', '.join(TASKS)}")
        declared = None
    num_classes = raw.get("num_classes")
    if num_classes is not None and declared not in (None, "classification"):
        problems.add("num_classes", f"applies to classification only, not to the {declared} task")
    if num_classes is not None and (not isinstance(num_classes, int) or isinstance(num_classes, bool)
                                    or num_classes < 2):
        problems.add("num_classes", f"must be an integer >= 2 (got {show(num_classes)})")
    model = mapping(raw.get("model"), "model", ("layers", "output_activation"), problems, required=True)
    layers = parse_layers(model.get("layers"), "model.layers", problems) if model else []
    out_act = model.get("output_activation", "softmax") if model else "softmax"
    if out_act not in ("softmax", "sigmoid", "linear"):
        problems.add("model.output_activation", f"must be softmax, sigmoid or linear (got {show(out_act)})")
    optimizer = parse_optimizer(raw.get("optimizer"), problems)
    training = parse_training(raw.get("training"), problems, declared or task)
    objectives = _objectives(raw.get("objective"), training, problems)
    if not problems and optimizer is not None and training is not None:
        _check_drawn(layers, optimizer, training, problems)
    if problems or optimizer is None or training is None or objectives is None:
        raise SpaceError(problems.listed() or [("", "invalid")], source)
    definition = copy.deepcopy(raw)
    definition["name"] = name
    return Space(name=name, description=description, input_shape=input_shape,
                 num_classes=num_classes, layers=tuple(layers), output_activation=out_act,
                 optimizer=optimizer, training=training, objective=objectives[0], definition=definition,
                 objectives=objectives, task=declared)


def _text(raw: Any, path: str, limit: int, problems: Problems, required: bool = False) -> str:
    """A free-text field, bounded because it is stored with the study (and names it)."""
    if not isinstance(raw, str) or (required and not raw):
        problems.add(path, "must be a non-empty string" if required else "must be a string")
        return ""
    if len(raw) > limit:
        problems.add(path, f"at most {limit:,} characters (got {len(raw):,})")
    return raw


def _check_drawn(layers: list[Item], optimizer: OptimizerSpec, training: TrainingSpec,
                 problems: Problems) -> None:
    """Checks on what a trial draws; run only on an otherwise valid space, whose indexes match."""
    _check_layer_count(layers, problems)
    if not problems:
        _check_shared_names(layers, optimizer, training, problems)


def _check_layer_count(layers: list[Item], problems: Problems) -> None:
    """A model of 330,000 layers never finishes building: bound it before anything runs."""
    counts = [(f"model.layers[{i}].repeat", largest_count(item.times) * len(item.layers))
              if isinstance(item, RepeatSpec) else ("model.layers", 1) for i, item in enumerate(layers)]
    total = sum(n for _, n in counts)
    if total <= MAX_LAYERS:
        return
    path, biggest = max(counts, key=lambda c: c[1])
    where = path if biggest > MAX_LAYERS // 2 else "model.layers"
    problems.add(where, f"the model would have up to {total:,} layers (each repeated block counted at its "
                        f"largest count); at most {MAX_LAYERS:,} - lower the repeat count or remove layers")


def _check_shared_names(layers: list[Item], optimizer: OptimizerSpec, training: TrainingSpec,
                        problems: Problems) -> None:
    """One name drawn with two definitions fails every trial in the engine; refuse it here."""
    first: dict[str, tuple[str, Param]] = {}
    reported: set[tuple[str, str]] = set()
    for name, param, path in parameter_sites(layers, optimizer, training):
        seen = first.setdefault(name, (path, param))
        if seen[1] is param or _definition(seen[1]) == _definition(param) or (name, path) in reported:
            continue
        reported.add((name, path))
        problems.add(path, f"draws the parameter {show(name)} as {_describe(param)}, but {seen[0]} draws it "
                           f"as {_describe(seen[1])}; give both the same definition or another name")


def _definition(p: Param) -> str:
    return repr(dataclasses.replace(p, name=None)) if not isinstance(p, Fixed) else repr(p)


def _describe(p: Param) -> str:
    if isinstance(p, Choice):
        return f"a choice of {show(list(p.values))}"
    if isinstance(p, Fixed):
        return f"the fixed value {show(p.value)}"
    kind = "an integer" if isinstance(p, IntRange) else "a float"
    step = f" step {p.step}" if p.step not in (None, 1) else ""
    return f"{kind} in [{p.low}, {p.high}]{step}{' on a log scale' if p.log else ''}"


def _shape(raw: Any, problems: Problems) -> tuple[int, ...] | None:
    if raw is None:
        return None
    if (not isinstance(raw, list) or not raw
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in raw)):
        problems.add("input_shape", f"must be a list of positive integers (got {show(raw)})")
        return None
    return tuple(raw)


# Objectives that are not Keras logs: measured by automl after training.
MEASURED = {"params_count": "minimize", "latency_ms": "minimize"}


def _objectives(raw: Any, training: TrainingSpec | None, problems: Problems) -> tuple[Objective, ...] | None:
    """One objective (a mapping or a metric name) or several (a list of them)."""
    if isinstance(raw, list):
        if not raw:
            problems.add("objective", "an empty list; give one or more {metric, direction}")
            return None
        out = [_objective(item, training, problems, f"objective[{i}]") for i, item in enumerate(raw)]
        if any(o is None for o in out):
            return None
        metrics = [o.metric for o in out if o is not None]
        if len(set(metrics)) != len(metrics):
            problems.add("objective", "the same metric is listed twice")
            return None
        if out[0] is not None and out[0].metric in MEASURED:
            problems.add("objective[0].metric", "the first objective must be a logged metric (it is reported "
                                                "every epoch); put params_count or latency_ms after it")
            return None
        return tuple(o for o in out if o is not None)
    one = _objective(raw, training, problems, "objective")
    if one is not None and one.metric in MEASURED:
        problems.add("objective.metric", f"{one.metric} alone cannot be searched; list it after a logged metric")
        return None
    return None if one is None else (one,)


def _objective(raw: Any, training: TrainingSpec | None, problems: Problems, path: str) -> Objective | None:
    if isinstance(raw, str):
        raw = {"metric": raw}
    m = mapping(raw if raw is not None else {}, path, ("metric", "direction"), problems)
    metrics = training.metrics if training else ()
    default = "val_accuracy" if "accuracy" in metrics else "val_loss"
    metric = m.get("metric", default)
    known = ["loss", *metrics]
    allowed = known + [f"val_{k}" for k in known] + list(MEASURED)
    if metric not in allowed:
        problems.add(f"{path}.metric", f"{show(metric)} is not logged by this space; choose one of: "
                                       f"{', '.join(allowed)}")
        return None
    default_dir = MEASURED.get(metric) or default_direction(metric)
    direction = m.get("direction", default_dir)
    if direction not in ("maximize", "minimize"):
        problems.add(f"{path}.direction", f"must be maximize or minimize (got {show(direction)})")
        return None
    return Objective(metric, direction)
