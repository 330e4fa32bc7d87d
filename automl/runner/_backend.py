"""The seam between the coordinator's loop and whatever runs trials: a trial backend.

The loop (:mod:`automl.runner._coordinator`) owns every decision: which trial goes where,
heartbeats, retries, time limits, stopping, cleanup. A backend only executes: it starts a
trial on one of its slots and reports what happened as typed events. The in-process
backend (:mod:`automl.runner._inprocess`) and the pool of worker processes
(:mod:`automl.runner._pool`) are the two today; a cluster's actors would be a third.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from automl.engines._base import Decision, TrialOutcome, TrialSpec
from automl.runner._slots import Slot

__all__ = ["TrialBackend", "Event", "Ready", "Done", "Died", "Fatal", "WorkerState", "EpochAnswer"]


@dataclass(frozen=True)
class Ready:
    """The slot's worker is up and idle. ``marks``: seconds from the backend's start to the
    end of each step of the worker's start (named by the backend), for
    :class:`automl.runner._loop.LoopStats`."""

    slot: Slot
    after: float = 0.0
    """Seconds from the backend's start."""
    marks: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Done:
    """The slot's trial ended with ``outcome``. ``idle``: the slot takes another trial now
    (False when the backend replaces its worker first, e.g. its memory grew: a
    :class:`Ready` follows)."""

    slot: Slot
    outcome: TrialOutcome
    idle: bool = True


@dataclass(frozen=True)
class Died:
    """The slot's worker died (the backend starts another: a :class:`Ready` follows).
    ``ever_ready``: it had been ready before, so this is not a failure to start; ``hint``:
    what to check when workers keep failing to start."""

    slot: Slot
    reason: str
    ever_ready: bool
    hint: str = ""


@dataclass(frozen=True)
class Fatal:
    """Nothing can run (a worker could not start for a reason another start will not fix)."""

    message: str


@dataclass(frozen=True)
class WorkerState:
    """For progress displays only: the slot's worker is ``state`` (``starting …``)."""

    slot: Slot
    state: str


Event = Ready | Done | Died | Fatal | WorkerState
EpochAnswer = Callable[[Slot, int, dict[str, float]], Decision]
"""How a backend asks the loop about an epoch a trial finished: the answer is whether the
trial goes on (the loop records the epoch and asks the engine's pruner)."""


class TrialBackend(Protocol):
    """What runs trials for the loop.

    ``start`` hands a trial to an idle slot; ``events`` waits up to ``timeout`` seconds
    (or until one of ``wake``, connections of the caller's, becomes readable) and returns
    what happened meanwhile, answering each epoch a trial reports through ``on_epoch``
    as it arrives. ``abort`` stops the slot's trial at once (its time is up); the backend
    starts a fresh worker there (a :class:`Ready` follows) and reports nothing for the
    trial. ``retire`` lets an idle slot's worker go; ``close`` stops everything.
    """

    slots: list[Slot]
    concurrent: bool
    """Whether trials run beside the loop (worker processes); False: ``events`` runs the
    started trial itself, in the caller's thread, so the loop draws trials inline."""
    setup_seconds: float
    """Seconds spent preparing before any trial could start (writing the data files)."""

    def start(self, slot: Slot, spec: TrialSpec, can_prune: bool) -> bool:
        """Run ``spec`` on the idle ``slot``; False when its worker turned out dead (a
        :class:`Died` follows; the trial did not start)."""
        ...

    def events(self, timeout: float, on_epoch: EpochAnswer, wake: list[Any]) -> list[Event]: ...

    def abort(self, slot: Slot) -> None: ...

    def retire(self, slot: Slot) -> None: ...

    def close(self) -> None: ...
