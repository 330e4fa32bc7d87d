"""The in-process trial backend: one slot, trials trained in the coordinator's own thread.

For one CPU worker without a time limit, a worker process would only add its start
(importing Keras a second time) and a copy of the data; the loop is the same.
"""

from __future__ import annotations

from multiprocessing.connection import wait
from typing import Any

from automl.engines._base import Decision, TrialSpec
from automl.runner._backend import Done, EpochAnswer, Event, Ready
from automl.runner._executor import InProcessExecutor
from automl.runner._slots import Slot

__all__ = ["InProcessBackend"]


class InProcessBackend:
    """Runs each started trial inside :meth:`events`, which returns when it ends; a Ctrl-C
    interrupts it there, in the loop's thread, which records the trial as interrupted."""

    concurrent = False
    setup_seconds = 0.0

    def __init__(self, executor: InProcessExecutor, slot: Slot | None = None) -> None:
        self.executor = executor
        self.slots = [slot or Slot(0, None)]
        self._announced = False
        self._spec: TrialSpec | None = None

    def start(self, slot: Slot, spec: TrialSpec, can_prune: bool) -> bool:
        assert self._spec is None, "one trial at a time"
        self._spec = spec
        return True

    def events(self, timeout: float, on_epoch: EpochAnswer, wake: list[Any]) -> list[Event]:
        slot = self.slots[0]
        if not self._announced:
            self._announced = True
            return [Ready(slot)]
        spec, self._spec = self._spec, None
        if spec is None:
            wait(wake, timeout)
            return []

        def answer(epoch: int, metrics: dict[str, float]) -> Decision:
            return on_epoch(slot, epoch, metrics)

        return [Done(slot, self.executor.run(spec, answer))]

    def abort(self, slot: Slot) -> None:
        """Never needed: the loop bounds trials in time only with worker processes."""

    def retire(self, slot: Slot) -> None: ...

    def close(self) -> None: ...
