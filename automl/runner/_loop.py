"""The coordinator's one loop: hands trials to a backend's slots and owns every decision
around them (heartbeats, retries, time limits, stopping, idle workers, cleanup).

Backends only execute (:mod:`automl.runner._backend`): the same loop drives trials in
this process and in a pool of worker processes, and a scripted backend drives it in
tests (tests/runner/test_loop_policy.py, in milliseconds).
"""

from __future__ import annotations

import dataclasses
import time
from typing import cast

from automl._logging import get_logger
from automl.engines._base import Decision, Engine, TrialOutcome, TrialSpec
from automl.errors import AutomlError
from automl.model._runtime import architecture_key
from automl.runner._backend import Died, Done, Event, Fatal, Ready, TrialBackend, WorkerState
from automl.runner._drawer import Drawer, LockedEngine
from automl.runner._heartbeat import Heartbeat
from automl.runner._slots import Slot
from automl.storage._errors import store_failures

__all__ = ["SearchObserver", "run_trials", "next_spec", "OthersWait", "LoopStats"]

_log = get_logger("runner")


class SearchObserver:
    """Hooks for progress displays; every method is optional (the defaults do nothing)."""

    def on_search_start(self, total: int, done: int, slots: list[str] | None = None) -> None: ...

    def on_worker(self, slot: str, state: str) -> None:
        """A worker slot's state changed (``starting``, ``idle``, ``replacing: why``, ``done``)."""

    def on_trial_start(self, spec: TrialSpec, slot: str = "") -> None: ...

    def on_epoch(self, spec: TrialSpec, epoch: int, metrics: dict[str, float]) -> None: ...

    def on_trial_end(self, spec: TrialSpec, outcome: TrialOutcome) -> None: ...


@dataclasses.dataclass
class LoopStats:
    """Where the coordinator's time went, for telling whether it limits a search: the trials
    handed out, the seconds spent in the engine and the store (claiming and asking, epoch
    reports, telling), and the seconds slots waited from being free (started, or done with
    a trial) to receiving their next trial."""

    trials: int = 0
    engine_seconds: float = 0.0
    worker_wait_seconds: float = 0.0
    ready_after: list[float] = dataclasses.field(default_factory=list)
    """Seconds from the backend's start to each worker's first ``ready`` (replacements too)."""
    close_seconds: float = 0.0
    """Seconds spent stopping the backend after the last trial."""
    data_seconds: float = 0.0
    """Seconds the backend spent preparing (writing the data files, while its workers start)."""
    start_steps: list[dict[str, float]] = dataclasses.field(default_factory=list)
    """For each worker that became ready, seconds from the backend's start to the end of
    each step of its start (``automl.runner._worker.worker_main`` names them)."""

    def summary(self) -> str:
        per = 1000 / max(self.trials, 1)
        ready = f"{min(self.ready_after):.1f}-{max(self.ready_after):.1f} s" if self.ready_after else "never"
        return (f"{self.trials} trials handed out; {self.engine_seconds:.1f} s in the engine and the store "
                f"({self.engine_seconds * per:.0f} ms a trial); workers waited {self.worker_wait_seconds:.1f} s "
                f"for their next trial ({self.worker_wait_seconds * per:.0f} ms a trial); writing the data took "
                f"{self.data_seconds:.1f} s; workers ready after {ready}{self._steps()}; stopping them took "
                f"{self.close_seconds:.1f} s")

    def _steps(self) -> str:
        names = [n for n in self.start_steps[0] if all(n in s for s in self.start_steps)] if self.start_steps else []
        if not names:
            return ""
        latest = ", ".join(f"{n} {max(s[n] for s in self.start_steps):.1f}" for n in names)
        return f" (the last worker to end each step of its start, seconds: {latest})"


