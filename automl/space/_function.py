"""A search space given as a Python function ``build_model(hp) -> keras.Model``."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automl.errors import SpaceError, UsageError
from automl.space._hp import HP
from automl.space._limits import show
from automl.space._space import Objective

__all__ = ["FunctionSpace", "import_function"]

BuildFn = Callable[[HP], Any]


@dataclass(frozen=True)
class FunctionSpace:
    """A user's ``build_model(hp)``: it draws its own values and returns a Keras model.

    If the model it returns is not compiled, it is compiled with Adam, sparse categorical
    cross-entropy and accuracy. ``batch_size`` and ``epochs`` apply to every trial.
    """

    build_model: BuildFn
    objective: Objective = Objective("val_accuracy", "maximize")
    epochs: int = 10
    batch_size: int = 32
    ref: str | None = None
    name: str = field(default="")

    kind = "function"

    def __reduce__(self) -> Any:
        # A function loaded from FILE.py lives in a module other processes cannot import by
        # name: worker processes re-import it from its reference instead.
        if self.ref:
            return (_rebuild, (self.ref, self.objective, self.epochs, self.batch_size, self.name))
        return super().__reduce__()

    @property
    def objectives(self) -> tuple[Objective, ...]:
        return (self.objective,)

    def __post_init__(self) -> None:
        problems = []
        if not callable(self.build_model):
            problems.append(("build_model", "must be a callable taking one argument (hp)"))
        if not isinstance(self.epochs, int) or self.epochs < 1:
            problems.append(("epochs", f"must be a positive integer (got {self.epochs!r})"))
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            problems.append(("batch_size", f"must be a positive integer (got {self.batch_size!r})"))
        if self.objective.direction not in ("maximize", "minimize"):
            problems.append(("objective.direction", "must be maximize or minimize"))
        if problems:
            raise SpaceError(problems, "function search space")
        if not self.name:
            object.__setattr__(self, "name", getattr(self.build_model, "__name__", "build_model"))

    @property
    def definition(self) -> dict[str, Any]:
        return {"kind": "function", "ref": self.ref or _qualname(self.build_model), "name": self.name,
                "objective": {"metric": self.objective.metric, "direction": self.objective.direction},
                "training": {"epochs": self.epochs, "batch_size": self.batch_size}}

    @property
    def fingerprint(self) -> str:
        try:
            src = inspect.getsource(self.build_model)
        except (OSError, TypeError):
            src = _qualname(self.build_model)
        return hashlib.sha256(src.encode()).hexdigest()[:16]

    def sample(self, hp: HP) -> dict[str, Any]:
        """Run the function once so that ``hp`` records every value it draws."""
        self.build_model(hp)
        return {"epochs": self.epochs, "batch_size": self.batch_size}

    def declare(self, hp: HP) -> None:
        """Run the function once so a static-space engine learns the values on its default path."""
        self.build_model(hp)

    def check_data(self, input_shape: tuple[int, ...], num_classes: int) -> None:
        """Nothing to check ahead: a mismatch shows when the model is built."""


def _rebuild(ref: str, objective: Objective, epochs: int, batch_size: int, name: str) -> FunctionSpace:
    return FunctionSpace(import_function(ref), objective, epochs, batch_size, ref, name)


def _qualname(fn: Any) -> str:
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"


def import_function(ref: str) -> BuildFn:
    """Load ``path/to/file.py:build_model`` or ``package.module:build_model``."""
    target, sep, attr = ref.rpartition(":")
    if not sep or not target or not attr:
        raise UsageError(f"a function space is written FILE.py:FUNCTION or MODULE:FUNCTION (got {show(ref)})")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise UsageError(f"search space file not found: {path}")
        mod_name = f"automl_user_space_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]}"
        spec = importlib.util.spec_from_file_location(mod_name, path)
        if spec is None or spec.loader is None:
            raise UsageError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as e:  # noqa: BLE001 - user code; report what it raised
            raise UsageError(f"importing {path} failed: {type(e).__name__}: {e}") from e
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as e:
            raise UsageError(f"cannot import module {show(target)}: {e}") from e
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise UsageError(f"{target} has no function {attr!r}")
    return fn  # type: ignore[no-any-return]
