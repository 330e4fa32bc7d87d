"""Search engines behind one ask/report/tell contract."""

from automl.engines._base import ATTR, Decision, Engine, TrialOutcome, TrialSpec

__all__ = ["ATTR", "Decision", "Engine", "TrialOutcome", "TrialSpec"]
