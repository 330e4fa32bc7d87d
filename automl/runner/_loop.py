"""The search loop: a thin shell that asks the engine, runs the trial, tells the result."""

from __future__ import annotations

import time
from typing import Protocol

from automl._logging import get_logger
from automl.engines._base import Decision, Engine, TrialOutcome, TrialSpec
from automl.runner._executor import EpochHook

__all__ = ["SearchObserver", "Executor", "run_loop"]

_log = get_logger("runner")


class Executor(Protocol):
    def run(self, spec: TrialSpec, on_epoch: EpochHook) -> TrialOutcome: ...


class SearchObserver:
    """Hooks for progress displays; every method is optional (the defaults do nothing)."""

    def on_search_start(self, total: int, done: int) -> None: ...

    def on_trial_start(self, spec: TrialSpec) -> None: ...

    def on_epoch(self, spec: TrialSpec, epoch: int, metrics: dict[str, float]) -> None: ...

    def on_trial_end(self, spec: TrialSpec, outcome: TrialOutcome) -> None: ...


def run_loop(engine: Engine, executor: Executor, *, n_trials: int, timeout: float | None = None,
             observer: SearchObserver | None = None) -> int:
    """Run trials until the study holds ``n_trials`` finished ones or ``timeout`` seconds pass.

    Returns how many trials this call ran. A trial interrupted (Ctrl-C) is recorded as
    FAIL before the interrupt propagates, so nothing is left RUNNING.
    """
    obs = observer or SearchObserver()
    start = time.monotonic()
    ran = 0
    obs.on_search_start(n_trials, engine.finished())
    while engine.finished() < n_trials:
        if timeout is not None and time.monotonic() - start >= timeout:
            _log.info("timeout of %.0f s reached after %d trials", timeout, ran)
            break
        spec = engine.ask()
        if spec is None:
            _log.info("the engine has no more trials to propose (its search is complete)")
            break
        obs.on_trial_start(spec)

        def on_epoch(epoch: int, metrics: dict[str, float], spec: TrialSpec = spec) -> Decision:
            obs.on_epoch(spec, epoch, metrics)
            return engine.report(spec, epoch, metrics)

        try:
            outcome = (TrialOutcome("failed", error=spec.error) if spec.error
                       else executor.run(spec, on_epoch))
        except KeyboardInterrupt:
            engine.tell(spec, TrialOutcome("failed", error="interrupted by the user"))
            raise
        engine.tell(spec, outcome)
        ran += 1
        if outcome.state == "failed":
            _log.warning("trial %d failed: %s", spec.number, outcome.error)
        obs.on_trial_end(spec, outcome)
    return ran
