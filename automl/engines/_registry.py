"""The engines automl knows: one light :class:`EngineKind` each, its code imported on use.

A kind is plain data (its name, algorithms, pruners and the facts the core needs) plus
the import path of the module that builds it, so the command line lists the engines and
their choices without importing Optuna, KerasTuner or Keras.

To add an engine: a module holding its :class:`~automl.engines.Engine` and the three hooks
of :class:`EngineModule` (``check``, ``build``, ``from_study``), and an :class:`EngineKind`
naming that module, passed to :func:`register` (the built-in ones at the end of this file).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from automl.errors import UsageError

if TYPE_CHECKING:
    from automl.engines._base import Engine
    from automl.space import SearchSpace
    from automl.storage._artifacts import TrialWeights

__all__ = ["EngineKind", "EngineModule", "EngineOptions", "BuildRequest", "register", "engine_kind", "kinds",
           "engine_names", "sampler_choices", "pruner_choices", "DEFAULT_ENGINE"]


@dataclass(frozen=True)
class EngineOptions:
    """The engine's settings as chosen: its algorithm (Optuna: the sampler), pruner and seed."""

    algorithm: str
    pruner: str
    seed: int | None = None


@dataclass
class BuildRequest:
    """What the core hands an engine's ``build``. ``open_study(settings, sampler, pruner,
    failed_trial_callback)`` opens the store and the study (the first write), records the
    engine's ``settings`` on a new study and checks that the data is the study's;
    ``weights()`` (after ``open_study``) makes the study's folder of trial weights in this
    host's cache and says where its artifact store is (:class:`TrialWeights`)."""

    space: SearchSpace
    url: str
    study_name: str
    options: EngineOptions
    n_trials: int
    epochs: int
    backend: str | None
    retries: int
    keep_weights: bool
    weights: Callable[[], TrialWeights]
    open_study: Callable[..., tuple[Any, Any]]


class EngineModule(Protocol):
    """The hooks an engine's module defines (module-level functions)."""

    def check(self, options: EngineOptions, n_objectives: int) -> None:
        """Refuse options this engine cannot run with ``n_objectives`` objectives (UsageError)."""

    def build(self, request: BuildRequest) -> Engine:
        """Open the study through ``request.open_study`` and return the engine over it."""

    def from_study(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """The ``automl.search`` arguments that rebuild this engine from a study's user
        attributes (for ``automl worker``), ``engine`` and ``seed`` aside."""


@dataclass(frozen=True)
class EngineKind:
    """One engine, declared: what it is called, what it takes, and where its code is.

    ``algorithms[0]`` and ``pruners[0]`` are the defaults. ``sampler_flag``: the algorithm
    may also be given as ``sampler`` (Optuna's samplers). ``one_objective``: why it optimizes
    one objective only (empty when it handles several). ``keras_in_coordinator``: building
    it imports Keras in the process that coordinates, so the backend is chosen there.
    ``pruner_hint``: what to do instead of a pruner it does not take."""

    name: str
    title: str
    module: str
    algorithms: tuple[str, ...]
    pruners: tuple[str, ...] = ("none",)
    sampler_flag: bool = False
    one_objective: str = ""
    keras_in_coordinator: bool = False
    pruner_hint: str = ""

    @property
    def multi_objective(self) -> bool:
        return not self.one_objective

    @property
    def default_algorithm(self) -> str:
        return self.algorithms[0]

    def code(self) -> EngineModule:
        """The engine's module (imported now: its heavy imports stay inside its functions)."""
        return cast(EngineModule, importlib.import_module(self.module))

    def options(self, *, algorithm: str | None, sampler: str | None, pruner: str | None, seed: int | None = None,
                flags: bool = False) -> EngineOptions:
        """The options chosen for this engine, checked against what it takes: one it lacks is
        a :class:`UsageError` that names what it takes and which engine has that value."""
        def flag(key: str) -> str:
            return f"--{key}" if flags else key

        given = "algorithm" if algorithm or not self.sampler_flag else "sampler"
        chosen = algorithm or (sampler if self.sampler_flag else None) or self.default_algorithm
        word = "sampler" if self.sampler_flag else "algorithm"
        if chosen not in self.algorithms:
            raise UsageError(_refusal(flag(given), chosen, self, word, self.algorithms,
                                      [k for k in kinds() if chosen in k.algorithms]))
        pruner = pruner or self.pruners[0]
        if pruner not in self.pruners:
            raise UsageError(_refusal(flag("pruner"), pruner, self, "pruner", self.pruners,
                                      [k for k in kinds() if pruner in k.pruners], self.pruner_hint))
        return EngineOptions(chosen, pruner, seed)


def _refusal(flag: str, value: str, kind: EngineKind, word: str, choices: tuple[str, ...],
             others: list[EngineKind], hint: str = "") -> str:
    if not others:
        return f"unknown {flag} {value!r}; {kind.title} takes {', '.join(choices)}"
    where = " or ".join(k.title for k in others)
    return (f"{flag} {value} is {'an' if where[0] in 'AEIOU' else 'a'} {where} setting; "
            + (hint or f"{kind.title} takes {', '.join(choices)} (or pass --engine {others[0].name})"))


_KINDS: dict[str, EngineKind] = {}


def register(kind: EngineKind) -> EngineKind:
    """Make ``kind`` known to the command line and to ``automl.search`` (the first one
    registered is the default engine)."""
    if not kind.algorithms or not kind.pruners:
        raise ValueError(f"engine {kind.name!r} declares no algorithm or no pruner")
    _KINDS[kind.name] = kind
    return kind


def kinds() -> list[EngineKind]:
    return list(_KINDS.values())


def engine_names() -> tuple[str, ...]:
    return tuple(_KINDS)


def engine_kind(name: Any) -> EngineKind:
    """The engine called ``name``, or a :class:`UsageError` naming the known ones."""
    kind = _KINDS.get(name) if isinstance(name, str) else None
    if kind is None:
        raise UsageError(f"unknown engine {name!r}; choose one of {', '.join(_KINDS)}")
    return kind


def sampler_choices() -> list[str]:
    """Every value ``--sampler`` takes (the algorithms of the engines that take a sampler)."""
    return list(dict.fromkeys(a for k in kinds() if k.sampler_flag for a in k.algorithms))


def pruner_choices() -> list[str]:
    return list(dict.fromkeys(p for k in kinds() for p in k.pruners))


def algorithm_help() -> str:
    """``--algorithm``'s help: each engine's algorithms."""
    return " ".join(f"{k.title}: {'same as --sampler' if k.sampler_flag else '|'.join(k.algorithms)}."
                    for k in sorted(kinds(), key=lambda k: k.sampler_flag))


# The built-in engines. Optuna first: the default.
register(EngineKind(
    name="optuna", title="Optuna", module="automl.engines._optuna",
    algorithms=("tpe", "random", "cmaes", "gp", "qmc", "nsga2"), pruners=("none", "median", "sha", "hyperband"),
    sampler_flag=True))
register(EngineKind(
    name="kerastuner", title="KerasTuner", module="automl.engines._kerastuner",
    algorithms=("random", "bayesian", "hyperband", "grid"), one_objective="KerasTuner's Oracles optimize one",
    keras_in_coordinator=True, pruner_hint="with KerasTuner use --algorithm hyperband"))

DEFAULT_ENGINE = engine_names()[0]
