"""The sequential search loop: a thin shell that asks the engine, runs the trial, tells it."""

from __future__ import annotations

import time
from typing import Any, Protocol

from automl._logging import get_logger
from automl.engines._base import Decision, Engine, TrialOutcome, TrialSpec
from automl.runner._executor import EpochHook
from automl.runner._heartbeat import Heartbeat
from automl.storage._errors import store_failures

__all__ = ["SearchObserver", "Executor", "run_loop", "next_spec", "OthersWait"]

_log = get_logger("runner")


class Executor(Protocol):
    def run(self, spec: TrialSpec, on_epoch: EpochHook) -> TrialOutcome: ...


class SearchObserver:
    """Hooks for progress displays; every method is optional (the defaults do nothing)."""

    def on_search_start(self, total: int, done: int, slots: list[str] | None = None) -> None: ...

    def on_worker(self, slot: str, state: str) -> None:
        """A worker slot's state changed (``starting``, ``idle``, ``replacing: why``, ``done``)."""

    def on_trial_start(self, spec: TrialSpec, slot: str = "") -> None: ...

    def on_epoch(self, spec: TrialSpec, epoch: int, metrics: dict[str, float]) -> None: ...

    def on_trial_end(self, spec: TrialSpec, outcome: TrialOutcome) -> None: ...


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
        from automl.storage._stale import running_numbers

        others = sorted(set(running_numbers(storage, study._study_id)) - mine)  # noqa: SLF001
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


def run_loop(engine: Engine, executor: Executor, *, n_trials: int, timeout: float | None = None,
             observer: SearchObserver | None = None, heartbeat: Heartbeat | None = None, device: str = "cpu") -> int:
    """Run trials one at a time until the study's budget of ``n_trials`` is spent, the engine
    has nothing left, or ``timeout`` seconds pass. Returns how many trials this call ran.

    A trial interrupted (Ctrl-C) is recorded as FAIL before the interrupt propagates, so
    nothing is left RUNNING.
    """
    obs = observer or SearchObserver()
    with store_failures():
        return _run_loop(engine, executor, n_trials, timeout, obs, heartbeat, device)


def _run_loop(engine: Engine, executor: Executor, n_trials: int, timeout: float | None, obs: SearchObserver,
              heartbeat: Heartbeat | None, device: str) -> int:
    start = time.monotonic()
    ran = 0
    obs.on_search_start(n_trials, engine.finished(), [device])
    waits = OthersWait()
    while timeout is None or time.monotonic() - start < timeout:
        spec = next_spec(engine, n_trials)
        if spec is None:
            if not waits.others(engine, set()):
                break
            time.sleep(waits.poll)
            continue
        obs.on_trial_start(spec, device)
        if heartbeat:
            heartbeat.add(spec.handle)

        def on_epoch(epoch: int, metrics: dict[str, float], spec: TrialSpec = spec) -> Decision:
            obs.on_epoch(spec, epoch, metrics)
            return engine.report(spec, epoch, metrics)

        try:
            outcome = (TrialOutcome("failed", error=spec.error) if spec.error else executor.run(spec, on_epoch))
        except KeyboardInterrupt:
            engine.tell(spec, TrialOutcome("failed", error="interrupted by the user"))
            raise
        finally:
            if heartbeat:
                heartbeat.remove(spec.handle)
        _finish(engine, spec, outcome, obs)
        ran += 1
    return ran


def _finish(engine: Engine, spec: TrialSpec, outcome: TrialOutcome, obs: Any) -> None:
    engine.tell(spec, outcome)
    if outcome.state == "failed":
        _log.warning("trial %d failed: %s", spec.number, outcome.error)
    obs.on_trial_end(spec, outcome)
