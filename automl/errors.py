"""The failure taxonomy of automl.

Two families, kept apart on purpose:

* :class:`UsageError` and its subclasses are the user's to fix (a bad space file, bad
  data, a study that already holds another space). They are raised *before* anything
  runs or is written; the CLI prints their message and exits with status 2.
* :class:`TrialError` and its subclasses end one trial only. The search records the
  trial as FAIL with the reason and goes on.
"""

from __future__ import annotations

__all__ = [
    "AutomlError",
    "UsageError",
    "SpaceError",
    "DataError",
    "StorageError",
    "StudyConflictError",
    "TrialError",
    "ModelBuildError",
    "NaNLossError",
    "OutOfMemoryError",
    "TrialTimeoutError",
    "WorkerDiedError",
]


class AutomlError(Exception):
    """Base class of every error automl raises on purpose."""


class UsageError(AutomlError):
    """Bad input from the user; nothing has run and nothing was written (exit status 2)."""


class SpaceError(UsageError):
    """The search space is invalid. ``problems`` holds ``(field path, message)`` pairs."""

    def __init__(self, problems: list[tuple[str, str]], source: str = "search space") -> None:
        self.problems = problems
        self.source = source
        lines = [f"invalid {source}:"] + [f"  {path}: {msg}" if path else f"  {msg}" for path, msg in problems]
        super().__init__("\n".join(lines))


class DataError(UsageError):
    """The data cannot be used (missing file or array, bad values, wrong shape)."""


class StorageError(UsageError):
    """The store cannot be reached or used (bad URL, missing driver, server down)."""


class StudyConflictError(UsageError):
    """A study of that name already exists with another space, objective or engine."""


class TrialError(AutomlError):
    """One trial failed; the search records it as FAIL and goes on."""


class ModelBuildError(TrialError):
    """The model could not be built from the sampled configuration."""


class NaNLossError(TrialError):
    """The loss became NaN or infinite during training."""


class OutOfMemoryError(TrialError):
    """The trial ran out of GPU or host memory."""


class TrialTimeoutError(TrialError):
    """The trial ran past its time limit."""


class WorkerDiedError(TrialError):
    """The worker process running the trial died (killed, crashed)."""
