"""A scripted engine and trial backend: the coordinator's loop without Keras or a store.

The loop's failure policy (retries, time limits, start failures, interrupts, cleanup) runs
against these in milliseconds (test_loop_policy.py); test_pool.py runs it with real
worker processes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from multiprocessing.connection import wait
from dataclasses import dataclass, field
from typing import Any

from automl.engines._base import Decision, Engine, TrialOutcome, TrialSpec
from automl.runner._backend import Died, Done, EpochAnswer, Event, Fatal, Ready
from automl.runner._slots import Slot


class FakeEngine(Engine):
    """Trials numbered 0, 1, …; a unit of the budget per new trial (a retry reuses its
    original's, as the Optuna engine's do); ``prune_at``: epochs answered PRUNE."""

    name = "fake"

    def __init__(self, max_asks: int | None = None, prune_at: set[tuple[int, int]] | None = None,
                 configs: dict[int, dict[str, Any]] | None = None) -> None:
        self.configs = configs or {}  # trial number: its configuration (default: none)
        self.claimed = 0
        self.asked: list[TrialSpec] = []
        self.told: list[tuple[TrialSpec, TrialOutcome]] = []
        self.reports: list[tuple[int, int]] = []
        self.retries: list[TrialSpec] = []
        self.retried: set[int] = set()  # the ``x`` of trials retried once (a retry keeps its original's)
        self.max_asks = max_asks
        self.prune_at = prune_at or set()
        self.draw_error: dict[int, str] = {}

    def claim(self, total: int) -> bool:
        if self.claimed >= total:
            return False
        self.claimed += 1
        return True

    def settle(self, total: int) -> bool:
        return True

    def release(self) -> None:
        self.claimed -= 1

    def _new(self, params: dict[str, Any]) -> TrialSpec:
        n = len(self.asked)
        spec = TrialSpec(n, params, self.configs.get(n, {}), epochs=3, error=self.draw_error.get(n))
        self.asked.append(spec)
        return spec

    def ask(self) -> TrialSpec | None:
        if self.max_asks is not None and len(self.asked) >= self.max_asks:
            return None
        return self._new({"x": len(self.asked)})

    def ask_retry(self) -> TrialSpec | None:
        return self._new(self.retries.pop(0).params) if self.retries else None


    def report(self, spec: TrialSpec, epoch: int, metrics: dict[str, float]) -> Decision:
        self.reports.append((spec.number, epoch))
        return Decision.PRUNE if (spec.number, epoch) in self.prune_at else Decision.CONTINUE

    def tell(self, spec: TrialSpec, outcome: TrialOutcome) -> bool:
        assert spec.number not in {s.number for s, _ in self.told}, f"trial {spec.number} told twice"
        self.told.append((spec, outcome))
        if not (outcome.retryable and outcome.state == "failed") or spec.params["x"] in self.retried:
            return False
        self.retried.add(spec.params["x"])  # one retry per set of values
        self.retries.append(spec)
        return True

    def finished(self) -> int:
        return len(self.told)

    def states(self) -> dict[int, str]:
        return {s.number: o.state for s, o in self.told}

    def errors(self) -> dict[int, str]:
        return {s.number: o.error or "" for s, o in self.told if o.error}


Step = tuple[str, Any]
"""``("epoch", metrics)``, ``("done", state)``, ``("die", reason)``, ``("hang", None)``,
``("wait", seconds)``, ``("fatal", message)`` or ``("interrupt", None)`` (a Ctrl-C while
the trial runs)."""


@dataclass
class _Run:
    spec: TrialSpec
    steps: list[Step]
    epoch: int = 0


@dataclass
class FakeBackend:
    """``script(spec)`` gives a trial's steps (default: two epochs, then complete); one step
    of every running trial happens per :meth:`events` call. ``starts``: for each slot
    index, how its workers' starts go in turn (``"ok"``, ``"die"``; then ``"ok"`` forever);
    ``replace_after``: trial numbers after which the worker is replaced (memory)."""

    n_slots: int = 2
    script: Callable[[TrialSpec], list[Step]] = field(
        default=lambda spec: [("epoch", {"acc": 0.5}), ("epoch", {"acc": 0.6}), ("done", "complete")])
    starts: dict[int, list[str]] = field(default_factory=dict)
    dead_when_sent: set[int] = field(default_factory=set)  # trial numbers whose slot is found dead
    replace_after: set[int] = field(default_factory=set)
    concurrent: bool = True
    setup_seconds: float = 0.0

    def __post_init__(self) -> None:
        self.slots = [Slot(i, None) for i in range(self.n_slots)]
        self.runs: dict[Slot, _Run] = {}
        self.started: list[tuple[int, int]] = []  # (slot index, trial number)
        self.aborted: list[int] = []
        self.retired: list[int] = []
        self.closed = False
        self.booting: list[Slot] = list(self.slots)  # a worker is starting there
        self.ever_ready: set[Slot] = set()
        self.queue: list[Event] = []
        self.decisions: list[tuple[int, int, Decision]] = []

    def start(self, slot: Slot, spec: TrialSpec, can_prune: bool) -> bool:
        assert slot not in self.runs and slot not in self.booting, "a trial sent to a busy slot"
        if spec.number in self.dead_when_sent:
            self.dead_when_sent.discard(spec.number)
            self.queue.append(Died(slot, "worker died: killed by SIGKILL", True))
            self.booting.append(slot)
            return False
        self.started.append((slot.index, spec.number))
        self.runs[slot] = _Run(spec, list(self.script(spec)))
        return True

    def events(self, timeout: float, on_epoch: EpochAnswer, wake: list[Any]) -> list[Event]:
        assert not self.closed
        out, self.queue = self.queue, []
        for slot in list(self.booting):
            self.booting.remove(slot)
            plan = self.starts.get(slot.index, [])
            if plan and plan.pop(0) == "die":
                out.append(Died(slot, "worker died: exit code 3", slot in self.ever_ready, hint="check the guard"))
                self.booting.append(slot)
            else:
                self.ever_ready.add(slot)
                out.append(Ready(slot))
        for slot, run in list(self.runs.items()):
            kind, arg = run.steps.pop(0) if run.steps else ("hang", None)
            if kind == "epoch":
                decision = on_epoch(slot, run.epoch, arg)
                self.decisions.append((run.spec.number, run.epoch, decision))
                run.epoch += 1
                if decision == Decision.PRUNE:
                    run.steps = [("done", "pruned")]
            elif kind == "done":
                del self.runs[slot]
                replace = run.spec.number in self.replace_after
                out.append(Done(slot, TrialOutcome(arg, value=0.6), idle=not replace))
                if replace:
                    self.booting.append(slot)
            elif kind == "die":
                del self.runs[slot]
                out.append(Died(slot, arg, True))
                self.booting.append(slot)
            elif kind == "wait":
                time.sleep(arg)
            elif kind == "fatal":
                out.append(Fatal(arg))
            elif kind == "interrupt":
                raise KeyboardInterrupt
            elif kind == "hang":
                run.steps.insert(0, ("hang", None))
                time.sleep(0.01)
        if not out and not self.runs:  # nothing to do until a draw ends
            wait(wake, min(timeout, 0.01))
        return out

    def abort(self, slot: Slot) -> None:
        self.aborted.append(self.runs.pop(slot).spec.number)
        self.booting.append(slot)

    def retire(self, slot: Slot) -> None:
        assert slot not in self.runs
        self.retired.append(slot.index)

    def close(self) -> None:
        self.closed = True
