"""Executing trials: the in-process executor and the ask/run/tell loop."""

from automl.runner._executor import InProcessExecutor, classify_error
from automl.runner._loop import Executor, SearchObserver, run_loop

__all__ = ["InProcessExecutor", "Executor", "SearchObserver", "run_loop", "classify_error"]
