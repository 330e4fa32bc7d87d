"""Validating ``optimizer`` and ``training``: the optimizer, its schedule, early stopping."""

from __future__ import annotations

from typing import Any

from automl.errors import SpaceError
from automl.space._catalog import (
    EARLY_STOPPING,
    LEARNING_RATE,
    OPTIMIZER_COMMON,
    OPTIMIZERS,
    PRECISIONS,
    SCHEDULES,
    Arg,
)
from automl.space._limits import key_text, show
from automl.space._params import Choice, Fixed, Param, Problems, mapping, parse_param
from automl.space._sizes import DEFAULT_MAX_LAYER_PARAMS
from automl.space._space import OptimizerSpec, ScheduleSpec, TrainingSpec
from automl.space._task import DEFAULT_METRICS, LOSSES, METRICS

__all__ = ["check_precision", "parse_optimizer", "parse_training"]

_TRAINING_KEYS = ("batch_size", "epochs", "loss", "metrics", "early_stopping", "label_smoothing", "max_layer_params",
                  "precision")


def parse_optimizer(raw: Any, problems: Problems) -> OptimizerSpec | None:
    if raw is None:
        raw = {"name": "adam", "learning_rate": 0.001}
    if isinstance(raw, str):
        raw = {"name": raw}
    m = mapping(raw, "optimizer", ("name", "learning_rate", "options", "schedule", *OPTIMIZER_COMMON), problems)
    if not m:
        return None
    names_arg = Arg("str", choices=tuple(OPTIMIZERS))
    name = parse_param(m.get("name", "adam"), names_arg, "optimizer.name", problems)
    lr = parse_param(m.get("learning_rate", 0.001), LEARNING_RATE, "optimizer.learning_rate", problems)
    possible = list(name.values) if isinstance(name, Choice) else [name.value] if isinstance(name, Fixed) else []
    options: dict[str, dict[str, Param]] = {}
    raw_opts = m.get("options") or {}
    if not isinstance(raw_opts, dict):
        problems.add("optimizer.options", "must be a mapping: optimizer name -> its arguments")
        raw_opts = {}
    for opt_name, opt_args in raw_opts.items():
        p = f"optimizer.options.{key_text(opt_name)}"
        if opt_name not in OPTIMIZERS:
            problems.add(p, f"unknown optimizer {show(opt_name)}; known: {', '.join(OPTIMIZERS)}")
            continue
        if opt_name not in possible:
            problems.add(p, f"{opt_name} is not among the optimizers searched ({', '.join(map(str, possible))})")
            continue
        if not isinstance(opt_args, dict):
            problems.add(p, "must be a mapping of argument -> value")
            continue
        spec_args = OPTIMIZERS[opt_name][1]
        parsed: dict[str, Param] = {}
        for k, v in opt_args.items():
            if k not in spec_args:
                problems.add(f"{p}.{key_text(k)}", f"unknown argument for {opt_name}; allowed: {', '.join(spec_args)}")
                continue
            param = parse_param(v, spec_args[k], f"{p}.{k}", problems)
            if param is not None:
                parsed[k] = param
        options[opt_name] = parsed
    common = _params_of(m, OPTIMIZER_COMMON, "optimizer", problems)
    if "clipnorm" in m and "clipvalue" in m:
        problems.add("optimizer.clipvalue", "give one of clipnorm and clipvalue (Keras takes only one)")
    schedule = _schedule(m["schedule"], problems) if "schedule" in m else None
    if name is None or lr is None:
        return None
    return OptimizerSpec(name, lr, options, common, schedule)


def parse_training(raw: Any, problems: Problems, task: str | None = None) -> TrainingSpec | None:
    """``training``: its loss and metrics are those of ``task`` (its defaults where left
    out); with no task yet (a space that declares none, before the data is loaded) those
    of any task, the defaults classification's."""
    m = mapping(raw if raw is not None else {}, "training", _TRAINING_KEYS, problems)
    batch = parse_param(m.get("batch_size", 32), Arg("int", ge=1), "training.batch_size", problems)
    epochs = m.get("epochs", 10)
    ok = True
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        problems.add("training.epochs", f"must be a positive integer (got {show(epochs)})")
        ok = False
    losses = LOSSES[task] if task else tuple(dict.fromkeys(v for t in LOSSES.values() for v in t))
    loss = m.get("loss", LOSSES[task or "classification"][0])
    if loss not in losses:
        other = [t for t, losses in LOSSES.items() if loss in losses]
        what = f"{show(loss)} is a loss for {'/'.join(other)}" if other else f"unknown loss {show(loss)}"
        problems.add("training.loss", f"{what}; the {task or 'any'} task takes: {', '.join(losses)}")
        ok = False
    known = METRICS[task] if task else tuple(dict.fromkeys(v for t in METRICS.values() for v in t))
    metrics = m.get("metrics", list(DEFAULT_METRICS[task or "classification"]))
    if not isinstance(metrics, list) or not all(isinstance(x, str) for x in metrics):
        problems.add("training.metrics", "must be a list of metric names")
        ok = False
        metrics = []
    for i, x in enumerate(metrics):
        if x not in known:
            problems.add(f"training.metrics[{i}]", f"unknown metric {show(x)} for the {task or 'any'} task; "
                                                   f"supported: {', '.join(known)}")
            ok = False
    early = _early_stopping(m["early_stopping"], problems) if "early_stopping" in m else None
    smoothing = parse_param(m["label_smoothing"], Arg("float", ge=0.0, lt=1.0), "training.label_smoothing",
                            problems) if "label_smoothing" in m else None
    if smoothing is not None and task not in (None, "classification"):
        problems.add("training.label_smoothing", f"applies to classification only, not to the {task} task")
        ok = False
    precision = parse_param(m["precision"], Arg("str", choices=PRECISIONS), "training.precision",
                            problems) if "precision" in m else None
    limit = m.get("max_layer_params", DEFAULT_MAX_LAYER_PARAMS)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        problems.add("training.max_layer_params", f"must be a positive integer (got {show(limit)})")
        ok = False
    if batch is None or not ok:
        return None
    return TrainingSpec(batch, epochs, loss, tuple(metrics), early, smoothing, limit, precision)


