"""The sequential search loop: a thin shell that asks the engine, runs the trial, tells it."""

from __future__ import annotations

import time
from typing import Any, Protocol

from automl._logging import get_logger
from automl.engines._base import Decision, Engine, TrialOutcome, TrialSpec
from automl.runner._executor import EpochHook
from automl.runner._heartbeat import Heartbeat

__all__ = ["SearchObserver", "Executor", "run_loop", "next_spec"]

_log = get_logger("runner")


class Executor(Protocol):
    def run(self, spec: TrialSpec, on_epoch: EpochHook) -> TrialOutcome: ...


class SearchObserver:
    """Hooks for progress displays; every method is optional (the defaults do nothing)."""

    def on_search_start(self, total: int, done: int, slots: list[str] | None = None) -> None: ...

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


def run_loop(engine: Engine, executor: Executor, *, n_trials: int, timeout: float | None = None,
             observer: SearchObserver | None = None, heartbeat: Heartbeat | None = None, device: str = "cpu") -> int:
    """Run trials one at a time until the study's budget of ``n_trials`` is spent, the engine
    has nothing left, or ``timeout`` seconds pass. Returns how many trials this call ran.

    A trial interrupted (Ctrl-C) is recorded as FAIL before the interrupt propagates, so
    nothing is left RUNNING.
    """
    obs = observer or SearchObserver()
    start = time.monotonic()
    ran = 0
    obs.on_search_start(n_trials, engine.finished(), [device])
    while timeout is None or time.monotonic() - start < timeout:
        spec = next_spec(engine, n_trials)
        if spec is None:
            break
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