def next_spec(engine: Engine, n_trials: int) -> TrialSpec | None:
    """The next trial: a retry waiting to run, else a new one for a unit of the global
    budget claimed first (None: budget spent or search complete)."""
    engine.reap_stale()
    spec = engine.ask_retry()
    if spec is not None:
        return spec
    if not engine.claim(n_trials):
        return None
    try:
        spec = engine.ask()
    except BaseException:
        engine.forget_claim()
        raise
    if spec is None:
        engine.release()
        _log.info("the engine has no more trials to propose (its search is complete)")
        return None
    if not engine.settle(n_trials):
        engine.abandon(spec, "not run: the budget was spent by other processes while this trial was created")
        return None
    return spec


class OthersWait:
    """Whether to wait for other processes' trials once the budget is spent: a trial of a
    process that then dies would otherwise end the search short (a unit it holds is given
    back only when its retry runs). Asks the store at most every ``poll`` seconds."""

    def __init__(self, poll: float = 2.0) -> None:
        self.poll = poll
        self._until = 0.0
        self._told: set[int] = set()

    def waiting(self) -> bool:
        """Whether the last look found others' trials running, less than ``poll`` s ago."""
        return time.monotonic() < self._until

    def others(self, engine: Engine, mine: set[int]) -> bool:
        """True when other processes run trials of the study (they finish, or their process
        stopped and they are failed as stale and retried, by the next :func:`next_spec`)."""
        study, storage = getattr(engine, "study", None), getattr(engine, "storage", None)
        if study is None or storage is None:
            return False
        from automl.storage._optuna_private import study_id
        from automl.storage._stale import running_numbers

        others = sorted(set(running_numbers(storage, study_id(study))) - mine)
        if not others:
            self._until = 0.0
            return False
        if not set(others) <= self._told:
            _log.info("the budget is handed out, but %d trial(s) of other processes still run (%s): waiting for "
                      "them to finish, or to be retried if their process stopped", len(others),
                      ", ".join(map(str, others)))
            self._told |= set(others)
        self._until = time.monotonic() + self.poll
        return True


def run_trials(engine: Engine, backend: TrialBackend, *, n_trials: int, timeout: float | None = None,
               observer: SearchObserver | None = None, heartbeat: Heartbeat | None = None,
               trial_timeout: float | None = None, max_start_failures: int = 3,
               stats: LoopStats | None = None) -> int:
    """Run trials on ``backend``'s slots until the study's budget of ``n_trials`` is spent,
    the engine has nothing left, or ``timeout`` seconds pass (the running trials finish);
    returns how many trials this call ended. ``trial_timeout`` bounds each trial (and the
    space's code drawing its values); a trial whose worker died is retried once by the
    engine's rules; workers dying before their first trial more than ``max_start_failures``
    times in a row stop the search. Whatever way it ends (Ctrl-C included), nothing it
    started is left RUNNING, and ``backend`` is closed. ``stats``, when given, is filled
    with where the coordinator's time went (also logged)."""
    loop = _Loop(engine, backend, n_trials, observer or SearchObserver(), heartbeat, trial_timeout,
                 max_start_failures, stats or LoopStats())
    with store_failures():
        try:
            loop.run(timeout)
        finally:
            loop.cleanup()
    return loop.ran


@dataclasses.dataclass
class _Running:
    spec: TrialSpec
    started: float


