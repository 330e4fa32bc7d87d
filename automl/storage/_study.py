"""Creating or re-opening a study, refusing one that holds another search."""

from __future__ import annotations

import json
from typing import Any

from automl._logging import get_logger
from automl._keys import ATTR, attr
from automl.errors import StudyConflictError

__all__ = ["prepare_study"]

_log = get_logger("storage")


def prepare_study(storage: Any, name: str, *, fingerprint: str, definition: dict[str, Any],
                  data: dict[str, Any], direction: str, objective: str, engine: str,
                  settings: dict[str, Any], sampler: Any = None, pruner: Any = None) -> Any:
    """Open study ``name``, creating it with its ``automl:*`` attributes if new.

    ``direction`` and ``objective`` are comma-separated for several objectives.
    An existing study must hold the same space (by fingerprint), objective and engine,
    else :class:`StudyConflictError`. ``settings`` (sampler, pruner, algorithm…) are
    recorded when the study is created.
    """
    import optuna

    try:
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    except KeyError:
        study = None
    if study is not None:
        attrs = study.user_attrs
        old_fp = attrs.get(f"{ATTR}space_fingerprint")
        if old_fp is None:
            raise StudyConflictError(f"study {name!r} exists but was not made by automl; choose another --study")
        if old_fp != fingerprint:
            raise StudyConflictError(
                f"study {name!r} already holds another search space "
                f"({attrs.get(f'{ATTR}space', {}).get('name', '?')}, fingerprint {old_fp}); "
                f"use another --study name to search this space")
        for key, new in (("engine", engine), ("objective", objective), ("direction", direction)):
            old = attrs.get(f"{ATTR}{key}")
            if old is not None and old != new:
                raise StudyConflictError(f"study {name!r} was run with {key} {old!r}, not {new!r}; "
                                         f"use another --study name")
        _name_metrics(study, objective)  # studies made before automl named them
        _log.info("continuing study %s (%d trials so far)", name, len(study.trials))
        return study
    study = optuna.create_study(study_name=name, storage=storage, directions=direction.split(","),  # type: ignore[arg-type]
                                sampler=sampler, pruner=pruner, load_if_exists=True)
    attrs = {"space": definition, "space_fingerprint": fingerprint, "data": data, "engine": engine,
             "objective": objective, "direction": direction, **settings}
    for k, v in attrs.items():
        study.set_user_attr(attr("study", k), json.loads(json.dumps(v, default=str)))
    _name_metrics(study, objective)
    _log.info("created study %s", name)
    return study


def _name_metrics(study: Any, objective: str) -> None:
    """Name each objective in Optuna's own field, so optuna-dashboard and Optuna's plots show
    ``val_accuracy`` rather than "Objective 0"."""
    import warnings

    import optuna

    names = objective.split(",")
    if study.metric_names == names:
        return
    if len(names) != len(study.directions):
        _log.warning("study %s: objective %r does not name its %d directions; its metrics stay unnamed",
                     study.study_name, objective, len(study.directions))
        return
    with warnings.catch_warnings():  # set_metric_names is marked experimental since Optuna 3.2
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(names)
