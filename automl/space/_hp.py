"""The engine-neutral ``hp`` protocol.

Search spaces, the YAML ones and a user's ``build_model(hp)`` alike, draw every value
through an :class:`HP`. Each engine supplies one adapter; :class:`FixedHP` replays values
already chosen (a worker rebuilding the model of a trial).
"""

from __future__ import annotations

import builtins
import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

__all__ = ["HP", "FixedHP"]


class HP(ABC):
    """Draw hyperparameter values by name.

    The same name must always be drawn with the same definition. A value that exists only
    under a condition (a momentum only for SGD) is drawn inside
    ``with hp.conditional("optimizer", ["sgd"]):`` so that engines with static spaces
    (KerasTuner) know when it is active; define-by-run engines (Optuna) ignore it.

    Example::

        def build_model(hp):
            units = hp.int("units", 16, 128, step=16)
            lr = hp.float("learning_rate", 1e-4, 1e-2, log=True)
            opt = hp.choice("optimizer", ["adam", "sgd"])
            if opt == "sgd":
                with hp.conditional("optimizer", ["sgd"]):
                    momentum = hp.float("momentum", 0.0, 0.95)
    """

    @abstractmethod
    def int(self, name: str, low: builtins.int, high: builtins.int, *, step: builtins.int = 1,
            log: builtins.bool = False) -> builtins.int:
        """An integer in ``[low, high]`` (both included)."""

    @abstractmethod
    def float(self, name: str, low: builtins.float, high: builtins.float, *,
              step: builtins.float | None = None, log: builtins.bool = False) -> builtins.float:
        """A float in ``[low, high]``; ``log=True`` samples on a log scale (``low > 0``)."""

    @abstractmethod
    def choice(self, name: str, values: Sequence[Any]) -> Any:
        """One of ``values`` (str, int, float or bool)."""

    def bool(self, name: str) -> builtins.bool:
        """True or False."""
        return builtins.bool(self.choice(name, [False, True]))

    @contextlib.contextmanager
    def conditional(self, parent: str, values: Sequence[Any]) -> Iterator[None]:
        """Mark the values drawn inside as active only when ``parent`` is in ``values``."""
        yield


class FixedHP(HP):
    """Replays the values of an existing trial; drawing an unknown name is an error."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = dict(values)

    def _get(self, name: str) -> Any:
        if name not in self.values:
            raise KeyError(f"hyperparameter {name!r} has no value in this trial "
                           f"(known: {', '.join(sorted(self.values)) or 'none'})")
        return self.values[name]

    def int(self, name: str, low: builtins.int, high: builtins.int, *, step: builtins.int = 1,
            log: builtins.bool = False) -> builtins.int:
        return builtins.int(self._get(name))

    def float(self, name: str, low: builtins.float, high: builtins.float, *,
              step: builtins.float | None = None, log: builtins.bool = False) -> builtins.float:
        return builtins.float(self._get(name))

    def choice(self, name: str, values: Sequence[Any]) -> Any:
        return self._get(name)