class _Loop:
    def __init__(self, engine: Engine, backend: TrialBackend, n_trials: int, obs: SearchObserver,
                 heartbeat: Heartbeat | None, trial_timeout: float | None, max_start_failures: int,
                 stats: LoopStats) -> None:
        self.backend, self.n_trials, self.obs, self.heartbeat = backend, n_trials, obs, heartbeat
        self.trial_timeout, self.max_start_failures, self.stats = trial_timeout, max_start_failures, stats
        engine.draw_timeout = trial_timeout  # the space's code drawing values runs here, in the coordinator
        shared = LockedEngine(engine)  # by this loop and the drawer's thread
        self.engine = cast(Engine, shared)
        self.drawer = Drawer(shared, inline=not backend.concurrent)
        self.idle: list[Slot] = []  # ready for a trial, longest free first
        self.running: dict[Slot, _Running] = {}
        self.free_since: dict[Slot, float] = {}
        self.pending: list[TrialSpec] = []  # drawn (or handed to a worker found dead): run next
        self.start_failures = 0  # in a row: reset when a worker gets ready
        self.arch: dict[Slot, str | None] = {}  # the architecture each slot's worker last ran
        self.retries_scheduled = 0
        self.ran = 0

    def run(self, timeout: float | None) -> None:
        start = time.monotonic()
        self.stats.data_seconds = self.backend.setup_seconds
        self.obs.on_search_start(self.n_trials, self.engine.finished(), [s.label for s in self.backend.slots])
        stopping = timed_out = False
        waits = OthersWait()
        drawer = self.drawer
        while True:
            if not timed_out and timeout is not None and time.monotonic() - start >= timeout:
                _log.info("timeout of %.0f s reached: finishing the running trials", timeout)
                stopping = timed_out = True
            if self.retries_scheduled and not timed_out:
                # A retry is due (it holds its original's unit): the search is not over yet.
                self.retries_scheduled, stopping = 0, False
            while self.idle and self.pending:
                waiting = self.pending.pop(0)
                self._dispatch(self._idle_for(waiting), waiting)
            if drawer.done:
                spec = drawer.take()
                if spec is None:
                    stopping = not waits.others(self.engine, self._own_numbers())
                elif spec.error:  # drawing its values failed: nothing to run
                    self.obs.on_trial_start(spec, drawer.label)
                    self._finish(spec, TrialOutcome("failed", error=spec.error))
                elif self.idle:
                    self._dispatch(self._idle_for(spec), spec)
                else:  # its slot's worker died meanwhile: the next one ready runs it
                    self.pending.append(spec)
            if self.idle and not drawer.running and not drawer.done and not (stopping or waits.waiting()):
                drawer.start(lambda: next_spec(self.engine, self.n_trials), self.idle[0].label)
            if stopping and not self.running and not self.pending and not drawer.running:
                return
            if stopping and not drawer.running:  # nothing left for the idle ones: they exit now
                for slot in self.idle:
                    self.backend.retire(slot)
                    self.obs.on_worker(slot.label, "done")
                self.idle.clear()
            if not drawer.done:
                self._serve()

    def _own_numbers(self) -> set[int]:
        """Numbers of the trials this coordinator runs (on its slots or waiting for one)."""
        return {r.spec.number for r in self.running.values()} | {s.number for s in self.pending}

    def _idle_for(self, spec: TrialSpec) -> Slot:
        """The idle slot to run ``spec``: one whose worker last ran its architecture, so holds
        its compiled programs (affinity), else the one idle longest; never waits for one."""
        key = architecture_key(spec.config)
        slot = next((s for s in self.idle if key is not None and self.arch.get(s) == key), self.idle[0])
        self.idle.remove(slot)
        self.arch[slot] = key
        return slot

    def _dispatch(self, slot: Slot, spec: TrialSpec) -> None:
        """Start ``spec`` on the idle ``slot``; when its worker turns out dead, the trial
        waits in ``pending`` for the next ready slot (it is RUNNING in the store, beating)."""
        if self.heartbeat:
            self.heartbeat.add(spec.handle)
        now = time.monotonic()
        self.running[slot] = _Running(spec, now)
        if not self.backend.start(slot, spec, self.engine.can_prune):
            del self.running[slot]
            self.pending.append(spec)
            _log.warning("the worker on %s died while idle; trial %d goes to the next worker", slot.device,
                         spec.number)
            return
        self.stats.trials += 1
        if slot in self.free_since:
            self.stats.worker_wait_seconds += now - self.free_since[slot]
        self.obs.on_trial_start(spec, slot.label)

    def _serve(self) -> None:
        """Wait up to 0.5 s for the backend's events (or the end of a draw), handle them,
        then stop the trials past their time limit."""
        for event in self.backend.events(0.5, self._on_epoch, [self.drawer.ready]):
            self._handle(event)
        if not self.trial_timeout:
            return
        now = time.monotonic()
        for slot, r in list(self.running.items()):
            if now - r.started > self.trial_timeout:
                self.backend.abort(slot)
                self._end(slot, TrialOutcome("failed", error=f"timed out after {self.trial_timeout:g} s",
                                             device=slot.device), retry=False)
                _log.warning("trial %d timed out on %s; its worker was replaced", r.spec.number, slot.device)

    def _on_epoch(self, slot: Slot, epoch: int, metrics: dict[str, float]) -> Decision:
        r = self.running.get(slot)
        if r is None:  # its trial was ended already (timed out)
            return Decision.PRUNE
        self.obs.on_epoch(r.spec, epoch, metrics)
        t0 = time.monotonic()
        decision = self.engine.report(r.spec, epoch, metrics)
        self.stats.engine_seconds += time.monotonic() - t0
        return decision

    def _handle(self, event: Event) -> None:
        if isinstance(event, Ready):
            now = time.monotonic()
            self.arch.pop(event.slot, None)  # a new worker: it holds no programs yet
            self.idle.append(event.slot)
            self.free_since[event.slot] = now
            self.start_failures = 0  # only workers failing to start one after another stop the search
            self.stats.ready_after.append(event.after)
            self.stats.start_steps.append(dict(event.marks))
            self.obs.on_worker(event.slot.label, "idle")
        elif isinstance(event, Done):
            self._end(event.slot, event.outcome, retry=False)
            if event.idle:
                self.idle.append(event.slot)
        elif isinstance(event, Died):
            self._died(event)
        elif isinstance(event, Fatal):
            raise AutomlError(event.message)
        elif isinstance(event, WorkerState):
            self.obs.on_worker(event.slot.label, event.state)

    def _died(self, event: Died) -> None:
        slot = event.slot
        if slot in self.idle:
            self.idle.remove(slot)
        if slot in self.running:
            self._end(slot, TrialOutcome("failed", error=event.reason, device=slot.device), retry=True)
        else:
            self.start_failures += 0 if event.ever_ready else 1
            if self.start_failures > self.max_start_failures:
                hint = f" {event.hint}" if event.hint else ""
                raise AutomlError(f"workers keep dying before their first trial ({event.reason}); see the log "
                                  f"above.{hint}")
            _log.warning("%s on %s (between trials); replacing it", event.reason, slot.device)
        self.obs.on_worker(slot.label, f"replacing it: {event.reason}")

    def _end(self, slot: Slot, outcome: TrialOutcome, retry: bool) -> None:
        r = self.running.pop(slot, None)
        if r is None:
            return
        if self.heartbeat:
            self.heartbeat.remove(r.spec.handle)
        outcome.retryable = retry
        t0 = time.monotonic()
        self.free_since[slot] = t0
        again = self._finish(r.spec, outcome)
        self.stats.engine_seconds += time.monotonic() - t0
        if again:
            _log.warning("trial %d will be retried with the same values", r.spec.number)
            self.retries_scheduled += 1

    def _finish(self, spec: TrialSpec, outcome: TrialOutcome) -> bool:
        """Tell the engine; True when it will run the trial again (a retryable failure)."""
        again = self.engine.tell(spec, outcome)
        if outcome.state == "failed":
            _log.warning("trial %d failed: %s", spec.number, outcome.error)
        self.obs.on_trial_end(spec, outcome)
        self.ran += 1
        return again

    def cleanup(self) -> None:
        """Leave nothing this loop started RUNNING, then close the backend."""
        drawn = self.drawer.finish(within=2.0)
        if drawn is not None:
            self.pending.append(drawn)
        self.pending.extend(r.spec for r in self.running.values())  # interrupted
        self.running.clear()
        for spec in self.pending:
            try:
                self.engine.tell(spec, TrialOutcome("failed", error="interrupted: the search stopped"))
            except Exception as e:  # noqa: BLE001 - the store failed: the trial goes stale and is retried
                _log.debug("trial %d could not be recorded as interrupted: %s", spec.number, e)
        self.pending.clear()
        self.drawer.close()
        self.stats.engine_seconds += self.drawer.seconds
        t0 = time.monotonic()
        self.backend.close()
        self.stats.close_seconds = time.monotonic() - t0
        _log.info("coordinator: %s", self.stats.summary())