def check_precision(training: TrainingSpec, *, on_gpu: bool) -> None:
    """Refuse ``mixed_float16`` for a search without a GPU slot (a :class:`SpaceError`, exit
    status 2, before anything is written): CPUs have no float16 arithmetic units, so Keras
    emulates it, slower than float32 for nothing. ``mixed_bfloat16`` runs anywhere (CPUs
    with bfloat16 instructions gain from it, the others lose a little speed)."""
    p = training.precision
    values = p.values if isinstance(p, Choice) else [p.value] if isinstance(p, Fixed) else []
    if on_gpu or "mixed_float16" not in values:
        return
    raise SpaceError([("training.precision", "mixed_float16 needs a GPU, and this search has none (--gpus none, "
                                             "or no GPU found): on a CPU float16 is emulated, slower than float32; "
                                             "use mixed_bfloat16 or float32 here")])


def _schedule(raw: Any, problems: Problems) -> ScheduleSpec | None:
    """``{type: cosine, warmup_epochs: 2, ...}`` (or just ``cosine``); the type may be searched,
    each argument is drawn only for the types that have it."""
    path = "optimizer.schedule"
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, dict):
        problems.add(path, f"must be a schedule name or a mapping {{type, ...}} (got {show(raw)})")
        return None
    kind = parse_param(raw.get("type", "constant"), Arg("str", choices=tuple(SCHEDULES)), f"{path}.type", problems)
    if kind is None:
        return None
    types = [str(v) for v in (kind.values if isinstance(kind, Choice) else [kind.value])]  # type: ignore[union-attr]
    args: dict[str, Param] = {}
    for k, v in raw.items():
        if k == "type":
            continue
        having = [t for t in types if k in SCHEDULES[t]]
        if not having:
            allowed = sorted({a for t in types for a in SCHEDULES[t]})
            problems.add(f"{path}.{key_text(k)}", f"unknown argument for the {'/'.join(types)} schedule; allowed: "
                                                  f"{', '.join(allowed) or 'none'}")
            continue
        param = parse_param(v, SCHEDULES[having[0]][k], f"{path}.{k}", problems)
        if param is not None:
            args[k] = param
    if "piecewise" in types:
        _boundaries(raw, args, path, problems)
    return ScheduleSpec(kind, args)


def _boundaries(raw: dict[str, Any], args: dict[str, Param], path: str, problems: Problems) -> None:
    if "boundaries" not in raw:
        problems.add(f"{path}.boundaries", "is required for piecewise: the epochs at which the rate drops")
        return
    b = args.get("boundaries")
    values = b.value if isinstance(b, Fixed) else None
    if values is not None and (any(v < 1 for v in values) or values != sorted(set(values))):
        problems.add(f"{path}.boundaries", f"must be increasing epochs, each >= 1 (got {show(values)})")


def _early_stopping(raw: Any, problems: Problems) -> dict[str, Param] | None:
    path = "training.early_stopping"
    if raw is True:
        return {}
    m = mapping(raw, path, tuple(EARLY_STOPPING), problems, required=True)
    if not isinstance(raw, dict):
        return None
    return _params_of(m, EARLY_STOPPING, path, problems)


def _params_of(m: dict[str, Any], args: dict[str, Arg], path: str, problems: Problems) -> dict[str, Param]:
    """The values of ``m`` that ``args`` defines, each parsed under ``path``."""
    out: dict[str, Param] = {}
    for k, arg in args.items():
        if k in m and (param := parse_param(m[k], arg, f"{path}.{k}", problems)) is not None:
            out[k] = param
    return out
