"""The task a space trains for: its losses, metrics and default objective, and a space
written for one task turned to the task of the data.

A space may declare ``task:``; most do not (the catalog's spaces are architectures, not
problems), and then the data's task (declared with ``--task`` or inferred) decides the
head, the loss, the metrics and the default objective (docs/data.md, "Tasks").
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from automl._logging import get_logger
from automl.errors import UsageError
from automl.space._catalog import METRICS as CLASSIFICATION_METRICS

__all__ = ["TASKS", "LOSSES", "METRICS", "DEFAULT_METRICS", "default_direction", "for_task"]

TASKS = ("classification", "binary", "multilabel", "regression")

# The first loss of each task is its default.
LOSSES: dict[str, tuple[str, ...]] = {
    "classification": ("sparse_categorical_crossentropy",),
    "binary": ("binary_crossentropy",),
    "multilabel": ("binary_crossentropy",),
    "regression": ("mse", "mae", "huber"),
}
METRICS: dict[str, tuple[str, ...]] = {
    "classification": CLASSIFICATION_METRICS,
    "binary": ("accuracy", "auc"),
    "multilabel": ("accuracy", "auc"),
    "regression": ("mae", "rmse"),
}
# Always logged: what the leaderboard, the report and `automl best` show of each task.
DEFAULT_METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("accuracy",),
    "binary": ("accuracy", "auc"),
    "multilabel": ("accuracy", "auc"),
    "regression": ("mae", "rmse"),
}
# Metrics that are better lower (besides losses).
_LOWER_IS_BETTER = ("mae", "rmse", "mse", "crossentropy")

_log = get_logger("space")


def default_direction(metric: str) -> str:
    """``minimize`` for losses and errors (``val_loss``, ``val_mae``), else ``maximize``."""
    return "minimize" if metric.endswith(("loss", *_LOWER_IS_BETTER)) else "maximize"


def for_task(space: Any, task: str, head: dict[str, Any] | None, *, objective_given: bool = False) -> Any:
    """``space`` as it trains for ``task`` with the model head ``head``
    (:meth:`automl.data.Dataset.head`).

    A space that declares its task keeps what it says (and must declare this one). One
    that does not keeps its loss, metrics and objective where they fit the task, and
    takes the task's defaults for those that do not (classification's ``accuracy`` and
    ``val_accuracy`` become regression's ``mae``, ``rmse`` and ``val_loss``), saying so; an
    objective the user gave (``objective_given``) is never replaced. The definition, and
    so the fingerprint, stay the space's own: the study records the task beside it.
    """
    from automl.space._function import FunctionSpace
    from automl.space._parse import parse_space
    from automl.space._space import Objective

    if isinstance(space, FunctionSpace):
        # The user's function builds its own head and loss; only the default objective follows the task.
        if task == "regression" and not objective_given and space.objective.metric == "val_accuracy":
            return dataclasses.replace(space, objective=Objective("val_loss", "minimize"))
        return space
    declared = space.task
    if declared is not None and declared != task:
        raise UsageError(f"the space {space.name!r} declares task: {declared}, but the data's task is {task}; "
                         f"search it with --task {declared}, or remove task: from the space")
    if declared is None and task == "classification" and _fits(space, task):
        return space if head is None else dataclasses.replace(space, head=head)  # a table's input standardization
    definition = space.definition if declared is not None else _adapted(space, task, objective_given)
    parsed = parse_space(definition, default_name=space.name, task=task)
    return dataclasses.replace(parsed, definition=space.definition, head=head, task=declared)


def _fits(space: Any, task: str) -> bool:
    return space.training.loss in LOSSES[task] and all(m in METRICS[task] for m in space.training.metrics)


def _adapted(space: Any, task: str, objective_given: bool) -> dict[str, Any]:
    """The space's definition with what does not fit ``task`` replaced by the task's defaults."""
    d = copy.deepcopy(space.definition)
    training = dict(d.get("training") or {})
    changed = []
    if "loss" in training and training["loss"] not in LOSSES[task]:
        changed.append(f"loss {training.pop('loss')}")
    given = list(training.get("metrics") or [])
    kept = [m for m in given if m in METRICS[task]]
    if given != kept:
        changed.append(f"metrics {', '.join(m for m in given if m not in kept)}")
    training["metrics"] = list(dict.fromkeys([*DEFAULT_METRICS[task], *kept]))
    if task != "classification" and "label_smoothing" in training:
        training.pop("label_smoothing")
        changed.append("label_smoothing")
    d["training"] = training
    logged = {"loss", *training["metrics"]}
    objectives = d.get("objective")
    items = objectives if isinstance(objectives, list) else [objectives] if objectives is not None else []
    metrics = [o if isinstance(o, str) else (o or {}).get("metric") for o in items]
    unlogged = [m for m in metrics if m is not None and m.removeprefix("val_") not in logged
                and m not in ("params_count", "latency_ms")]
    if unlogged and not objective_given:
        d.pop("objective")
        changed.append(f"objective {', '.join(unlogged)}")
    if changed:
        _log.info("space %s: %s %s not for the %s task; using the task's own (loss %s, metrics %s%s)", space.name,
                  "; ".join(changed), "is" if len(changed) == 1 else "are", task, training.get("loss", LOSSES[task][0]),
                  ", ".join(training["metrics"]),
                  "" if "objective" in d else f", objective val_{'accuracy' if 'accuracy' in logged else 'loss'}")
    return d
