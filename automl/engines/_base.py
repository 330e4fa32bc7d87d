"""The engine contract: ask / report / tell. Engines decide; they never train or print."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

__all__ = ["TrialSpec", "TrialOutcome", "Decision", "Engine", "ATTR"]

from automl._keys import ATTR  # every attribute automl adds to Optuna's schema: automl/_keys.py


@dataclass
class TrialSpec:
    """One trial to run: what to build and how long to train it.

    ``config`` is the concrete configuration (for a YAML space, the whole model; for a
    function space, the training settings; ``params`` are replayed through ``FixedHP``).
    ``error`` is set when drawing the values already failed (nothing to run).
    ``parent_number``/``initial_epoch`` let an engine continue a parent's training
    (Hyperband); ``checkpoint`` is where the trial saves (and the parent saved) weights.
    With an artifact store (``artifacts``, a folder), the trial also puts its weights
    there as ``artifact_id``, and a parent not on this host is read from its artifact.
    """

    number: int
    params: dict[str, Any]
    config: dict[str, Any]
    epochs: int
    initial_epoch: int = 0
    parent_number: int | None = None
    checkpoint: str | None = None
    parent_checkpoint: str | None = None
    artifacts: str | None = None
    artifact_id: str | None = None
    parent_artifact_id: str | None = None
    error: str | None = None
    handle: Any = field(default=None, repr=False)


State = Literal["complete", "pruned", "failed"]


@dataclass
class TrialOutcome:
    """What running a trial produced. ``value`` is the objective at the last epoch trained."""

    state: State
    value: float | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    params_count: int | None = None
    fit_seconds: float = 0.0
    # Seconds each epoch took, as fit ran (the first includes compiling the steps).
    epoch_seconds: list[float] = field(default_factory=list)
    error: str | None = None
    device: str = "cpu"
    memory_mb: float | None = None
    values: list[float] | None = None  # one per objective, when the study has several
    # Something went wrong that did not cost the result (its weights could not be saved).
    warning: str | None = None
    # Set by the runner when the failure was the machine's, not the trial's (its worker
    # died): ``tell`` then schedules the trial to run again, if retries are left.
    retryable: bool = False
    # Why training ended before its epochs (early stopping), when it did; still complete.
    stopped_early: str | None = None
    # On JAX: the XLA programs the trial compiled and the seconds it spent compiling
    # (automl.model._compiles.Compiles.as_attr); trials of one architecture share programs.
    compiles: dict[str, Any] | None = None
    # The weights put in the artifact store: (artifact id, file name), linked to the trial.
    artifact: tuple[str, str] | None = None


class Decision(str, Enum):
    CONTINUE = "continue"
    PRUNE = "prune"


class Engine(ABC):
    """An ask/tell search engine over one study in the store.

    Contract:

    * ``ask()`` returns the next :class:`TrialSpec`, the trial RUNNING in the store, or
      None when the algorithm has nothing left to propose (a finished grid or Hyperband).
    * ``report(spec, epoch, metrics)`` is called after every epoch with that epoch's logs;
      it records the objective as an intermediate value and answers
      :attr:`Decision.PRUNE` when the trial should stop.
    * ``tell(spec, outcome)`` finishes the trial in the store with its state, value and
      ``automl:*`` attributes. Every asked trial is told exactly once. When the outcome
      is a failure marked ``retryable`` (the machine's fault), ``tell`` also schedules the
      same values to run again, in the engine's own way, and answers True if it did: the
      one retry model (Optuna enqueues the values and the retry takes its original's
      budget unit through ``ask_retry``; KerasTuner's Oracle serves the trial again from
      ``ask`` and the unit goes back).
    * ``finished()`` counts the study's finished trials (complete, pruned, failed), the
      budget every run of the same study shares.

    Engines are used from one thread of the coordinator process (a space's code drawing
    values may run in another, bounded by ``draw_timeout``: :mod:`automl.engines._draw`).
    """

    name: str = "engine"
    algorithm: str = ""
    budget: Any = None  # automl.storage.Budget, set by whoever opens the study
    draw_timeout: float | None = None  # seconds ``ask`` may spend drawing values (the runner's trial timeout)

    @property
    def can_prune(self) -> bool:
        """Whether ``report`` may ever answer PRUNE (if not, a worker need not wait for it)."""
        return True

    def claim(self, total: int) -> bool:
        """Take one unit of the study's global budget of ``total`` trials (False: none left)."""
        if self.budget is None:
            return self.finished() < total
        return bool(self.budget.claim(total))

    @property
    def claim_token(self) -> str | None:
        """The open budget claim's token, for ``ask`` to put on the trial it makes."""
        return self.budget.token if self.budget is not None else None

    def ask_retry(self) -> TrialSpec | None:
        """Start a retry waiting to run, if there is one (it holds its failed original's unit
        of the budget: no claim). Engines that retry inside ``ask`` return None."""
        return None

    def settle(self, total: int) -> bool:
        """The claimed unit's trial now exists (``ask`` made it): the trial holds the unit.
        False when the claim had been given back meanwhile and none is left (see
        :meth:`abandon`)."""
        return self.budget is None or bool(self.budget.settle(total))

    def release(self) -> None:
        """Give back a unit that produced no counted trial."""
        if self.budget is not None:
            self.budget.release()

    def forget_claim(self) -> None:
        """``ask`` failed: whether it made a trial with the open claim is unknown; the
        processes that reap open claims tell from the trials."""
        if self.budget is not None:
            self.budget.forget_open()

    def abandon(self, spec: TrialSpec, reason: str) -> None:
        """End a trial that holds no unit of the budget without running it: FAIL, with
        ``reason``, marked so that it does not count against the budget."""
        from automl.engines._record import mark_unclaimed

        mark_unclaimed(spec.handle)
        self.tell(spec, TrialOutcome("failed", error=reason))

    def beat(self) -> None:
        """Called by the coordinator's heartbeat thread every interval while the search runs."""

    def close(self) -> None:
        """The search is over (or failed): let go of what the engine holds in the store."""

    def reap_stale(self) -> None:
        """Fail trials whose process stopped sending heartbeats (another host died)."""

    @abstractmethod
    def ask(self) -> TrialSpec | None: ...

    @abstractmethod
    def report(self, spec: TrialSpec, epoch: int, metrics: dict[str, float]) -> Decision: ...

    @abstractmethod
    def tell(self, spec: TrialSpec, outcome: TrialOutcome) -> bool: ...

    @abstractmethod
    def finished(self) -> int: ...
