"""Executing trials: one coordinator loop over a trial backend (in this process, or a pool
of worker processes)."""

from automl.runner._backend import TrialBackend
from automl.runner._executor import InProcessExecutor, classify_error
from automl.runner._loop import SearchObserver, run_trials
from automl.runner._make import make_backend

__all__ = ["InProcessExecutor", "TrialBackend", "SearchObserver", "run_trials", "make_backend", "classify_error"]
