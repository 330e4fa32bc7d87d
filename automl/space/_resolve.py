"""Turn whatever the user passed (path, catalog name, FILE.py:FUNC, dict, callable) into a space."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, Union

from automl.errors import UsageError
from automl.space._function import FunctionSpace, import_function
from automl.space._limits import show
from automl.space._parse import load_space, parse_space
from automl.space._space import Objective, Space
from automl.space._task import default_direction
from automl.space._yaml import is_file

__all__ = ["AnySpace", "SearchSpace", "catalog", "catalog_dir", "resolve_space", "space_from_definition"]

SearchSpace = Union[Space, FunctionSpace]
AnySpace = Union[SearchSpace, str, Path, dict, Callable[..., Any]]


def catalog_dir() -> Path:
    """The folder of the bundled spaces (``search_spaces/`` of the repository)."""
    return Path(__file__).resolve().parent.parent / "search_spaces"


def catalog() -> dict[str, Path]:
    """Bundled spaces by name."""
    return {p.stem: p for p in sorted(catalog_dir().glob("*.yaml"))}


def resolve_space(space: AnySpace, *, epochs: int | None = None, batch_size: int | None = None,
                  objective: str | None = None, direction: str | None = None) -> SearchSpace:
    """Load and validate a space; ``epochs`` etc. override what the space says."""
    if isinstance(space, (Space, FunctionSpace)):
        resolved: SearchSpace = space
    elif isinstance(space, dict):
        resolved = parse_space(space)
    elif isinstance(space, (str, Path)):
        resolved = _from_string(str(space))
    elif callable(space):
        resolved = FunctionSpace(space)
    else:
        raise UsageError(f"cannot use {type(space).__name__} as a search space")
    return _override(resolved, epochs, batch_size, objective, direction)


def _from_string(s: str) -> SearchSpace:
    if s.endswith((".yaml", ".yml")) or is_file(Path(s)):
        return load_space(s)
    if ":" in s:
        return FunctionSpace(import_function(s), ref=s)
    known = catalog()
    if s in known:
        return load_space(known[s])
    raise UsageError(f"no search space {show(s)}: not a file, not FILE.py:FUNCTION, and not in the catalog "
                     f"({', '.join(known)})")


def _override(space: SearchSpace, epochs: int | None, batch_size: int | None, objective: str | None,
              direction: str | None) -> SearchSpace:
    if epochs is None and batch_size is None and objective is None and direction is None:
        return space
    if isinstance(space, FunctionSpace):
        obj = space.objective
        if objective is not None or direction is not None:
            metric = objective or obj.metric
            default_dir = default_direction(metric)
            obj = Objective(metric, direction or (obj.direction if objective is None else default_dir))  # type: ignore[arg-type]
        return dataclasses.replace(space, objective=obj, epochs=epochs or space.epochs,
                                   batch_size=batch_size or space.batch_size)
    definition = dict(space.definition)
    training = dict(definition.get("training") or {})
    if epochs is not None:
        training["epochs"] = epochs
    if batch_size is not None:
        training["batch_size"] = batch_size
    definition["training"] = training
    if objective is not None or direction is not None:
        obj_def: dict[str, Any] = {"metric": objective or space.objective.metric}
        if direction is not None:
            obj_def["direction"] = direction
        elif objective is None:
            obj_def["direction"] = space.objective.direction
        definition["objective"] = obj_def
    return parse_space(definition, default_name=space.name)


def space_from_definition(definition: dict[str, Any]) -> SearchSpace:
    """Rebuild a space from the definition stored with a study (resume from the store alone)."""
    if definition.get("kind") == "function":
        obj = definition.get("objective", {})
        training = definition.get("training", {})
        return FunctionSpace(import_function(definition["ref"]), Objective(obj["metric"], obj["direction"]),
                             epochs=training["epochs"], batch_size=training["batch_size"],
                             ref=definition["ref"], name=definition.get("name", ""))
    return parse_space(definition, default_name=definition.get("name", "space"))
